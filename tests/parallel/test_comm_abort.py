"""`MPIComm.abort`: the failing rank's message must reach the launcher before MPI_Abort does.

Hydra's mpiexec exits as soon as a rank's abort reaches it; its proxy forwards a rank's stderr and its PMI
commands over one socket in the order it reads them. A message still in the rank's stderr pipe when the
proxy read the abort was lost: `test_mpi_md.py::test_failure_on_one_rank_stops_all` once saw a stopped
job with an EMPTY stderr. `abort` now waits until the pipe has been read (`wait_stdio_read`, bounded)
before calling MPI_Abort. Singleton MPI (one rank, no mpiexec): the MPI_Abort call itself is recorded by a
stand-in communicator, so nothing is aborted."""

from __future__ import annotations

import io
import os
import sys
import threading
import time

import pytest


def _slow_reader(fd: int, got: bytearray, delay: float) -> threading.Thread:
    """A launcher proxy that is slow to run: reads the pipe ``fd`` to its end after ``delay`` s."""
    def run() -> None:
        time.sleep(delay)
        while chunk := os.read(fd, 65536):
            got.extend(chunk)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_abort_calls_mpi_abort_only_after_the_message_was_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr is a pipe whose reader starts 0.3 s late: when MPI_Abort is called, the reader already holds
    the whole message; then the rank exits with the code (MPICH 5.0.2's MPI_Abort returns)."""
    from multiscale.parallel import comm as comm_mod

    comm = comm_mod.MPIComm()
    r, w = os.pipe()
    got = bytearray()
    at_abort: list = []

    class World:                       # stands in for COMM_WORLD: records what the reader had at Abort
        def Abort(self, code: int) -> None:   # noqa: N802 (mpi4py's name)
            at_abort.append((bytes(got), code))

    exits: list = []
    monkeypatch.setattr(comm, "comm", World())
    monkeypatch.setattr(comm_mod.os, "_exit", exits.append)
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(io.FileIO(w, "w", closefd=False), write_through=True))
    reader = _slow_reader(r, got, 0.3)
    t0 = time.monotonic()
    try:
        comm.abort("ValueError: deliberate failure", 3)
    finally:
        os.close(w)
    waited = time.monotonic() - t0
    reader.join(5)
    os.close(r)
    line = f"msim: rank {comm.rank}/{comm.size}: ValueError: deliberate failure\n".encode()
    assert at_abort == [(line, 3)]
    assert exits == [3]
    assert 0.25 < waited < 5


def test_wait_stdio_read_is_bounded_and_skips_files(tmp_path) -> None:
    """A pipe nobody reads: False after the timeout (an abort is delayed, never blocked); a regular file
    (data written is kept): True at once; a pipe already read: True."""
    from multiscale.parallel.comm import wait_stdio_read

    r, w = os.pipe()
    try:
        os.write(w, b"unread")
        t0 = time.monotonic()
        assert wait_stdio_read(timeout=0.2, fds=(w,)) is False
        assert 0.2 <= time.monotonic() - t0 < 3
        assert os.read(r, 100) == b"unread"
        assert wait_stdio_read(timeout=0.2, fds=(w,)) is True
    finally:
        os.close(r)
        os.close(w)
    with open(tmp_path / "log", "wb") as f:
        f.write(b"x" * 1000)
        f.flush()
        t0 = time.monotonic()
        assert wait_stdio_read(timeout=5, fds=(f.fileno(),)) is True
        assert time.monotonic() - t0 < 1
