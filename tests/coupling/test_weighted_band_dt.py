"""The weighted-atoms time-step estimate from the handshake band's list (`diagnostics.weighted_band`).

`diagnostics.stability.weighted_atoms_stable_dt` no longer builds a neighbour list of all atoms for a
convex core in a free atom box: the bond ratio Σ w k / Σ k of the band's atoms comes from a list of the band
and its halo, every other atom has ratio 1 exactly. Checked here against the list of ALL atoms (the same
canonical per-atom sums: bitwise) on the gallery's coupled decks and on random variants of wave2d (core
box, width, blend, lattice orientation, a sphere core, Morse), and against the previous code (sums in the
list's order, finite-difference step from the list's longest bond): the estimate within 1e-10 relative
(measured ≤ 3.4e-12: the step of the central difference of φ' now depends on the cut-off only) and the
same verdict for the deck's dt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from multiscale.build import _max_lattice_frequency
from multiscale.deck import load_deck
from multiscale.diagnostics import stability as st
from multiscale.diagnostics.weighted_band import band_ratio
from multiscale.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
GALLERY = ["decks/wave2d.yaml", "decks/wave1d.yaml", "decks/patch2d.yaml", "decks/thermal2d.yaml",
           "decks/crack2d_coupled_small.yaml", "decks/indent2d_small.yaml", "decks/indent2d_dyn_T.yaml",
           "decks/wave2d_sharp.yaml", "decks/indent3d_small.yaml", "tests/parallel/decks/coupled3d_smoke.yaml",
           "tests/parallel/decks/coupled3d_eam.yaml"]


def _old_ratio(atoms, potential) -> np.ndarray:
    """The previous code's ratio (list order, h from the list's longest bond) on the region's list."""
    n = atoms.n
    i, j = atoms.nlist.pairs()
    dX = atoms.nlist.separations(atoms.X)
    r = np.sqrt(np.sum(dX * dX, axis=1))
    inside = r < potential.cutoff
    i, j, r = i[inside], j[inside], r[inside]
    h = 1e-6 * max(float(np.max(r)) if r.size else 1.0, 1.0)
    k = np.clip((potential.pair(r + h)[1] - potential.pair(r - h)[1]) / (2 * h), 0.0, None)
    w = atoms.bond_w[inside]
    kw = np.bincount(i, k * w, n) + np.bincount(j, k * w, n)
    k1 = np.bincount(i, k, n) + np.bincount(j, k, n)
    return np.divide(kw, k1, out=np.ones(n), where=k1 > 0)


def _compare(sim) -> None:  # noqa: ANN001
    m = sim.model
    s, pot = m.system, m.potential
    om = _max_lattice_frequency(m)
    band = band_ratio(s, pot)
    assert band is not None
    a = m.atoms
    had = a.nlist.x_build
    built = []
    keep = a.rebuild
    a.rebuild = lambda *args, **kw: built.append(1)      # the estimate builds no list of all atoms
    try:
        dt_band = st.weighted_atoms_stable_dt(s, pot, om)
    finally:
        a.rebuild = keep
    assert not built and a.nlist.x_build is had
    if had is None:
        a.rebuild()
    try:
        full = st._list_ratio(a, pot)
        old = _old_ratio(a, pot)
    finally:
        if had is None:
            a.nlist.invalidate()
            a.bond_w = None
    assert np.array_equal(band, full)                        # bitwise, every atom
    dt_full = st._dt_of_ratio(s, full, om)
    assert dt_band == dt_full
    dt_old = st._dt_of_ratio(s, old, om)[0]
    assert abs(dt_band[0] - dt_old) <= 1e-10 * dt_old
    dt = getattr(sim.deck.config.integrator, "dt", None)      # (statics decks: none)
    if dt is not None:
        assert (dt < dt_band[0]) == (dt < dt_old)


@pytest.mark.parametrize("deck", GALLERY)
def test_gallery_band_equals_full_list(deck: str) -> None:
    _compare(Simulation.from_deck(load_deck(ROOT / deck), threads=1))


def _variant(tmp_path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    d = yaml.safe_load((ROOT / "decks" / "wave2d.yaml").read_text())
    d.pop("expect", None)
    d["atoms"]["region"] = {"type": "box", "lo": [-26.0, -26.0], "hi": [26.0, 26.0]}
    d["continuum"]["mesh"]["size"] = 3.0
    w = float(rng.uniform(5.5, 8.0))
    if seed % 3 == 2:
        d["handshake"]["shape"] = {"type": "sphere", "center": [float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))],
                                   "radius": float(rng.uniform(11.0, 13.0))}
        d["continuum"]["mesh"]["hole"] = {"lo": [-7.0, -7.0], "hi": [7.0, 7.0]}     # inside the sphere
    else:
        lo = rng.uniform(-13.0, -11.0, 2)
        hi = rng.uniform(11.0, 13.0, 2)
        d["handshake"]["shape"] = {"type": "box", "lo": lo.tolist(), "hi": hi.tolist()}
    d["handshake"]["width"] = w
    d["handshake"]["blend"] = {"type": ["linear", "cubic", "quintic"][seed % 3]}
    d["atoms"]["lattice"]["orient"] = float(rng.uniform(0.0, 60.0))
    if seed % 2:
        d["potential"] = {"type": "morse", "D": 1.0, "alpha": 3.0, "r0": 1.1, "cutoff": 2.2,
                          "truncation": "shift"}
    p = tmp_path / f"variant{seed}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


@pytest.mark.parametrize("seed", range(6))
def test_random_variants_band_equals_full_list(tmp_path: Path, seed: int) -> None:
    _compare(Simulation.from_deck(load_deck(_variant(tmp_path, seed)), threads=1))


def test_non_convex_core_uses_the_full_list(tmp_path: Path) -> None:
    """A union of two boxes (not convex: no `certain_unit`): no band, the list of all atoms (built and
    dropped again)."""
    d = yaml.safe_load((ROOT / "decks" / "wave2d.yaml").read_text())
    d.pop("expect", None)
    d["continuum"]["mesh"]["size"] = 3.0
    d["handshake"]["shape"] = {"type": "union", "shapes": [
        {"type": "box", "lo": [-12.0, -12.0], "hi": [12.0, 2.0]},
        {"type": "box", "lo": [-12.0, -2.0], "hi": [12.0, 12.0]}]}
    p = tmp_path / "union.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    m = Simulation.from_deck(load_deck(p), threads=1).model
    assert band_ratio(m.system, m.potential) is None
    dt, _ = st.weighted_atoms_stable_dt(m.system, m.potential, _max_lattice_frequency(m))
    assert np.isfinite(dt) and m.atoms.nlist.x_build is None
