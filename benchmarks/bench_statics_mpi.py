"""Cost of one force evaluation of quasi-statics on 1 vs 2 MPI ranks (`run.distributed_statics`).

The deck's atoms (default decks/indent2d_full.yaml: 80 000 LJ atoms, 2D) are jittered (0.05), the
neighbour list is built, then ``--evals`` force evaluations at that position are timed (what a minimiser
iteration costs apart from its O(n) vector algebra). On P ranks each evaluation = the pair kernel on this
rank's entries + one Allgatherv of the owned rows (forces, per-atom energies). Also timed: a neighbour
list build (replicated on every rank; median of 3 after a first, untimed one that allocates the list's
scratch) plus the split's filtering of the list.

Reported: medians over the evaluations, max over ranks: wall per evaluation, kernel, gather; list build;
entries per rank; the speed-up of an evaluation T1/T2. The machine is shared (load average printed).

Usage:  .venv/bin/python benchmarks/bench_statics_mpi.py [--deck decks/indent2d_full.yaml] [--evals 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def worker(deck: str, evals: int) -> None:
    from multiscale.deck import load_deck
    from multiscale.parallel.comm import get_comm
    from multiscale.simulation import Simulation

    comm = get_comm()
    sim = Simulation.from_deck(load_deck(deck), comm=comm)
    sim.prepare()
    a = sim.model.atoms
    a.x[...] = a.X + 0.05 * np.random.default_rng(7).standard_normal(a.X.shape)
    split = getattr(a, "split_forces", None)
    a.nlist.build(a.x)                 # first build: allocates the list's scratch (not timed)
    builds = []
    for _ in range(3):
        comm.barrier()
        t0 = time.perf_counter()
        a.nlist.build(a.x)
        if split is not None:
            split._filter()
        builds.append(time.perf_counter() - t0)
    t_build = float(np.median(builds))
    a.compute()
    walls = []
    for _ in range(evals):
        comm.barrier()
        t0 = time.perf_counter()
        a.compute()
        walls.append(time.perf_counter() - t0)
    st = split.stats if split is not None else {}
    n_ev = max(st.get("evaluations", 1), 1)
    mine = {"wall": float(np.median(walls)), "build": t_build,
            "kernel": st.get("t_force", 0.0) / n_ev, "gather": st.get("t_gather", 0.0) / n_ev,
            "entries": st.get("entries", int(a.nlist.neighbors.size))}
    parts = comm.allgather(mine)
    if comm.rank == 0:
        out = {k: max(p[k] for p in parts) for k in ("wall", "build", "kernel", "gather")}
        out.update({"ranks": comm.size, "atoms": a.n, "entries": [p["entries"] for p in parts]})
        print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deck", default=str(ROOT / "decks" / "indent2d_full.yaml"))
    ap.add_argument("--evals", type=int, default=20)
    ap.add_argument("--worker", action="store_true")
    args = ap.parse_args()
    if args.worker:
        worker(args.deck, args.evals)
        return
    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = {}
    load0 = os.getloadavg()[0]
    for P in (1, 2):
        cmd = [sys.executable, __file__, "--worker", "--deck", args.deck, "--evals", str(args.evals)]
        if P > 1:
            cmd = [str(mpiexec), "-n", str(P), *cmd]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if p.returncode:
            sys.exit(p.stderr)
        res[P] = json.loads(p.stdout.strip().splitlines()[-1])
    load1 = os.getloadavg()[0]
    print(f"{Path(args.deck).name}: {res[1]['atoms']} atoms, load average {load0:.1f} -> {load1:.1f}")
    for P, r in res.items():
        print(f"P={P}: evaluation {1e3 * r['wall']:.1f} ms (kernel {1e3 * r['kernel']:.1f}, gather "
              f"{1e3 * r['gather']:.1f}), list build {1e3 * r['build']:.1f} ms, entries {r['entries']}")
    print(f"evaluation speed-up T1/T2 = {res[1]['wall'] / res[2]['wall']:.2f}")
    print(json.dumps({"load_average": [load0, load1], **{str(k): v for k, v in res.items()}}))


if __name__ == "__main__":
    main()
