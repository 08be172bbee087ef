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
    # the indenter starts `gap` above the T = 0 surface and reaches `depth` at the last step
    for sim in (coupled, full):
        ind = [ld for ld in sim.model.loads if type(ld).__name__ == "Indenter"][0]
        assert ind.depth(0.0) == pytest.approx(-run.gap)
        assert ind.depth(run.steps * run.dt) == pytest.approx(run.depth)
        assert sim.deck.config.atoms.velocity.temperature == pytest.approx(2 * run.T)


def test_decks_in_decks_folder_are_generated(tmp_path):
    dyn.write_decks(tmp_path)
    for name in ("indent2d_dyn_T.yaml", "indent2d_dyn_T_full.yaml"):
        assert (tmp_path / name).read_text() == (DECKS / name).read_text(), name


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_seed_statistics_resolve_a_wrong_temperature(tmp_path):
    """The statistics of the comparison on the fully atomistic film alone (4 seeds per ensemble, 1.5σ,
    6 bins): two ensembles of different seeds at the same T agree (Welch per bin, Bonferroni 1 %) and
    within 2 se in at least 4 of 6 bins; the same film at 3T is NOT consistent with it (the hotter surface
    pushes on the tip earlier). So the criterion used for coupled vs full passes a correct model and
    resolves a wrong temperature on one side."""
    run = dyn.DynRun()
    edges = np.linspace(0.0, run.depth, 7)
    a, _ = dyn.run_ensemble(run, "full", [1, 2, 3, 4], 4, tmp_path)
    b, _ = dyn.run_ensemble(run, "full", [5, 6, 7, 8], 4, tmp_path)
    hot, _ = dyn.run_ensemble(replace(run, T=3 * run.T), "full", [5, 6, 7, 8], 4, tmp_path)
    same = dyn.compare_binned(a, b, edges)
    wrong = dyn.compare_binned(a, hot, edges)
    print(same.table(), wrong.table(), sep="\n")
    # measured (seeds 1-4 vs 5-8): 5 of 6 bins within 2 se (z = 0.5, 0.5, -1.4, 0.6, 0.7, -2.2), χ² 7.9;
    # 3T: z = -7.0, -18.5, -3.5, -2.2, -7.4, -11.4, Welch p down to 3e-6
    assert same.consistent(alpha=0.01) and int(same.within_2se.sum()) >= 4, same.table()
    assert not wrong.consistent(alpha=0.01), wrong.table()
    for r in a + b:
        late = r["frame_time"] >= 0.5 * run.gap / run.velocity
        assert np.mean(r["T_contact"][late]) == pytest.approx(run.T, rel=0.15)  # measured 0.98-1.07 T


@pytest.mark.slow
@pytest.mark.timeout(5400)
@pytest.mark.xfail(strict=True, raises=AssertionError, reason="issue 16 figure not met: measured with 4 "
                   "seeds each "
                   "(benchmarks/dynamic_indent_T.py), the coupled load is outside 2 se of the fully "
                   "atomistic one in 4 of 6 depth bins (z = +3.7, -3.7, +3.2, +8.5 for d < 1σ; agree for "
                   "d = 1-1.5σ); cause not identified")
def test_coupled_and_full_force_depth_agree_within_seed_error(tmp_path):
    """3 seeds each, shorter indentation (to 1σ, 4 bins): `BinnedComparison.consistent` (no bin's Welch
    t-test rejects equal means at family-wise 1 %, and χ² over the bins p ≥ 1e-3; with 3 seeds the
    standard errors are uncertain, so the plain "within 2 se" rule would fail a correct model in about
    half of the runs), the contact zone at T in both. Measured (seeds 1-3): z = +4.5, −2.6, +2.4, +6.0,
    χ² = 68.8 (p = 4e-14): fails.
    Seen to fail with the fully atomistic side at 3T (report of branch dynT)."""
    run = replace(dyn.DynRun(), depth=1.0)
    out = dyn.study(run, [1, 2, 3], np.linspace(0.0, 1.0, 5), 3, tmp_path)
    cmp = out["cmp"]
    print(cmp.table())
    assert cmp.consistent(alpha=0.01), cmp.table()
    for kind in ("coupled", "full"):
        assert out["T"][kind][0] == pytest.approx(run.T, rel=0.15), (kind, out["T"])
