"""Mode-I crack in the 2D hex LJ crystal under K-field steps, fully atomistic, two sizes (slow).

References (independent of msim's crack runs): Griffith's K_G = √(2γE′) from the lattice sums of
md/properties.py, and lattice trapping: a brittle lattice cannot advance its crack below K_G, so the first
stage at which the tip moves (a bond across the plane longer than the cut-off, i.e. carrying no force,
contiguous with the cut) has K ≥ K_G, and below K_G no bond ahead of the tip is broken. Size
convergence: the K-field is clamped on the crystal's outer layer, so a smaller crystal is a stiffer
surrounding that traps the crack more; K_adv may only fall as the crystal grows.
"""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.applications.crack2d import crack_deck, critical_stage, griffith


@pytest.mark.slow
@pytest.mark.timeout(1200)                 # ~45 s alone on a core
def test_atomistic_crack_advances_at_or_above_griffith_and_traps_less_when_larger():
    ks = [round(0.90 + 0.02 * i, 10) for i in range(56)]          # 0.90 … 2.00 K_G
    ratio = {}
    for L in (15.0, 20.0):
        out = critical_stage(crack_deck(L, ks, f"atomistic crack L = {L}"))
        recs = out["records"]
        assert all(r["converged"] for r in recs)
        assert out["k_over_kg"] is not None, f"L = {L}: no advance up to 2 K_G"
        assert out["k_over_kg"] >= 1.0 - 1e-9                    # lattice trapping: not below Griffith
        assert all(r["broken"] == 0 and r["extension"] == 0 for r in recs if r["K_over_KG"] < 1.0)
        # before the advance the tip bond is intact (< r_c) and stretches as K rises
        tip = [r["tip_bond"] for r in recs[:-1]]
        assert np.all(np.diff(tip) > 0) and max(tip) <= 2.5
        ratio[L] = out["k_over_kg"]
    assert ratio[20.0] <= ratio[15.0]
    g = griffith()
    assert g["k_griffith"] == pytest.approx(np.sqrt(2 * g["gamma"] * g["e_prime"]), rel=1e-14)
