"""Loads and boundary conditions (`LOADS` registry): fixed, prescribed, traction, body_force, indenter,
kfield, radial_pulse, wave_packet. The common interface is documented in `multiscale.loads.base`."""

from __future__ import annotations

import importlib

from .. import geometry  # noqa: F401  (the region shapes the loads validate against register here)
from . import body_force, fixed, indenter, kfield, prescribed, radial_pulse, traction  # noqa: F401
from .base import ForceHook, Load, LoadParams

try:  # written by the coupling engineer; optional until it exists
    importlib.import_module(f"{__name__}.wave_packet")
except ModuleNotFoundError as _exc:  # pragma: no cover - depends on the tree state
    if _exc.name != f"{__name__}.wave_packet":
        raise

__all__ = ["ForceHook", "Load", "LoadParams"]
