"""`MPIComm.channel` (persistent requests, one set per neighbour rebuild): channels still open at exit are
freed by ONE atexit hook per communicator (review rev25: one hook was registered at every rebuild, 28 after
400 steps — a leak growing with the run). Singleton MPI (one rank, no mpiexec needed): a channel to itself."""

from __future__ import annotations

import atexit

import numpy as np


def test_one_atexit_hook_per_communicator_whatever_the_rebuilds(monkeypatch) -> None:
    from multiscale.parallel.comm import MPIComm

    hooks = []
    monkeypatch.setattr(atexit, "register", lambda fn, *a, **k: hooks.append(fn))
    comm = MPIComm()
    send, recv = np.arange(4.0), np.zeros(4)
    for _ in range(5):                   # five rebuilds: free the old channel, open a new one
        ch = comm.channel([(send, 0, recv, 0, 7)])
        comm.start(ch)
        comm.wait(ch)
        assert np.array_equal(recv, send)
        comm.free(ch)
    assert len(hooks) == 1
    comm._free_open()
