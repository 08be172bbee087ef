"""Peak memory per rank of the spatial coupled step's SET-UP and first steps, built from the serial model
(today's ``msim run`` spatial path: `build.build_model`, `run.prepare.prepare`, `SpatialCoupled(model,
integrator)`) or per rank (`parallel.rank_build.build_rank_model`, `SpatialCoupled.from_rank_model`: no
serial model), on the 2D bench deck of benchmarks/bench_coupled.py.

    mpiexec -n 2 .venv/bin/python benchmarks/mem_rank_build.py --bench2d 300 --which serial
    mpiexec -n 2 .venv/bin/python benchmarks/mem_rank_build.py --bench2d 300 --which rank
    mpiexec -n 2 .venv/bin/python benchmarks/mem_rank_build.py --bench2d 300 --which serial|rank --run --steps 20

One build per process (``--which``), so the two do not share the allocator's free blocks. The modules are
imported and the one-time costs paid on the L = 40 deck first (the same build), then the peak is reset
(/proc/self/clear_refs, VmHWM); the phase is the build plus ``--steps`` steps (the engine's first rebuild
included). Per rank: VmRSS before, the phase's peak VmHWM, VmRSS after (``malloc_trim(0)``), process CPU
seconds. MiB. ``--run``: the whole ``msim run`` instead (`whole_run`).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mem_mpi_coupled_spatial import reset_peak, status  # noqa: E402


def build(which: str, path: Path, comm, steps: int):  # noqa: ANN001, ANN201
    from multiscale.deck import load_deck
    from multiscale.parallel.coupled_spatial import SpatialCoupled
    deck = load_deck(path)
    if which == "rank":
        from multiscale.parallel.rank_build import build_rank_model, per_rank_refusal
        why = per_rank_refusal(deck, comm.size, run=False)
        if why is not None:
            raise SystemExit(f"refused: {why}")
        sc = SpatialCoupled.from_rank_model(build_rank_model(deck, comm, threads=1), comm)
    else:
        from multiscale.simulation import Simulation
        sim = Simulation.from_deck(deck, threads=1)
        sim.prepare()
        sc = SpatialCoupled(sim.model, sim.integrator, comm)
    sc.step(steps)
    return sc


def whole_run(args, comm) -> None:  # noqa: ANN001
    """``--run``: the whole ``msim run`` (`multiscale.cli` in this process) of the bench deck as
    benchmarks/mem_mpi_coupled_spatial.py writes it (``--steps`` steps, thermo rows and frames (displacement,
    velocity) every 10 steps, a checkpoint at the end); ``--which serial`` switches the per-rank build off
    (`cli._per_rank_simulation` returns None: every rank builds the serial model, today's path). Per rank:
    the process's peak RSS (ru_maxrss: imports included) and the results path taken."""
    import json
    import resource

    import h5py
    from bench_coupled import deck as bench_deck

    from multiscale import cli as cli_mod
    text = bench_deck(2, args.bench2d, True).replace(
        "integrator: {type: verlet, dt: 0.005, steps: 10}",
        f"integrator: {{type: verlet, dt: 0.005, steps: {args.steps}}}").replace(
        "output: {every: 1000, thermo_every: 1000, fields: [displacement]}",
        f"output: {{every: 10, thermo_every: 10, checkpoint_every: {args.steps}, "
        "fields: [displacement, velocity]}")
    tmp = Path(tempfile.gettempdir()) / f"memrankrun_{args.bench2d:g}_{os.getuid()}"
    tmp.mkdir(exist_ok=True)
    deck_path = tmp / "bench2d.yaml"
    if comm.rank == 0:
        deck_path.write_text(text)
    comm.barrier()
    if args.which == "serial":
        cli_mod._per_rank_simulation = lambda *a, **k: None
    out = tmp / f"run_{args.which}_{comm.size}.h5"
    t0 = time.process_time()
    cli_mod.cli.main(args=["run", str(deck_path), "-o", str(out), "--overwrite", "--quiet"], prog_name="msim",
                     standalone_mode=False)
    cpu = time.process_time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    line = f"rank {comm.rank}/{comm.size} {args.which} L={args.bench2d:g} whole msim run: peak RSS {peak:.1f} MiB, " \
           f"cpu {cpu:.1f} s"
    lines = comm.gather(line, 0) if comm.size > 1 else [line]
    if comm.rank == 0:
        with h5py.File(out) as f:
            rec = json.loads(f.attrs["decomposition"])
        print("\n".join(lines) + f"\n  decomposition record: {rec}; load {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench2d", type=float, default=300.0, metavar="L")
    ap.add_argument("--which", choices=["rank", "serial"], required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--run", action="store_true", help="the whole msim run (`whole_run`)")
    args = ap.parse_args()
    if args.run:
        from multiscale.parallel.comm import get_comm
        return whole_run(args, get_comm())
    from bench_coupled import deck as bench_deck

    from multiscale.parallel.comm import get_comm
    comm = get_comm()
    tmp = Path(tempfile.gettempdir()) / f"memrankbuild_{args.bench2d:g}_{os.getuid()}"
    tmp.mkdir(exist_ok=True)
    path, wpath = tmp / "bench2d.yaml", tmp / "warm.yaml"
    if comm.rank == 0:
        path.write_text(bench_deck(2, args.bench2d, True))
        wpath.write_text(bench_deck(2, 40.0, True))
    comm.barrier()
    sc = build(args.which, wpath, comm, 2)          # imports, kernels, schema: outside the phase
    del sc
    gc.collect()
    trim = ctypes.CDLL("libc.so.6").malloc_trim
    trim(0)
    rss0, _ = status()
    reset_peak()
    t0 = time.process_time()
    sc = build(args.which, path, comm, args.steps)
    cpu = time.process_time() - t0
    _, peak = status()
    gc.collect()
    trim(0)
    rss1, _ = status()
    line = (f"rank {comm.rank}/{comm.size} {args.which} L={args.bench2d:g} atoms owned {sc.engine.n_own} of "
            f"{sc.s.n_atoms}: rss before {rss0:.1f} peak {peak:.1f} (+{peak - rss0:.1f}) after {rss1:.1f} "
            f"(+{rss1 - rss0:.1f}) MiB, cpu {cpu:.2f} s")
    lines = comm.gather(line, 0) if comm.size > 1 else [line]
    if comm.rank == 0:
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
