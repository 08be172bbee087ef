"""crack2d: the precrack cuts exactly the bonds crossing the crack line behind the tip; the reduced-size
crack deck (|x|, |y| ≤ 15σ, K = 0.9 … 1.3 K_G) does not advance below the Griffith value and advances
within the lattice-trapping range above it; K_G = √(2γE′) from md/properties.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from multiscale.applications.crack2d import griffith, griffith_ratio, k_advance

DECKS = Path(__file__).resolve().parents[2] / "decks"


def test_k_advance_picks_the_first_stage_past_half_a_spacing():
    K = np.array([1.0, 2.0, 3.0, 4.0])
    assert k_advance(K, [0.0, 0.0, 0.6, 2.0], a0=1.1) == 3.0
    assert k_advance(K, [0.0, 0.3, 0.3, 0.5], a0=1.1) is None


def test_griffith_value_is_from_the_potential():
    g = griffith()
    assert g["k_griffith"] == pytest.approx(math.sqrt(2 * g["gamma"] * g["e_prime"]), rel=1e-14)
    C = g["C"]
    assert g["e_prime"] == pytest.approx((C[0, 0] ** 2 - C[0, 1] ** 2) / C[0, 0], rel=1e-10)


def test_precrack_cuts_the_bonds_behind_the_tip_only():
    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    sim = Simulation.from_deck(load_deck(DECKS / "crack2d_small.yaml"))
    sim.prepare()
    atoms = sim.model.atoms
    atoms.rebuild()
    i, j = atoms.nlist.pairs()
    w = atoms.bond_w
    X = atoms.X
    a0 = griffith()["a0"]
    yc = a0 * math.sqrt(3) / 4
    lo, hi = np.minimum(X[i, 1], X[j, 1]), np.maximum(X[i, 1], X[j, 1])
    crosses = (lo < yc) & (hi > yc)
    t = (yc - X[i, 1]) / np.where(crosses, X[j, 1] - X[i, 1], 1.0)
    cx = X[i, 0] + t * (X[j, 0] - X[i, 0])
    cut = crosses & (cx < 0)
    assert cut.sum() > 0 and np.all(w[cut] == 0.0) and np.all(w[~cut] == 1.0)
    crack = sim.model.loads[0]
    assert crack.observables()["crack.extension"] == pytest.approx(0.0)


def test_small_crack_advances_above_griffith_only(tmp_path: Path):
    from multiscale.deck import load_deck
    from multiscale.output.reader import ResultsReader
    from multiscale.simulation import Simulation
    sim = Simulation.from_deck(load_deck(DECKS / "crack2d_small.yaml"))
    out = sim.run(output=tmp_path / "crack.h5", progress="quiet")
    with ResultsReader(out) as r:
        obs, thermo = r.observables(), r.thermo()
    assert np.all(np.asarray(thermo["converged"]) > 0)
    g = griffith()
    ratio = np.asarray(obs["kfield.K"]) / g["k_griffith"]
    ext = np.asarray(obs["crack.extension"])
    assert np.all(ext[ratio < 1.0] == 0.0)
    ka = k_advance(obs["kfield.K"], ext, g["a0"])
    assert ka is not None and 1.0 < ka / g["k_griffith"] <= 1.3
    assert griffith_ratio(out)["ratio"] == pytest.approx(ka / g["k_griffith"], rel=1e-12)
