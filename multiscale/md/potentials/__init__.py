"""Interatomic potentials (`POTENTIALS` registry): harmonic, lj, morse, eam (funcfl / setfl files),
eam_zhou (analytic Zhou-Johnson-Wadley 2004 EAM, tabulated by msim);
external engines (`multiscale.md.engines`): lammps, ase (an ASE calculator).

``make_potential(params, units, deck_dir=None)`` builds one from its validated Params (or a dict with
``type``).
"""

from __future__ import annotations

from typing import Any

from ...registry import POTENTIALS
from . import ase_potential, eam, eam_zhou, harmonic, lammps, lj, morse  # noqa: F401  (registration)
from .base import Potential


def make_potential(params: Any, units: Any = None, deck_dir: Any = None) -> Potential:
    """Build a potential from its Params model (with ``type``) or a plain dict with ``type``."""
    if isinstance(params, dict):
        cls = POTENTIALS.get(params["type"])
        params = cls.Params(**params)
    else:
        cls = POTENTIALS.get(params.type)
    return cls.from_params(params, units, deck_dir)


__all__ = ["Potential", "make_potential"]
