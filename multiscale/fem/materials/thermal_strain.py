"""``thermal_strain``: a continuum that agrees with the atoms on the lattice parameter at temperature.

A crystal at temperature T expands: its zero-stress lattice parameter is a(T) = a₀ (1 + ε_th(T)). A
continuum built from the zero-temperature potential (Cauchy–Born or its linear tangent) is stress-free at
a₀, so when the atoms of a coupled model expand, the mesh resists: a spurious thermal stress at the seam,
σ_th ≈ −(C₁₁ + C₁₂) ε_th per axis in 2D (tension when the mesh is held at the expanded size, compression
when it holds the atoms). This material applies the thermal strain to the continuum reference by the
multiplicative split F = F_e F_th, F_th = (1 + ε_th) I:

    W(F) = W_base(F / (1 + ε_th)),        P(F) = P_base(F / (1 + ε_th)) / (1 + ε_th)

(W per reference volume; the number of atoms per reference volume is unchanged), so the mesh is stress-free
at the atoms' expanded lattice, F = (1 + ε_th) I. The elastic response about that state is the base
material's at a₀ (the temperature softening of the elastic constants is not modelled).

Which base: the mesh of a coupled dynamics run is itself at temperature — its nodes carry the long-wave
modes and are thermalised through the handshake — and ε_th, measured on the full periodic crystal, already
contains the thermal expansion of those modes. A harmonic continuum (``base: linear``) adds none of its own
(⟨P(F)⟩ = P(⟨F⟩) for P affine in F), so it is the consistent choice at temperature. With ``cauchy_born`` the
mesh's own fluctuations in the anharmonic W expand it a second time (⟨P(F)⟩ ≠ P(⟨F⟩)): measured on the
model of benchmarks/thermal_expansion.py (2D LJ, k_B T = 0.1, mesh h = 2, mesh nodes at ≈ 0.7 T), the mean
stress of the continuum between the handshake and the fixed ring is −0.200 ± 0.005 with ``cauchy_born``
and −0.011 ± 0.002 with ``linear``, against +0.864 for the unmatched (zero-temperature) linear continuum
(tests/fem/test_thermal_strain.py). ``linear`` is a small-strain law (not objective: use it for small
rotations); ``cauchy_born`` (the default, objective) is right for a cold mesh (quasi-static runs) and large
rotations, and double-counts the mesh's share of the expansion when the mesh is hot.

Across the handshake (``handshake``): ``uniform`` applies ε_th at every point; ``free_share`` applies
ε_q = ε_th (1 − θ_q), θ the handshake atoms' free fine-scale share under the coupling's constraints counted in
the mass metric (`multiscale.coupling.thermal_share`); ``quasi_harmonic`` takes θ_q from the atoms' excess
thermal pressure over their static share, computed from the quasi-harmonic covariance of the constrained
blended model (`multiscale.coupling.thermal_qh`; pair potentials). Both are set per quadrature point by
`set_point_strains` when the run is prepared (docs/physics.md §10). Measured on
benchmarks/thermal_expansion.py, the handshake's residual is −0.047 ± 0.002 (uniform, 7.0 % of the
unmatched stress), +0.037 ± 0.002 (free_share, 5.6 %: the mass-metric count over-predicts the atoms' thermal
pressure), +0.0107 ± 0.0008 (quasi_harmonic, 1.60 %, eight seeds) and +0.0083 ± 0.0008 (quasi_harmonic with
``anharmonic: true``, 1.25 %).

ε_th is *measured* on the same potential by `measure_thermal_strain`: a periodic crystal of the deck's
lattice, Langevin NVT at T, time-averaged pressure (virial + kinetic, `multiscale.md.stress`) at two or three
lattice parameters, secant to zero pressure; the statistical error comes from block averages. Run it once
(``benchmarks/thermal_strain.py T``, or the function) and give the number in the
deck (`strain`): an atomistic → continuum relay of the kind the seed describes.

Units: strain dimensionless; temperature in the deck's unit (K in metal, ε/k_B in lj).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from ...registry import MATERIALS, PluginParams
from .base import Material


@MATERIALS.register("thermal_strain")
class ThermalStrain(Material):
    """The base material (``cauchy_born`` or ``linear``, from the deck's potential and lattice) with the
    isotropic thermal strain ``strain`` applied to its reference (module docstring)."""

    is_linear = False

    class Params(PluginParams):
        strain: float = Field(gt=-0.2, lt=0.2, description="isotropic thermal strain ε_th = a(T)/a₀ − 1 of "
                              "the atoms at the run's temperature (dimensionless; measured with "
                              "`measure_thermal_strain`)")
        base: Literal["cauchy_born", "linear"] = Field("cauchy_born", description="the zero-temperature "
                                                       "material the thermal strain is applied to; linear: "
                                                       "a thermalised mesh adds no thermal expansion of its "
                                                       "own (use it in dynamics at temperature; module "
                                                       "docstring)")
        handshake: Literal["uniform", "free_share", "quasi_harmonic"] = Field(
            "uniform", description="thermal strain of the continuum across the handshake: uniform (ε_th "
            "everywhere) or free_share (ε_th (1 − θ) with θ the atoms' free fine-scale share under the "
            "coupling's constraints, interpolated to the quadrature points: the handshake atoms' free "
            "modes carry the full thermal pressure, the continuum supplies the rest; dynamics with a "
            "constraint coupling only; docs/physics.md §10) or quasi_harmonic (ε_th (1 − θ) with θ the "
            "handshake atoms' excess thermal pressure over their static share, from the quasi-harmonic "
            "covariance of the constrained blended model; pair potentials; docs/physics.md §10)")
        anharmonic: bool = Field(False, description="quasi_harmonic only: weight each handshake bond's "
                                 "thermal virial by the crystal's anharmonic factor φ(T_b) at the bond's "
                                 "effective temperature T_b (its relative-displacement variance over the "
                                 "crystal's), φ from short MD runs of the periodic crystal at prepare "
                                 "(`multiscale.coupling.thermal_qh.crystal_anharmonic_factor`); needs a "
                                 "thermostat; docs/physics.md §10")

    def __init__(self, base: Material, strain: float, handshake: str = "uniform",
                 anharmonic: bool = False) -> None:
        self.base = base
        self.strain = float(strain)
        self.handshake = str(handshake)
        self.anharmonic = bool(anharmonic)
        self.dim = base.dim
        self.C = np.asarray(base.C, float)
        self._s = 1.0 / (1.0 + self.strain)
        self.point_strains: np.ndarray | None = None     # (nq,) ε_q, set by `set_point_strains`
        self._s_q: np.ndarray | None = None

    @property
    def per_point(self) -> bool:
        """True once a per-quadrature-point thermal strain field is set (`set_point_strains`)."""
        return self.point_strains is not None

    def set_point_strains(self, eps_q: np.ndarray | None) -> None:
        """Per-quadrature-point thermal strains ε_q (nq,) [dimensionless], numbered as the continuum's
        quadrature points; None restores the uniform ``strain``. Every ε_q must be > −1."""
        if eps_q is None:
            self.point_strains = self._s_q = None
            return
        eps_q = np.ascontiguousarray(eps_q, dtype=float).reshape(-1)
        if not np.all(np.isfinite(eps_q)) or np.any(eps_q <= -1.0):
            raise ValueError("point thermal strains must be finite and > -1")
        self.point_strains = eps_q
        self._s_q = 1.0 / (1.0 + eps_q)

    @property
    def n_threads(self) -> int:
        return int(getattr(self.base, "n_threads", 1))

    @n_threads.setter
    def n_threads(self, n: int) -> None:
        if hasattr(self.base, "n_threads"):
            self.base.n_threads = int(n)

    @classmethod
    def from_params(cls, params: Params, *, dim: int, potential=None, lattice=None) -> ThermalStrain:  # noqa: ANN001
        base_cls = MATERIALS.get(params.base)
        base = base_cls.from_params(base_cls.Params(), dim=dim, potential=potential, lattice=lattice)
        return cls(base, params.strain, params.handshake, params.anharmonic)

    def evaluate(self, F: np.ndarray, points: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """P (m, d, d) and W (m,) [energy/length^d] for F (m, d, d). ``points`` (m,) int: the quadrature
        points of the rows, used when a per-point field is set (`set_point_strains`; then None means
        F holds every point in order); without a field the uniform ``strain`` applies to every row."""
        F = np.asarray(F, float)
        if self._s_q is None:
            s = self._s
        else:
            s_q = self._s_q if points is None else self._s_q[np.asarray(points, dtype=np.int64)]
            if s_q.shape[0] != F.shape[0]:
                raise ValueError(f"{F.shape[0]} deformation gradients for {s_q.shape[0]} point strains")
            s = s_q[:, None, None]
        if self.base.is_linear:
            from .base import strain_voigt, stress_tensor
            d = self.dim
            H = F * s - np.eye(d)
            eps = strain_voigt(H)
            sig = eps @ self.C.T
            P = stress_tensor(sig, d) * s
            W = 0.5 * np.sum(eps * sig, axis=1)
            return P, W
        P, W = self.base.evaluate(F * s)
        return P * s, W


# ---------------------------------------------------------------------------------------------- measuring
@dataclass
class ThermalStrainMeasurement:
    """Result of `measure_thermal_strain`: ``strain`` ε_th and its standard error, the lattice parameters
    tried (a₀ (1 + ε_k)) with their time-averaged pressures [energy/length^d] and standard errors."""

    strain: float
    error: float
    strains: list[float]
    pressures: list[float]
    pressure_errors: list[float]
    bulk_modulus: float


def _pressure_at(potential, kind: str, a: float, mass: float, kT: float, cells: tuple[int, ...],
                 n_eq: int, n_avg: int, every: int, dt: float, damp: float, seed: int,
                 n_blocks: int = 10) -> tuple[float, float]:  # noqa: ANN001
    """Time-averaged pressure [energy/length^d] and its block standard error of a periodic crystal
    (``cells`` lattice periods per axis, spacing a) under Langevin NVT at k_B T = kT (internal mass)."""
    from ...coupling.coupled import CoupledSystem
    from ...integrate.verlet import VelocityVerlet
    from ...md.box import Box
    from ...md.lattice import Lattice
    from ...md.system import AtomisticRegion
    from ...md.thermostats.langevin import Langevin
    from ...md.velocities import maxwell_boltzmann

    lat = Lattice(kind, a)
    per = np.array(lat.periods(), float)
    hi = per * np.array(cells, float)
    lo = np.zeros_like(hi)
    X = lat.sites_in_box(lo - 1e-9 * hi, hi - 1e-6 * a)
    d = X.shape[1]
    box = Box(lo, hi, np.ones(d, bool))
    region = AtomisticRegion(X, mass, potential, box, skin=0.3 * a)
    system = CoupledSystem(atoms=region)
    thermo = Langevin(kT, damp, 1.0, seed=seed)
    thermo.dt = dt
    region.v[...] = maxwell_boltzmann(region.mass, d, kT, 1.0, seed=seed + 1)
    integ = VelocityVerlet(system, dt, force_hooks=[thermo])
    integ.step(n_eq)
    V = float(np.prod(hi - lo))
    samples = []
    for _ in range(n_avg // every):
        integ.step(every)
        region.compute(virial=True)
        kin = float(np.sum(region.mass * np.sum(region.v ** 2, axis=1)))
        samples.append((kin + float(np.trace(region.virial))) / (d * V))
    p = np.asarray(samples)
    blocks = np.array([b.mean() for b in np.array_split(p, n_blocks)])
    return float(p.mean()), float(blocks.std(ddof=1) / np.sqrt(n_blocks))


def measure_thermal_strain(potential, kind: str, a0: float, mass: float, kT: float, *,  # noqa: ANN001
                           cells: tuple[int, ...] | None = None, n_eq: int = 2000, n_avg: int = 20000,
                           every: int = 10, dt: float | None = None, damp: float | None = None,
                           seed: int = 1, iterations: int = 2) -> ThermalStrainMeasurement:
    """Zero-pressure thermal strain ε_th = a(T)/a₀ − 1 of the crystal ``kind`` with spacing a₀ (the
    zero-temperature one) at k_B T = ``kT`` [energy], atoms of internal mass ``mass``, by periodic Langevin
    NVT MD (module docstring). First guess from the measured pressure at a₀ and the Born bulk modulus
    B = Σ_{ij≤d} C_ij / d², then ``iterations`` secant steps. Defaults: 16 periods per axis in 2D (8 in 3D),
    Δt = 0.005·2π/ω_E, damp = 100 Δt."""
    from ...md.lattice import Lattice
    from ...md.properties import elastic_constants

    lat0 = Lattice(kind, a0)
    d = lat0.dim
    C = elastic_constants(potential, lat0)
    B = float(np.sum(C[:d, :d])) / d**2
    if cells is None:
        cells = (16,) * d if d <= 2 else (8,) * d
    if dt is None:
        # Einstein frequency from the Born constants: ω² ≈ B Ω / (m a₀²) · (2d) — a safe, conservative step
        omega = np.sqrt(max(B, 1e-300) * lat0.volume_per_atom * 2 * d / (mass * a0**2))
        dt = 0.03 / omega
    if damp is None:
        damp = 100.0 * dt
    strains, pressures, errors = [], [], []

    def p_of(eps: float) -> float:
        p, e = _pressure_at(potential, kind, a0 * (1.0 + eps), mass, kT, cells, n_eq, n_avg, every, dt,
                            damp, seed)
        strains.append(eps)
        pressures.append(p)
        errors.append(e)
        return p

    e0 = 0.0
    p0 = p_of(e0)
    e1 = p0 / (d * B)                    # P ≈ −B tr(ε) = −d B (ε − ε_th)
    p1 = p_of(e1)
    for _ in range(max(int(iterations) - 1, 0)):
        slope = (p1 - p0) / (e1 - e0)
        e0, p0, e1 = e1, p1, e1 - p1 / slope
        p1 = p_of(e1)
    slope = (p1 - p0) / (e1 - e0)
    eps = e1 - p1 / slope
    err = float(np.hypot(errors[-1], errors[-2]) / abs(slope))
    return ThermalStrainMeasurement(float(eps), err, strains, pressures, errors, B)
