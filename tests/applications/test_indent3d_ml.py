"""indent3d_ml: 3D nanoindentation of Cu with SNAP (``Cu_Zuo_JPCA2020``) in the core and the Cauchy–Born
continuum of the same SNAP elsewhere, against the fully atomistic twin of the same block (every site a SNAP
atom, the same sphere, the same depths, the same minimiser), the coupled model's cost reported (wall-seconds
ratio, both runs in the same test). Issue 15 asks for 2 %. The decks now carry the continuum's surface
stress (`multiscale.fem.surface_stress`), hold the same bottom plane in both models (the full twin's three
bottom planes) and use FIRE ftol 1e-3; the full twin is measured (0.522343 / 1.864796 eV/Å), the coupled
SNAP run of these decks is NOT yet (see `multiscale.applications.indent3d_ml`): the SNAP test holds the
bound the previous decks met (6 % at 1 Å, 30 % at 0.5 Å), it does NOT certify 2 %. The EAM reproduction
(`eam_study`, same block and tip, native Cu_u3) is the measured evidence: +3.8 % / +1.5 % with the
first-order surface stress, +2.3 % / +0.25 % on a finer mesh, −13.5 % / −6.4 % without it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from multiscale.applications.indent3d_ml import EXPECT, deck_set, eam_study, run_deck

DECKS = Path(__file__).resolve().parents[2] / "decks"


def test_decks_are_the_generated_ones():
    for name, deck in deck_set().items():
        on_disk = yaml.safe_load((DECKS / name).read_text())
        assert on_disk == (deck | {"expect": EXPECT[name]} if name in EXPECT else deck)


@pytest.mark.slow
@pytest.mark.timeout(7200)      # ~50 min at load 15-20 on the shared 2-core machine
def test_coupled_force_depth_against_full_twin():
    decks = deck_set()
    dc, pc, tc, ic = run_deck(decks["indent3d_ml_small.yaml"], "indent3d_ml_small.yaml")
    df, pf, tf, inf = run_deck(decks["indent3d_ml_small_full.yaml"], "indent3d_ml_small_full.yaml")
    print("coupled", dc, pc, tc, ic)
    print("full   ", df, pf, tf, inf)
    print(f"cost ratio coupled / full (wall s): {tc / tf:.3f}")
    assert ic["converged"] and inf["converged"]
    assert dc == pytest.approx(df) and len(dc) >= 3
    for d, a, b in zip(dc, pc, pf, strict=True):
        if d > 0:
            print(f"d = {d} A: coupled / full = {a / b:.4f}")
            assert b > 0 and a > 0, (d, a, b)
    assert abs(pc[-1] / pf[-1] - 1) <= 0.06 and abs(pc[1] / pf[1] - 1) <= 0.30


@pytest.mark.slow
@pytest.mark.timeout(3600)      # ~12 min at load 13
def test_eam_reproduction_with_surface_stress():
    """The same block, tip and depths with the native EAM Cu_u3 (`eam_study`): the coupled model with the
    continuum's first-order surface stress against the full twin (measured +3.8 % / +1.5 % at 0.5 / 1 Å; on
    the finer mesh +2.3 % / +0.25 %: the issue's 2 % at 0.5 Å is not met), and the same coupled model without
    it (−13.5 % / −6.4 %): the surface term is what closes most of the gap."""
    out = eam_study(1e-3)
    full, c, fine, bare = (out[k]["loads"] for k in ("full", "coupled", "coupled_fine", "coupled_no_surface"))
    assert all(out[k]["converged"] for k in out)
    assert abs(c[1] / full[1] - 1) < 0.045 and abs(c[2] / full[2] - 1) < 0.02
    assert abs(fine[1] / full[1] - 1) < 0.03 and abs(fine[2] / full[2] - 1) < 0.01
    assert bare[1] / full[1] - 1 < -0.10 and bare[2] / full[2] - 1 < -0.04
