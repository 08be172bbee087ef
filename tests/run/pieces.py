"""Shared inputs of the reduction tests (thread ranks and MPI ranks)."""

from __future__ import annotations

import numpy as np


def atoms() -> tuple[np.ndarray, np.ndarray]:
    """(v (31, 2), mass (31,)) with two massless (pad) atoms."""
    rng = np.random.default_rng(5)
    v, m = rng.standard_normal((31, 2)), rng.uniform(1, 3, 31)
    m[[4, 17]] = 0.0
    return v, m


class Piece:
    """Stand-in for the part of a system/integrator one rank holds: the terms `ledger` reads."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._k = tuple(rng.uniform(0, 2, 2))
        self.energy = {"potential_atoms": rng.uniform(-5, 0), "potential_continuum": rng.uniform(0, 1),
                       "coupling": rng.uniform(-0.1, 0.1)}
        self._p = rng.standard_normal(2)
        self.system = self
        self._initialized = True
        self.step_count, self.time = 7, 0.7
        self.external_work, self.dissipated = rng.uniform(0, 0.1), rng.uniform(0, 0.1)
        self._corr, self._res = -rng.uniform(0, 1e-4), rng.uniform(0, 1e-12)

    def kinetic(self):
        return self._k

    def momentum(self):
        return self._p.copy()

    def verlet_correction(self):
        return self._corr

    def constraint_residual(self):
        return self._res


def whole(pieces: list) -> Piece:
    """One piece holding the sums (the maximum residual) of the given pieces."""
    w = Piece(np.random.default_rng(0))
    w._k = (sum(p._k[0] for p in pieces), sum(p._k[1] for p in pieces))
    w.energy = {k: sum(p.energy[k] for p in pieces) for k in w.energy}
    w._p = sum(p._p for p in pieces)
    w.external_work = sum(p.external_work for p in pieces)
    w.dissipated = sum(p.dissipated for p in pieces)
    w._corr = sum(p._corr for p in pieces)
    w._res = max(p._res for p in pieces)
    return w
