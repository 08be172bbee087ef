"""The compiled handshake geometry (kernels/handshake_geom.pyx) against the NumPy code it replaces and against
an independent integral: point fields, segment averages, symmetric bond weights; and the set-up pieces
reworked with it (the projector's single block factorisation, the per-point inverse map)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.spatial import cKDTree

from multiscale.coupling import projector as projmod
from multiscale.coupling.handshake import Handshake
from multiscale.coupling.projector import ConstraintProjector
from multiscale.fem.elements.hex8 import Hex8
from multiscale.geometry.base import make_shape
from multiscale.plugins import load_all

load_all()

BOX3 = {"type": "box", "lo": [-6.0, -5.0, -7.0], "hi": [6.0, 5.0, 7.0]}
#: shapes whose compiled signed distance is bitwise NumPy's (no BLAS dot products)
EXACT = [
    (3, BOX3),
    (2, {"type": "box", "lo": [-6.0, -4.0], "hi": [6.0, 4.0]}),
    (3, {"type": "difference",
         "shapes": [BOX3, {"type": "sphere", "center": [0.0, 0.0, 0.0], "radius": 3.0}]}),
    (2, {"type": "union", "shapes": [
        {"type": "box", "lo": [-6.0, -2.0], "hi": [0.0, 2.0]},
        {"type": "cylinder", "center": [3.0, 0.0], "radius": 4.0}]}),
]
#: shapes with dot products (NumPy takes them from BLAS): round-off differences only
ROUNDOFF = [
    (3, {"type": "union", "shapes": [
        {"type": "cylinder", "center": [0.0, 0.0, 0.0], "radius": 5.0, "axis": [1.0, 0.2, 0.0],
         "length": 16.0},
        {"type": "halfspace", "point": [0.0, 0.0, -6.0], "normal": [0.0, 0.3, -1.0]}]}),
]


def _pair(dim: int, spec: dict, blend: str, width: float = 3.5) -> tuple[Handshake, Handshake]:
    shape = make_shape(spec, dim)
    return (Handshake(shape, width, blend), Handshake(shape, width, blend, compiled=False))


def _lattice_bonds(dim: int, half: float, a: float = 1.1, rc: float = 2.3, jitter: float = 0.0,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sites of a simple lattice (fcc in 3D, hex in 2D) on ±half, the pairs within rc and their dX."""
    if dim == 3:
        basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * a * np.sqrt(2)
        n = int(half / (a * np.sqrt(2))) + 1
        g = np.arange(-n, n + 1) * a * np.sqrt(2)
        cells = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    else:
        basis = np.array([[0.0, 0.0], [0.5 * a, 0.5 * np.sqrt(3) * a]])
        nx, ny = int(half / a) + 1, int(half / (np.sqrt(3) * a)) + 1
        cells = np.stack(np.meshgrid(np.arange(-nx, nx + 1) * a, np.arange(-ny, ny + 1) * np.sqrt(3) * a,
                                     indexing="ij"), -1).reshape(-1, 2)
    X = (cells[:, None, :] + basis[None]).reshape(-1, dim)
    X = X[np.all(np.abs(X) <= half, axis=1)]
    if jitter:
        X = X + np.random.default_rng(seed).uniform(-jitter, jitter, X.shape)
    pairs = cKDTree(X).query_pairs(rc, output_type="ndarray")
    i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    return X, i, j, X[j] - X[i]


def _canonical(X: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) (m,): the pair's ends ordered so that X[a] is lexicographically smaller than X[b]."""
    Xi, Xj = X[i], X[j]
    ne = Xi != Xj
    first = np.argmax(ne, axis=1)                  # the first coordinate where the two ends differ
    r = np.arange(i.size)
    swap = Xj[r, first] < Xi[r, first]
    return np.where(swap, j, i), np.where(swap, i, j)


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
@pytest.mark.parametrize("dim,spec", EXACT)
def test_compiled_bond_weights_are_bitwise_the_numpy_ones(dim, spec, blend):
    hc, hn = _pair(dim, spec, blend)
    X, i, j, dX = _lattice_bonds(dim, 12.0 if dim == 2 else 10.0, a=1.1 if dim == 2 else 1.3, jitter=0.05)
    fc, fn = hc.bond_weight_fn(X), hn.bond_weight_fn(X)
    assert hasattr(fc, "symmetric") and not hasattr(fn, "symmetric")
    ref = 0.5 * (fn(i, j, dX) + fn(j, i, -dX))
    frac = (ref > 0) & (ref < 1)
    assert frac.sum() > 1000                      # the handshake is well sampled
    # bonds without image shift: the NumPy function along the canonical direction a -> b (a the end with
    # the lexicographically smaller coordinates), the same bits for (i, j, dX) and (j, i, -dX)
    a, b = _canonical(X, i, j)
    canon = fn(a, b, X[b] - X[a] + 0.0)
    w = fc.symmetric(i, j, dX)
    assert np.array_equal(w, canon) and np.array_equal(fc.symmetric(j, i, -dX), w)
    assert np.array_equal(fc.symmetric(i, j, None), w)
    # ... and the average of both directions at round-off (it was that average before)
    assert np.max(np.abs(w - ref)) <= 1e-14 and np.count_nonzero(w != ref) < frac.sum()
    # any other dX (an image shift): the average of both directions, bitwise
    dXs = dX + np.eye(dim)[0] * 0.37
    refs = 0.5 * (fn(i, j, dXs) + fn(j, i, -dXs))
    assert np.count_nonzero((refs > 0) & (refs < 1)) > 1000
    assert np.array_equal(fc.symmetric(i, j, dXs), refs)
    # the compiled per-direction path (segment_average) too, and the point fields
    assert np.array_equal(0.5 * (fc(i, j, dX) + fc(j, i, -dX)), ref)
    for f in ("distance", "alpha", "beta", "_signed_distance"):
        a = getattr(hc, f)(X)
        b = getattr(hn, f)(X) if f != "_signed_distance" else hn.shape.signed_distance(X)
        assert np.array_equal(a, b), f


@pytest.mark.threads
def test_compiled_bond_weights_do_not_depend_on_the_thread_count():
    """The prange over bonds shares no scratch: 1 and 3 threads give the same bits (the segment end
    points used to be function-level arrays shared by the threads: up to 18 000 of 200 000 bonds wrong)."""
    hc, _ = _pair(2, EXACT[1][1], "cubic")
    X, i, j, dX = _lattice_bonds(2, 12.0, a=1.1, jitter=0.05)
    fc = hc.bond_weight_fn(X)
    i, j, dX = np.tile(i, 20), np.tile(j, 20), np.tile(dX, (20, 1))
    ref = fc.symmetric(i, j, dX, n_threads=1)
    for _ in range(3):
        assert np.array_equal(fc.symmetric(i, j, dX, n_threads=3), ref)


def test_many_gauss_points_take_the_numpy_path():
    """More Gauss points than the kernel's quadrature scratch holds (32): the NumPy path, same answer."""
    shape = make_shape(EXACT[1][1], 2)
    hc = Handshake(shape, 3.5, "cubic", n_gauss=40)
    hn = Handshake(shape, 3.5, "cubic", n_gauss=40, compiled=False)
    P0, P1 = np.array([[-7.0, 0.3]]), np.array([[-3.0, 0.5]])
    assert np.array_equal(hc.segment_average(P0, P1, "uniform"), hn.segment_average(P0, P1, "uniform"))


@pytest.mark.parametrize("weight", ["uniform", "up", "down"])
def test_compiled_segment_averages_all_weights_and_roundoff_shapes(weight):
    rng = np.random.default_rng(3)
    for dim, spec in EXACT + ROUNDOFF:
        hc, hn = _pair(dim, spec, "cubic")
        P0 = rng.uniform(-11, 11, (20000, dim))
        P0[:10000] = np.round(P0[:10000] * 2) / 2          # many ends exactly on the levels
        P1 = P0 + rng.normal(0, 1.5, P0.shape)
        a, b = hc.segment_average(P0, P1, weight), hn.segment_average(P0, P1, weight)
        if (dim, spec) in EXACT:
            assert np.array_equal(a, b)
        else:
            assert np.max(np.abs(a - b)) <= 1e-14
            assert np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)) <= 1e-12


def _beta_reference(P0, D, lo, hi, width, t):
    """β on the segment by an independent formula: box distance as the norm of the outward excess."""
    x = P0 + t * D
    dist = np.linalg.norm(np.maximum(np.maximum(lo - x, x - hi), 0.0))
    s = min(max(dist / width, 0.0), 1.0)
    return 1.0 - s * s * (3.0 - 2.0 * s)


def test_bond_weights_match_an_independent_adaptive_integral():
    """Bonds crossing the faces of a box core (where the distance is linear along the bond, so the
    Gauss pieces are exact): the average of β by Brent roots of the two levels and adaptive quadrature
    (scipy quad at 1e-14), independent of the msim code, agrees to 1e-13."""
    lo, hi, width = np.array([-6.0, -5.0, -7.0]), np.array([6.0, 5.0, 7.0]), 3.5
    hs = Handshake(make_shape(BOX3, 3), width, "cubic")
    rng = np.random.default_rng(7)
    m = 300
    P0 = np.column_stack([rng.uniform(4.0, 10.5, m), rng.uniform(-3.0, 3.0, m), rng.uniform(-4.0, 4.0, m)])
    D = np.column_stack([rng.uniform(-1.5, 1.5, m), rng.uniform(-0.3, 0.3, m), rng.uniform(-0.3, 0.3, m)])
    w = hs.bond_weights(P0, D)
    ref = np.empty(m)
    for k in range(m):
        def sd(t, k=k):
            x = P0[k] + t * D[k]
            q = np.maximum(lo - x, x - hi)
            return np.linalg.norm(np.maximum(q, 0.0)) + min(q.max(), 0.0)
        cuts = [0.0, 1.0]
        for level in (0.0, width):
            f0, f1 = sd(0.0) - level, sd(1.0) - level
            if f0 * f1 < 0:
                cuts.append(brentq(lambda t, lv=level: sd(t) - lv, 0.0, 1.0, xtol=1e-16, rtol=1e-15))
        cuts = np.sort(cuts)
        ref[k] = sum(quad(lambda t, k=k: _beta_reference(P0[k], D[k], lo, hi, width, t), a, b,
                          epsabs=1e-15, epsrel=1e-13, limit=200)[0]
                     for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    frac = (ref > 1e-12) & (ref < 1 - 1e-12)
    assert frac.sum() > 100
    assert np.max(np.abs(w - ref)) <= 1e-13


def test_unregistered_shape_or_blend_keeps_the_numpy_path():
    class Sub(type(make_shape(BOX3, 3))):
        pass
    hs = Handshake(Sub(BOX3["lo"], BOX3["hi"]), 3.5, "cubic")
    assert hs._geom is None and not hasattr(hs.bond_weight_fn(np.zeros((2, 3))), "symmetric")


# ---------------------------------------------------------------------- projector: one factorisation
def _handshake_like(d: int, n_rows: int, n_cols: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    G1 = sp.random(n_rows, n_cols, density=6.0 / n_cols, random_state=rng, format="csr")
    G1 = (G1 + sp.eye(n_rows, n_cols, format="csr")).tocsr()
    return sp.kron(G1, sp.eye(d), format="csr"), np.repeat(rng.uniform(0.5, 3.0, n_cols), d)


def test_large_projector_factorises_one_block_once_with_the_general_paths_result(monkeypatch):
    """> 2 000 rows in 3 identical blocks: the set-up factorises ONE block once; the per-step solve is
    bitwise the one built after the general path (whole-matrix rank test, then `_BlockSolve.build`), the
    general solve `_lu.solve` (vectors and matrices) agrees with dense LAPACK."""
    G, w = _handshake_like(3, 900, 2500)
    calls = []
    real = projmod.spla.splu

    def counting(A, *a, **k):
        calls.append(A.shape[0])
        return real(A, *a, **k)

    monkeypatch.setattr(projmod.spla, "splu", counting)
    p = ConstraintProjector(G, w)
    assert calls == [900]                                  # one block of 900 rows, factorised once
    monkeypatch.setattr(projmod._BlockSolve, "prepare", classmethod(lambda cls, *a: None))
    calls.clear()
    q = ConstraintProjector(G, w)                          # the general path: whole matrix, then one block
    assert calls == [2700, 900]
    assert np.array_equal(p.rows, q.rows) and np.array_equal(p.dropped_rows, q.dropped_rows)
    assert all(np.array_equal(a, b) for a, b in zip(p._fast._args, q._fast._args, strict=True))
    rng = np.random.default_rng(1)
    a = rng.standard_normal(G.shape[1])
    assert np.array_equal(p.project(a), q.project(a))
    A = (G @ sp.diags(w) @ G.T).toarray()
    for r in (rng.standard_normal(2700), rng.standard_normal((2700, 4))):
        ref = np.linalg.solve(A, r)
        assert np.max(np.abs(p._lu.solve(r) - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_large_projector_with_dependent_rows_takes_the_general_path():
    G, w = _handshake_like(3, 900, 2500, seed=2)
    G = sp.vstack([G, G[5] + 2.0 * G[11]]).tocsr()          # a dependent row (breaks the block pattern)
    p = ConstraintProjector(G, w)
    assert p.n_rows == 2700 and p.dropped_rows.size == 1


def test_large_projector_with_dependent_rows_in_every_block_drops_them():
    """Identical blocks each with a dependent row: the one-block set-up must not accept them; the general
    path drops one row per block and the projection still satisfies the constraints."""
    rng = np.random.default_rng(4)
    G1 = sp.random(900, 2500, density=6.0 / 2500, random_state=rng, format="csr")
    G1 = (G1 + sp.eye(900, 2500, format="csr")).tocsr()
    G1 = sp.vstack([G1, G1[5] - 3.0 * G1[17]]).tocsr()
    G = sp.kron(G1, sp.eye(3), format="csr")
    w = np.repeat(rng.uniform(0.5, 3.0, 2500), 3)
    p = ConstraintProjector(G, w)
    assert p.n_rows == 2700 and p.dropped_rows.size == 3
    a = rng.standard_normal(G.shape[1])
    assert np.max(np.abs(G @ p.project(a))) <= 1e-10 * np.max(np.abs(G @ a))


# ---------------------------------------------------------------------- inverse map per point
def test_inverse_map_is_per_point_and_accurate():
    """A point's ξ does not depend on the other points of the call (a distorted element needing many
    Newton steps in the same batch changes nothing), and maps back to the point."""
    rng = np.random.default_rng(5)
    ref = Hex8.ref_nodes.astype(float)
    box = 20.0 + 1.25 * (ref + 1.0)                        # an axis-aligned element far from the origin
    bent = ref + rng.uniform(-0.3, 0.3, ref.shape)         # a distorted one
    Xe = np.stack([box] * 50 + [bent] * 50)
    xi_true = rng.uniform(-1, 1, (100, 3))
    x = np.einsum("ma,mad->md", Hex8.shape(xi_true), Xe)
    xi_all = Hex8.inverse_map(Xe, x)
    xi_box = Hex8.inverse_map(Xe[:50], x[:50])
    assert np.array_equal(xi_all[:50], xi_box)
    back = np.einsum("ma,mad->md", Hex8.shape(xi_all), Xe)
    assert np.max(np.abs(back - x)) <= 1e-13 * np.max(np.abs(x))


def _adversarial_segments(lo: np.ndarray, hi: np.ndarray, width: float, n: int, seed: int) -> tuple:
    """Segments against a box where the single-box shortcuts of the kernel (certified scan samples,
    certified bisection window, Gauss points skipped in the core/continuum) are most easily wrong: scan
    samples exactly on or within a few ulps of the levels 0 and w, segments running along a face or at
    distance exactly w from it, segments grazing the level-w set at an edge or a corner, very short and
    long segments (several crossings), and random ones through the handshake."""
    rng = np.random.default_rng(seed)
    d = lo.size
    P0s, P1s = [], []
    ts = np.linspace(0.0, 1.0, 17)
    for _ in range(n):
        kind = rng.integers(6)
        ax = rng.integers(d)
        side = rng.choice([-1.0, 1.0])
        face = hi[ax] if side > 0 else lo[ax]
        D = rng.normal(0.0, 1.5, d)
        if kind == 0:      # a scan sample (t = k/16) exactly on a level, or a few ulps from it
            k = rng.integers(17)
            level = rng.choice([0.0, width])
            p = rng.uniform(lo, hi)
            p[ax] = face + side * level
            p[ax] = p[ax] + rng.integers(-3, 4) * np.spacing(p[ax])
            P0 = p - ts[k] * D
        elif kind == 1:    # along a face, inside, on it, or at distance exactly w (levels all along)
            D[ax] = 0.0
            P0 = rng.uniform(lo, hi)
            P0[ax] = face + side * rng.choice([0.0, width, -0.5, 0.5 * width])
        elif kind == 2:    # tangent to the level-w set at an edge/corner region
            corner = np.where(rng.random(d) < 0.5, lo, hi)
            out = np.sign(corner) * rng.uniform(0.2, 1.0, d)
            out *= width / np.linalg.norm(out)
            tang = rng.normal(size=d)
            tang -= tang @ out / (out @ out) * out
            D = tang / np.linalg.norm(tang) * rng.uniform(0.5, 3.0)
            P0 = corner + out - rng.uniform(0.0, 1.0) * D
        elif kind == 3:    # very short
            P0 = rng.uniform(lo - width, hi + width)
            D = D * 1e-6
        elif kind == 4:    # long, through the core and out (up to four crossings)
            P0 = rng.uniform(lo - 1.5 * width, hi + 1.5 * width)
            D = (hi - lo + 3 * width) * rng.normal(size=d)
        else:              # random through the handshake
            P0 = rng.uniform(lo - width, hi + width)
        P0s.append(P0)
        P1s.append(P0 + D)
    return np.array(P0s), np.array(P1s)


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
@pytest.mark.parametrize("dim", [2, 3])
def test_single_box_shortcuts_are_bitwise_the_plain_scan_and_bisection(dim, blend):
    """A single box takes certified shortcuts in the kernel (samples decided by convexity/Lipschitz
    bounds, the bisection's steps outside a certified window taken without evaluating, Gauss points
    certainly in the core or beyond w not evaluated): on adversarial segments every average is bitwise
    the NumPy scan + bisection + quadrature (which evaluates everything)."""
    lo, hi = np.array([-6.0, -5.0, -7.0])[:dim], np.array([6.0, 5.0, 7.0])[:dim]
    spec = {"type": "box", "lo": lo.tolist(), "hi": hi.tolist()}
    for width in (3.5, 4.0):
        hc, hn = _pair(dim, spec, blend, width)
        P0, P1 = _adversarial_segments(lo, hi, width, 6000, seed=dim * 10 + int(width))
        for weight in ("uniform", "up", "down"):
            a, b = hc.segment_average(P0, P1, weight), hn.segment_average(P0, P1, weight)
            assert np.array_equal(a, b), (weight, int(np.sum(a != b)))
        assert np.sum((b > 0) & (b < 1)) > 1000
