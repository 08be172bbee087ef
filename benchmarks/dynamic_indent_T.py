"""Dynamic indentation of the 2D LJ film at a finite temperature, coupled vs fully atomistic (issue 16).

    PYTHONPATH=. python benchmarks/dynamic_indent_T.py [--seeds 4] [--jobs 2] [--T 0.02] [--T-coupled T']
        [--velocity 0.1] [--depth 1.5] [--gap 1] [--equil 60] [--base linear|cauchy_born]
        [--bins 0,0.25,...] [--keep DIR [--reuse]]
    PYTHONPATH=. python benchmarks/dynamic_indent_T.py --step-cost NX NY STEPS

For each of ``--seeds`` seeds and each model of `multiscale.applications.indent2d_dyn` (coupled: projected
coupling with the thermostatted band, ``thermal_strain`` continuum over ``--base``; fully atomistic:
Langevin bottom layer) it runs, as separate ``msim run`` processes under ``nice`` (``--jobs`` at a time),
first the equilibration run (`equil_decks`: ``--equil`` τ, no indenter, Langevin at T on every atom) and
then the production run ``--from`` its last frame (indenter from ``--gap`` above the T = 0 surface down
to ``--depth`` at ``--velocity``). ``--equil 0``: the old single run (atoms started at 2T on the T = 0
lattice, no equilibration run). It bins each run's indenter load by depth, and prints per depth bin the
mean load ± standard error across seeds for both, the normalised difference z = Δ/√(se_c² + se_f²), the
bins within 2 se, χ² over the bins, `BinnedComparison.consistent` (the criterion of the slow test), the
contact-zone temperature, the surface height (top-row atoms above the T = 0 lattice, mean over the
second half of the equilibration runs), and the cost: CPU time (user + sys of each ``msim run`` process,
set-up included) median per run and the ratio full / coupled, production runs and equilibration runs,
with the load average. ``--T-coupled`` / ``--T-full`` run one side at another temperature (a deliberately
wrong set-up: the comparison must then fail). ``--keep DIR --reuse`` keeps the runs and reuses finished
ones. Exit status 0 when `consistent`, 1 otherwise. ``--step-cost`` measures only the CPU per step of
both decks for a larger film (where coupling pays).
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
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--equil", type=float, default=DynRun.equil, help="equilibration run [τ]; 0: none")
    ap.add_argument("--base", choices=("linear", "cauchy_born"), default=DynRun.base,
                    help="base material of the coupled model's thermal_strain continuum")
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
    run = replace(DynRun(), T=a.T, velocity=a.velocity, depth=a.depth, gap=a.gap, equil=a.equil, base=a.base)
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
          f"{run.depth:g} σ) after {run.equil_steps} steps of equilibration; coupled continuum "
          f"thermal_strain ε_th = {run.eps_th:g} over {run.base}")
    print(cmp.table())
    for k in ("coupled", "full"):
        T, se = out["T"][k]
        line = f"contact-zone kinetic temperature {k:8s}: {T:.5f} ± {se:.5f}  ({T / run.T:.3f} T)"
        if out["equil_runs"]:
            u = [float(np.mean(r["u_top"][r["frame_time"] >= 0.5 * run.equil])) for r in out["equil_runs"][k]]
            line += (f"; surface height (equilibration, 2nd half) {np.mean(u):+.4f} ± "
                     f"{np.std(u, ddof=1) / np.sqrt(len(u)):.4f} σ")
        print(line)
    c, f = np.median(cpu["coupled"]), np.median(cpu["full"])
    ce, fe = np.median(out["cpu_equil"]["coupled"]), np.median(out["cpu_equil"]["full"])
    print(f"CPU per production run (median, msim run incl. set-up): coupled {c:.1f} s, full {f:.1f} s; "
          f"cost ratio full / coupled = {f / c:.3f}" + (
              f"; equilibration runs: coupled {ce:.1f} s, full {fe:.1f} s; both stages: full / coupled = "
              f"{(f + fe) / (c + ce):.3f}" if run.equil > 0 else "")
          + f"; wall {out['wall']:.0f} s, load average {os.getloadavg()[0]:.1f}"
          + (" (reused runs: their first run's CPU)" * a.reuse))
    return 0 if cmp.consistent() else 1


if __name__ == "__main__":
    sys.exit(main())
