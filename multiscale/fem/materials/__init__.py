"""Continuum materials (registry ``MATERIALS``): linear (C from the potential), isotropic, cauchy_born,
thermal_strain (a base material with the atoms' thermal expansion applied to its reference).

Every material class has ``Params`` and ``from_params(params, *, dim, potential=None, lattice=None)``.
"""

from . import cauchy_born, isotropic, linear, thermal_strain  # noqa: F401  (registration)
from .base import LinearMaterial, Material, voigt_to_tensor

__all__ = ["LinearMaterial", "Material", "voigt_to_tensor"]
