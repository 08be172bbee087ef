"""Time per load stage of a COUPLED quasi-static deck on 1 vs 2 MPI ranks (`run.distributed_statics`:
replicated model, minimiser and preconditioner; the atoms' forces split by `parallel.split_forces` /
`parallel.split_eam`).

The deck's first ``--stages`` load stages are run (`integrate.quasistatic.run_quasistatic`, the minimiser
of the deck, no output files) on 1 rank and on 2 ranks, and each stage's wall time is split into:

* ``atoms``: the atoms' force evaluations (`AtomisticRegion.compute`, on P ranks the split), of which
  ``kernel`` (the potential's kernels on this rank's entries), ``gather`` (the Allgathervs: owned rows,
  and for EAM the owned densities), ``build`` (neighbour-list builds, replicated) and ``filter`` (the
  split's filtering of the list after a build);
* ``continuum``: `ContinuumRegion.compute` (replicated);
* ``rest``: everything else of the stage — coupling forces, loads, pads, the minimiser's vector algebra,
  the constraint projection and the preconditioner solves (all replicated), and on stage 0 the
  preconditioner's factorisation.

Reported: per-stage medians over stages ≥ 1 (stage 0 includes one-off set-up) of the max over ranks; the
evaluations per stage; the speed-up of a stage T1/T2; and the Amdahl bound 1/(1 − s + s/2) from the
1-rank share s of the kernel. The machine is shared: load average printed.

Usage:  .venv/bin/python benchmarks/bench_statics_coupled_mpi.py [--deck decks/indent2d.yaml] [--stages 8]
            [--repeat 1]
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


def _timed(fn, acc: dict, key: str):  # noqa: ANN001, ANN202
    def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            acc[key] += time.perf_counter() - t0
            acc["n_" + key] += 1
    return wrapper


def worker(deck: str, stages: int) -> None:
    from multiscale.deck import load_deck
    from multiscale.deck.section import plugin_of
    from multiscale.integrate.quasistatic import run_quasistatic
    from multiscale.parallel.comm import get_comm
    from multiscale.simulation import Simulation

    comm = get_comm()
    d = load_deck(deck)
    t_set = time.perf_counter()
    sim = Simulation.from_deck(d, threads=1, comm=comm)
    sim.prepare()
    t_set = time.perf_counter() - t_set
    m = sim.model
    s, a = m.system, m.atoms
    acc = {k: 0.0 for k in ("atoms", "continuum", "build")}
    acc.update({"n_" + k: 0 for k in list(acc)})
    a.compute = _timed(a.compute, acc, "atoms")                 # the split's (P > 1) or the serial one
    a.nlist.build = _timed(a.nlist.build, acc, "build")
    if m.continuum is not None:
        m.continuum.compute = _timed(m.continuum.compute, acc, "continuum")
    split = getattr(a, "split_forces", None)
    icfg = d.config.integrator
    minimizer = plugin_of(icfg).from_params(icfg, m.units)
    rows = []
    last = {"t": time.perf_counter(), **{k: 0.0 for k in ("atoms", "continuum", "build", "kernel", "gather",
                                                          "filter")}, "ev": 0}

    def snap() -> dict:
        st = split.stats if split is not None else {}
        return {"atoms": acc["atoms"], "continuum": acc["continuum"], "build": acc["build"],
                "kernel": st["t_force"] if split is not None else acc["atoms"] - acc["build"],
                "gather": st.get("t_gather", 0.0),
                "filter": st.get("t_filter", 0.0), "ev": acc["n_atoms"]}

    def callback(i: int, rec: dict) -> bool:
        now = snap()
        t = time.perf_counter()
        row = {k: now[k] - last[k] for k in now}
        row["wall"] = t - last["t"]
        row["iterations"] = int(rec["iterations"])
        rows.append(row)
        last.update(now)
        last["t"] = t
        return False

    comm.barrier()
    last["t"] = time.perf_counter()
    run_quasistatic(s, m.loads, minimizer, stages=stages, callback=callback)
    parts = comm.allgather(rows)
    entries = comm.allgather(split.stats["entries"] if split is not None else int(a.nlist.neighbors.size))
    if comm.rank == 0:
        merged = [{k: max(p[i][k] for p in parts) for k in rows[i]} for i in range(len(rows))]
        out = {"ranks": comm.size, "atoms": a.n,
               "nodes": 0 if m.continuum is None else int(m.continuum.nodes.shape[0]),
               "entries_serial": int(a.nlist.neighbors.size), "entries": entries, "setup": t_set,
               "stages": merged}
        print(json.dumps(out))


def _summary(res: dict) -> dict:
    st = res["stages"][1:] or res["stages"]
    med = {k: float(np.median([r[k] for r in st])) for k in st[0]}
    med["rest"] = med["wall"] - med["atoms"] - med["continuum"]
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deck", default=str(ROOT / "decks" / "indent2d.yaml"))
    ap.add_argument("--stages", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--worker", action="store_true")
    args = ap.parse_args()
    if args.worker:
        worker(args.deck, args.stages)
        return
    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    load0 = os.getloadavg()[0]
    runs: dict[int, list] = {1: [], 2: []}
    for _ in range(args.repeat):
        for P in (1, 2):
            cmd = [sys.executable, __file__, "--worker", "--deck", args.deck, "--stages", str(args.stages)]
            if P > 1:
                cmd = [str(mpiexec), "-n", str(P), *cmd]
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if p.returncode:
                sys.exit(p.stderr)
            runs[P].append(json.loads(p.stdout.strip().splitlines()[-1]))
    load1 = os.getloadavg()[0]
    r1 = runs[1][0]
    print(f"{Path(args.deck).name}: {r1['atoms']} atoms, {r1['nodes']} nodes, {r1['entries_serial']} list "
          f"entries; {args.stages} stages x {args.repeat}; load average {load0:.1f} -> {load1:.1f}")
    summ = {}
    for P in (1, 2):
        meds = [_summary(r) for r in runs[P]]
        med = {k: float(np.median([m[k] for m in meds])) for k in meds[0]}
        summ[P] = med
        print(f"P={P}: stage {1e3 * med['wall']:.1f} ms ({med['ev']:.0f} evaluations, "
              f"{med['iterations']:.0f} iterations): atoms {1e3 * med['atoms']:.1f} (kernel "
              f"{1e3 * med['kernel']:.1f}, gather "
              f"{1e3 * med['gather']:.1f}, list builds {1e3 * med['build']:.1f}, filter "
              f"{1e3 * med['filter']:.1f}), continuum {1e3 * med['continuum']:.1f}, rest "
              f"{1e3 * med['rest']:.1f} ms; set-up {runs[P][0]['setup']:.2f} s; "
              f"entries {runs[P][0]['entries']}")
    k1 = summ[1]["atoms"] - summ[1]["build"]       # what the split divides (serial: kernel + its prologue)
    share = k1 / summ[1]["wall"]
    print(f"stage speed-up T1/T2 = {summ[1]['wall'] / summ[2]['wall']:.2f}; the split divides "
          f"{100 * share:.0f} % of the 1-rank stage (atoms' kernels) -> Amdahl bound on 2 ranks "
          f"{1 / (1 - share + share / 2):.2f}")
    print(json.dumps({"load_average": [load0, load1], "summary": summ}))


if __name__ == "__main__":
    main()
