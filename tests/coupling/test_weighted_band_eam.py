"""The weighted-EAM on-site check from the handshake band's list (`diagnostics.stability._band_onsite_blocks`).

`unstable_weighted_atoms` no longer builds a neighbour list of all atoms for a convex core in a free atom box:
only atoms with a weight ≠ 1 among the terms of their block (site weight β̄, bond weights, neighbours'
site weights) differ from the unweighted energy, and their blocks need ρ of their neighbours, so a list of
the band and 2 r_cut of halo (`weighted_band.band_list`, hops = 2) holds every term. Checked here against
the list of ALL atoms (canonical per-atom sums in both: bitwise blocks), against the previous code (sums
in the list's order: within 1e-12 relative), and the flagged atoms against the check on the list of all
atoms, on the projected 3D EAM deck (tests/parallel/decks/coupled3d_eam.yaml) at the slave_below values of
tests/coupling/test_weighted_eam_stability.py and on random variants (core box or sphere, width, blend,
slave_below; the 2D EAM wave deck with random cores and lattice orientations).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from multiscale.deck import load_deck
from multiscale.diagnostics import stability as st
from multiscale.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
EAM = ROOT / "tests" / "parallel" / "decks" / "coupled3d_eam.yaml"
WAVE = ROOT / "decks" / "wave2d.yaml"


def _model(path: Path):  # noqa: ANN202
    return Simulation.from_deck(load_deck(path), threads=1).model


def _old_blocks(atoms, potential) -> np.ndarray:  # noqa: ANN001
    """The previous code's blocks (sums in the list's order) on the region's list."""
    from multiscale.md.potentials.eam_tables import eval_embedding, eval_embedding_d2
    t = potential.tables
    n, d = atoms.X.shape
    i, j = atoms.nlist.pairs()
    dX = atoms.nlist.separations(atoms.X)
    r = np.sqrt(np.sum(dX * dX, axis=1))
    inside = r < t.cutoff
    wb = np.asarray(atoms.bond_w, float)
    i, j, dX, r, wb = i[inside], j[inside], dX[inside], r[inside], wb[inside]
    types = np.zeros(n, np.int64) if atoms.types is None else np.asarray(atoms.types, np.int64)
    ws = np.asarray(atoms.site_w, float)
    dphi, d2phi, rho_ji, drho_ji, d2rho_ji, rho_ij, drho_ij, d2rho_ij = st._eam_entry_terms(
        t, types[i], types[j], r)
    rho = np.bincount(i, rho_ji, n) + np.bincount(j, rho_ij, n)
    Fp, Fpp = np.zeros(n), np.zeros(n)
    for e in np.unique(types):
        s = types == e
        Fp[s] = eval_embedding(t, int(e), rho[s])[1]
        Fpp[s] = eval_embedding_d2(t, int(e), rho[s])
    u = dX / r[:, None]
    c_t = (wb * dphi + ws[i] * Fp[i] * drho_ji + ws[j] * Fp[j] * drho_ij) / r
    c_ri = wb * d2phi + ws[i] * Fp[i] * d2rho_ji + ws[j] * (Fp[j] * d2rho_ij + Fpp[j] * drho_ij ** 2)
    c_rj = wb * d2phi + ws[j] * Fp[j] * d2rho_ij + ws[i] * (Fp[i] * d2rho_ji + Fpp[i] * drho_ji ** 2)
    K, g = np.zeros((n, d, d)), np.zeros((n, d))
    for p in range(d):
        g[:, p] = np.bincount(i, drho_ji * u[:, p], n) - np.bincount(j, drho_ij * u[:, p], n)
        for q in range(p, d):
            upq = u[:, p] * u[:, q]
            rest = (1.0 if p == q else 0.0) - upq
            K[:, p, q] = (np.bincount(i, c_ri * upq + c_t * rest, n)
                          + np.bincount(j, c_rj * upq + c_t * rest, n))
            K[:, q, p] = K[:, p, q]
    K += (ws * Fpp)[:, None, None] * g[:, :, None] * g[:, None, :]
    return K


def _compare(m, monkeypatch) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Band vs list of all atoms on model m: returns (band rows, flagged atoms)."""
    s, pot, a = m.system, m.potential, m.atoms
    assert a.nlist.x_build is None
    built = []
    keep = a.rebuild
    monkeypatch.setattr(a, "rebuild", lambda *args, **kw: built.append(1))   # the band builds no full list
    rows, Kb = st._band_onsite_blocks(s, pot)
    bad, lam = st.unstable_weighted_atoms(s, pot)
    monkeypatch.setattr(a, "rebuild", keep)
    assert not built and a.nlist.x_build is None
    assert np.all(np.diff(rows) > 0)
    # the check on the list of all atoms (the fallback path) flags the same atoms with the same eigenvalues
    with monkeypatch.context() as mp:
        mp.setattr(st, "_band_onsite_blocks", lambda *args: None)
        bad_full, lam_full = st.unstable_weighted_atoms(s, pot)
    assert np.array_equal(bad, bad_full) and np.array_equal(lam, lam_full)
    a.rebuild()
    try:
        Kf = st._weighted_eam_onsite_blocks(a, pot)
        Ko = _old_blocks(a, pot)
        # every atom outside the band: a block of the unweighted energy (all its weights are exactly 1)
        ws, bw = a.site_w, a.bond_w
        a.site_w, a.bond_w = np.ones(a.n), np.ones_like(bw)
        Ku = st._weighted_eam_onsite_blocks(a, pot)
        a.site_w, a.bond_w = ws, bw
    finally:
        a.nlist.invalidate()
        a.bond_w = None
    assert np.array_equal(Kb, Kf[rows])                                  # bitwise, every band atom
    out = np.setdiff1d(np.arange(a.n), rows)
    assert np.array_equal(Kf[out], Ku[out])
    scale = np.max(np.abs(Ko))
    assert np.max(np.abs(Kf - Ko)) <= 1e-12 * scale                      # the previous summation order
    return rows, bad


@pytest.mark.parametrize("slave_below, n_bad", [(0.0, 105), (1e-3, 82), (0.03, 6), (0.031, 0)])
def test_eam_deck_band_equals_full_list(tmp_path: Path, monkeypatch, slave_below: float, n_bad: int) -> None:  # noqa: ANN001
    d = yaml.safe_load(EAM.read_text())
    d["handshake"]["coupling"] = {"type": "projected", "slave_below": slave_below}
    d.pop("loads", None)
    p = tmp_path / "eam.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    _, bad = _compare(_model(p), monkeypatch)
    assert bad.size == n_bad


def _variant3d(tmp_path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    d = yaml.safe_load(EAM.read_text())
    d.pop("loads", None)
    d["atoms"].pop("velocity", None)
    L = float(rng.uniform(24.0, 28.0))
    d["atoms"]["region"]["hi"] = [L, L, 18.0]
    d["continuum"]["mesh"]["hi"] = [L, L, 18.0]
    if seed % 3 == 2:
        c, rad = 0.5 * L + rng.uniform(-0.5, 0.5, 2), float(rng.uniform(8.5, 9.5))
        d["handshake"]["shape"] = {"type": "sphere", "center": [*c.tolist(), 18.0], "radius": rad}
        d["continuum"]["mesh"]["hole"] = {"lo": (c - 3.0).tolist() + [14.0], "hi": (c + 3.0).tolist() + [30.0]}
    else:
        lo = rng.uniform(4.0, 6.0, 3) + [0.0, 0.0, 3.0]
        hi = [L - float(rng.uniform(5.0, 7.0)), L - float(rng.uniform(5.0, 7.0)), 30.0]
        d["handshake"]["shape"] = {"type": "box", "lo": lo.tolist(), "hi": hi}
        d["continuum"]["mesh"]["hole"] = {"lo": (lo + 2.0).tolist(), "hi": [hi[0] - 2.0, hi[1] - 2.0, 30.0]}
    d["handshake"]["width"] = float(rng.uniform(6.0, 7.5))
    d["handshake"]["blend"] = {"type": ["linear", "cubic", "quintic"][seed % 3]}
    d["handshake"]["coupling"] = {"type": "projected", "slave_below": float(rng.choice([0.0, 1e-3, 0.02]))}
    p = tmp_path / f"v3d_{seed}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def _variant2d(tmp_path: Path, seed: int) -> Path:
    rng = np.random.default_rng(100 + seed)
    w = yaml.safe_load(WAVE.read_text())
    w.pop("expect", None)
    w.update(units="metal", potential={"type": "eam", "file": "Cu_u3.eam"})
    w["atoms"]["mass"] = 63.546
    w["atoms"]["region"] = {"type": "box", "lo": [-50.0, -50.0], "hi": [50.0, 50.0]}
    w["atoms"]["lattice"]["orient"] = float(rng.uniform(0.0, 60.0))
    w["integrator"]["dt"] = 0.002
    lo, hi = rng.uniform(-32.0, -28.0, 2), rng.uniform(28.0, 32.0, 2)
    w["handshake"]["shape"] = {"type": "box", "lo": lo.tolist(), "hi": hi.tolist()}
    w["continuum"]["mesh"]["hole"] = {"lo": (lo + 2.0).tolist(), "hi": (hi - 2.0).tolist()}
    w["continuum"]["mesh"]["size"] = 4.0
    w["handshake"]["width"] = float(rng.uniform(6.0, 9.0))
    w["handshake"]["coupling"] = {"type": "projected", "slave_below": float(rng.choice([0.0, 1e-3]))}
    p = tmp_path / f"v2d_{seed}.yaml"
    p.write_text(yaml.safe_dump(w, sort_keys=False))
    return p


@pytest.mark.parametrize("seed", range(4))
def test_random_3d_variants_band_equals_full_list(tmp_path: Path, monkeypatch, seed: int) -> None:  # noqa: ANN001
    _compare(_model(_variant3d(tmp_path, seed)), monkeypatch)


@pytest.mark.parametrize("seed", range(3))
def test_random_2d_variants_band_equals_full_list(tmp_path: Path, monkeypatch, seed: int) -> None:  # noqa: ANN001
    """A core well inside the atoms: the band leaves deep atoms out (and they are unweighted)."""
    m = _model(_variant2d(tmp_path, seed))
    rows, _ = _compare(m, monkeypatch)
    assert rows.size < 0.8 * m.atoms.n


def test_non_convex_core_uses_the_full_list(tmp_path: Path) -> None:
    """A union of two boxes (not convex: no band): the blocks of every free atom from the list of all atoms,
    built and dropped again."""
    d = yaml.safe_load(EAM.read_text())
    d.pop("loads", None)
    d["handshake"]["shape"] = {"type": "union", "shapes": [
        {"type": "box", "lo": [5.0, 5.0, 8.0], "hi": [16.0, 11.0, 30.0]},
        {"type": "box", "lo": [5.0, 10.0, 8.0], "hi": [16.0, 16.0, 30.0]}]}
    d["handshake"]["coupling"] = {"type": "projected", "slave_below": 1e-3}
    p = tmp_path / "union.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    m = _model(p)
    assert st._band_onsite_blocks(m.system, m.potential) is None
    bad, _ = st.unstable_weighted_atoms(m.system, m.potential)
    assert bad.size > 0 and m.atoms.nlist.x_build is None
