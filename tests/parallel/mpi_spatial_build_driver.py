"""Run by tests/parallel/test_mpi_spatial_memory.py under ``mpiexec -n P``: what each rank's engine holds
right after `parallel.coupled_spatial.SpatialCoupled` is constructed (before any step).

    python mpi_spatial_build_driver.py DECK OUT.npz

OUT (rank 0 writes it): per rank r, ``r/gid``, ``r/x``, ``r/v``, ``r/mass``, ``r/site_w``, ``r/X_ref`` the
engine's owned rows, ``r/migrated`` the atoms it sent to another rank while being built, ``r/slab`` its
slab's faces along x; ``size``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))


def main() -> None:
    from mpi_coupled_spatial_driver import prepared

    from multiscale.parallel import get_comm, run_guarded
    from multiscale.parallel.coupled_spatial import SpatialCoupled
    comm = get_comm()

    def run() -> None:
        sim = prepared(sys.argv[1])
        e = SpatialCoupled(sim.model, sim.integrator, comm).engine
        n = e.n_own
        mine = {"gid": e.gid[:n], "x": e.x[:n], "v": e.v[:n], "mass": e.mass[:n], "site_w": e.site_w[:n],
                "X_ref": e.X_ref[:n], "migrated": np.int64(e.n_migrated),
                "slab": e.dec.bounds[comm.rank:comm.rank + 2]}
        parts = comm.gather(mine, 0) if comm.size > 1 else [mine]
        if comm.rank == 0:
            np.savez(sys.argv[2], size=comm.size,
                     **{f"{r}/{k}": v for r, p in enumerate(parts) for k, v in p.items()})

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
