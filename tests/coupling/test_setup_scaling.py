"""Set-up work of a coupled model that follows the handshake, not all atoms (issue 13, scaling): the pad
search of `Handshake.classify` builds its tree on the sites near the handshake's outer edge only, and the
bond-weight update gives certainly-unit pairs their 1.0 before the cache (no keys, sort or cache entries
for the core's pairs). Both against the computation they bypass, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import spatial

from multiscale.coupling.handshake import Handshake
from multiscale.geometry.base import make_shape
from multiscale.md.box import Box
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.system import AtomisticRegion
from multiscale.plugins import load_all

load_all()

SHAPES = {
    2: [{"type": "box", "lo": [-6.3, -5.1], "hi": [5.7, 6.9]},
        {"type": "sphere", "center": [0.2, -0.1], "radius": 6.1},
        {"type": "difference", "shapes": [{"type": "box", "lo": [-7.0, -7.0], "hi": [7.0, 7.0]},
                                          {"type": "sphere", "center": [0.0, 0.0], "radius": 2.5}]}],
    3: [{"type": "box", "lo": [-3.1, -2.9, -3.3], "hi": [3.2, 3.0, 2.7]},
        {"type": "sphere", "center": [0.1, 0.0, -0.2], "radius": 3.4}],
}


def _pads_full_tree(hs: Handshake, X: np.ndarray, w: np.ndarray, reach: float) -> np.ndarray:
    """The pad test of `classify` with the tree on every weighted site (what the shortcut bypasses)."""
    weighted = w > 0.0
    cand = np.flatnonzero(~weighted)
    pad = np.zeros(len(X), bool)
    dist, _ = spatial.cKDTree(X[weighted]).query(X[cand], k=1, distance_upper_bound=reach * (1 + 1e-12))
    pad[cand[np.isfinite(dist)]] = True
    return pad


@pytest.mark.parametrize("dim,k", [(2, 0), (2, 1), (2, 2), (3, 0), (3, 1)])
@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
def test_classify_pads_are_those_of_the_full_tree(dim, k, blend):
    """Pads (β̄ = 0 sites within reach of a weighted site) of box, ball and holed cores, handshake widths
    at the cut-off + skin (the narrowest allowed) and wider: the same sites as the tree on every weighted
    site, and the tree of the shortcut really is smaller."""
    lat = Lattice("hex" if dim == 2 else "fcc", 1.1 if dim == 2 else 1.55)
    span = 16.0 if dim == 2 else 9.5
    X = lat.sites_in_box(np.full(dim, -span), np.full(dim, span))
    X = X + 0.013 * np.sin(np.arange(X.size).reshape(X.shape))     # off the lattice planes
    reach = 2.8
    for width in (reach, 4.0):
        hs = Handshake(make_shape(SHAPES[dim][k], dim), width, blend)
        cls = hs.classify(X, lat.primitive_vectors, reach)
        ref = _pads_full_tree(hs, X, cls.weights, reach)
        assert ref.sum() > 20 and cls.n_dropped > 0
        assert np.array_equal(cls.pad, ref)
        assert np.array_equal(cls.keep, (cls.weights > 0.0) | ref)
    # the tree of the shortcut: sites with sd > w − 2r − 0.01 w − reach, fewer than the weighted ones (the
    # cores here are small: most weighted sites are near the edge; a large core leaves most out)
    sd = hs._signed_distance(X)
    r = 0.5 * float(np.sum(np.linalg.norm(lat.primitive_vectors, axis=1)))
    near = (cls.weights > 0.0) & (sd > hs.width - 2 * r - 0.01 * hs.width - reach)
    assert near.sum() < np.sum(cls.weights > 0.0)


def _hex(nx: int, ny: int, a: float, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
    return np.array([[x0 + a * (ix + 0.5 * (iy % 2)), y0 + a * np.sqrt(3) / 2 * iy]
                     for iy in range(ny) for ix in range(nx)])


class _NoUnit:
    """The same bond-weight function without ``certain_unit``: every pair goes through the cache and it."""

    def __init__(self, fn) -> None:  # noqa: ANN001
        self.fn, self.symmetric = fn, fn.symmetric

    def __call__(self, i, j, dX):  # noqa: ANN001, ANN204
        return self.fn(i, j, dX)


@pytest.mark.parametrize("periodic", [False, True])
def test_unit_pairs_skip_the_bond_weight_cache(periodic):
    """Certainly-unit pairs get 1.0 before the cache: the weights are bitwise those of every pair through the
    cache and the function, at set-up and after rebuilds (a rigid shift, then a distortion that brings new
    pairs), and the cache holds the other pairs only."""
    a0 = 2 ** (1 / 6)
    X = _hex(30, 34, a0, -15.0, -13.0)
    lo, hi = X.min(axis=0) - 0.5 * a0, X.max(axis=0) + 0.5 * a0
    if periodic:
        hi = lo + np.array([30 * a0, 34 * a0 * np.sqrt(3) / 2])
    box = Box(lo, hi, [periodic, False])
    core = {"type": "box", "lo": [-5.3, -4.9], "hi": [4.6, 5.2]}
    if periodic:      # a core spanning the periodic axis but not the whole period (bonds across the seam)
        core = {"type": "box", "lo": [lo[0] + 0.2, -4.9], "hi": [hi[0] - 0.2, 5.2]}
    hs = Handshake(make_shape(core, 2), 3.0)
    pot = LennardJones(epsilon=1.0, sigma=1.0, cutoff=2.5)
    fast = AtomisticRegion(X.copy(), 1.0, pot, box, skin=0.3)
    full = AtomisticRegion(X.copy(), 1.0, pot, box, skin=0.3)
    fn = hs.bond_weight_fn(X)
    assert hasattr(fn, "certain_unit")
    for reg, f in ((fast, fn), (full, _NoUnit(fn))):
        reg.compute()
        reg.set_weights(np.ones(len(X)), f)
    rng = np.random.default_rng(3)
    moves = [np.zeros_like(X), np.full_like(X, 0.2), 0.3 * rng.standard_normal(X.shape)]
    for dx in moves:
        for reg in (fast, full):
            reg.x[...] = X + dx
            reg.rebuild()
        assert fast.bond_w.tobytes() == full.bond_w.tobytes()
        i, j = fast.nlist.pairs()
        unit = fn.certain_unit(i, j)
        if periodic:
            unit &= ~np.any(fast.nlist.shift_vectors() != 0.0, axis=1)
        assert 0 < unit.sum() < len(i) and np.any(fast.bond_w < 1.0)
        # the cache: the non-unit reference pairs (one entry each), never a unit pair
        keys = fast._bond_keys(i[~unit], j[~unit], np.flatnonzero(~unit))
        fast._sort_bond_cache()
        assert np.all(np.isin(keys, fast._bw_keys))
        unit_keys = fast._bond_keys(i[unit], j[unit], np.flatnonzero(unit))
        assert not np.any(np.isin(unit_keys, fast._bw_keys))
        assert fast._bw_keys.size < full._bw_keys.size


@pytest.mark.parametrize("dim", [2, 3])
def test_classify_pads_of_sparse_random_sites_are_those_of_the_full_tree(dim):
    """Sparse random sites in the band around the handshake's outer edge (about one other site within
    reach): pads whose only weighted site within reach lies far inward, near the bound sd ≥ w − r − reach
    of the shortcut, decide the pad test here (a threshold of w − 1 instead of w − 2r − 0.01 w − reach
    fails)."""
    rng = np.random.default_rng(11 + dim)
    cell = np.eye(dim) * 1.2
    hs = Handshake(make_shape(SHAPES[dim][0], dim), 3.0, "cubic")
    reach, half = 2.8, (16.0 if dim == 2 else 11.0)
    n = 60 if dim == 2 else 150
    n_pads = 0
    for _ in range(300):
        X = rng.uniform(-half, half, (n, dim))
        cls = hs.classify(X, cell, reach)
        if not np.any(cls.weights > 0.0):
            continue
        ref = _pads_full_tree(hs, X, cls.weights, reach)
        assert np.array_equal(cls.pad, ref)
        n_pads += int(ref.sum())
    assert n_pads > 100


def test_weighted_rows_from_the_non_unit_entries_are_those_of_all_entries():
    """`_bond_w_rows` (1: a row holding a weight ≠ 1, 2: a non-empty row of weights all exactly 0), set by the
    bond-weight update from the non-unit entries, is the array its cumulative sums over every entry give."""
    a0 = 2 ** (1 / 6)
    X = _hex(40, 44, a0, -20.0, -18.0)
    box = Box(X.min(axis=0) - 1.0, X.max(axis=0) + 1.0, [False, False])
    hs = Handshake(make_shape({"type": "box", "lo": [-9.3, -8.9], "hi": [8.6, 9.2]}, 2), 3.0)
    reg = AtomisticRegion(X, 1.0, LennardJones(epsilon=1.0, sigma=1.0, cutoff=2.5), box, skin=0.3)
    reg.compute()
    fn = hs.bond_weight_fn(X)
    reg.set_weights(hs.atom_weights(X, np.array([[a0, 0.0], [0.5 * a0, a0 * np.sqrt(3) / 2]])), fn)
    rows = reg._bond_w_rows().copy()
    assert reg._bw_rows_of is reg.bond_w
    reg._bw_rows_of = None                         # recomputed from every entry
    full = reg._bond_w_rows()
    assert rows.dtype == np.uint8 and rows.tobytes() == full.tobytes()
    assert np.sum(rows == 1) > 50 and np.sum(rows == 2) > 10 and np.sum(rows == 0) > 100


_DECK = """msim: 1
units: lj
title: small 2D coupled model
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: hex, a: relaxed}
  region: {type: box, lo: [-16.0, -16.0], hi: [16.0, 16.0]}
  mass: 1.0
  skin: 0.3
continuum:
  mesh: {type: rectangle, element: tri3, lo: [-30.0, -30.0], hi: [30.0, 30.0], size: 2.0,
         hole: {lo: [-5.0, -5.0], hi: [5.0, 5.0]}}
handshake:
  shape: {type: box, lo: [-7.0, -7.0], hi: [7.0, 7.0]}
  width: 5.0
  blend: {type: cubic}
  coupling: {type: projected, slave_below: 0.01}
integrator: {type: verlet, dt: 0.005, steps: 10}
output: {every: 1000, fields: [displacement]}
"""


def test_project_state_through_the_handshake_is_the_stacked_projection_bitwise():
    """`VelocityVerlet.project_state` (touched / active dofs only) gives the positions, velocities, node
    displacements and velocities of the stacked projection P q, P v (`ConstraintProjector.project` of the
    gathered vectors, written back as before), bit for bit, from a random state off the constraints."""
    from multiscale.deck.deck import load_deck_text
    from multiscale.simulation import Simulation

    sims = []
    for _ in range(2):
        sim = Simulation.from_deck(load_deck_text(_DECK))
        sim.prepare()
        s = sim.model.system
        rng = np.random.default_rng(5)
        s.atoms.x[s.free] += 0.03 * rng.standard_normal((s.n_free, 2))
        s.atoms.v[s.free] = 0.03 * rng.standard_normal((s.n_free, 2))
        s.continuum.U[...] = 0.03 * rng.standard_normal(s.continuum.U.shape)
        s.continuum.V[...] = 0.03 * rng.standard_normal(s.continuum.V.shape) * (s.node_mass > 0)[:, None]
        sims.append(sim)
    a, b = sims
    assert a.integrator._local
    a.integrator.project_state()                       # the local path
    s, p = b.model.system, b.integrator.projector      # the stacked path, written back as before
    u0 = s.continuum.U.copy()
    q = p.project(s.gather_q())
    qa, qn = s.split(q)
    s.atoms.x[s.free] = s.atoms.X[s.free] + qa
    s.continuum.U[...] = qn
    s.set_velocities_from_q(p.project(s.gather_v()))
    sa = a.model.system
    for u, w in ((sa.atoms.x, s.atoms.x), (sa.atoms.v, s.atoms.v), (sa.continuum.U, s.continuum.U),
                 (sa.continuum.V, s.continuum.V)):
        assert u.tobytes() == w.tobytes()
    assert np.max(np.abs(p.residual_of(s.gather_q()[p.touched]))) < 1e-12      # on the constraints now
    assert np.max(np.abs(qn - u0)) > 1e-3                                        # and moved onto them
