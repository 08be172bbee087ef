"""An in-process stand-in for an MPI communicator: P threads, one per "rank", with mpi4py's
``allreduce(value, op)`` semantics (sum / max of floats or NumPy arrays, every rank gets the result).

``run_ranks(P, fn)`` calls ``fn(comm)`` on P threads and returns the P results (re-raising the first
exception of any rank in the caller)."""

from __future__ import annotations

import threading

import numpy as np


class _Shared:
    def __init__(self, size: int) -> None:
        self.size = size
        self.barrier = threading.Barrier(size, timeout=30)
        self.slots: list = [None] * size


class ThreadComm:
    def __init__(self, shared: _Shared, rank: int) -> None:
        self._sh = shared
        self.rank = rank
        self.size = shared.size

    def allreduce(self, value, op="sum"):  # noqa: ANN001, ANN201
        sh = self._sh
        sh.slots[self.rank] = np.array(value, copy=True)
        sh.barrier.wait()
        vals = list(sh.slots)
        sh.barrier.wait()           # everybody has read before the next collective overwrites the slots
        if op == "sum":
            out = vals[0].copy()
            for v in vals[1:]:
                out = out + v
        elif op == "max":
            out = np.maximum.reduce(vals)
        else:
            raise ValueError(op)
        return out if isinstance(value, np.ndarray) else out.item()


def run_ranks(size: int, fn):  # noqa: ANN001, ANN201
    sh = _Shared(size)
    results: list = [None] * size
    errors: list = [None] * size

    def target(r: int) -> None:
        try:
            results[r] = fn(ThreadComm(sh, r))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors[r] = exc    # a rank failing outside a collective: the others wait for the timeout

    threads = [threading.Thread(target=target, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors
