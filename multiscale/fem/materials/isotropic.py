"""``isotropic``: linear isotropic elasticity from Young's modulus and ν (2D: plane strain)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ...registry import MATERIALS, PluginParams
from .base import LinearMaterial


def isotropic_C(E: float, nu: float, dim: int) -> np.ndarray:
    """Voigt stiffness [energy/length^d]: 1D C = E; 2D plane strain; 3D full."""
    if dim == 1:
        return np.array([[E]])
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    nd = dim
    C = np.zeros((3 * (dim - 1), 3 * (dim - 1)))
    C[:nd, :nd] = lam
    C[np.arange(nd), np.arange(nd)] = lam + 2 * mu
    C[np.arange(nd, C.shape[0]), np.arange(nd, C.shape[0])] = mu
    return C


@MATERIALS.register("isotropic")
class Isotropic(LinearMaterial):
    """Explicit override of the derived stiffness: E [energy/length^d], ν (dimensionless)."""

    class Params(PluginParams):
        E: float = Field(gt=0, description="Young's modulus [energy/length^d] (in 1D: the bar modulus)")
        nu: float = Field(0.25, gt=-1.0, lt=0.5, description="Poisson's ratio (2D: plane strain)")

    def __init__(self, E: float, nu: float, dim: int) -> None:
        super().__init__(isotropic_C(E, nu, dim))
        self.E, self.nu = float(E), float(nu)

    @classmethod
    def from_params(cls, params: Params, *, dim: int, potential=None, lattice=None) -> Isotropic:  # noqa: ANN001
        return cls(params.E, params.nu, dim)
