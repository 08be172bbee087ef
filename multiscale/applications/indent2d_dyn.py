"""Dynamic indentation of the 2D LJ film at a finite temperature (issue 16): coupled vs fully atomistic.

Same film, indenter and coupled geometry as `multiscale.applications.indent2d` (hex LJ film of ``nx × ny``
atoms, three bottom rows fixed, cylinder R = 10σ, K = 10 ε/σ³), run by velocity Verlet at k_B T = ``T``
[ε] instead of statics, in two runs per seed and model:

1. equilibration (`equil_decks`, ``equil`` τ): no indenter, atoms started at T (Maxwell–Boltzmann) on the
   T = 0 lattice, a Langevin thermostat at T (damp ``equil_damp``) on EVERY atom of both models (the
   coupled model keeps its band). The film expands to its lattice parameter at T and the start-up
   breathing mode (a vertical oscillation of the whole film, the same in every seed) is damped out in both
   models alike. Without it (``equil = 0``: one run, atoms at 2T on the T = 0 lattice, the indenter
   ``gap`` above the surface) that mode was still ringing at contact, undamped in the coupled film (its
   band damps only fine-scale motion) and damped by the bottom Langevin layer in the full one: the two
   curves differed by up to 8.5 standard errors;
2. production (`decks`, started ``--from`` the last frame of 1 with master seed ``seed``; the
   equilibration uses ``seed`` + `EQUIL_SEED_OFFSET`, so that no noise is replayed): the indenter starts
   ``gap`` above the T = 0 surface (``depths: [-gap]``, the observable ``indenter.depth`` is the depth
   below the T = 0 surface) and moves down at ``velocity`` [σ/τ] to ``depth``;

- fully atomistic: a Langevin thermostat at T (damp ``damp`` [τ]) on a bottom layer, the ``bath_rows``
  rows above the fixed rows (far from the contact zone; the elastic field hardly moves there, so its drag
  on the indentation is negligible);
- coupled: projected coupling with the handshake's damping band holding T (``handshake.damping``,
  γ0 = ``gamma0``, temperature T): it damps only the fine-scale velocity (relative to the mesh), so it
  absorbs outgoing waves and thermalises without dragging the coarse motion. Blend ``linear`` (``blend``):
  at temperature every free mesh dof carries k_B T, so a node of lumped mass M^α moves at √(k_B T/M^α);
  with the cubic blend the nodes next to the core's edge (α ≈ 0.01) have M^α ≈ 1e-3 and move at ~4 σ/τ
  (measured), and one such run blew up at step 626 (an element inverted); the linear blend gives them 5×
  the mass (largest node speed 1.6 σ/τ). The continuum material is ``thermal_strain`` with the measured
  zero-pressure thermal strain ``eps_th`` at T (``benchmarks/thermal_strain.py``; the default `EPS_TH_002`
  is the value at T = 0.02) over the base ``base`` = ``linear``: the mesh is itself at temperature (its
  nodes at 0.75 T, measured) and ε_th, measured on the whole crystal, already holds the expansion of the
  long-wave modes the mesh carries; over ``cauchy_born`` the mesh's own fluctuations in the anharmonic W
  expand it a second time (see `multiscale.fem.materials.thermal_strain`): measured, 4 seeds each, the
  surface of the coupled film then stands 0.022σ higher than the full film's (0.081 ± 0.002 vs
  0.059 ± 0.003σ above the T = 0 lattice, mean over t ≥ 20 τ of the equilibration) and its load is
  2.3–3.4 standard errors above the full one in every depth bin, while over ``linear`` the surface is at
  0.057 ± 0.002σ and the curves agree (every bin within 1.1 se). ``eps_th = 0`` gives the unmatched
  continuum, whose surface stands lower by ≈ ε_th × the mesh's share of the film height.

Both production decks write the load observables every ``thermo_every`` steps and displacement and velocity
frames every ``every`` steps. ``decks(...)`` returns the production pair, ``equil_decks(...)`` the
equilibration pair; `write_decks` writes ``decks/indent2d_dyn_T_equil.yaml`` and
``decks/indent2d_dyn_T_full_equil.yaml`` (with ``expect:`` blocks) and the production decks
``decks/indent2d_dyn_T.yaml`` and ``decks/indent2d_dyn_T_full.yaml`` (no ``expect:``: they start ``--from``
an equilibration run, which ``msim regress`` does not do). ``benchmarks/dynamic_indent_T.py`` runs ≥ 4
seeds of each and compares the binned mean force–depth curves (`compare_binned`).

Units: LJ reduced (ε, σ, m, τ = σ√(m/ε)); T is k_B T [ε].
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .indent2d import Film, _r, coupled_deck, full_deck, lattice_spacing

#: zero-pressure thermal strain of the hex LJ crystal at k_B T = 0.02 ε: 0.001644 ± 0.000008
#: (`python benchmarks/thermal_strain.py 0.02`: periodic Langevin NVT, 256 atoms, 20 000 steps per point)
EPS_TH_002 = 0.001644


@dataclass(frozen=True)
class DynRun:
    """Parameters of one dynamic indentation run (see the module docstring). Lengths [σ], time [τ]."""

    nx: int = 60
    ny: int = 30
    T: float = 0.02
    velocity: float = 0.1
    gap: float = 1.0
    depth: float = 1.5
    dt: float = 0.01
    damp: float = 1.0
    bath_rows: int = 4
    gamma0: float = 1.0
    blend: str = "linear"
    eps_th: float = EPS_TH_002
    base: str = "linear"
    core: tuple[float, float] = (12.0, 10.0)
    width: float = 6.0
    thermo_every: int = 10
    every: int = 100
    equil: float = 60.0
    equil_damp: float = 1.0

    @property
    def steps(self) -> int:
        """Steps from depth −gap to ``depth`` at ``velocity``."""
        return int(round((self.gap + self.depth) / (self.velocity * self.dt)))

    @property
    def equil_steps(self) -> int:
        """Steps of the equilibration run (``equil`` [τ]; 0: no equilibration run)."""
        return int(round(self.equil / self.dt))


def _dynamics(deck: dict, run: DynRun, seed: int) -> dict:
    deck = copy.deepcopy(deck)
    ind = deck["loads"][1]
    del ind["depth_steps"]
    ind["depths"] = [-run.gap]
    ind["velocity"] = run.velocity
    if run.equil > 0:   # the state (positions and velocities) comes --from the equilibration run
        deck["atoms"].pop("velocity", None)
    else:
        deck["atoms"]["velocity"] = {"temperature": 2.0 * run.T}
    deck["integrator"] = {"type": "verlet", "dt": run.dt, "steps": run.steps, "seed": int(seed)}
    deck["output"] = {"every": run.every, "thermo_every": run.thermo_every,
                      "fields": ["displacement", "velocity"]}
    return deck


def decks(run: DynRun = DynRun(), seed: int = 1, a0: float | None = None) -> tuple[dict, dict]:
    """(coupled deck, fully atomistic deck) of ``run`` with master seed ``seed`` (no expect blocks)."""
    a0 = lattice_spacing() if a0 is None else a0
    film = Film(run.nx, run.ny, a0)
    title = (f"dynamic indentation of a {run.nx} x {run.ny} LJ film at T = {run.T:g}, "
             f"v = {run.velocity:g}, to d = {run.depth:g}")
    full = _dynamics(full_deck(film, {"start": 0.0, "stop": 0.0, "step": 1.0}, title + ", fully atomistic"),
                     run, seed)
    lo, hi = film.atom_box()
    full["integrator"]["thermostat"] = {
        "type": "langevin", "temperature": run.T, "damp": run.damp,
        "region": {"type": "box", "lo": [-10.0, _r(2.6 * film.h)],
                   "hi": [_r(hi[0] + 10.0), _r((2.6 + run.bath_rows) * film.h)]}}
    coupled = _dynamics(coupled_deck(film, {"start": 0.0, "stop": 0.0, "step": 1.0},
                                     title + ", coupled (projected, thermostatted band)",
                                     core_half_width=run.core[0], core_depth=run.core[1], width=run.width,
                                     coupling="projected"), run, seed)
    hs = coupled["handshake"]
    hs["damping"] = {"gamma0": run.gamma0, "temperature": run.T}
    hs["blend"] = {"type": run.blend}
    if run.eps_th:
        coupled["continuum"]["material"] = {"type": "thermal_strain", "strain": run.eps_th,
                                            "base": run.base}
    return coupled, full


#: the equilibration run's master seed is the production seed plus this (distinct noise streams: the
#: production run starts again at step 0, and the same seed would replay the equilibration's noise)
EQUIL_SEED_OFFSET = 100000


def equil_decks(run: DynRun, seed: int = 1, a0: float | None = None) -> tuple[dict, dict]:
    """(coupled, fully atomistic) equilibration decks of ``run``: the same models as `decks` (so that the
    production run can start ``--from`` their last frame), without the indenter, atoms started at T
    (Maxwell–Boltzmann) on the T = 0 lattice, a Langevin thermostat at T (damp ``equil_damp``) on EVERY
    atom for ``equil`` τ — in both models, on top of the coupled model's band — so that the thermal
    expansion and the start-up breathing mode are relaxed the same way in both; master seed ``seed`` +
    `EQUIL_SEED_OFFSET`. Frames (displacement, velocity) every 100 steps; the last one is the production
    runs' start."""
    coupled, full = decks(run, seed=seed, a0=a0)
    steps = run.equil_steps
    if steps < 1:
        raise ValueError("equil_decks: run.equil must be > 0")
    out = []
    for deck in (coupled, full):
        deck = copy.deepcopy(deck)
        deck["title"] = deck["title"].replace("dynamic indentation", "equilibration (no indenter)")
        deck["loads"] = [ld for ld in deck["loads"] if ld.get("type") != "indenter"]
        deck["atoms"]["velocity"] = {"temperature": run.T}
        deck["integrator"] = {"type": "verlet", "dt": run.dt, "steps": steps,
                              "seed": int(seed) + EQUIL_SEED_OFFSET,
                              "thermostat": {"type": "langevin", "temperature": run.T,
                                             "damp": run.equil_damp}}
        deck["output"] = {"every": 100 if steps % 100 == 0 else steps, "thermo_every": run.thermo_every,
                          "fields": ["displacement", "velocity"]}
        out.append(deck)
    return out[0], out[1]


DECK_RUN = DynRun()
#: regression figures of the equilibration decks (seed 1; `msim regress decks/`): the fully atomistic
#: film's kinetic temperature (fixed rows left out) over the second half of the run is the thermostat's T
#: (an independent reference; measured 0.01996); the coupled model's core temperature likewise (measured
#: 0.01974: the Langevin thermostat and the band both hold T there) and its constraints exact (9e-14).
#: The production decks have none: they start --from an equilibration run (`msim regress` runs a deck
#: alone); their figure is the seed statistics of benchmarks/dynamic_indent_T.py.
EXPECT: dict[str, dict] = {
    "indent2d_dyn_T_full_equil.yaml": {
        "observables.temperature.late_mean": {"value": 0.02, "rtol": 0.03}},
    "indent2d_dyn_T_equil.yaml": {
        "observables.temperature_core.late_mean": {"value": 0.02, "rtol": 0.05},
        "constraint_residual": {"max": 1e-10}},
}

#: deck files written by `write_decks`: (coupled, full) of the equilibration and the production runs
DECK_FILES = {"equil": ("indent2d_dyn_T_equil.yaml", "indent2d_dyn_T_full_equil.yaml"),
              "production": ("indent2d_dyn_T.yaml", "indent2d_dyn_T_full.yaml")}


def write_decks(directory: str, expect: dict[str, dict] | None = None) -> list:
    """Write the equilibration and production decks of `DECK_RUN`, seed 1, into ``directory``. Run them as
    ``msim run indent2d_dyn_T_equil.yaml -o eq.h5`` then ``msim run indent2d_dyn_T.yaml -o dyn.h5 --from
    eq.h5`` (likewise the _full pair)."""
    from ._deckfiles import write_deck_set
    ce, fe = equil_decks(DECK_RUN, seed=1)
    c, f = decks(DECK_RUN, seed=1)
    for d, eq in zip((c, f), DECK_FILES["equil"], strict=True):
        d["title"] += " (start it --from the last frame of the matching _equil deck's run)"
        d["integrator"]["continues"] = eq     # `msim run` without --from: exit 2, not a cold start
    files = dict(zip(DECK_FILES["equil"] + DECK_FILES["production"], (ce, fe, c, f), strict=True))
    return write_deck_set(directory, files, EXPECT if expect is None else expect,
                          "multiscale.applications.indent2d_dyn")


if __name__ == "__main__":
    from ._deckfiles import main
    main(write_decks)


# ---------------------------------------------------------------------------------------------- analysis

def read_run(path, contact_box: tuple[float, float, float] | None = None) -> dict:  # noqa: ANN001
    """From a results file: ``depth``, ``load`` (n,) per thermo row [σ, ε/σ], and, when the file has
    velocity frames and ``contact_box = (x_c, half_width, depth_below_top)`` is given, ``T_contact`` (nf,)
    the kinetic temperature Σ m|v|²/(d n k_B) [ε] of the fully weighted atoms whose reference lies within
    half_width of x_c and depth_below_top of the top row (k_B = 1, LJ units), frame by frame, and
    ``u_top`` (nf,) the mean vertical displacement [σ] of the top row's atoms in that box (the surface
    height relative to the T = 0 lattice: shows the film's breathing mode)."""
    from ..output.reader import ResultsReader
    with ResultsReader(path) as r:
        ob = r.observables()
        out = {"time": np.asarray(ob["time"], float)}
        if "indenter.depth" in ob:   # (an equilibration run has no indenter)
            out["depth"] = np.asarray(ob["indenter.depth"], float)
            out["load"] = np.asarray(ob["indenter.load"], float)
        if contact_box is not None and "velocity" in r.fields("atoms"):
            st = r.static()["atoms"]
            X = np.asarray(st["reference_positions"], float)
            w, m = np.asarray(st["weight"], float), np.asarray(st["mass"], float)
            xc, hw, dd = contact_box
            sel = (np.abs(X[:, 0] - xc) < hw) & (X[:, 1] > X[:, 1].max() - dd) & (w > 1 - 1e-12)
            v = r.field("atoms", "velocity")[:, sel]
            d = v.shape[-1]
            out["T_contact"] = np.einsum("a,fai,fai->f", m[sel], v, v) / (d * int(sel.sum()))
            out["frame_time"] = np.asarray(r.times, float)
            top = sel & (X[:, 1] > X[:, 1].max() - 0.5)
            if "displacement" in r.fields("atoms") and top.any():
                out["u_top"] = np.asarray(r.field("atoms", "displacement")[:, top, 1], float).mean(axis=1)
    return out


def bin_means(depth: np.ndarray, load: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean load in each depth bin [edges[k], edges[k+1]) (nb,) [ε/σ]; NaN for an empty bin."""
    k = np.digitize(depth, edges) - 1
    nb = len(edges) - 1
    ok = (k >= 0) & (k < nb)
    s = np.bincount(k[ok], weights=load[ok], minlength=nb)
    c = np.bincount(k[ok], minlength=nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / c


@dataclass
class Ensemble:
    """Binned force–depth of several seeds: ``per_seed`` (n_seeds, nb), ``mean`` (nb,), ``se`` (nb,) the
    standard error of the mean across seeds (sample std, ddof 1, / √n_seeds) [ε/σ]."""

    per_seed: np.ndarray

    @property
    def n(self) -> int:
        return int(self.per_seed.shape[0])

    @property
    def mean(self) -> np.ndarray:
        return self.per_seed.mean(axis=0)

    @property
    def se(self) -> np.ndarray:
        return self.per_seed.std(axis=0, ddof=1) / np.sqrt(self.n)


def ensemble(runs: list[dict], edges: np.ndarray) -> Ensemble:
    """`Ensemble` of runs (dicts of `read_run`)."""
    return Ensemble(np.array([bin_means(r["depth"], r["load"], edges) for r in runs]))


@dataclass
class BinnedComparison:
    """Coupled vs fully atomistic ensembles per depth bin: ``z`` (nb,) = (mean_c − mean_f) /
    √(se_c² + se_f²); ``within_2se`` (nb,) bool |z| ≤ 2; ``chi2`` = Σ z², ``p_value`` of χ² with nb degrees
    of freedom (bins treated as independent, standard errors as exact: an approximation with few seeds)."""

    edges: np.ndarray
    coupled: Ensemble
    full: Ensemble

    @property
    def z(self) -> np.ndarray:
        return (self.coupled.mean - self.full.mean) / np.sqrt(self.coupled.se ** 2 + self.full.se ** 2)

    @property
    def within_2se(self) -> np.ndarray:
        return np.abs(self.z) <= 2.0

    @property
    def chi2(self) -> float:
        return float(np.sum(self.z ** 2))

    @property
    def p_value(self) -> float:
        from scipy.stats import chi2
        return float(chi2.sf(self.chi2, len(self.z)))

    @property
    def welch_dof(self) -> np.ndarray:
        """Welch–Satterthwaite degrees of freedom of each bin's difference (nb,)."""
        a, b = self.coupled.se ** 2, self.full.se ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            return (a + b) ** 2 / (a ** 2 / (self.coupled.n - 1) + b ** 2 / (self.full.n - 1))

    @property
    def p_bins(self) -> np.ndarray:
        """Two-sided Welch t-test p-value of each bin (nb,): with few seeds the standard errors are
        themselves uncertain, so |z| has Student's t tails, not Gaussian ones."""
        from scipy.stats import t
        return 2.0 * t.sf(np.abs(self.z), self.welch_dof)

    def consistent(self, alpha: float = 0.01, chi2_alpha: float = 1e-3) -> bool:
        """True when the curves agree within the statistical error of the seeds: no bin rejects equal
        means at family-wise level ``alpha`` (Welch t per bin, Bonferroni over the bins) AND the χ² over
        the bins has p ≥ ``chi2_alpha``. Both: with 3 seeds the Welch test alone is too permissive (the
        coupled model with z = +4.5, −2.6, +2.4, +6.0 in 4 bins passed it, p_min = 0.0044), the χ² alone
        is anti-conservative (it takes the standard errors as exact)."""
        return bool(np.all(self.p_bins > alpha / len(self.z)) and self.p_value >= chi2_alpha)

    def table(self) -> str:
        c, f = self.coupled, self.full
        rows = [f"{'depth bin [σ]':>16s} {'coupled P ± se':>18s} {'full P ± se':>18s} {'Δ/σ_Δ':>7s}  2se"]
        for k in range(len(self.z)):
            ok = "ok" if self.within_2se[k] else "NO"
            rows.append(f"{self.edges[k]:7.3f} – {self.edges[k + 1]:6.3f} {c.mean[k]:9.3f} ± {c.se[k]:6.3f} "
                        f"{f.mean[k]:9.3f} ± {f.se[k]:6.3f} {self.z[k]:7.2f}  {ok}")
        nb = len(self.z)
        rows.append(f"seeds: coupled {c.n}, full {f.n}; bins within 2 se: {int(self.within_2se.sum())}/{nb}; "
                    f"chi2 = {self.chi2:.2f} over {nb} bins (p = {self.p_value:.3g}); smallest Welch p "
                    f"{np.min(self.p_bins):.3g} (Welch-Bonferroni 1 % and χ² p ≥ 1e-3: "
                    f"{'consistent' if self.consistent() else 'NOT consistent'})")
        return "\n".join(rows)


def compare_binned(coupled: list[dict], full: list[dict], edges: np.ndarray) -> BinnedComparison:
    """Bin each run's load by depth, average across seeds, compare (`BinnedComparison`)."""
    edges = np.asarray(edges, float)
    return BinnedComparison(edges, ensemble(coupled, edges), ensemble(full, edges))


# ---------------------------------------------------------------------------------------------- runs

_ROOT = Path(__file__).resolve().parents[2]


def run_all(jobs: list[tuple], n_par: int, workdir: Path, reuse: bool = False) -> dict[str, float]:
    """Run ``msim run DECK -o NAME.h5 [EXTRA ...]`` for each (name, deck[, extra args]) with at most n_par
    at a time under nice;
    returns the CPU time [s] (user + sys) of each process (also written to NAME.cpu). A failed run raises
    RuntimeError. ``reuse``: a job whose NAME.h5 and NAME.cpu exist (a finished earlier run of the same
    deck text, NAME.yaml) is not run again."""
    env = dict(os.environ, PYTHONPATH=str(_ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    pending, running, cpu = [], {}, {}
    for name, deck, *extra in jobs:
        done = workdir / f"{name}.cpu"
        if reuse and done.exists() and (workdir / f"{name}.h5").exists():
            cpu[name] = float(done.read_text())
        else:
            pending.append((name, deck, [str(e) for e in extra]))
    try:
        while pending or running:
            while pending and len(running) < n_par:
                name, deck, extra = pending.pop(0)
                log = open(workdir / f"{name}.log", "w")  # noqa: SIM115
                cmd = ["nice", "-n", "10", sys.executable, "-m", "multiscale.cli", "run", str(deck),
                       "-o", str(workdir / f"{name}.h5"), "--quiet", "--overwrite", "--threads", "1", *extra]
                p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
                running[p.pid] = (name, p, log)
            pid, status, ru = os.wait4(-1, 0)
            if pid not in running:
                continue
            name, p, log = running.pop(pid)
            p.returncode = os.waitstatus_to_exitcode(status)
            log.close()
            if p.returncode != 0:
                raise RuntimeError(f"{name}: msim run exited {p.returncode}: "
                                   f"{(workdir / f'{name}.log').read_text()[-2000:]}")
            cpu[name] = ru.ru_utime + ru.ru_stime
            (workdir / f"{name}.cpu").write_text(repr(cpu[name]))
    finally:  # a failed run, a timeout, Ctrl-C: stop this study's other runs (our own children only)
        for _, q, qlog in running.values():
            q.kill()
            q.wait()
            qlog.close()
    return cpu


def _write(workdir: Path, name: str, deck: dict) -> Path:
    """Write ``deck`` to workdir/NAME.yaml; a different deck under that name invalidates its finished run."""
    import yaml
    p = workdir / f"{name}.yaml"
    text = yaml.safe_dump(deck, sort_keys=False)
    if p.exists() and p.read_text() != text:  # another deck under this name: never reuse its run
        (workdir / f"{name}.cpu").unlink(missing_ok=True)
    p.write_text(text)
    return p


def run_side(run: DynRun, kind: str, name: str, seeds: list[int], n_par: int, workdir: Path,
             reuse: bool = False, a0: float | None = None) -> dict[str, list[float]]:
    """Run one side (``kind`` "coupled" or "full") of ``run`` for ``seeds``: files NAME_s.* in workdir;
    with ``run.equil`` > 0 first the equilibration runs NAME_eq_s (`equil_decks`), then the production
    runs ``--from`` their last frame. Returns {"production": CPU s per seed, "equil": CPU s per seed (0 when
    there is no equilibration run)}."""
    a0 = lattice_spacing() if a0 is None else a0
    k = 0 if kind == "coupled" else 1
    eq_cpu = [0.0] * len(seeds)
    if run.equil > 0:
        jobs = [(f"{name}_eq_{s}", _write(workdir, f"{name}_eq_{s}", equil_decks(run, seed=s, a0=a0)[k]))
                for s in seeds]
        c = run_all(jobs, n_par, workdir, reuse)
        eq_cpu = [c[f"{name}_eq_{s}"] for s in seeds]
    jobs = []
    for s in seeds:
        p = _write(workdir, f"{name}_{s}", decks(run, seed=s, a0=a0)[k])
        extra = ["--from", str(workdir / f"{name}_eq_{s}.h5")] if run.equil > 0 else []
        if extra and reuse:  # the production run must be redone when its equilibration was
            eq = workdir / f"{name}_eq_{s}.h5"
            out = workdir / f"{name}_{s}.h5"
            if out.exists() and eq.stat().st_mtime > out.stat().st_mtime:
                (workdir / f"{name}_{s}.cpu").unlink(missing_ok=True)
        jobs.append((f"{name}_{s}", p, *extra))
    c = run_all(jobs, n_par, workdir, reuse)
    return {"production": [c[f"{name}_{s}"] for s in seeds], "equil": eq_cpu}


def _t_contact(run: DynRun, runs: list[dict]) -> tuple[float, float]:
    """Contact-zone kinetic temperature, seed mean and its standard error: each run's mean over the frames
    from half the approach time on (all production frames after an equilibration run)."""
    vals = []
    for r in runs:
        late = r["frame_time"] >= (0.0 if run.equil > 0 else 0.5 * run.gap / run.velocity)
        vals.append(float(np.mean(r["T_contact"][late])))
    se = float(np.std(vals, ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0
    return float(np.mean(vals)), se


def study(run: DynRun, seeds: list[int], edges: np.ndarray, n_par: int, workdir: Path,
          T_coupled: float | None = None, T_full: float | None = None, reuse: bool = False) -> dict:
    """Write the decks of ``run`` for each seed into ``workdir`` (coupled at ``T_coupled`` when given: a
    deliberately wrong set-up; likewise ``T_full``), run them (`run_side`: equilibration runs first when
    ``run.equil`` > 0; ``reuse``), compare the binned force–depth curves over ``edges``.
    Returns {"cmp": `BinnedComparison`, "cpu": {kind: production CPU s per seed}, "cpu_equil": {kind: CPU s
    per seed of the equilibration runs}, "wall": s, "T": {kind: (mean, se)} the contact-zone kinetic
    temperature (`_t_contact`), "runs": {kind: `read_run` dicts}, "equil_runs": {kind: `read_run` dicts of
    the equilibration runs} (empty without them)}.
    """
    a0 = lattice_spacing()
    film = Film(run.nx, run.ny, a0)
    box = (film.x_center, 8.0, 6.0)
    t0 = time.perf_counter()
    cpu, cpu_eq, res, eq = {}, {}, {}, {}
    for kind, T in (("coupled", T_coupled), ("full", T_full)):
        name = kind if T is None else f"{kind}_T{T:g}"
        r = run if T is None else replace(run, T=T)
        c = run_side(r, kind, name, seeds, n_par, workdir, reuse, a0)
        cpu[kind], cpu_eq[kind] = c["production"], c["equil"]
        res[kind] = [read_run(workdir / f"{name}_{s}.h5", box) for s in seeds]
        if run.equil > 0:
            eq[kind] = [read_run(workdir / f"{name}_eq_{s}.h5", box) for s in seeds]
    wall = time.perf_counter() - t0
    cmp = compare_binned(res["coupled"], res["full"], edges)
    return {"cmp": cmp, "cpu": cpu, "cpu_equil": cpu_eq, "wall": wall,
            "T": {k: _t_contact(run, v) for k, v in res.items()}, "runs": res, "equil_runs": eq}


def run_ensemble(run: DynRun, kind: str, seeds: list[int], n_par: int, workdir: Path,
                 reuse: bool = False) -> tuple[list[dict], list[float]]:
    """Run one side (``kind`` "coupled" or "full") of ``run`` for ``seeds`` (`run_side`, files NAME_s.* in
    workdir, NAME = kind_T<T>); returns the `read_run` dicts (with the contact-zone temperature) and the
    CPU seconds of each production run."""
    a0 = lattice_spacing()
    name = f"{kind}_T{run.T:g}"
    cpu = run_side(run, kind, name, seeds, n_par, workdir, reuse, a0)
    film = Film(run.nx, run.ny, a0)
    box = (film.x_center, 8.0, 6.0)
    return [read_run(workdir / f"{name}_{s}.h5", box) for s in seeds], cpu["production"]
