"""crack2d: the precrack cuts exactly the bonds crossing the crack line behind the tip; the reduced-size
crack deck (|x|, |y| ≤ 15σ, K = 0.9 … 1.3 K_G) does not advance below the Griffith value and advances
within the lattice-trapping range above it; K_G = √(2γE′) from md/properties.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from multiscale.applications.crack2d import griffith, griffith_ratio, k_advance
from multiscale.applications.precrack import PreCrack, crack_tip

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


def test_crack_tip_is_the_end_of_the_contiguous_broken_run():
    c = np.array([-1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 1.75])
    cut = c < 0
    assert crack_tip(c, cut) == (2, 0)                                   # only the cut: tip at -0.25
    assert crack_tip(c, cut | (c == 0.25) | (c == 0.75)) == (4, 2)
    assert crack_tip(c, cut | (c == 0.75)) == (2, 0)                     # a bond ahead alone: no advance
    assert crack_tip(c, np.ones(7, bool)) == (6, 4)
    with pytest.raises(ValueError, match="sorted"):
        crack_tip(c[::-1], cut[::-1])


def _hex_crack(L: float = 8.0):  # noqa: ANN202
    """A small hex LJ crystal (r_c = 2.5) with the precrack of the decks (tip (0, a₀√3/4)) prepared."""
    from multiscale.coupling.coupled import CoupledSystem
    from multiscale.md.box import Box
    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.lj import LennardJones
    from multiscale.md.system import AtomisticRegion
    a0 = griffith()["a0"]
    X = Lattice("hex", a0).sites_in_box([-L, -L], [L, L])
    atoms = AtomisticRegion(X, 1.0, LennardJones(1.0, 1.0, 2.5, "shift"),
                            Box([-L - 5, -L - 5], [L + 5, L + 5], [False, False]), skin=0.3)
    crack = PreCrack(tip=[0.0, a0 * math.sqrt(3) / 4], label="crack")
    crack.prepare(CoupledSystem(atoms=atoms))
    return atoms, crack, a0


def _zigzag(atoms, a0: float, lengths: dict[float, float]) -> None:  # noqa: ANN001
    """Place the atoms of rows 0 and 1 (y = 0 and a₀√3/2) so that the bond between x-neighbours of the
    merged zig-zag crossing the plane at abscissa c has length lengths.get(c, a₀) (x unchanged)."""
    X = atoms.X
    h = a0 * math.sqrt(3) / 2
    zig = np.flatnonzero((np.abs(X[:, 1]) < 1e-9) | (np.abs(X[:, 1] - h) < 1e-9))
    zig = zig[np.argsort(X[zig, 0])]
    x = X.copy()
    y = 0.0 if abs(X[zig[0], 1]) < 1e-9 else h
    x[zig[0], 1] = y
    for k in range(len(zig) - 1):
        p, q = zig[k], zig[k + 1]
        c = round(0.5 * (X[p, 0] + X[q, 0]) / (0.25 * a0)) * 0.25 * a0
        r = next((v for key, v in lengths.items() if abs(key - c) < 1e-6), a0)
        up = X[q, 1] > X[p, 1]
        y = y + (1 if up else -1) * math.sqrt(r * r - (X[q, 0] - X[p, 0]) ** 2)
        x[q, 1] = y
    atoms.x[...] = x


def test_tracker_counts_a_bond_broken_only_beyond_the_cutoff():
    """Constructed configurations of the crossing bonds: a bond just above the cut-off (2.5σ, no force)
    is broken, one just below is not, whatever its stretch; the tip is the end of the contiguous run."""
    atoms, crack, a0 = _hex_crack()
    rc, q = 2.5, 0.25 * a0
    assert crack._r_broken == rc
    behind = {-q - 2 * k * q: 2.0 for k in range(6)}                        # cut bonds, any length
    _zigzag(atoms, a0, behind)
    cut = crack._c < 0
    assert np.all(np.abs(crack.bond_lengths()[cut][-6:] - 2.0) < 1e-12)      # the construction holds
    s = crack.observables()
    assert s == {"crack.extension": 0.0, "crack.broken_run": 0.0, "crack.broken": 0.0,
                 "crack.tip_bond": pytest.approx(a0, rel=1e-12)}
    # the first two bonds ahead beyond r_c, the third just below, the fourth beyond again
    _zigzag(atoms, a0, behind | {q: rc + 1e-6, 3 * q: rc + 1e-6, 5 * q: rc - 1e-6, 7 * q: rc + 1e-6})
    s = crack.observables()
    assert s["crack.extension"] == pytest.approx(2 * (2 * q), abs=1e-9)     # two bonds: a₀ further
    assert (s["crack.broken_run"], s["crack.broken"]) == (2.0, 3.0)
    assert s["crack.tip_bond"] == pytest.approx(rc - 1e-6, abs=1e-9)
    # a bond stretched to just below the cut-off (2.25 r₀, far past the force maximum) is still intact
    _zigzag(atoms, a0, behind | {q: rc - 1e-6})
    assert crack.observables()["crack.extension"] == 0.0
    # a broken bond ahead of an intact one does not move the tip
    _zigzag(atoms, a0, behind | {3 * q: rc + 1e-6})
    s = crack.observables()
    assert (s["crack.extension"], s["crack.broken_run"], s["crack.broken"]) == (0.0, 0.0, 1.0)
    # the cut bonds count as broken even when compressed
    _zigzag(atoms, a0, {-q: 0.9 * a0, q: rc + 1e-6})
    s = crack.observables()
    assert s["crack.extension"] == pytest.approx(2 * q, abs=1e-9) and s["crack.broken_run"] == 1.0
    assert crack.tip_position() == pytest.approx(q, abs=1e-9)


def test_tracker_broken_length_can_be_given():
    from multiscale.coupling.coupled import CoupledSystem
    atoms, _, a0 = _hex_crack()
    crack = PreCrack(tip=[0.0, a0 * math.sqrt(3) / 4], broken_length=1.8)
    crack.prepare(CoupledSystem(atoms=atoms))
    _zigzag(atoms, a0, {0.25 * a0: 1.81})
    assert crack.observables()["precrack.broken_run"] == 1.0
    bad = PreCrack(tip=[0.0, a0 * math.sqrt(3) / 4], broken_length=0.5 * a0)
    with pytest.raises(ValueError, match="nearest-neighbour"):
        bad.prepare(CoupledSystem(atoms=atoms))


def test_small_crack_does_not_advance_below_griffith(tmp_path: Path):
    """The reduced deck (|x|, |y| ≤ 15σ, K = 0.9 … 1.8 K_G): lattice trapping (K_crit ≥ K_G: a brittle
    lattice cannot advance its crack below Griffith) means no bond across the plane ahead of the tip is
    broken (longer than the cut-off) below K_G, and the first advancing stage has K ≥ K_G. The deck's
    range reaches far enough for this small crystal to advance (it traps more than larger ones: size
    study in crack2d.py)."""
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
    ext, broken = np.asarray(obs["crack.extension"]), np.asarray(obs["crack.broken"])
    assert np.all(ext[ratio < 1.0] == 0.0) and np.all(broken[ratio < 1.0] == 0.0)
    ka = k_advance(obs["kfield.K"], ext, g["a0"])
    assert ka is not None and ka / g["k_griffith"] >= 1.0 - 1e-12
    res = griffith_ratio(out)
    assert res["ratio"] == pytest.approx(ka / g["k_griffith"], rel=1e-12)
    # at the critical stage the contiguous run ahead of the initial tip gives the extension (a₀/2 a bond)
    assert res["extension"] == pytest.approx(res["broken_run"] * g["a0"] / 2, rel=1e-9)
    assert res["broken"] >= res["broken_run"] >= 1


def test_size_extrapolation_recovers_a_power_law():
    from multiscale.applications.analysis import size_extrapolation
    L = np.array([15.0, 30.0, 100.0])
    for vinf, b, p in ((1.05, 3.0, 0.8), (1.0, -2.0, 2.0), (0.97, 0.5, 0.5)):
        got = size_extrapolation(L, vinf + b * L ** -p)
        assert got == pytest.approx((vinf, b, p), rel=1e-9)
    with pytest.raises(ValueError, match="monotone"):
        size_extrapolation(L, [1.3, 1.2, 1.25])
    with pytest.raises(ValueError, match="three sizes"):
        size_extrapolation([30.0, 15.0, 100.0], [1.3, 1.6, 1.1])
