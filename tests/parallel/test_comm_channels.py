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


def test_rows_of_unknown_count_and_an_allreduce_completed_with_a_channel() -> None:
    """`sendrecv_rows` (the ghost set-up of a rebuild: rows sized by a matched probe, no counts message)
    returns exactly the rows sent, an empty message as (0, w) and nothing from PROC_NULL; `start_allreduce`
    is completed by the channel's `wait` (the rebuild check riding on the position exchange). Singleton
    MPI: messages to itself; the serial communicator gives the same."""
    from mpi4py import MPI

    from multiscale.parallel.comm import MPIComm, SerialComm

    comm = MPIComm()
    a = np.arange(15.0).reshape(5, 3)
    e = np.zeros((0, 3))
    got = comm.sendrecv_rows([(a, 0, 0, 22), (e, 0, 0, 23), (a[:2], MPI.PROC_NULL, MPI.PROC_NULL, 24)])
    assert [g.shape for g in got] == [(5, 3), (0, 3), (0, 3)]
    assert np.array_equal(got[0], a)
    assert comm.messages == 3 and comm.bytes_sent == a.nbytes + a[:2].nbytes
    assert np.array_equal(SerialComm().sendrecv_rows([(a, 0, 0, 22)])[0], a)

    send, recv = np.arange(4.0), np.zeros(4)
    ch = comm.channel([(send, 0, recv, 0, 7)])
    d2, out = np.array([2.5]), np.zeros(1)
    comm.start(ch)
    req = comm.start_allreduce(d2, out, "max")
    comm.wait(ch, req)
    assert np.array_equal(recv, send) and out[0] == 2.5
    assert req == MPI.REQUEST_NULL          # completed (and released) by that one Waitall
    comm.free(ch)
