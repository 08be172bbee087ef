"""Cauchy–Born continuum of an external-engine potential (``type: lammps`` / ``type: ase``): W(F) and P(F)
from a periodic cell of the lattice evaluated by the engine itself, C by finite differences of its stress.

Engines have no radial functions, so the lattice sums of `lattice_sums` (native potentials, exact) cannot
be used. Instead (`multiscale.md.engines.cell`): the lattice's shortest orthogonal periodic cell (V₀ =
its volume, n atoms) is deformed homogeneously by F and evaluated by the engine:

* ``W(F) = E_cell(F) / V₀`` [energy/length^d] — exactly the engine's energy per reference volume of the
  homogeneously deformed infinite crystal (round-off of the engine; no interpolation, no Taylor
  expansion). It includes the cohesive energy, like the native ``cauchy_born`` (W(I) = E_coh/Ω₀).
* ``P(F) = J σ(F) F⁻ᵀ`` [energy/length^d], σ the engine's Cauchy (virial) stress of the deformed cell:
  the exact derivative of W when the engine's virial is (LAMMPS: ``compute pressure NULL virial``; ASE:
  ``get_stress``).
* ``C`` (Voigt, [energy/length^d]) = ∂S/∂E at E = 0 (S = F⁻¹P the second Piola stress, E the Green strain,
  F = (I + 2E)^½): central differences of S with a controlled step. The step starts at ``h0`` (Green
  strain) and is halved until two successive differences agree to ``tol`` relative to max|C| (the
  reported ``C_error`` is that last difference, an upper estimate of the truncation error of the kept
  one); halving stops at ``h_min``. Halving also keeps tabulated potentials (splines with knots, where
  the stress is only C⁰-differentiable) from straddling a knot. C is computed once per run and cached
  for every material of the same potential and lattice (``_C_CACHE``).

Evaluation cost: one engine call per DISTINCT F (rows with bitwise-equal F, e.g. an undeformed far field,
are computed once; results are kept in a per-material cache of ``cache_size`` entries keyed by F's
bytes). Bravais lattices only (a basis would need inner relaxation).
"""

from __future__ import annotations

import numpy as np

from .base import VOIGT_PAIRS, Material

#: per-run cache of engine elastic constants: key -> (C (nv, nv), C_error, step)
_C_CACHE: dict[tuple, tuple[np.ndarray, float, float]] = {}


def _lattice_key(lattice) -> tuple:  # noqa: ANN001
    return (lattice.kind, float(lattice.a), repr(lattice.orient), repr(lattice.origin))


def _stretch(E: np.ndarray) -> np.ndarray:
    """F = (I + 2E)^½ (symmetric right stretch) of a symmetric Green strain E (d, d)."""
    w, V = np.linalg.eigh(np.eye(E.shape[0]) + 2.0 * E)
    return (V * np.sqrt(w)[None, :]) @ V.T


def second_piola(cell, F: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """S = J F⁻¹ σ F⁻ᵀ (d, d) [energy/length^d] of the engine cell at F."""
    _, sig = cell.energy_stress(F)
    Fi = np.linalg.inv(F)
    return np.linalg.det(F) * Fi @ sig @ Fi.T


def engine_elastic_constants(cell, h0: float = 1e-4, tol: float = 1e-8, h_min: float = 1e-7  # noqa: ANN001
                             ) -> tuple[np.ndarray, float, float]:
    """(C (nv, nv) [energy/length^d], relative error estimate, step used) of the engine cell (see the
    module docstring). Voigt columns: engineering shear strains."""
    d = cell.d
    pairs = VOIGT_PAIRS[d]

    def D(h: float) -> np.ndarray:
        C = np.empty((len(pairs), len(pairs)))
        for b, (k, m) in enumerate(pairs):
            E = np.zeros((d, d))
            if k == m:
                E[k, k] = h
            else:
                E[k, m] = E[m, k] = 0.5 * h
            Sp = second_piola(cell, _stretch(E))
            Sm = second_piola(cell, _stretch(-E))
            dS = (Sp - Sm) / (2.0 * h)
            C[:, b] = [dS[i, j] for i, j in pairs]
        return C

    h = float(h0)
    C1 = D(h)
    while True:
        C2 = D(0.5 * h)
        err = float(np.max(np.abs(C2 - C1)) / max(np.max(np.abs(C2)), 1e-300))
        h *= 0.5
        if err <= tol or 0.5 * h < h_min:
            break
        C1 = C2
    return 0.5 * (C2 + C2.T), err, h


def cached_elastic_constants(potential, lattice, tol: float = 1e-8) -> tuple[np.ndarray, float, float]:  # noqa: ANN001
    """`engine_elastic_constants` of ``potential`` (an external engine with ``periodic_cell``) on
    ``lattice``, computed once per run (per process) and cached."""
    key = (potential.cache_key(), _lattice_key(lattice), float(tol))
    hit = _C_CACHE.get(key)
    if hit is None:
        cell = potential.periodic_cell(lattice)
        try:
            hit = engine_elastic_constants(cell, tol=tol)
        finally:
            cell.close()
        _C_CACHE[key] = hit
    return hit[0].copy(), hit[1], hit[2]


class EngineCauchyBorn(Material):
    """Cauchy–Born material of an external-engine potential (module docstring). ``path`` = "engine"."""

    is_linear = False
    path = "engine"

    def __init__(self, potential, lattice, tol: float = 1e-8, cache_size: int = 200_000) -> None:  # noqa: ANN001
        self.potential = potential
        self.cell = potential.periodic_cell(lattice)
        self.dim = int(self.cell.d)
        self.V0 = float(np.prod(self.cell.L))
        self.omega = float(lattice.volume_per_atom)
        self.C, self.C_error, self.fd_step = cached_elastic_constants(potential, lattice, tol)
        self.n_threads = 1  # set by ContinuumRegion; the engine runs serially
        self.cache_size = int(cache_size)
        self._cache: dict[bytes, tuple[np.ndarray, float]] = {}

    def _one(self, F: np.ndarray) -> tuple[np.ndarray, float]:
        key = F.tobytes()
        hit = self._cache.get(key)
        if hit is None:
            E, sig = self.cell.energy_stress(F)
            P = np.linalg.det(F) * sig @ np.linalg.inv(F).T  # J σ F⁻ᵀ
            hit = (P, E / self.V0)
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def evaluate(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P (m, d, d) and W (m,) [energy/length^d] for F (m, d, d)."""
        F = np.ascontiguousarray(F, dtype=float)
        m, d = F.shape[0], self.dim
        P = np.empty((m, d, d))
        W = np.empty(m)
        if m == 0:
            return P, W
        uniq, inv = np.unique(F.reshape(m, d * d), axis=0, return_inverse=True)
        inv = np.asarray(inv).ravel()
        Pu = np.empty((len(uniq), d, d))
        Wu = np.empty(len(uniq))
        for u in range(len(uniq)):
            Pu[u], Wu[u] = self._one(np.ascontiguousarray(uniq[u].reshape(d, d)))
        P[...] = Pu[inv]
        W[...] = Wu[inv]
        return P, W

    def close(self) -> None:
        self.cell.close()


def engine_lattice_constant(potential, kind: str, a_guess: float, tol: float = 1e-10,  # noqa: ANN001
                            max_iter: int = 50) -> float:
    """Zero-stress lattice constant [length] of the cubic lattice ``kind`` for an external-engine
    potential (``a: relaxed`` needs radial functions): secant iteration on the mean normal stress of the
    engine's periodic cell, scaled isotropically, σ(a) = 0 to |Δa| ≤ tol·a."""
    from ...md.lattice import Lattice

    cell = potential.periodic_cell(Lattice(kind, a_guess))
    try:
        def p(s: float) -> float:
            return float(np.trace(cell.energy_stress(s * np.eye(cell.d))[1]))
        s0, s1 = 1.0, 1.001
        p0, p1 = p(s0), p(s1)
        for _ in range(max_iter):
            s2 = s1 - p1 * (s1 - s0) / (p1 - p0)
            if abs(s2 - s1) <= tol * s1:
                return float(a_guess * s2)
            s0, p0, s1, p1 = s1, p1, s2, p(s2)
    finally:
        cell.close()
    raise RuntimeError(f"zero-stress lattice constant of {kind} did not converge")
