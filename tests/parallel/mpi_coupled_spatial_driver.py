"""Run by tests/parallel/test_mpi_coupled_spatial.py under ``mpiexec -n P`` (or serially): the coupled
dynamics of a deck with the atoms on the spatial engine (`parallel.coupled_spatial.SpatialCoupled`).

    python mpi_coupled_spatial_driver.py DECK STEPS EVERY OUT.npz [full]

Every rank builds and prepares the serial model (serial `Simulation.prepare`), then steps it with
`SpatialCoupled`; rank 0 writes the gathered x, v (n, d), U, V (N, d) after STEPS steps, the ledger rows
every EVERY steps (``ledger`` (rows, 6): kinetic atoms, kinetic continuum, potential atoms, continuum,
total, step), the atoms per rank, the number of neighbour rebuilds and of atoms that changed rank while
stepping (``migrated``), and ``reactions`` (rows, k): the ``fixed`` loads' reaction observables at the same
rows (k = 0 without such loads). ``full``: the engine's full-cross-pairs force mode (``newton=False``; default: its
default, reverse communication). `serial_reference` is the same
record of the serial `VelocityVerlet` (called by the test in its own process).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from mpi_helpers import perturb_forces, serial_rows, spatial_rows  # noqa: E402

KEYS = ("kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum", "total")


def reactions(model) -> list[float]:  # noqa: ANN001
    """The ``fixed`` loads' reaction observables (``<label>.reaction_x…``, deck order), current values."""
    from multiscale.loads.fixed import Fixed
    out: list[float] = []
    for ld in model.loads:
        if type(ld) is Fixed:
            out += list(ld.observables().values())
    return out


def prepared(deck_path: str):  # noqa: ANN201
    """The serial `Simulation` of a deck, prepared (initial conditions, projected state)."""
    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    sim = Simulation.from_deck(load_deck(deck_path), threads=1)
    sim.prepare()
    return sim


def serial_reference(deck_path: str, steps: int, every: int, perturb: float = 0.0) -> dict:
    """The serial run's record (the layout of the driver's output). ``perturb`` > 0: the control run, the
    atoms' forces perturbed after every evaluation by ``perturb`` × standard normal noise (seeded) [force]:
    how far round-off in the forces alone moves the serial trajectory."""
    sim = prepared(deck_path)
    it, s = sim.integrator, sim.model.system
    perturb_forces(s.atoms, perturb)
    react = []

    def row(k: int) -> list[float]:
        react.append(reactions(sim.model))
        Ka, Kc = s.kinetic()
        e = s.energy
        return [Ka, Kc, e["potential_atoms"], e["potential_continuum"], Ka + Kc + it.potential, float(k)]
    rows = serial_rows(it, steps, every, row)
    return {"x": s.atoms.x.copy(), "v": s.atoms.v.copy(), "U": s.continuum.U.copy(),
            "V": s.continuum.V.copy(), "ledger": np.array(rows),
            "reactions": np.array(react).reshape(len(rows), -1)}


def main() -> None:
    deck, steps, every, out_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    newton = False if sys.argv[5:] == ["full"] else None
    from multiscale.parallel import get_comm, run_guarded
    from multiscale.parallel.coupled_spatial import SpatialCoupled
    comm = get_comm()

    def run() -> None:
        sim = prepared(deck)
        sc = SpatialCoupled(sim.model, sim.integrator, comm, newton=newton)
        m0 = sc.engine.total_migrated()          # the initial distribution (rank 0 gave every atom)
        react = []
        rows = spatial_rows(sc, steps, every, KEYS, lambda k: react.append(reactions(sim.model)))
        g = sc.gather()
        lb = sc.engine.load_balance()
        migrated = sc.engine.total_migrated() - m0      # atoms that changed slab while stepping
        if comm.rank == 0:
            np.savez(out_path, **g, ledger=np.array(rows),
                     reactions=np.array(react).reshape(len(rows), -1), atoms_per_rank=lb["atoms"], size=comm.size,
                     builds=sc.engine.n_builds, reprojections=sc.n_reprojections, migrated=migrated)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
