"""Run by tests/parallel/test_mpi_coupled_spatial_methods*.py under ``mpiexec -n P`` (or serially): a coupled
deck whose coupling method adds forces of its own (``ghost_corrected``), a multi-element eam/fs deck, or a
model with a mass floor, stepped with the atoms on the spatial engine (`parallel.coupled_spatial.SpatialCoupled`).

    python mpi_coupled_spatial_methods_driver.py DECK STEPS EVERY OUT.npz [floor=F] [full]

Rank 0 writes the gathered x, v (n, d), U, V (N, d) after STEPS steps, the ledger rows every EVERY steps
(``ledger`` (rows, 7): `KEYS` then the step), the atoms per rank, the neighbour builds, the atoms that changed
rank while stepping (``migrated``) and, for ``ghost_corrected``, the correction g in use at the end
(``g`` (n_dof,)) and the method's update count (``updates``). ``floor=F``: the model is built with
``CoupledSystem(mass_floor=F)`` (not a deck key: the Python API's option); ``full``: the engine's full
cross pairs (``newton=False``). `serial_reference` is the same record of the serial `VelocityVerlet`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from mpi_helpers import perturb_forces, serial_rows, spatial_rows  # noqa: E402

KEYS = ("kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum", "coupling", "total")


def prepared(deck_path: str, floor: float = 0.0):  # noqa: ANN201
    """The serial `Simulation` of a deck, prepared; ``floor`` > 0: its coupled system built with
    ``mass_floor=floor``."""
    from multiscale.coupling import coupled
    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    init = coupled.CoupledSystem.__init__
    if floor > 0.0:
        def floored(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
            k.setdefault("mass_floor", floor)
            return init(self, *a, **k)
        coupled.CoupledSystem.__init__ = floored
    try:
        sim = Simulation.from_deck(load_deck(deck_path), threads=1)
    finally:
        coupled.CoupledSystem.__init__ = init
    sim.prepare()
    return sim


def _ghost(model) -> tuple[np.ndarray, int]:  # noqa: ANN001
    m = model.system.method
    g = getattr(m, "correction", None)
    return (np.zeros(0) if g is None else np.array(g)), int(getattr(m, "updates", -1))


def serial_reference(deck_path: str, steps: int, every: int, floor: float = 0.0, perturb: float = 0.0) -> dict:
    """The serial run's record (the driver's layout); ``perturb`` > 0: the atoms' forces perturbed after
    every evaluation by ``perturb`` × N(0, 1) (seeded): the control of how far round-off moves the run."""
    sim = prepared(deck_path, floor)
    it, s = sim.integrator, sim.model.system
    perturb_forces(s.atoms, perturb)

    def row(k: int) -> list[float]:
        Ka, Kc = s.kinetic()
        e = s.energy
        return [Ka, Kc, e["potential_atoms"], e["potential_continuum"], e["coupling"], Ka + Kc + it.potential,
                float(k)]
    rows = serial_rows(it, steps, every, row)
    g, upd = _ghost(sim.model)
    return {"x": s.atoms.x.copy(), "v": s.atoms.v.copy(), "U": s.continuum.U.copy(),
            "V": s.continuum.V.copy(), "ledger": np.array(rows), "g": g, "updates": upd,
            "floored": s.floored.copy(), "builds": s.atoms.nlist.n_builds if hasattr(s.atoms.nlist, "n_builds")
            else -1}


def main() -> None:
    deck, steps, every, out_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    opts = sys.argv[5:]
    newton = False if "full" in opts else None
    floor = next((float(o.split("=", 1)[1]) for o in opts if o.startswith("floor=")), 0.0)
    from multiscale.parallel import get_comm, run_guarded
    from multiscale.parallel.coupled_spatial import SpatialCoupled
    comm = get_comm()

    def run() -> None:
        sim = prepared(deck, floor)
        sc = SpatialCoupled(sim.model, sim.integrator, comm, newton=newton)
        m0 = sc.engine.total_migrated()
        rows = spatial_rows(sc, steps, every, KEYS)
        gat = sc.gather()
        lb = sc.engine.load_balance()
        migrated = sc.engine.total_migrated() - m0
        g, upd = _ghost(sim.model)
        if comm.rank == 0:
            np.savez(out_path, **gat, ledger=np.array(rows), atoms_per_rank=lb["atoms"], size=comm.size,
                     builds=sc.engine.n_builds, migrated=migrated, g=g, updates=upd,
                     floored=sim.model.system.floored)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
