"""Cost of one step of a COUPLED deck on P ranks (replicated-data run, `multiscale/parallel/replicated.py`).

    mpiexec -n 2 .venv/bin/python benchmarks/bench_mpi_coupled.py decks/wave2d.yaml --steps 200 [--scale 2]
    .venv/bin/python benchmarks/bench_mpi_coupled.py decks/wave2d.yaml --steps 200       # 1 rank

Every rank steps the whole model with the serial integrator; the atoms' pair forces are split over the
ranks (`parallel.split_forces.SplitPairForces`) and gathered by one Allgatherv of the owned rows, n(d+1)
doubles in all. Reported per step (medians of --repeat blocks, rank 0; rank 1's kernel time too): wall
time, time in the split pair kernel, waiting for the slowest rank (a barrier before the gather), in the
Allgatherv, the rest (continuum, coupling, constraints, integrator: replicated, not divided), bytes
gathered, and the model's prediction T(P) = T_pair(1)/P + T_rest(1) + (α + B_r/β) with B_r = B(P-1)/P the
bytes each rank receives, α, β from a ping-pong of 8 bytes and of B_r bytes measured in the same run.
``--scale s`` multiplies the atomistic region, the mesh, the handshake and the pulse by s (a bigger
instance of the same deck).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def scaled_deck(path: Path, s: float, tmp: Path) -> Path:
    d = yaml.safe_load(path.read_text())
    d.pop("expect", None)
    if s != 1.0:
        def mul(sec: dict) -> None:
            for k in ("lo", "hi"):
                if k in sec:
                    sec[k] = [s * float(v) for v in sec[k]]
        mul(d["atoms"]["region"])
        mul(d["continuum"]["mesh"])
        if "hole" in d["continuum"]["mesh"]:
            mul(d["continuum"]["mesh"]["hole"])
        mul(d["handshake"]["shape"])
    out = tmp / f"bench_{os.getpid()}_{path.name}"
    out.write_text(yaml.safe_dump(d, sort_keys=False))
    return out


def pingpong(comm, nbytes: int, reps: int = 50) -> float:  # noqa: ANN001
    """One-way time [s] of a message of nbytes between ranks 0 and 1 (median of reps round trips / 2)."""
    if comm.size < 2:
        return 0.0
    c = comm.comm
    buf = np.zeros(max(nbytes // 8, 1))
    ts = []
    for _ in range(reps):
        c.Barrier()
        t0 = time.perf_counter()
        if comm.rank == 0:
            c.Send(buf, dest=1)
            c.Recv(buf, source=1)
        elif comm.rank == 1:
            c.Recv(buf, source=0)
            c.Send(buf, dest=0)
        ts.append(0.5 * (time.perf_counter() - t0))
    return float(np.median(ts))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("deck")
    ap.add_argument("--steps", type=int, default=100, help="steps per timed block")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--one-rank", nargs=2, type=float, default=None, metavar=("PAIR_MS", "REST_MS"),
                    help="the 1-rank run's pair-kernel and rest times per step [ms] (for the prediction)")
    args = ap.parse_args()

    from multiscale.deck import load_deck
    from multiscale.parallel.comm import SerialComm, get_comm
    from multiscale.parallel.replicated import ReplicatedComm
    from multiscale.parallel.split_forces import SplitPairForces
    from multiscale.simulation import Simulation

    comm = get_comm()
    t1_pair, t1_rest = (None, None) if args.one_rank is None else (1e-3 * args.one_rank[0],
                                                                   1e-3 * args.one_rank[1])
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    deck = scaled_deck(Path(args.deck), args.scale, tmp) if comm.rank == 0 else None
    deck = comm.bcast(deck, 0) if comm.size > 1 else deck
    sim = Simulation.from_deck(load_deck(deck), threads=1, comm=comm)
    sim.prepare()
    if comm.size == 1:          # the same instrumentation on one rank: split over 1 rank = every row
        sim.split = SplitPairForces(sim.model.atoms, ReplicatedComm(SerialComm())).install()
    split = sim.split
    st = split.stats
    split.measure_wait = True
    integ = sim.integrator
    integ.step(5)               # warm-up (initial forces, first rebuilds)
    m = sim.model
    n, d = m.atoms.n, m.dim
    B = 8 * n * (d + 1)         # gathered per step (all ranks' rows)
    rows = []
    for _ in range(args.repeat):
        if comm.size > 1:
            comm.barrier()
        f0, r0, w0 = st["t_force"], st["t_gather"], st["t_wait"]
        t0 = time.perf_counter()
        integ.step(args.steps)
        wall = (time.perf_counter() - t0) / args.steps
        rows.append((wall, (st["t_force"] - f0) / args.steps, (st["t_gather"] - r0) / args.steps,
                     (st["t_wait"] - w0) / args.steps))
    wall, tf, tr, tw = (float(np.median([r[k] for r in rows])) for k in range(4))
    Br = B * (comm.size - 1) // max(comm.size, 1)      # bytes each rank receives
    alpha, tB = pingpong(comm, 8), pingpong(comm, max(Br, 8))
    entries = st["entries"]
    others = comm.allgather((tf, entries)) if comm.size > 1 else [(tf, entries)]
    load = os.getloadavg()[0]
    if comm.rank == 0:
        n_nodes = len(m.continuum.U)
        print(f"deck {Path(args.deck).name} scale {args.scale}: {n} atoms, {n_nodes} nodes, "
              f"P = {comm.size}, load {load:.1f}")
        print(f"  per step [ms]: wall {1e3 * wall:.3f}  pair kernel {1e3 * tf:.3f} (ranks: "
              f"{', '.join(f'{1e3 * o[0]:.3f}' for o in others)})  wait (barrier) {1e3 * tw:.3f}  "
              f"allgatherv {1e3 * tr:.3f}  rest {1e3 * (wall - tf - tr - tw):.3f}")
        print(f"  list entries per rank {[o[1] for o in others]}; gathered per step {B / 1e3:.1f} kB; "
              f"ping-pong 8 B {1e6 * alpha:.1f} us, {Br / 1e3:.1f} kB {1e6 * tB:.1f} us")
        pred = t1_pair / comm.size + t1_rest + tB if t1_pair is not None else float("nan")
        if t1_pair is not None:
            print(f"  model from the 1-rank figures given: T({comm.size}) = {1e3 * pred:.3f} ms "
                  f"(measured {1e3 * wall:.3f}; transfer part predicted {1e3 * tB:.3f}, "
                  f"measured {1e3 * tr:.3f})")
        print(f"  ROW {comm.size} {n} {wall:.6e} {tf:.6e} {tr:.6e} {tw:.6e} {wall - tf - tr - tw:.6e} {B} "
              f"{alpha:.3e} "
              f"{tB:.3e} {load:.1f}")
    if comm.rank == 0 and args.scale != 1.0:
        Path(deck).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
