"""Mode-I crack in the 2D hex LJ crystal under K-field steps (fully atomistic, reduced size): the crack
must not advance below the Griffith value K_G = √(2γE′) (γ, E′ computed by md/properties.py from the same
potential) and must advance within the lattice-trapping range above it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("multiscale.md.system")


@pytest.mark.slow
def test_crack_advances_above_griffith_and_not_below():
    from multiscale.integrate.quasistatic import crack2d_atomistic
    try:
        out = crack2d_atomistic(15.0, k_over_kg=np.round(np.arange(0.85, 1.5, 0.05), 6), minimizer="lbfgs")
    except ImportError as exc:
        pytest.skip(str(exc))
    recs = out["records"]
    assert all(r["converged"] for r in recs)
    assert out["k_advance"] is not None
    ratio = out["k_advance"] / out["k_griffith"]
    assert 1.0 <= ratio <= 1.4
    assert all(r["tip_x"] == recs[0]["tip_x"] for r in recs if r["K_over_KG"] < 1.0)
    assert out["k_griffith"] == pytest.approx(np.sqrt(2 * out["gamma"] * out["e_prime"]), rel=1e-14)
