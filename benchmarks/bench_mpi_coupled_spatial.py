"""Per-step cost of a coupled 2D or 3D deck: the replicated-data run vs ``--decompose spatial`` (the atoms
on the spatial engine, `parallel.coupled_spatial.SpatialCoupled`), 1 or P ranks, in THREAD CPU time per rank.

    .venv/bin/python benchmarks/bench_mpi_coupled_spatial.py --bench2d 148 --steps 20 --repeat 5
    mpiexec -n 2 .venv/bin/python benchmarks/bench_mpi_coupled_spatial.py --bench2d 148 --steps 20 --repeat 5
    mpiexec -n 2 .venv/bin/python benchmarks/bench_mpi_coupled_spatial.py --bench3d 12 --steps 10 --repeat 5
    mpiexec -n 2 .venv/bin/python benchmarks/bench_mpi_coupled_spatial.py --deck DECK.yaml --steps 50

The model: the 2D deck of benchmarks/bench_coupled.py (``--bench2d L``; 148: 73 677 LJ atoms, 30 096 tri3
nodes, projected), or its 3D deck (``--bench3d L``: LJ fcc, hex8, projected), started with small random
velocities (0.01, seed 1, projected), as bench_mpi_coupled.py; or a deck file (``--deck``: its own initial
conditions). Both paths are built in the same process and stepped in ALTERNATING blocks of
``--steps`` steps (replicated, spatial, replicated, ...), after a warm-up block each; per block and rank
the thread CPU time (``time.thread_time``: the time this rank's main thread ran, not the time it waited
descheduled) and the wall time per step. Replicated on one rank is the serial integrator. Printed: the
medians over the blocks and their min–max, per rank, the load average before and after, and the spatial
run's split of its step (engine forces incl. ghost exchange, the one gather, the rest) in thread CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench2d", type=float, default=148.0, metavar="L")
    ap.add_argument("--bench3d", type=float, default=None, metavar="L", help="the 3D bench deck instead")
    ap.add_argument("--deck", default=None, help="a deck file instead (its own initial conditions)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="the engine's full cross pairs (no reverse force "
                    "exchange) instead of its default newton mode")
    args = ap.parse_args()
    from bench_coupled import deck as bench_deck

    from multiscale.deck.deck import load_deck_text
    from multiscale.parallel.comm import get_comm
    from multiscale.parallel.coupled_spatial import SpatialCoupled
    from multiscale.plugins import load_all
    from multiscale.simulation import Simulation

    load_all()
    comm = get_comm()
    if args.deck is not None:
        from multiscale.deck import load_deck
        name = Path(args.deck).name

        def make():  # noqa: ANN202
            return load_deck(args.deck)
    else:
        dim, L = (3, args.bench3d) if args.bench3d is not None else (2, args.bench2d)
        text = bench_deck(dim, L, True)
        name = f"bench{dim}d L={L:g}"

        def make():  # noqa: ANN202
            return load_deck_text(text)

    def start(sim) -> None:  # noqa: ANN001
        if args.deck is not None:
            return
        s = sim.model.system
        rng = np.random.default_rng(1)
        s.atoms.v[s.free] = 0.01 * rng.standard_normal((s.n_free, s.d))
        sim.integrator.project_state()

    rep = Simulation.from_deck(make(), threads=1, comm=comm)
    rep.decompose = "replicated"    # the default (auto) would take the spatial path
    rep.prepare()               # P > 1: the replicated-data run (split forces); P = 1: the serial one
    start(rep)
    spa = Simulation.from_deck(make(), threads=1)
    spa.prepare()               # serial preparation, then the atoms onto the engine
    start(spa)
    sc = SpatialCoupled(spa.model, spa.integrator, comm, newton=False if args.full else None)
    sc.stats_cpu = {"engine": 0.0, "gather": 0.0}
    # the spatial step's parts in thread CPU time: its own timers read perf_counter
    import multiscale.parallel.coupled_spatial as mod  # noqa: F401
    n, N = spa.model.system.n_atoms, spa.model.system.n_nodes

    def block(step) -> tuple[float, float]:  # noqa: ANN001
        if comm.size > 1:
            comm.barrier()
        c0, w0 = time.thread_time(), time.perf_counter()
        step(args.steps)
        return (time.thread_time() - c0) / args.steps, (time.perf_counter() - w0) / args.steps

    load0 = os.getloadavg()[0]
    block(rep.integrator.step)          # warm-up (first-call allocations, initial forces)
    block(sc.step)
    rows = {"replicated": [], "spatial": []}
    st0 = None
    for _ in range(args.repeat):
        rows["replicated"].append(block(rep.integrator.step))
        if st0 is None:
            st0 = dict(sc.stats)
        rows["spatial"].append(block(sc.step))
    load1 = os.getloadavg()[0]
    med = {k: (float(np.median([r[0] for r in v])), float(np.min([r[0] for r in v])),
               float(np.max([r[0] for r in v])), float(np.median([r[1] for r in v]))) for k, v in rows.items()}
    ns = sc.stats["steps"] - st0["steps"]
    parts = {k: (sc.stats[k] - st0[k]) / ns for k in ("t_engine", "t_continuum", "t_gather", "t_rest")}
    lb = sc.engine.load_balance()
    allm = comm.allgather((med, parts)) if comm.size > 1 else [(med, parts)]
    if comm.rank == 0:
        print(f"{name}: {n} atoms, {N} nodes, P = {comm.size}, {args.repeat} alternating "
              f"blocks of {args.steps} steps, engine {'full cross pairs' if args.full else 'newton'}, load {load0:.1f} -> {load1:.1f}")
        for r, (m, p) in enumerate(allm):
            for k in ("replicated", "spatial"):
                c, lo, hi, w = m[k]
                print(f"  rank {r} {k:10s} thread CPU {1e3 * c:.2f} ms/step (min {1e3 * lo:.2f}, max "
                      f"{1e3 * hi:.2f}); wall {1e3 * w:.2f}")
            print(f"  rank {r} spatial parts (thread CPU, ms/step): " +
                  " ".join(f"{k[2:]} {1e3 * v:.2f}" for k, v in p.items()))
        print(f"  atoms per rank {list(lb['atoms'])}, ghosts {list(lb['ghosts'])}")
        print("  ROW " + " ".join([str(comm.size), str(n), str(N)] + [f"{allm[r][0][k][0]:.4e}" for r in
                                   range(comm.size) for k in ("replicated", "spatial")]
                                  + [f"{load0:.1f}", f"{load1:.1f}"]))


if __name__ == "__main__":
    main()
