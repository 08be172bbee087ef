"""Dynamic indentation at a finite temperature (issue 16, `multiscale.applications.indent2d_dyn`): the
binning and the seed statistics on hand-computed data, the decks (thermostats where they belong, the
indenter away during the equilibration, the decks in decks/ up to date), and (slow) coupled vs fully
atomistic force–depth within the statistical error of the seeds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from multiscale.applications import indent2d_dyn as dyn
from multiscale.applications.indent2d import Film, lattice_spacing

DECKS = Path(__file__).resolve().parents[2] / "decks"


def test_bin_means_by_hand():
    depth = np.array([-0.5, 0.0, 0.1, 0.24, 0.25, 0.4, 0.6, 0.75])
    load = np.array([9.0, 1.0, 2.0, 3.0, 10.0, 20.0, 5.0, 7.0])
    m = dyn.bin_means(depth, load, np.array([0.0, 0.25, 0.5, 0.75]))
    # [0, .25): 1, 2, 3 -> 2; [.25, .5): 10, 20 -> 15; [.5, .75): 5 (0.75 is the right edge: out)
    assert m == pytest.approx([2.0, 15.0, 5.0])
    assert np.isnan(dyn.bin_means(depth, load, np.array([2.0, 3.0]))[0])


def test_ensemble_and_comparison_by_hand():
    edges = np.array([0.0, 1.0, 2.0])
    d = np.array([0.5, 1.5])
    coupled = [{"depth": d, "load": np.array([1.0, 10.0])}, {"depth": d, "load": np.array([3.0, 14.0])}]
    full = [{"depth": d, "load": np.array([2.0, 20.0])}, {"depth": d, "load": np.array([2.0, 22.0])},
            {"depth": d, "load": np.array([2.0, 18.0])}]
    cmp = dyn.compare_binned(coupled, full, edges)
    assert cmp.coupled.mean == pytest.approx([2.0, 12.0])
    # se = sample std (ddof 1) / sqrt(n): bin 0 coupled sqrt(2)/sqrt(2) = 1, bin 1 coupled 2√2/√2 = 2
    assert cmp.coupled.se == pytest.approx([1.0, 2.0])
    assert cmp.full.se == pytest.approx([0.0, 2.0 / np.sqrt(3.0)])
    z1 = (12.0 - 20.0) / np.sqrt(4.0 + 4.0 / 3.0)
    assert cmp.z == pytest.approx([0.0, z1])
    assert list(cmp.within_2se) == [True, False]
    assert cmp.chi2 == pytest.approx(z1 ** 2)
    assert "NO" in cmp.table()
    # Welch: bin 1 squared standard errors 4 (n − 1 = 1) and 4/3 (n − 1 = 2)
    nu = (4.0 + 4.0 / 3.0) ** 2 / (16.0 / 1 + (4.0 / 3.0) ** 2 / 2)
    assert cmp.welch_dof[1] == pytest.approx(nu)
    from scipy.stats import t
    assert cmp.p_bins[1] == pytest.approx(2 * t.sf(abs(z1), nu))
    assert cmp.consistent(alpha=0.01) == bool(cmp.p_bins[1] > 0.005 and cmp.p_value >= 1e-3)
    assert not cmp.consistent(alpha=0.01, chi2_alpha=0.01)  # χ² = z1² = 12.0 over 2 bins: p = 0.0025


def _sims(run: dyn.DynRun, tmp_path: Path):
    import yaml

    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    out = []
    for name, deck in zip(("coupled.yaml", "full.yaml"), dyn.decks(run, seed=3), strict=True):
        p = tmp_path / name
        p.write_text(yaml.safe_dump(deck, sort_keys=False))
        out.append(Simulation.from_deck(load_deck(p)))
    return out


def test_decks_thermostats_away_from_the_contact_zone(tmp_path):
    run = dyn.DynRun()
    film = Film(run.nx, run.ny, lattice_spacing())
    coupled, full = _sims(run, tmp_path)
    # fully atomistic: Langevin at T on the rows just above the fixed ones, nowhere near the tip
    th = full.model.thermostat
    assert th.temperature == run.T
    X = full.model.atoms.X
    on = th.region.contains(X)
    rows = np.round(X[on, 1] / film.h).astype(int)
    assert set(rows) == set(range(3, 3 + run.bath_rows))
    assert full.model.damping is None
    # coupled: no Langevin, the band holds T; the atoms under the tip are not in the band
    assert coupled.model.thermostat is None
    band = coupled.model.damping
    assert band.kT == pytest.approx(run.T) and band.gamma0 == run.gamma0
    # the continuum is stress-free at the atoms' lattice parameter at T (measured thermal strain)
    mat = coupled.deck.config.continuum.material
    assert mat.type == "thermal_strain" and mat.strain == dyn.EPS_TH_002 == run.eps_th
    s = coupled.model.system
    tip = (np.abs(s.atoms.X[:, 0] - film.x_center) < run.core[0] - 1) & (s.atoms.X[:, 1] > film.y_top - 3)
    assert tip.sum() > 20 and np.all(s.alpha_atoms[tip] == 0.0)
    # over a LINEAR base: the hot mesh must not expand a second time (module docstring)
    assert mat.base == "linear"
    # the indenter starts `gap` above the T = 0 surface and reaches `depth` at the last step; the state
    # comes --from the equilibration run (no initial velocities of its own)
    for sim in (coupled, full):
        ind = [ld for ld in sim.model.loads if type(ld).__name__ == "Indenter"][0]
        assert ind.depth(0.0) == pytest.approx(-run.gap)
        assert ind.depth(run.steps * run.dt) == pytest.approx(run.depth)
        assert sim.deck.config.atoms.velocity is None


def test_equilibration_decks(tmp_path):
    """The equilibration decks: the same models as the production decks (so that --from accepts their
    state), no indenter, Langevin at T on every atom of both models (the coupled one keeps its band),
    atoms started at T, a master seed other than the production run's (no replayed noise)."""
    import yaml

    from multiscale.deck import load_deck
    from multiscale.output.continuation import Origin, check_compatible
    from multiscale.simulation import Simulation
    run = dyn.DynRun()
    prod = _sims(run, tmp_path)
    for k, deck in enumerate(dyn.equil_decks(run, seed=3)):
        p = tmp_path / f"eq{k}.yaml"
        p.write_text(yaml.safe_dump(deck, sort_keys=False))
        sim = Simulation.from_deck(load_deck(p))
        assert not [ld for ld in sim.model.loads if type(ld).__name__ == "Indenter"]
        th = sim.model.thermostat
        assert th.temperature == run.T and th.damp == run.equil_damp and th.region is None
        assert (sim.model.damping is not None) == (k == 0)
        cfg = sim.deck.config
        assert cfg.atoms.velocity.temperature == run.T
        assert cfg.integrator.seed == 3 + dyn.EQUIL_SEED_OFFSET != prod[k].deck.config.integrator.seed
        assert cfg.integrator.steps * cfg.integrator.dt == pytest.approx(run.equil)
        assert cfg.integrator.steps % cfg.output.every == 0          # the last step is a frame
        st, st_prod = sim._static(), prod[k]._static()
        atoms, mesh = st["atoms"], st.get("mesh")
        X = atoms["reference_positions"]
        nodes = None if mesh is None else mesh["nodes"]
        origin = Origin(X.copy(), None, None if mesh is None else nodes * 0, None, X, nodes,
                        None if mesh is None else mesh["connectivity"])
        check_compatible(origin, st_prod, "equilibration")               # raises when the models differ


def test_decks_in_decks_folder_are_generated(tmp_path):
    dyn.write_decks(tmp_path)
    names = dyn.DECK_FILES["equil"] + dyn.DECK_FILES["production"]
    assert len(names) == 4
    for name in names:
        assert (tmp_path / name).read_text() == (DECKS / name).read_text(), name


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_seed_statistics_resolve_a_wrong_temperature(tmp_path):
    """The statistics of the comparison on the fully atomistic film alone (4 seeds per ensemble, 1.5σ,
    6 bins): two ensembles of different seeds at the same T agree (Welch per bin, Bonferroni 1 %) and
    within 2 se in at least 4 of 6 bins; the same film at 3T is NOT consistent with it (the hotter surface
    pushes on the tip earlier). So the criterion used for coupled vs full passes a correct model and
    resolves a wrong temperature on one side. Each run as in the comparison: equilibration run (at 3T for
    the hot ensemble), then the indentation."""
    run = dyn.DynRun()
    edges = np.linspace(0.0, run.depth, 7)
    a, _ = dyn.run_ensemble(run, "full", [1, 2, 3, 4], 2, tmp_path)
    b, _ = dyn.run_ensemble(run, "full", [5, 6, 7, 8], 2, tmp_path)
    hot, _ = dyn.run_ensemble(replace(run, T=3 * run.T), "full", [5, 6, 7, 8], 2, tmp_path)
    same = dyn.compare_binned(a, b, edges)
    wrong = dyn.compare_binned(a, hot, edges)
    print(same.table(), wrong.table(), sep="\n")
    # measured (seeds 1-4 vs 5-8, equilibrated starts): 4 of 6 bins within 2 se (z = 2.6, 1.2, -0.5, -2.7,
    # 1.2, 1.6), χ² 19.6 (p = 0.0033), smallest Welch p 0.040: consistent; 3T: z = -4.5, -4.8, -5.3, -12.7,
    # -8.4, -5.8, χ² 338, Welch p down to 1.7e-5: not consistent
    assert same.consistent(alpha=0.01) and int(same.within_2se.sum()) >= 4, same.table()
    assert not wrong.consistent(alpha=0.01), wrong.table()
    for r in a + b:   # the production runs start equilibrated: all their frames
        assert np.mean(r["T_contact"]) == pytest.approx(run.T, rel=0.15)


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_coupled_and_full_force_depth_agree_within_seed_error(tmp_path):
    """Issue 16's application figure: 4 seeds each (equilibration run, then the indentation to 1.5σ,
    6 bins of 0.25σ), `BinnedComparison.consistent` (no bin's Welch t-test rejects equal means at
    family-wise 1 %, and χ² over the bins p ≥ 1e-3) and at least 5 of 6 bins within 2 se; the equilibrated
    surfaces at the same height (|Δ| ≤ 3 combined se: the thermal expansion of both films matched); the
    contact zone at T in both. Measured (seeds 1-4): z = +0.29, −0.80, −0.01, +0.45, +0.27, −1.03, χ² = 2.06
    (p = 0.91); surface (2nd half of the equilibration) 0.0590 ± 0.0015 σ coupled vs 0.0606 ± 0.0018 σ
    full; contact zone 1.03 T / 1.04 T. Seen to fail (this function run with DynRun.base = "cauchy_born": the
    hot mesh expands twice, surface ≈ 0.08 σ, z = +2.3 … +3.4 in every bin, χ² = 51, p = 2e-9); the old
    single-run start (atoms at 2T on the T = 0 lattice, no equilibration run) gave z up to 8.5."""
    run = dyn.DynRun()
    out = dyn.study(run, [1, 2, 3, 4], np.linspace(0.0, run.depth, 7), 2, tmp_path)
    cmp = out["cmp"]
    print(cmp.table())
    assert cmp.consistent(alpha=0.01) and int(cmp.within_2se.sum()) >= 5, cmp.table()
    u = {k: [float(np.mean(r["u_top"][r["frame_time"] >= 0.5 * run.equil])) for r in v]
         for k, v in out["equil_runs"].items()}
    du = np.mean(u["coupled"]) - np.mean(u["full"])
    se = np.sqrt(sum(np.var(x, ddof=1) / len(x) for x in u.values()))
    print("surface heights", u)
    assert abs(du) <= 3.0 * se, u
    for kind in ("coupled", "full"):
        assert out["T"][kind][0] == pytest.approx(run.T, rel=0.1), (kind, out["T"])
