"""Dynamic indentation of the 2D LJ film at a finite temperature, coupled vs fully atomistic (issue 16).

    PYTHONPATH=. python benchmarks/dynamic_indent_T.py [--seeds 4] [--jobs 4] [--T 0.02] [--T-coupled T']
        [--velocity 0.1] [--depth 1.5] [--gap 3] [--bins 0,0.25,...] [--keep DIR]

Runs ``--seeds`` seeds of each deck of `multiscale.applications.indent2d_dyn.decks` (coupled: projected
coupling with the thermostatted band; fully atomistic: Langevin bottom layer) as separate ``msim run``
processes under ``nice`` (``--jobs`` at a time), bins each run's indenter load by depth, and prints per
depth bin the mean load ± standard error across seeds for both, the normalised difference
z = Δ/√(se_c² + se_f²), the bins within 2 se, χ² over the bins, the contact-zone temperature (mean over
the frames after the first quarter of the run), and the cost: CPU time (user + sys of each ``msim run``
process, set-up included) median per run and the ratio full / coupled, with the load average.
``--T-coupled`` / ``--T-full`` run one side at another temperature (a deliberately wrong set-up: the
comparison must then fail). ``--keep DIR --reuse`` keeps the runs and reuses finished ones.
Exit status 0 when every bin is within 2 se, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from multiscale.applications.indent2d_dyn import DynRun, study


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
    ap.add_argument("--keep", type=Path, default=None, help="keep decks and results in this folder")
    a = ap.parse_args()
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
