"""Run by tests/parallel/test_mpi_coupled_spatial_ops.py under ``mpiexec -n P`` (or serially): a coupled
deck with a Langevin thermostat, a damping band or strong coupling stepped with the atoms on the spatial
engine (`parallel.coupled_spatial.SpatialCoupled`, `parallel.spatial_operators`).

    python mpi_coupled_spatial_ops_driver.py DECK STEPS EVERY OUT.npz

Rank 0 writes the gathered x, v (n, d), U, V (N, d) after STEPS steps, the ledger rows every EVERY steps
(``ledger`` (rows, 8): `KEYS` then the step), the atoms per rank, the neighbour builds, the atoms that
changed rank while stepping (``migrated``), the re-projections and the thermostat's step counter.
`serial_reference` is the same record of the serial `VelocityVerlet` (the test calls it in its process).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))
from mpi_coupled_spatial_driver import prepared  # noqa: E402
from mpi_coupled_spatial_loads_driver import KEYS, ledger_row  # noqa: E402
from mpi_helpers import serial_rows, spatial_rows  # noqa: E402


def serial_reference(deck_path: str, steps: int, every: int) -> dict:
    """The serial run's record (the driver's layout): total = K + Π − W as `Reduction.ledger`'s."""
    sim = prepared(deck_path)
    it, s = sim.integrator, sim.model.system
    rows = serial_rows(it, steps, every, lambda k: ledger_row(sim, k))
    th = sim.model.thermostat
    return {"x": s.atoms.x.copy(), "v": s.atoms.v.copy(), "U": s.continuum.U.copy(),
            "V": s.continuum.V.copy(), "ledger": np.array(rows), "fext": it.fext_atoms.copy(),
            "th_step": -1 if th is None else th.step}


def main() -> None:
    deck, steps, every, out_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    from multiscale.parallel import get_comm, run_guarded
    from multiscale.parallel.coupled_spatial import SpatialCoupled
    comm = get_comm()

    def run() -> None:
        sim = prepared(deck)
        sc = SpatialCoupled(sim.model, sim.integrator, comm)
        m0 = sc.engine.total_migrated()
        rows = spatial_rows(sc, steps, every, KEYS)
        g = sc.gather()
        lb = sc.engine.load_balance()
        migrated = sc.engine.total_migrated() - m0
        th = sim.model.thermostat
        if comm.rank == 0:
            np.savez(out_path, **g, ledger=np.array(rows), atoms_per_rank=lb["atoms"], size=comm.size,
                     builds=sc.engine.n_builds, reprojections=sc.n_reprojections, migrated=migrated,
                     th_step=-1 if th is None else th.step)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
