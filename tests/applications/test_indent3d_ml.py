"""indent3d_ml: 3D nanoindentation of Cu with SNAP (``Cu_Zuo_JPCA2020``) in the core and the Cauchy–Born
continuum of the same SNAP elsewhere, against the fully atomistic twin of the same block (every site a SNAP
atom, the same sphere, the same depths, the same minimiser): load within 2 % at every non-zero depth, the
coupled model's cost reported (wall-seconds ratio, one process, both runs in the same test)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from multiscale.applications.indent3d_ml import EXPECT, deck_set, run_deck

DECKS = Path(__file__).resolve().parents[2] / "decks"


def test_decks_are_the_generated_ones():
    for name, deck in deck_set().items():
        on_disk = yaml.safe_load((DECKS / name).read_text())
        assert on_disk == (deck | {"expect": EXPECT[name]} if name in EXPECT else deck)


@pytest.mark.slow
def test_coupled_force_depth_within_two_percent_of_full():
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
            assert b > 0 and abs(a - b) <= 0.02 * b, (d, a, b)
