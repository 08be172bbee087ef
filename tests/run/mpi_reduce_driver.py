"""Run under ``mpiexec -n P``: `Reduction` over a real MPI communicator (`parallel.comm.MPIComm`).

Every rank holds a slice of the same random atoms and its own ledger piece (seeded by rank); rank 0 writes
the reduced figures and every rank's guard verdict to OUT.npz. Usage: mpi_reduce_driver.py OUT.npz
"""

from __future__ import annotations

import sys

import numpy as np

from multiscale.diagnostics.guard import BlowUpGuard
from multiscale.errors import BlowUpError
from multiscale.parallel.comm import get_comm
from multiscale.run.reduce import Reduction

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from pieces import Piece, atoms  # noqa: E402


def main(out: str) -> None:
    comm = get_comm(mpi=True)
    red = Reduction(comm)
    v, m = atoms()
    sl = np.array_split(np.arange(len(m)), comm.size)[comm.rank]
    T = red.temperature(v[sl], m[sl], 0.5)
    Tm = red.mean_temperature(v[sl], m[sl], 0.5)
    rec = red.ledger(Piece(np.random.default_rng(10 + comm.rank)))
    x = np.zeros((4, 2))
    if comm.rank == comm.size - 1:
        x[2, 0] = np.nan
    try:
        red.guard_check(BlowUpGuard(), 12, {"atoms": {"x": x}})
        verdict = "none"
    except BlowUpError as exc:
        verdict = str(exc)
    verdicts = comm.gather(verdict)
    if comm.rank == 0:
        np.savez(out, T=T, Tm=Tm, size=comm.size, verdicts=np.array(verdicts),
                 **{f"ledger.{k}": np.asarray(v) for k, v in rec.items()})


if __name__ == "__main__":
    main(sys.argv[1])
