"""Run by tests/parallel/test_rank_build.py under ``mpiexec -n P``: the spatial coupled step built two ways
on every rank and stepped side by side — `SpatialCoupled(model, integrator)` from the serial model (today's
path) and `SpatialCoupled.from_rank_model` from the per-rank build (`parallel.rank_build`: no serial model).

    python mpi_rank_build_driver.py DECK STEPS EVERY OUT.npz

Rank 0 writes ``old/*`` and ``new/*``: the gathered x, v (n, d), U, V (N, d) after STEPS steps and the ledger
rows every EVERY steps (``ledger`` (rows, 6): kinetic atoms, kinetic continuum, potential atoms, continuum,
total, step); ``same_engine`` (P,) whether each rank's engine rows (global ids, x, v, forces, per-atom
energies) are bitwise those of the old path at the end, and its sites' site ids the serial model's; ``builds`` the engines' neighbour builds; ``size``.
``BREAK`` in the environment breaks the new path on purpose (the test's negative controls): ``pads`` (the
pads not moved onto the mesh before the ownership: a pad the pulse moved across the slab face is owned by
the other rank), ``project`` (the initial state not projected).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

KEYS = ("kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum", "total")


def record(sc, steps: int, every: int) -> tuple[list, dict | None]:  # noqa: ANN001
    rows = []
    for k in range(0, steps + 1, every):
        if k:
            sc.step(every)
        L = sc.ledger()
        rows.append([L[key] for key in KEYS] + [float(sc.step_count)])
    return rows, sc.gather()


def main() -> None:
    from multiscale.deck import load_deck
    from multiscale.parallel import get_comm, run_guarded
    from multiscale.parallel.coupled_spatial import SpatialCoupled
    from multiscale.parallel.rank_build import build_rank_model, per_rank_refusal
    from multiscale.simulation import Simulation
    deck_path, steps, every, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    comm = get_comm()
    brk = os.environ.get("BREAK", "")

    def run() -> None:
        deck = load_deck(deck_path)
        why = per_rank_refusal(deck, comm.size, run=False)
        if why is not None:
            raise SystemExit(f"refused: {why}")
        if brk == "pads":
            import multiscale.parallel.rank_build as RB
            RB._pads_follow = lambda *a, **k: None
        if brk == "project":
            import multiscale.parallel.rank_build as RB
            RB._project_initial = lambda *a, **k: None
        sim = Simulation.from_deck(load_deck(deck_path), threads=1)
        sim.prepare()
        old = SpatialCoupled(sim.model, sim.integrator, comm)
        rm = build_rank_model(deck, comm, threads=1)
        new = SpatialCoupled.from_rank_model(rm, comm)
        res = {}
        for name, sc in (("old", old), ("new", new)):
            rows, g = record(sc, steps, every)
            if comm.rank == 0:
                res[f"{name}/ledger"] = np.array(rows)
                for key in ("x", "v", "U", "V"):
                    res[f"{name}/{key}"] = g[key]
        eo, en = old.engine, new.engine
        same = (eo.n_own == en.n_own and all(np.array_equal(a, b) for a, b in (
            (eo.gid[:eo.n_own], en.gid[:en.n_own]), (eo.x[:eo.n_own], en.x[:en.n_own]), (eo.v, en.v),
            (eo.forces[:eo.n_own], en.forces[:en.n_own]), (eo.atom_energies(), en.atom_energies()))))
        same = same and np.array_equal(rm.sites.site_id, np.asarray(sim.model.site_ids)[rm.sites.gid])
        flags = comm.gather(bool(same), 0) if comm.size > 1 else [bool(same)]
        builds = comm.gather((int(eo.n_builds), int(en.n_builds)), 0) if comm.size > 1 else \
            [(int(eo.n_builds), int(en.n_builds))]
        if comm.rank == 0:
            np.savez(out, size=comm.size, same_engine=np.array(flags), builds=np.array(builds), **res)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
