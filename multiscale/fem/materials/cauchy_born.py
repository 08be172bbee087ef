"""``cauchy_born``: nonlinear hyperelastic law W(F) = E_site(F)/Ω₀ from the interatomic potential."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ...registry import MATERIALS, PluginParams
from .base import Material
from .lattice_sums import bond_vectors, born_constants, site_energy_stress


@MATERIALS.register("cauchy_born")
class CauchyBorn(Material):
    """W(F) = [½ Σ_b φ(|F R_b|) + 𝓕(Σ_b ρ(|F R_b|))] / Ω₀ [energy/length^d], P = ∂W/∂F, evaluated per
    quadrature point over the fixed reference bond list |R_b| < cutoff·(1 + bond_margin). W includes the
    cohesive energy (W(I) = E_coh/Ω₀), matching the atoms' site energies; ``C`` is the Born tangent at F = I.
    """

    is_linear = False

    class Params(PluginParams):
        bond_margin: float = Field(0.25, ge=0.0, description="reference bonds kept out to cutoff·(1+margin), "
                                   "so bonds entering the cut-off under compression count (dimensionless)")

    def __init__(self, potential, lattice, bond_margin: float = 0.25) -> None:  # noqa: ANN001
        self.potential = potential
        self.R = bond_vectors(lattice, potential.cutoff * (1.0 + bond_margin))
        self.omega = float(lattice.volume_per_atom)
        self.dim = int(self.R.shape[1])
        self.C = born_constants(potential, self.R, self.omega)

    @classmethod
    def from_params(cls, params: Params, *, dim: int, potential=None, lattice=None) -> CauchyBorn:  # noqa: ANN001
        if potential is None or lattice is None:
            raise ValueError("material 'cauchy_born' needs the deck's potential and lattice")
        mat = cls(potential, lattice, params.bond_margin)
        if mat.dim != dim:
            raise ValueError(f"lattice is {mat.dim}D but the mesh is {dim}D")
        return mat

    def evaluate(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        E, dE = site_energy_stress(self.potential, self.R, np.asarray(F, float))
        return dE / self.omega, E / self.omega
