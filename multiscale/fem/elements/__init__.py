"""Finite elements (registry ``ELEMENTS``): bar2, tri3, quad4, tet4, hex8 — one module each."""

from . import bar2, hex8, quad4, tet4, tri3  # noqa: F401  (registration)
from .base import Element

__all__ = ["Element"]
