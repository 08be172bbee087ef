"""Dynamic indentation of the 2D LJ film at a finite temperature, coupled vs fully atomistic (issue 16).

    PYTHONPATH=. python benchmarks/dynamic_indent_T.py [--seeds 4] [--jobs 4] [--T 0.02] [--T-coupled T']
        [--velocity 0.1] [--depth 1.5] [--gap 5] [--bins 0,0.25,...] [--keep DIR [--reuse]]
    PYTHONPATH=. python benchmarks/dynamic_indent_T.py --step-cost NX NY STEPS

Runs ``--seeds`` seeds of each deck of `multiscale.applications.indent2d_dyn.decks` (coupled: projected
coupling with the thermostatted band; fully atomistic: Langevin bottom layer) as separate ``msim run``
processes under ``nice`` (``--jobs`` at a time), bins each run's indenter load by depth, and prints per
depth bin the mean load ± standard error across seeds for both, the normalised difference
z = Δ/√(se_c² + se_f²), the bins within 2 se, χ² over the bins, the contact-zone temperature (mean over
the frames after the first quarter of the run), and the cost: CPU time (user + sys of each ``msim run``
process, set-up included) median per run and the ratio full / coupled, with the load average.
``--T-coupled`` / ``--T-full`` run one side at another temperature (a deliberately wrong set-up: the
comparison must then fail). ``--keep DIR --reuse`` keeps the runs and reuses finished ones.
Exit status 0 when every bin is within 2 se, 1 otherwise. ``--step-cost`` measures only the CPU per step
of both decks for a larger film (where coupling pays).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from multiscale.applications.indent2d_dyn import DynRun, decks, study


def step_cost(nx: int, ny: int, steps: int, repeats: int = 3) -> None:
    """CPU seconds per step [s] of the coupled and the fully atomistic deck of an nx × ny film (same core,
    T, band and thermostat as the study), stepping only (set-up excluded), median of ``repeats`` chunks of
    ``steps`` steps after a warm-up chunk, both measured in this process one after the other."""
    import time

    import yaml

    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    c, f = decks(replace(DynRun(), nx=nx, ny=ny), seed=1)
    per = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, deck in (("coupled", c), ("full", f)):
            p = Path(tmp) / f"{kind}.yaml"
            p.write_text(yaml.safe_dump(deck, sort_keys=False))
            sim = Simulation.from_deck(load_deck(p))
            sim.prepare()
            it = sim.integrator
            if not getattr(it, "_initialized", False):
                it.initialize()
            it.step(steps)
            ts = []
            for _ in range(repeats):
                t0 = time.process_time()
                it.step(steps)
                ts.append((time.process_time() - t0) / steps)
            s = sim.model.system
            per[kind] = float(np.median(ts))
            print(f"{kind:8s} {nx} x {ny} film: {s.n_atoms} atoms ({s.n_free} integrated), "
                  f"{s.n_nodes} nodes: "
                  f"{1e3 * per[kind]:.2f} ms CPU per step (median, {repeats} x {steps} steps)")
    print(f"cost ratio full / coupled per step = {per['full'] / per['coupled']:.3f}; "
          f"load average {os.getloadavg()[0]:.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--T", type=float, default=DynRun.T)
    ap.add_argument("--T-coupled", type=float, default=None)
    ap.add_argument("--T-full", type=float, default=None)
    ap.add_argument("--reuse", action="store_true", help="with --keep: do not rerun finished runs")
    ap.add_argument("--velocity", type=float, default=DynRun.velocity)
    ap.add_argument("--depth", type=float, default=DynRun.depth)
    ap.add_argument("--gap", type=float, default=DynRun.gap)
    ap.add_argument("--bins", type=str, default=None, help="comma-separated depth bin edges [σ]")
    ap.add_argument("--step-cost", type=int, nargs=3, metavar=("NX", "NY", "STEPS"), default=None,
                    help="only measure the CPU per step of both decks for an NX x NY film")
    ap.add_argument("--keep", type=Path, default=None, help="keep decks and results in this folder")
    a = ap.parse_args()
    if a.step_cost:
        step_cost(*a.step_cost)
        return 0
    run = replace(DynRun(), T=a.T, velocity=a.velocity, depth=a.depth, gap=a.gap)
    edges = (np.array([float(x) for x in a.bins.split(",")]) if a.bins
             else np.linspace(0.0, run.depth, 7))
    with tempfile.TemporaryDirectory() as tmp:
        work = a.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        out = study(run, list(range(1, a.seeds + 1)), edges, a.jobs, work, a.T_coupled, a.T_full, a.reuse)
    cmp, cpu = out["cmp"], out["cpu"]
    print(f"dynamic indentation, {run.nx} x {run.ny} LJ film, T = {run.T:g}"
          + (f" (coupled at T = {a.T_coupled:g})" if a.T_coupled is not None else "")
          + (f" (full at T = {a.T_full:g})" if a.T_full is not None else "")
          + f", v = {run.velocity:g} σ/τ, dt = {run.dt:g}, {run.steps} steps (indenter from −{run.gap:g} to "
          f"{run.depth:g} σ)")
    print(cmp.table())
    for k in ("coupled", "full"):
        T, se = out["T"][k]
        print(f"contact-zone kinetic temperature {k:8s}: {T:.5f} ± {se:.5f}  ({T / run.T:.3f} T)")
    c, f = np.median(cpu["coupled"]), np.median(cpu["full"])
    print(f"CPU per run (median, msim run incl. set-up): coupled {c:.1f} s, full {f:.1f} s; "
          f"cost ratio full / coupled = {f / c:.3f}; wall {out['wall']:.0f} s for {2 * a.seeds} runs, "
          f"load average {os.getloadavg()[0]:.1f}" + (" (reused runs: their first run's CPU)" * a.reuse))
    return 0 if bool(np.all(cmp.within_2se)) else 1


if __name__ == "__main__":
    sys.exit(main())
