"""Peak memory per rank of ``msim run --decompose spatial`` (and of the serial run) on the 2D bench model,
broken down by set-up phase and by the objects that hold the arrays.

    .venv/bin/python benchmarks/mem_mpi_coupled_spatial.py --bench2d 148 [--decompose spatial]
    mpiexec -n 2 .venv/bin/python benchmarks/mem_mpi_coupled_spatial.py --bench2d 148 --decompose spatial

The model: the 2D deck of benchmarks/bench_coupled.py (``--bench2d L``; 148: 73 677 LJ atoms, 30 096 tri3
nodes, projected; 300: 319 487 atoms, 67 320 nodes), written to a temporary deck with ``--steps`` steps, a thermo row
and a frame (displacement, velocity) every ``--every`` steps and a checkpoint at the end. The run is the real
``msim run`` (`multiscale.cli`) in this process; the set-up phases are marked by wrapping the functions
``msim run`` calls (no change to their code): ``build`` (`build.build_model`), ``prepare``
(`run.prepare.prepare`: loads, integrator, constraint factorisation), ``spatial``
(`run.spatial.setup_spatial`: the time-step check on rank 0 (``dt check``),
the engine, the touched copy, the split continuum), ``run`` (the steps, thermo, frames, checkpoint).
Per phase and rank: VmRSS at its end and its own peak (VmHWM reset at the phase's start through
/proc/self/clear_refs) in MiB; ``--trim``: VmRSS read after ``malloc_trim(0)`` (the memory in use, not
what the allocator keeps of freed blocks). The peak of a rank is the largest phase peak (ru_maxrss is reset
with VmHWM). ``--fine``: the spatial set-up's pieces as phases too. At the end of set-up, the bytes of the NumPy arrays (and sparse matrices)
reachable from each part of the model (atoms region, continuum, handshake, system, integrator with the
projector, the spatial stepper with its engine), each array counted once, in the order listed.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

MiB = 1024.0 ** 2


def status() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process [MiB]."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0]] = float(line.split()[1]) / 1024.0
    return out["VmRSS"], out["VmHWM"]


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def array_bytes(roots: list[tuple[str, object]]) -> dict[str, int]:
    """Bytes of the ndarrays reachable from each root (attributes, containers, closures' cells), an array's
    memory counted once (its base), under the first root that reaches it."""
    seen: set[int] = set()
    mem: set[int] = set()
    out: dict[str, int] = {}
    for name, root in roots:
        total = 0
        stack = [root]
        while stack:
            o = stack.pop()
            if o is None or id(o) in seen or isinstance(o, str | bytes | int | float | bool | type):
                continue
            seen.add(id(o))
            if isinstance(o, np.ndarray):
                b = o
                while isinstance(b.base, np.ndarray):
                    b = b.base
                if id(b) not in mem:
                    mem.add(id(b))
                    total += b.nbytes
                continue
            if isinstance(o, dict):
                stack.extend(o.values())
            elif isinstance(o, list | tuple | set | frozenset):
                stack.extend(o)
            elif callable(o) and hasattr(o, "__closure__") and o.__closure__:
                stack.extend(c.cell_contents for c in o.__closure__ if c.cell_contents is not None)
            if hasattr(o, "__dict__") and not isinstance(o, type) and type(o).__module__.split(".")[0] in (
                    "multiscale", "scipy", "functools", "numpy"):
                stack.extend(vars(o).values())
            elif hasattr(o, "__slots__"):
                stack.extend(getattr(o, s, None) for s in o.__slots__)
            if isinstance(o, memoryview):
                continue
        out[name] = total
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench2d", type=float, default=148.0, metavar="L")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--decompose", default=None, choices=["replicated", "spatial"])
    ap.add_argument("--dir", default=None)
    ap.add_argument("--fine", action="store_true", help="phases inside the spatial set-up too")
    ap.add_argument("--trim", action="store_true", help="malloc_trim(0) at every phase boundary before "
                    "reading VmRSS: the memory in use, without what the allocator keeps from freed blocks")
    args = ap.parse_args()
    from bench_coupled import deck as bench_deck

    import multiscale.build as build_mod
    import multiscale.run.prepare as prep_mod
    import multiscale.run.spatial as spatial_mod
    import multiscale.simulation as sim_mod
    from multiscale import cli as cli_mod
    from multiscale.parallel.comm import get_comm

    comm = get_comm()
    text = bench_deck(2, args.bench2d, True).replace(
        "integrator: {type: verlet, dt: 0.005, steps: 10}",
        f"integrator: {{type: verlet, dt: 0.005, steps: {args.steps}}}").replace(
        "output: {every: 1000, thermo_every: 1000, fields: [displacement]}",
        f"output: {{every: {args.every}, thermo_every: {args.every}, checkpoint_every: {args.steps}, "
        "fields: [displacement, velocity]}")
    tmp = Path(args.dir) if args.dir else \
        Path(tempfile.gettempdir()) / f"memspatial_{args.bench2d:g}_{os.getuid()}"
    tmp.mkdir(exist_ok=True)
    deck_path = tmp / "bench2d.yaml"
    if comm.rank == 0:
        deck_path.write_text(text)
    comm.barrier()
    phases: list[tuple[str, float, float]] = []
    holders: dict = {}

    trim = None
    if args.trim:
        import ctypes
        trim = ctypes.CDLL("libc.so.6").malloc_trim

    def mark(name: str) -> None:
        rss0, hwm = status()
        if trim is not None:
            trim(0)
        rss = status()[0] if trim is not None else rss0
        phases.append((name, rss, hwm))
        reset_peak()

    def wrap(mod, attr: str, name: str, keep: str | None = None) -> None:  # noqa: ANN001
        fn = getattr(mod, attr)

        def w(*a, **k):  # noqa: ANN002, ANN003, ANN202
            mark(f"before {name}")
            r = fn(*a, **k)
            if keep == "result":
                holders[name] = r
            elif keep == "arg0":
                holders[name] = a[0]
            mark(name)
            return r
        setattr(mod, attr, w)

    wrap(sim_mod, "build_model", "build", keep="result")
    if args.fine:      # the spatial set-up's pieces
        import multiscale.parallel.coupled_spatial as cs_mod
        import multiscale.parallel.engine as eng_mod
        import multiscale.parallel.split_continuum as split_mod
        wrap(split_mod.SplitContinuum, "install", "  split continuum")
        wrap(eng_mod.DistributedMD, "rebuild", "  engine rebuild")
        wrap(eng_mod.DistributedMD, "compute", "  engine forces")
        wrap(cs_mod.SpatialCoupled, "_remap", "  remap")
    wrap(sim_mod, "_prepare", "prepare")
    wrap(spatial_mod, "setup_spatial", "spatial", keep="arg0")
    if hasattr(spatial_mod, "check_time_step_root"):      # the spatial run's time-step check (rank 0)
        wrap(spatial_mod, "check_time_step_root", "  dt check")
    orig_prepare, orig_check = sim_mod.Simulation.prepare, sim_mod.Simulation.check_time_step

    def prepare(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        if self._prepared:
            return orig_prepare(self, *a, **k)
        mark("before set-up")
        r = orig_prepare(self, *a, **k)
        holders["sim"] = self
        gc.collect()
        parts = [("atoms", self.model.atoms), ("continuum", self.model.continuum),
                 ("handshake", self.model.system.handshake), ("system", self.model.system),
                 ("integrator.serial", getattr(self.integrator, "serial", self.integrator)),
                 ("spatial stepper", getattr(self.integrator, "sc", None)),
                 ("model rest", self.model), ("simulation rest", self)]
        holders["bytes"] = array_bytes(parts)
        mark("set-up")
        return r

    def check(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        mark("before dt check")
        r = orig_check(self, *a, **k)
        mark("dt check")
        return r

    def run(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        mark("before run")
        r = orig_run(self, *a, **k)
        mark("run")
        return r
    orig_run = sim_mod.Simulation.run
    sim_mod.Simulation.run = run
    sim_mod.Simulation.prepare = prepare
    sim_mod.Simulation.check_time_step = check
    out = tmp / f"run_{comm.size}.h5"
    argv = ["run", str(deck_path), "-o", str(out), "--overwrite", "--quiet"]
    if args.decompose:
        argv += ["--decompose", args.decompose]
    mark("start")
    try:
        cli_mod.cli.main(args=argv, prog_name="msim", standalone_mode=False)
    finally:
        pass
    sim = holders.get("sim")
    n, N = sim.model.system.n_atoms, sim.model.system.n_nodes
    rec = {"phases": phases, "bytes": holders.get("bytes", {})}
    allr = comm.allgather(rec) if comm.size > 1 else [rec]
    if comm.rank == 0:
        print(f"bench2d L={args.bench2d:g}: {n} atoms, {N} nodes, P = {comm.size}, decompose "
              f"{args.decompose or 'default'}, {args.steps} steps, load {os.getloadavg()[0]:.1f}")
        for r, q in enumerate(allr):
            top = max(h for _, _, h in q["phases"])
            print(f"  rank {r}: peak RSS {top:.1f} MiB (the largest phase peak)")
            for name, rss, hwm in q["phases"]:
                if True:
                    print(f"    {name:12s} RSS at end {rss:8.1f} MiB, peak within {hwm:8.1f} MiB")
            print("    arrays at the end of set-up (MiB): " +
                  ", ".join(f"{k} {v / MiB:.1f}" for k, v in q["bytes"].items()))


if __name__ == "__main__":
    main()
