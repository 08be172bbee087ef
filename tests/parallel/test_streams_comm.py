"""Keyed random streams (results independent of the rank count) and the serial communicator."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from multiscale.parallel import SerialComm, get_comm, keyed_normal, keyed_uniform, launched_with_mpi


def test_same_noise_for_any_partition_and_order() -> None:
    """An atom's deviates depend only on (seed, step, gid): any split over ranks, any order."""
    gids = np.arange(1000)
    full = keyed_normal(11, 5, gids, 3)
    perm = np.random.default_rng(0).permutation(1000)
    np.testing.assert_array_equal(keyed_normal(11, 5, gids[perm], 3), full[perm])
    parts = np.array_split(gids, 7)
    np.testing.assert_array_equal(np.concatenate([keyed_normal(11, 5, p, 3) for p in parts]), full)
    assert not np.array_equal(keyed_normal(11, 6, gids, 3), full)       # next step: new numbers
    assert not np.array_equal(keyed_normal(12, 5, gids, 3), full)       # other seed
    assert not np.array_equal(keyed_normal(11, 5, gids, 3, stream=1), full)


def test_keyed_normal_statistics() -> None:
    """Kolmogorov–Smirnov against N(0, 1) over ids, over steps for one atom, and no correlation
    between neighbouring ids, components and steps (scipy's independent implementations)."""
    z = keyed_normal(3, 17, np.arange(200_000), 3)
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    one = np.array([keyed_normal(3, s, np.array([42]), 1)[0, 0] for s in range(5000)])
    assert stats.kstest(one, "norm").pvalue > 1e-3
    for a, b in ((z[:-1, 0], z[1:, 0]), (z[:, 0], z[:, 1]),
                 (z[:, 2], keyed_normal(3, 18, np.arange(200_000), 3)[:, 2])):
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(len(a))
    u = keyed_uniform(0, 0, np.arange(100_000), 2)
    assert u.min() > 0.0 and u.max() < 1.0
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3


def test_keyed_stream_rejects_out_of_range_keys() -> None:
    with pytest.raises(ValueError, match="global ids"):
        keyed_normal(0, 0, np.array([-1]), 3)
    with pytest.raises(ValueError, match="step"):
        keyed_normal(0, -1, np.array([0]), 3)


def test_serial_comm_is_the_identity() -> None:
    c = get_comm(False)
    assert isinstance(c, SerialComm) and (c.rank, c.size) == (0, 1)
    a = np.arange(4.0)
    np.testing.assert_array_equal(c.allreduce(a, "max"), a)
    assert c.allreduce(2.5) == 2.5 and c.gather("x") == ["x"] and c.exchange({0: 7}) == {0: 7}
    r = np.zeros(3)
    c.sendrecv(np.ones(3), 0, r, 0)
    np.testing.assert_array_equal(r, 1.0)


def test_serial_msim_never_imports_mpi4py() -> None:
    """Without an MPI launcher the package works and mpi4py stays unimported (so a serial msim runs
    where mpi4py is absent)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE",
                                                            "MPI_LOCALNRANKS", "SLURM_NTASKS")}
    code = ("import sys, multiscale.parallel as p; c = p.get_comm(); "
            "assert c.size == 1 and not c.is_mpi; assert 'mpi4py' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_launcher_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS"):
        monkeypatch.delenv(var, raising=False)
    assert not launched_with_mpi()
    monkeypatch.setenv("PMI_SIZE", "1")
    assert not launched_with_mpi()          # mpiexec -n 1: serial unless asked (get_comm(True))
    monkeypatch.setenv("PMI_SIZE", "2")
    assert launched_with_mpi()
