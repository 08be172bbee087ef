"""Run by tests/parallel/test_mpi_spatial_memory.py under ``mpiexec -n P``: ``msim run --decompose spatial``
through the Python API (what `multiscale.cli` does), then what each rank holds of the serial model.

    python mpi_spatial_memory_driver.py DECK OUT.h5 REPORT.npz

REPORT (rank 0 writes it; one entry per rank): ``list_built`` the serial region's neighbour list exists
after the run; ``x_untouched`` / ``v_untouched`` / ``acc_untouched`` the serial atoms' x, v and the serial
integrator's accelerations are bitwise what they were after set-up (nothing wrote them); ``n_own`` the
engine's owned atoms; ``peak_mib`` the process's peak RSS [MiB] (information only).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def main() -> None:
    deck_path, out, report = sys.argv[1], sys.argv[2], sys.argv[3]
    from multiscale.deck import load_deck
    from multiscale.parallel import get_comm, run_guarded
    from multiscale.simulation import Simulation
    comm = get_comm()

    def run() -> None:
        sim = Simulation.from_deck(load_deck(deck_path), threads=1, comm=comm)
        sim.decompose = "spatial"
        sim.prepare()
        a = sim.model.atoms
        serial = sim.integrator.serial
        x0, v0, acc0 = a.x.copy(), a.v.copy(), serial.acc_atoms.copy()
        sim.run(output=out, progress="quiet")
        mine = {"list_built": a.nlist.x_build is not None, "x_untouched": bool(np.array_equal(a.x, x0)),
                "v_untouched": bool(np.array_equal(a.v, v0)),
                "acc_untouched": bool(np.array_equal(serial.acc_atoms, acc0)),
                "n_own": int(sim.integrator.sc.engine.n_own),
                "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
        rows = comm.allgather(mine)
        if comm.rank == 0:
            np.savez(report, **{k: np.array([r[k] for r in rows]) for k in mine})

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
