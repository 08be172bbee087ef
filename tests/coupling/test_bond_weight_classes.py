"""The bond-weight kernel's classes (kernels/handshake_geom.pyx ``bond_weights(..., cache=1)``): against a
single box, bonds whose ends lie inside the box's extent along some axes by a margin are grouped by the
bits of their end coordinates along the other axes; one bond per class is computed and copied. These
tests hold the cached weights bitwise equal to every bond computed on its own (``cache=0``) and to the
NumPy function along the canonical direction, on lattices (many bonds per class) and on adversarial
families of translated segments (faces, edges, segments leaving the box's extent along a tangent axis,
ends on the box's planes)."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.coupling.handshake import Handshake
from multiscale.geometry.base import make_shape
from multiscale.plugins import load_all

load_all()


def _handshakes(lo, hi, width: float, blend: str) -> tuple[Handshake, Handshake]:
    shape = make_shape({"type": "box", "lo": list(map(float, lo)), "hi": list(map(float, hi))}, len(lo))
    return Handshake(shape, width, blend), Handshake(shape, width, blend, compiled=False)


def _kernel(h: Handshake, X: np.ndarray, i: np.ndarray, j: np.ndarray, dX: np.ndarray | None,
            cache: int, n_threads: int = 1) -> tuple[np.ndarray, int]:
    """The kernel's weights (m,) and its number of classes."""
    X = np.ascontiguousarray(X, float)
    sd = np.asarray(h._sd(X), float)
    out = np.empty(i.size)
    from_X = dX is None
    dXa = np.zeros((0, X.shape[1])) if from_X else np.ascontiguousarray(dX, float)
    nu = h._geom.bond_weights(X, sd, np.ascontiguousarray(i, np.int64), np.ascontiguousarray(j, np.int64),
                              dXa, *h._prog, h.width, h._blend_code, int(h._exact_ends), int(h._convex),
                              h._ts, h._gx, h._gw, out, n_threads, int(from_X), cache)
    return out, nu


def _canonical_numpy(hn: Handshake, X: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The NumPy function along the canonical direction a -> b (X[a] lexicographically smaller)."""
    Xi, Xj = X[i], X[j]
    first = np.argmax(Xi != Xj, axis=1)
    r = np.arange(i.size)
    swap = Xj[r, first] < Xi[r, first]
    a, b = np.where(swap, j, i), np.where(swap, i, j)
    return hn.bond_weight_fn(X)(a, b, X[b] - X[a] + 0.0)


def _lattice(dim: int, half: float, a: float, rc: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fcc (3D) / hex (2D) sites on ±half (no jitter: the planes' coordinates repeat bit for bit) and
    the pairs within rc."""
    from scipy.spatial import cKDTree
    if dim == 3:
        c = a * np.sqrt(2)
        basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * c
        g = np.arange(-int(half / c) - 1, int(half / c) + 2) * c
        cells = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    else:
        basis = np.array([[0.0, 0.0], [0.5 * a, 0.5 * np.sqrt(3) * a]])
        gx = np.arange(-int(half / a) - 1, int(half / a) + 2) * a
        gy = np.arange(-int(half / (np.sqrt(3) * a)) - 1, int(half / (np.sqrt(3) * a)) + 2) * np.sqrt(3) * a
        cells = np.stack(np.meshgrid(gx, gy, indexing="ij"), -1).reshape(-1, 2)
    X = (cells[:, None, :] + basis[None]).reshape(-1, dim)
    X = X[np.all(np.abs(X) <= half, axis=1)]
    p = cKDTree(X).query_pairs(rc, output_type="ndarray")
    return X, p[:, 0].astype(np.int64), p[:, 1].astype(np.int64)


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
@pytest.mark.parametrize("dim", [2, 3])
def test_lattice_bond_classes_are_bitwise_every_bond_computed(dim, blend):
    lo, hi = np.array([-6.0, -5.0, -7.0])[:dim], np.array([6.0, 5.0, 7.0])[:dim]
    hc, hn = _handshakes(lo, hi, 3.5, blend)
    X, i, j = _lattice(dim, 11.0, 1.1, 2.3)
    plain, nu0 = _kernel(hc, X, i, j, None, cache=0)
    cached, nu = _kernel(hc, X, i, j, None, cache=1)
    assert nu0 == 0 and 0 < nu < i.size // 8          # the classes are shared by many bonds
    assert np.count_nonzero((plain > 0) & (plain < 1)) > 1000
    assert np.array_equal(cached, plain)
    assert np.array_equal(cached, _canonical_numpy(hn, X, i, j))
    # the same through the function the model uses, both argument forms, both orders
    fc = hc.bond_weight_fn(X)
    dX = X[j] - X[i] + 0.0
    assert np.array_equal(fc.symmetric(i, j, None), plain)
    assert np.array_equal(fc.symmetric(j, i, -dX), plain)
    assert np.array_equal(fc.symmetric(i, j, dX, cache=False), plain)


def _families(lo: np.ndarray, hi: np.ndarray, width: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Segments P0 -> P1 in families: a segment near a face (one outside axis) or an edge (two) and
    copies of it translated along the other axes (the same bits along the outside axes); copies reach
    the box's planes exactly, come within 1e-14 of them, or leave the box's extent along a tangent
    axis (another class)."""
    rng = np.random.default_rng(seed)
    d = lo.size
    P0s, P1s = [], []
    for _ in range(n):
        nout = 1 if d == 2 else int(rng.integers(1, 3))
        out = rng.choice(d, nout, replace=False)
        P0 = np.empty(d)
        D = rng.normal(size=d)
        D *= rng.uniform(0.3, 2.5) / np.linalg.norm(D)
        for c in out:
            side = rng.choice([-1.0, 1.0])
            face = hi[c] if side > 0 else lo[c]
            P0[c] = face + side * rng.choice([rng.uniform(-1.0, width + 1.0), 0.0, width])
        for _ in range(int(rng.integers(2, 6))):
            Q0 = P0.copy()
            for c in range(d):
                if c in out:
                    continue
                kind = rng.integers(0, 5)
                if kind == 0:           # an end on the box's plane
                    Q0[c] = hi[c] if rng.random() < 0.5 else lo[c] - D[c]
                elif kind == 1:         # an end within 1e-14 (relative) of the plane, inside
                    Q0[c] = np.nextafter(np.nextafter(hi[c], -np.inf), -np.inf)
                elif kind == 2:         # leaves the extent along this axis
                    Q0[c] = hi[c] - 0.5 * abs(D[c])
                else:                   # inside
                    Q0[c] = rng.uniform(lo[c] + abs(D[c]) + 1e-6, hi[c] - abs(D[c]) - 1e-6)
            P0s.append(Q0)
            P1s.append(Q0 + D)
    return np.array(P0s), np.array(P1s)


@pytest.mark.parametrize("blend", ["cubic", "quintic"])
@pytest.mark.parametrize("dim", [2, 3])
def test_translated_segment_families_are_bitwise_every_segment_computed(dim, blend):
    lo, hi = np.array([-6.0, -5.0, -7.0])[:dim], np.array([6.0, 5.0, 7.0])[:dim]
    for width in (3.5, 4.0):
        hc, hn = _handshakes(lo, hi, width, blend)
        P0, P1 = _families(lo, hi, width, 3000, seed=dim * 7 + int(width))
        m = P0.shape[0]
        X = np.concatenate([P0, P1])
        i, j = np.arange(m, dtype=np.int64), np.arange(m, 2 * m, dtype=np.int64)
        plain, _ = _kernel(hc, X, i, j, None, cache=0)
        cached, nu = _kernel(hc, X, i, j, None, cache=1)
        assert nu < 0.7 * m                              # copies share classes
        assert np.count_nonzero((plain > 0) & (plain < 1)) > 0.3 * m
        assert np.array_equal(cached, plain), int(np.sum(cached != plain))
        assert np.array_equal(cached, _canonical_numpy(hn, X, i, j))


@pytest.mark.threads
def test_bond_classes_do_not_depend_on_the_thread_count():
    lo, hi = np.array([-6.0, -5.0, -7.0]), np.array([6.0, 5.0, 7.0])
    hc, _ = _handshakes(lo, hi, 3.5, "cubic")
    X, i, j = _lattice(3, 11.0, 1.1, 2.3)
    ref, _ = _kernel(hc, X, i, j, None, cache=1, n_threads=1)
    for _ in range(3):
        assert np.array_equal(_kernel(hc, X, i, j, None, cache=1, n_threads=3)[0], ref)


def test_bonds_with_an_image_shift_are_not_grouped():
    """A bond whose dX is not X_j − X_i (an image shift) keeps ½ [f(i, j, dX) + f(j, i, −dX)], computed
    on its own, next to grouped bonds in the same call."""
    lo, hi = np.array([-6.0, -5.0, -7.0]), np.array([6.0, 5.0, 7.0])
    hc, hn = _handshakes(lo, hi, 3.5, "cubic")
    X, i, j = _lattice(3, 11.0, 1.1, 2.3)
    dX = X[j] - X[i] + 0.0
    shifted = np.arange(i.size) % 3 == 0
    dX[shifted, 0] += 0.37
    plain, _ = _kernel(hc, X, i, j, dX, cache=0)
    cached, nu = _kernel(hc, X, i, j, dX, cache=1)
    assert nu > 0 and np.array_equal(cached, plain)
    fn = hn.bond_weight_fn(X)
    ref = 0.5 * (fn(i[shifted], j[shifted], dX[shifted]) + fn(j[shifted], i[shifted], -dX[shifted]))
    assert np.array_equal(cached[shifted], ref)
