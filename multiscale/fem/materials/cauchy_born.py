"""``cauchy_born``: nonlinear hyperelastic law W(F) = E_site(F)/Ω₀ from the interatomic potential."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ...registry import MATERIALS, PluginParams
from .base import Material
from .lattice_sums import (
    bond_vectors,
    born_constants,
    half_bonds,
    kernel_energy_stress,
    kernel_spec,
    site_energy_stress_numpy,
)


@MATERIALS.register("cauchy_born")
class CauchyBorn(Material):
    """W(F) = [½ Σ_b φ(|F R_b|) + 𝓕(Σ_b ρ(|F R_b|))] / Ω₀ [energy/length^d], P = ∂W/∂F, evaluated per
    quadrature point over the fixed reference bond list |R_b| < cutoff·(1 + bond_margin). W includes the
    cohesive energy (W(I) = E_coh/Ω₀), matching the atoms' site energies; ``C`` is the Born tangent at F = I.

    Evaluation path (``self.path``): ``"compiled"`` (kernel ``multiscale._kernels.cauchy_born``, points in
    parallel over ``self.n_threads`` OpenMP threads, bitwise the same for any count) for lj, morse,
    harmonic and the tabulated EAMs (eam, eam_zhou); ``"numpy"`` (the potential's vectorised radial
    functions) for any other potential. Both agree to round-off. External-engine potentials (lammps,
    ase) get `cauchy_born_engine.EngineCauchyBorn` instead (periodic cell evaluated by the engine).
    """

    is_linear = False

    class Params(PluginParams):
        bond_margin: float = Field(0.25, ge=0.0, description="reference bonds kept out to cutoff·(1+margin), "
                                   "so bonds entering the cut-off under compression count (dimensionless)")
        fd_tol: float = Field(1e-8, gt=0.0, lt=1e-2,
                              description="external-engine potentials only: relative accuracy of C from "
                                          "finite differences of the engine's stress (step halved until "
                                          "met); W(F) and P(F) are the engine's own values")
        engine_w: Literal["exact", "polynomial"] = Field(
            "exact", description="external-engine potentials only: `exact` evaluates the engine's "
                                 "periodic cell at every distinct F; `polynomial` fits W(E) once (Green "
                                 "strain, degree `engine_order`, exact W₀, S₀, C) and uses the exact cell "
                                 "only where ‖E‖ > `engine_strain_range` (fem/materials/cauchy_born_poly.py)")
        engine_strain_range: float = Field(0.04, gt=0.0, le=0.2,
                                           description="`polynomial`: radius of the fitted Green-strain "
                                                       "ball (Frobenius norm, dimensionless)")
        engine_order: int = Field(5, ge=3, le=6, description="`polynomial`: highest degree in the strain")

    def __init__(self, potential, lattice, bond_margin: float = 0.25, compiled: bool = True) -> None:  # noqa: ANN001
        """``compiled=False`` forces the NumPy path (reference for tests and benchmarks)."""
        self.potential = potential
        self.R = bond_vectors(lattice, potential.cutoff * (1.0 + bond_margin))
        self.omega = float(lattice.volume_per_atom)
        self.dim = int(self.R.shape[1])
        self.C = born_constants(potential, self.R, self.omega)
        self.n_threads = 1
        self._Rk, self._mult = half_bonds(self.R)  # the kernel's bond list: one of each ±R_b
        self._spec = kernel_spec(potential) if compiled and self.R.shape[0] else None
        self.path = "numpy" if self._spec is None else "compiled"

    @classmethod
    def from_params(cls, params: Params, *, dim: int, potential=None, lattice=None) -> CauchyBorn:  # noqa: ANN001
        if potential is None or lattice is None:
            raise ValueError("material 'cauchy_born' needs the deck's potential and lattice")
        if getattr(potential, "external", False):  # LAMMPS / ASE: periodic cell evaluated by the engine
            if params.engine_w == "polynomial":
                from .cauchy_born_poly import PolynomialEngineCauchyBorn
                mat = PolynomialEngineCauchyBorn(potential, lattice, params.fd_tol,
                                                 strain_range=params.engine_strain_range,
                                                 order=params.engine_order)
            else:
                from .cauchy_born_engine import EngineCauchyBorn
                mat = EngineCauchyBorn(potential, lattice, params.fd_tol)
        else:
            mat = cls(potential, lattice, params.bond_margin)
        if mat.dim != dim:
            raise ValueError(f"lattice is {mat.dim}D but the mesh is {dim}D")
        return mat

    def set_path(self, path: str) -> None:
        """Choose the evaluation path: ``"compiled"`` (only when `kernel_spec` knows the potential) or
        ``"numpy"``."""
        if path == "numpy":
            self._spec, self.path = None, "numpy"
        elif path == "compiled":
            spec = kernel_spec(self.potential) if self.R.shape[0] else None
            if spec is None:
                raise ValueError(f"no compiled Cauchy–Born path for {type(self.potential).__name__}")
            self._spec, self.path = spec, "compiled"
        else:
            raise ValueError(f"unknown path {path!r} (compiled | numpy)")

    def evaluate(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P (m, d, d) and W (m,) [energy/length^d] for F (m, d, d)."""
        F = np.asarray(F, float)
        if self._spec is None:
            E, dE = site_energy_stress_numpy(self.potential, self.R, F)
        else:
            E, dE = kernel_energy_stress(self._spec, self._Rk, F, self.n_threads, self._mult)
        dE /= self.omega
        E /= self.omega
        return dE, E
