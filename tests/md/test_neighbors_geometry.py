"""Neighbour lists vs brute force (1D/2D/3D, periodic/free, small boxes, unwrapped positions), and the
region shapes' contains/distance."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.geometry import make_shape
from multiscale.md.box import Box
from multiscale.md.neighbors import NeighborList

CASES = [
    (1, [True], [7.0]), (1, [False], [30.0]), (2, [True, False], [8.0, 9.0]), (2, [True, True], [20.0, 6.5]),
    (3, [True, True, True], [7.0, 8.0, 19.0]), (3, [False, True, False], [10.0, 13.0, 6.2]),
    (3, [True, True, True], [12.0, 12.0, 12.0]),
]


@pytest.mark.threads
@pytest.mark.parametrize("d,per,L", CASES)
def test_neighbor_list_matches_brute_force(d, per, L):
    rng = np.random.default_rng(d)
    L = np.array(L)
    n = int(0.5 * np.prod(L))
    x = rng.uniform(0, 1, (n, d)) * L + rng.integers(-2, 3, (n, d)) * L * np.array(per)  # unwrapped
    box = Box(np.zeros(d), L, per)
    nl = NeighborList(box, 2.5, 0.5)
    nl.build(x)
    dx = box.minimum_image(x[None, :, :] - x[:, None, :])
    r = np.linalg.norm(dx, axis=2)
    np.fill_diagonal(r, np.inf)
    ref = {(a, b) for a, b in zip(*np.nonzero(r < 3.0), strict=True) if a < b}
    i, j = nl.pairs()
    got = list(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist(), strict=True))
    assert len(got) == len(set(got)) and set(got) == ref    # each pair exactly once
    # slab invariant behind the race-free Newton's-third-law kernels: a pair's neighbour is in its
    # owner's slab or the next one (cyclically), and the slabs partition the atoms
    assert np.array_equal(np.sort(nl.order), np.arange(n))
    nslab = len(nl.slab_start) - 1
    slab = np.empty(n, dtype=np.int64)
    for s_ in range(nslab):
        slab[nl.order[nl.slab_start[s_]:nl.slab_start[s_ + 1]]] = s_
    step = (slab[j] - slab[i]) % nslab if nslab > 1 else np.zeros(len(i), dtype=np.int64)
    assert np.all(step <= 1)
    assert nslab == 1 or not per[-1] or nslab % 2 == 0
    assert np.allclose(nl.separations(x), dx[nl.i_of_entry, nl.neighbors], rtol=0, atol=1e-12)
    nl2 = NeighborList(box, 2.5, 0.5, n_threads=2)
    nl2.build(x)
    assert np.array_equal(nl.offsets, nl2.offsets) and np.array_equal(nl.neighbors, nl2.neighbors)
    assert np.array_equal(nl.shifts, nl2.shifts) and np.array_equal(nl.slab_start, nl2.slab_start)


def test_rebuild_trigger_and_short_box():
    box = Box([0, 0], [10, 10], [True, True])
    x = np.random.default_rng(0).uniform(0, 10, (50, 2))
    nl = NeighborList(box, 2.0, 0.4)
    assert nl.update(x)
    y = x.copy()
    y[3, 0] += 0.19
    assert not nl.update(y)
    y[3, 0] += 0.02
    assert nl.update(y) and nl.n_builds == 2
    with pytest.raises(ValueError, match="shorter than"):
        NeighborList(Box([0], [4.0], [True]), 2.0, 0.1)


def test_neighbor_build_is_linear_in_n():
    """Entries per atom stay constant and memory is O(N) for a growing free 2D crystal."""
    per_atom = []
    for m in (20, 80):
        g = np.stack(np.meshgrid(np.arange(m), np.arange(m), indexing="ij"), -1).reshape(-1, 2) * 1.0
        nl = NeighborList(Box([0, 0], [m, m], [False, False]), 1.5, 0.2)
        nl.build(np.ascontiguousarray(g))
        per_atom.append(nl.n_entries / len(g))
    assert abs(per_atom[1] - 4) < 0.1 and per_atom[0] < per_atom[1] + 1e-12   # half list: 8 / 2


def _brute_distance(sample_boundary, X):
    B = sample_boundary
    return np.min(np.linalg.norm(X[:, None, :] - B[None, :, :], axis=2), axis=1)


def test_shape_distances_against_sampled_boundaries():
    rng = np.random.default_rng(1)
    # 2D box
    box = make_shape({"type": "box", "lo": [0, 0], "hi": [2, 1]})
    t = np.linspace(0, 1, 4001)
    B = np.concatenate([np.c_[2 * t, 0 * t], np.c_[2 * t, 0 * t + 1], np.c_[0 * t, t], np.c_[0 * t + 2, t]])
    X = rng.uniform(-2, 4, (200, 2))
    out = ~box.contains(X)
    assert np.allclose(box.distance(X)[out], _brute_distance(B, X[out]), atol=1e-3)
    assert np.all(box.distance(X)[~out] == 0)
    # 3D sphere and finite cylinder
    sph = make_shape({"type": "sphere", "center": [1, 2, 3], "radius": 2})
    X = rng.uniform(-3, 6, (100, 3))
    assert np.allclose(sph.distance(X), np.maximum(np.linalg.norm(X - [1, 2, 3], axis=1) - 2, 0))
    cyl = make_shape({"type": "cylinder", "center": [0, 0, 0], "radius": 1, "axis": "x", "length": 4})
    Xc = np.array([[0, 0, 0], [3, 0, 0], [0, 3, 0], [3, 0, 4], [1.9, 0.5, 0.5]])
    assert np.allclose(cyl.distance(Xc), [0, 1, 2, np.hypot(1, 3), 0])
    assert np.array_equal(cyl.contains(Xc), [True, False, False, False, True])
    disc = make_shape({"type": "cylinder", "center": [0, 0], "radius": 1})
    assert np.allclose(disc.distance(np.array([[3.0, 4.0]])), 4.0)
    # half-space, 1D
    hs = make_shape({"type": "halfspace", "point": [0, 0, 5], "normal": [0, 0, 2]})
    assert np.allclose(hs.distance(np.array([[1, 1, 7], [0, 0, 1]])), [2, 0])
    seg = make_shape({"type": "sphere", "center": [0.0], "radius": 1.0})
    assert np.allclose(seg.distance(np.array([-3.0, 0.5, 2.0])), [2, 0, 1])


def test_union_and_difference():
    u = make_shape({"type": "union", "shapes": [{"type": "box", "lo": [0, 0], "hi": [1, 1]},
                                                 {"type": "sphere", "center": [3, 0], "radius": 1}]})
    X = np.array([[0.5, 0.5], [3, 0.5], [2, 2], [1.5, 0.5]])
    assert np.array_equal(u.contains(X), [True, True, False, False])
    assert np.allclose(u.distance(X), [0, 0, min(np.hypot(1, 1), np.hypot(1, 2) - 1), 0.5])
    dif = make_shape({"type": "difference", "shapes": [{"type": "box", "lo": [0, 0], "hi": [10, 10]},
                                                        {"type": "sphere", "center": [5, 5], "radius": 2}]})
    X = np.array([[5, 5], [1, 1], [-1, 5], [5, 7.5]])
    assert np.array_equal(dif.contains(X), [False, True, False, True])
    assert np.allclose(dif.distance(X), [2, 0, 1, 0])
    with pytest.raises(ValueError):
        make_shape({"type": "union", "shapes": [{"type": "box", "lo": [0], "hi": [1]},
                                                {"type": "sphere", "center": [0, 0], "radius": 1}]})
