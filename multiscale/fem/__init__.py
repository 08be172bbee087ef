"""The continuum (finite-element) engine: meshes, elements, materials, `ContinuumRegion`."""

from . import elements, generators, materials  # noqa: F401  (registration)
from .continuum import ContinuumRegion
from .mesh import ElementBlock, Mesh

__all__ = ["ContinuumRegion", "ElementBlock", "Mesh"]
