"""Kinetic temperature per atom group and a binned, time-averaged temperature profile.

Kinetic temperature of a set of particles with masses m_a and velocities v_a in d dimensions::

    T = Σ_a m_a |v_a|² / (d n k_B)                  (no centre-of-mass correction: groups are open)

Masses are internal force-mass units (`multiscale.units`), so m|v|² is an energy and T comes out in the
deck's temperature unit (K in metal, ε/k_B in lj).

Which mass: ``"dynamical"`` is the mass the integrator uses (β̄_a m_a for handshake atoms, 0 for pads):
equipartition — and therefore the damping band's bath, whose noise is scaled to the dynamical mass —
gives k_B T per free dof in that metric. ``"physical"`` is the atom's own mass m_a (pads included, with
their interpolated velocity N·V): the temperature an observer of the atoms' motion sees. In the core
(β̄ = 1) both are the same. ``equipartition_mass`` gives a third choice: the dynamical masses with the share
P_ii of each dof that the coupling's constraints remove counted out, so that in the canonical state of the
constrained coupled dynamics every atom shows T (the constraint cooling of the dynamical temperature is a
degree-of-freedom count; the own-mass temperature of H's light atoms is T (1 − P_ii)/β̄ there, which no
equilibrium of the blended energy makes flat).

Groups (`atom_groups`): ``core`` (distance from the atomistic core 0, i.e. β̄ = 1 and outside H),
``handshake`` (weighted atoms of H: β̄ > 0 and distance > 0), ``pad`` (β̄ = 0, interpolated from the
mesh), and for coupled systems the mesh nodes with ``continuum`` (lumped masses M^α, nodes with mass
> 0).
"""

from __future__ import annotations

import numpy as np


def kinetic_temperature(v: np.ndarray, mass: np.ndarray, boltz: float) -> float:
    """Σ m |v|² / (d n k_B) over the particles with mass > 0; v (n, d) [length/time], mass (n,)
    [internal]; 0.0 for an empty set."""
    m = np.asarray(mass, float)
    live = m > 0
    n = int(live.sum())
    if n == 0:
        return 0.0
    v = np.asarray(v, float)
    return float(np.sum(m[live] * np.sum(v[live] ** 2, axis=1))) / (v.shape[1] * n * boltz)


def atom_distance(system) -> np.ndarray:  # noqa: ANN001
    """(n,) distance [length] of each atom's reference position from the atomistic core (0 inside;
    all 0 for plain MD)."""
    a = system.atoms
    if not system.coupled:
        return np.zeros(a.n)
    return system.handshake.distance(a.X)


def atom_groups(system) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Index arrays (int64) of the atom groups ``core``, ``handshake``, ``pad`` (module docstring)."""
    dist = atom_distance(system)
    pad = np.asarray(system.pad, bool)
    return {"core": np.flatnonzero(~pad & (dist <= 0.0)),
            "handshake": np.flatnonzero(~pad & (dist > 0.0)),
            "pad": np.flatnonzero(pad)}


def _masses(system, which: str) -> np.ndarray:  # noqa: ANN001
    if which == "dynamical":
        return np.asarray(system.atom_mass, float)
    if which == "physical":
        return np.asarray(system.atoms.mass, float)
    raise ValueError(f"mass must be 'dynamical' or 'physical', not {which!r}")


def group_temperatures(system, boltz: float, mass: str = "physical") -> dict[str, float]:  # noqa: ANN001
    """Kinetic temperature of each non-empty atom group (and of the mesh nodes when coupled):
    ``{"temperature_core": T, "temperature_handshake": T, "temperature_pad": T,
    "temperature_continuum": T}``. ``mass``: "physical" or "dynamical" (pads have no dynamical mass and
    are then left out)."""
    out: dict[str, float] = {}
    if system.atoms is not None:
        m = _masses(system, mass)
        v = system.atoms.v
        for name, idx in atom_groups(system).items():
            if len(idx) and np.any(m[idx] > 0):
                out[f"temperature_{name}"] = kinetic_temperature(v[idx], m[idx], boltz)
    if system.continuum is not None and system.coupled:
        out["temperature_continuum"] = kinetic_temperature(system.continuum.V, system.node_mass, boltz)
    return out


class TemperatureProfile:
    """Time-averaged kinetic temperature in bins of the distance from the atomistic core.

    Parameters
    ----------
    distance : (n,) [length] each particle's (reference) distance from the core
    mass : (n,) internal masses (particles with mass 0 are left out)
    edges : (nb + 1,) increasing bin edges [length]; a particle in [edges[k], edges[k+1]) goes to bin k
            (distance 0 = the core: make the first edge ≤ 0 to give the core its own bin)
    boltz : k_B [energy/temperature]
    dim : d

    ``sample(v)`` adds one snapshot (v (n, d)); ``temperature()`` -> (nb,) the time average
    Σ_t Σ_{a∈k} m|v|² / (d n_k n_t k_B) (NaN for empty bins); ``flatness()`` = max_k |T_k − T̄| / T̄ with
    T̄ the particle-weighted mean over the non-empty bins.
    """

    def __init__(self, distance: np.ndarray, mass: np.ndarray, edges: np.ndarray, boltz: float,
                 dim: int) -> None:
        self.distance = np.asarray(distance, float)
        self.mass = np.asarray(mass, float)
        self.edges = np.asarray(edges, float)
        if self.edges.ndim != 1 or len(self.edges) < 2 or np.any(np.diff(self.edges) <= 0):
            raise ValueError("edges must be an increasing 1D array of at least two values")
        if self.mass.shape != self.distance.shape:
            raise ValueError("distance and mass must have the same shape (n,)")
        self.boltz, self.dim = float(boltz), int(dim)
        k = np.searchsorted(self.edges, self.distance, side="right") - 1
        ok = (k >= 0) & (k < len(self.edges) - 1) & (self.mass > 0)
        self.index = np.flatnonzero(ok)
        self.bin = k[ok]
        nb = len(self.edges) - 1
        self.count = np.bincount(self.bin, minlength=nb)
        self.sum_mv2 = np.zeros(nb)
        self.n_samples = 0

    def sample(self, v: np.ndarray) -> None:
        """Add one snapshot of the velocities v (n, d) [length/time]."""
        v = np.asarray(v, float)[self.index]
        mv2 = self.mass[self.index] * np.sum(v * v, axis=1)
        self.sum_mv2 += np.bincount(self.bin, weights=mv2, minlength=len(self.count))
        self.n_samples += 1

    def reset(self) -> None:
        self.sum_mv2[:] = 0.0
        self.n_samples = 0

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def temperature(self) -> np.ndarray:
        """(nb,) time-averaged kinetic temperature per bin [temperature] (NaN for empty bins)."""
        if self.n_samples == 0:
            raise ValueError("no samples yet")
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum_mv2 / (self.dim * self.count * self.n_samples * self.boltz)

    def mean(self) -> float:
        """Particle-weighted mean temperature over all binned particles."""
        return float(self.sum_mv2.sum() / (self.dim * self.count.sum() * self.n_samples * self.boltz))

    def flatness(self) -> float:
        """max_k |T_k − T̄| / T̄ over the non-empty bins."""
        T = self.temperature()
        Tm = self.mean()
        return float(np.nanmax(np.abs(T - Tm)) / Tm)


def constrained_share(projector, dofs: np.ndarray, chunk: int = 256) -> np.ndarray:  # noqa: ANN001
    """P_ii = m_i⁻¹ g_iᵀ (G M⁻¹ Gᵀ)⁻¹ g_i for the stacked dofs ``dofs`` (k,) int: the share of each dof's
    mass-weighted motion that the constraints G (the integrator's `ConstraintProjector`, its factorised
    G M⁻¹ Gᵀ) remove; dimensionless in [0, 1]. 0 everywhere without constraints."""
    dofs = np.asarray(dofs, dtype=np.int64)
    out = np.zeros(len(dofs))
    if projector is None or projector.n_rows == 0 or projector._lu is None:
        return out
    for s0 in range(0, len(dofs), chunk):
        idx = dofs[s0:s0 + chunk]
        Gi = projector.G[:, idx].toarray()               # (r, k) columns g_i
        Z = projector._lu.solve(Gi)
        out[s0:s0 + chunk] = projector.inv_mass[idx] * np.sum(Gi * Z, axis=0)
    return np.clip(out, 0.0, 1.0)


#: atoms whose mean free share mean_k (1 − P_kk) is below this have no thermal motion of their own (e.g. the
#: atoms tied to the mesh by ``slave_below`` or by strong rows with nearly no mass): `equipartition_mass`
#: leaves them out (mass 0) instead of dividing by a vanishing number
FREE_SHARE_FLOOR = 1e-2


def equipartition_mass(system, projector) -> np.ndarray:  # noqa: ANN001
    """(n,) masses [internal] that make `kinetic_temperature` / `TemperatureProfile` the equipartition
    temperature of the constrained coupled dynamics: M_a d / Σ_k (1 − P_kk) over the atom's d dofs, with
    M_a = β̄_a m_a the dynamical mass and P_kk = `constrained_share`; 0 for pads and for atoms whose mean
    free share is below `FREE_SHARE_FLOOR` (no own thermal motion: left out of temperatures). In the
    canonical state of the constrained dynamics at T, ⟨M_k v_k²⟩ = k_B T (1 − P_kk) exactly
    (velocity covariance k_B T M^-½ (I − P) M^-½), so this temperature is T for every atom: the kinetic
    energy the constraints carry away (the "constraint cooling") is counted out, as LAMMPS's ``compute
    temp`` removes the degrees of freedom of SHAKE constraints. Without constraints it is M_a."""
    d = system.d
    m = np.asarray(system.atom_mass, float).copy()
    if projector is None or not getattr(system, "coupled", False) or system.n_free == 0:
        return m
    dofs = np.arange(system.n_free * d, dtype=np.int64)
    free_share = (1.0 - constrained_share(projector, dofs)).reshape(-1, d).sum(axis=1)
    own = free_share >= FREE_SHARE_FLOOR * d
    out = np.zeros_like(m)
    out[system.free[own]] = m[system.free[own]] * d / free_share[own]
    return out
