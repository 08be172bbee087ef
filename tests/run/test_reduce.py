"""`run.reduce.Reduction`: the serial reduction is bitwise the single-piece figures; over several ranks
(threads standing in for MPI ranks, `threadcomm.py`) sums, maxima, temperatures, the ledger and the
guard's verdict are those of the whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from multiscale.diagnostics.energy import ledger
from multiscale.diagnostics.guard import BlowUpGuard
from multiscale.diagnostics.temperature import kinetic_temperature as mean_temperature_ref
from multiscale.errors import BlowUpError
from multiscale.md.velocities import kinetic_temperature
from multiscale.run.reduce import Reduction, SerialComm

from .pieces import Piece as _Piece
from .pieces import atoms
from .pieces import whole as _whole
from .threadcomm import run_ranks

MPIEXEC = Path(sys.executable).parent / "mpiexec"


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
    v, m = atoms()                                     # two massless (pad) atoms: left out
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


def test_reduction_over_real_mpi_ranks(tmp_path):
    """`Reduction` over `parallel.comm.MPIComm` under ``mpiexec -n 2``: the figures of the whole, and a
    NaN on one rank stops both."""
    assert MPIEXEC.exists(), f"{MPIEXEC} missing: pip install 'msim[mpi]' (mpi4py + mpich)"
    out = tmp_path / "red.npz"
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    driver = Path(__file__).parent / "mpi_reduce_driver.py"
    p = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(driver), str(out)], env=env,
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    z = np.load(out)
    assert int(z["size"]) == 2
    v, m = atoms()
    assert float(z["T"]) == pytest.approx(kinetic_temperature(v, m, 0.5), rel=1e-14)
    assert float(z["Tm"]) == pytest.approx(mean_temperature_ref(v, m, 0.5), rel=1e-14)
    ref = ledger(_whole([_Piece(np.random.default_rng(10 + r)) for r in range(2)]))
    for k in ref:
        assert np.allclose(z[f"ledger.{k}"], ref[k], rtol=1e-14, atol=1e-300), k
    verdicts = [str(x) for x in z["verdicts"]]
    assert "another rank" in verdicts[0] and "atom 2" in verdicts[1]


def test_lost_atoms_over_ranks_named_as_in_the_serial_run():
    """Atoms split over 3 ranks in a scrambled order (each rank holds its atoms' global ids, "gid"): every
    rank's message is the serial one: the lost atom of smallest global id, its axis and position, and the
    count over ALL ranks (review rev29 F1: a rank named its local row and its own count)."""
    rng = np.random.default_rng(3)
    n = 40
    x = rng.uniform(0.0, 10.0, (n, 3))
    x[[7, 12, 25, 33], [1, 0, 2, 0]] = [14.0, -3.0, 12.5, 20.0]     # four atoms beyond the margin (1.0)
    box = (np.zeros(3), np.full(3, 10.0), np.zeros(3, bool))
    with pytest.raises(BlowUpError) as serial:
        BlowUpGuard().check(5, {"atoms": {"x": x}}, box=box)
    assert "atom 7 " in str(serial.value) and "4 atoms out" in str(serial.value)
    owner = rng.permutation(np.arange(n) % 3)
    owner[[7, 12]] = 2                                               # atom 7 not on rank 0, nor first there
    order = rng.permutation(n)

    def on_rank(comm):
        mine = order[owner[order] == comm.rank]
        Reduction(comm).guard_check(BlowUpGuard(), 5, {"atoms": {"x": x[mine], "gid": mine}}, box=box)

    _, errors = run_ranks(3, on_rank)
    assert all(isinstance(e, BlowUpError) for e in errors), errors
    assert [str(e) for e in errors] == [str(serial.value)] * 3


def test_non_finite_value_names_the_global_atom_id():
    x = np.zeros((4, 2))
    x[2, 1] = np.inf
    with pytest.raises(BlowUpError, match=r"at atom 17, component 1"):
        BlowUpGuard().check(1, {"atoms": {"x": x, "gid": np.array([3, 9, 17, 4])}})
