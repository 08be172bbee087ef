"""`run.reduce.Reduction`: the serial reduction is bitwise the single-piece figures; over several ranks
(threads standing in for MPI ranks, `threadcomm.py`) sums, maxima, temperatures, the ledger and the
guard's verdict are those of the whole."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.diagnostics.energy import ledger
from multiscale.diagnostics.guard import BlowUpGuard
from multiscale.diagnostics.temperature import kinetic_temperature as mean_temperature_ref
from multiscale.errors import BlowUpError
from multiscale.md.velocities import kinetic_temperature
from multiscale.run.reduce import Reduction, SerialComm

from .threadcomm import run_ranks


class _Piece:
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


def _whole(pieces):
    """One piece holding the sums (the maximum residual) of the given pieces."""
    w = _Piece(np.random.default_rng(0))
    w._k = (sum(p._k[0] for p in pieces), sum(p._k[1] for p in pieces))
    w.energy = {k: sum(p.energy[k] for p in pieces) for k in w.energy}
    w._p = sum(p._p for p in pieces)
    w.external_work = sum(p.external_work for p in pieces)
    w.dissipated = sum(p.dissipated for p in pieces)
    w._corr = sum(p._corr for p in pieces)
    w._res = max(p._res for p in pieces)
    return w


def test_serial_ledger_is_bitwise_the_single_piece_ledger():
    piece = _Piece(np.random.default_rng(3))
    a, b = ledger(piece), Reduction().ledger(piece)
    assert list(a) == list(b)                          # same keys in the same order (thermo columns)
    for k in a:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k


@pytest.mark.parametrize("size", [2, 3])
def test_ledger_over_ranks_is_the_ledger_of_the_whole(size):
    pieces = [_Piece(np.random.default_rng(10 + r)) for r in range(size)]
    ref = ledger(_whole(pieces))
    results, errors = run_ranks(size, lambda comm: Reduction(comm).ledger(pieces[comm.rank]))
    assert errors == [None] * size
    for rec in results:
        for k in ref:
            assert np.allclose(rec[k], ref[k], rtol=1e-14, atol=1e-300), k
        assert rec["constraint_residual"] == ref["constraint_residual"]   # a maximum, exact


def test_temperatures_over_ranks_match_the_whole():
    rng = np.random.default_rng(5)
    v, m = rng.standard_normal((31, 2)), rng.uniform(1, 3, 31)
    m[[4, 17]] = 0.0                                   # massless (pad) atoms are left out
    cuts = [0, 9, 20, 31]
    ref_t = kinetic_temperature(v, m, 0.5)
    ref_mean = mean_temperature_ref(v, m, 0.5)

    def on_rank(comm):
        sl = slice(cuts[comm.rank], cuts[comm.rank + 1])
        red = Reduction(comm)
        return red.temperature(v[sl], m[sl], 0.5), red.mean_temperature(v[sl], m[sl], 0.5)

    results, errors = run_ranks(3, on_rank)
    assert errors == [None] * 3
    for t, tm in results:
        assert t == pytest.approx(ref_t, rel=1e-14)
        assert tm == pytest.approx(ref_mean, rel=1e-14)
    serial = Reduction(SerialComm())
    assert serial.temperature(v, m, 0.5) == ref_t          # bitwise on one rank
    assert serial.mean_temperature(v, m, 0.5) == ref_mean


def test_a_blow_up_on_one_rank_stops_every_rank():
    def on_rank(comm):
        x = np.zeros((4, 2))
        if comm.rank == 1:
            x[2, 0] = np.nan
        Reduction(comm).guard_check(BlowUpGuard(), 12, {"atoms": {"x": x}})

    _, errors = run_ranks(3, on_rank)
    assert all(isinstance(e, BlowUpError) for e in errors), errors
    assert "atom 2" in str(errors[1])                     # the failing rank names the atom
    assert "another rank" in str(errors[0]) and "another rank" in str(errors[2])


def test_no_blow_up_no_error_on_any_rank():
    _, errors = run_ranks(2, lambda comm: Reduction(comm).guard_check(BlowUpGuard(), 3,
                                                                        {"atoms": {"x": np.zeros((3, 2))}}))
    assert errors == [None, None]
