"""Set-up cost of the coupled model (issue 13): the core-bond shortcut of the bond weights
(``bond_weight_fn.certain_unit``) and the compiled strict triangles of the multiplier factor
(kernels/sparse_setup.pyx), each against the code path it bypasses, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from multiscale._kernels import load
from multiscale.coupling.handshake import Handshake
from multiscale.coupling.projector import _csc_arrays, _strict_triangle
from multiscale.geometry.base import make_shape
from multiscale.md.box import Box
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.system import AtomisticRegion
from multiscale.plugins import load_all

load_all()


class _Plain:
    """The same bond-weight function without ``certain_unit`` (every pair goes through it); counts the
    pairs it is given."""

    def __init__(self, fn) -> None:  # noqa: ANN001
        self.fn, self.n = fn, 0
        sym = fn.symmetric

        def symmetric(i, j, dX):  # noqa: ANN001, ANN202
            self.n += len(i)
            return sym(i, j, dX)

        self.symmetric = symmetric

    def __call__(self, i, j, dX):  # noqa: ANN001, ANN204
        return self.fn(i, j, dX)


def _hex(nx: int, ny: int, a: float, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
    return np.array([[x0 + a * (ix + 0.5 * (iy % 2)), y0 + a * np.sqrt(3) / 2 * iy]
                     for iy in range(ny) for ix in range(nx)])


def _weights(atoms: AtomisticRegion, fn) -> np.ndarray:  # noqa: ANN001
    atoms.set_weights(np.ones(atoms.n), fn)
    return atoms.bond_w.copy()


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
def test_core_bond_shortcut_is_bitwise_the_full_computation_near_the_core_face(blend):
    """Atoms on, just inside and just outside the faces of a box core: the shortcut changes no weight, takes
    only pairs of weight 1 and leaves the others to the function."""
    a0 = 1.12
    X = _hex(18, 18, a0, -9.7, -8.9)
    hi = 3.1                                      # not representable: faces at rounded coordinates
    rng = np.random.default_rng(7)
    near = np.abs(np.abs(X[:, 0]) - hi) < 0.6
    offsets = [0.0, 1e-16, 3e-16, 1e-15, 1e-13, 1e-9, 4e-9, 1e-8, -1e-15, -1e-9]   # inside > 0 > outside
    X[near, 0] = np.sign(X[near, 0]) * (hi - rng.choice(offsets, near.sum()))
    hs = Handshake(make_shape({"type": "box", "lo": [-hi, -hi], "hi": [hi, hi]}, 2), 4.0, blend)
    box = Box(X.min(axis=0) - 5.0, X.max(axis=0) + 5.0, [False, False])
    atoms = AtomisticRegion(X, 1.0, LennardJones(epsilon=1.0, sigma=1.0, cutoff=2.5), box, skin=0.3)
    atoms.compute()
    fn = hs.bond_weight_fn(X)
    assert hasattr(fn, "certain_unit")
    plain = _Plain(fn)
    w_fast, w_full = _weights(atoms, fn), _weights(atoms, plain)
    m = w_full.size
    assert np.array_equal(w_fast, w_full) and w_fast.tobytes() == w_full.tobytes()
    i, j = atoms.nlist.pairs()
    unit = fn.certain_unit(i, j)
    assert 100 < unit.sum() < m and np.all(w_full[unit] == 1.0)
    assert plain.n == m
    assert np.any(w_full < 1.0)


def test_core_bond_shortcut_leaves_periodic_images_to_the_function():
    """A core box spanning a periodic axis but not the whole period: a pair of atoms both deep inside the
    core whose bond crosses the periodic boundary runs outside the core (weight < 1): it must take the
    function, not the shortcut."""
    a0 = 2 ** (1 / 6)
    nx, ny = 16, 16
    X = _hex(nx, ny, a0)
    L = np.array([nx * a0, ny * a0 * np.sqrt(3) / 2])
    box = Box([0.0, 0.0], L, [True, True])
    # core: all x except a slab of 3 around the periodic seam at x = 0 = L; deep enough that the atoms next
    # to the seam on both sides are inside the core by more than the margin
    hs = Handshake(make_shape({"type": "box", "lo": [0.2, -100.0], "hi": [L[0] - 0.2, 100.0]}, 2), 3.0)
    atoms = AtomisticRegion(X, 1.0, LennardJones(epsilon=1.0, sigma=1.0, cutoff=2.5), box, skin=0.3)
    atoms.compute()
    fn = hs.bond_weight_fn(X)
    w_fast, w_full = _weights(atoms, fn), _weights(atoms, _Plain(fn))
    assert w_fast.tobytes() == w_full.tobytes()
    i, j = atoms.nlist.pairs()
    img = np.any(atoms.nlist.shift_vectors()[:, :1] != 0.0, axis=1)
    risky = fn.certain_unit(i, j) & img
    assert risky.any() and np.all(w_full[risky] < 1.0)   # the case the image test guards


def test_nonconvex_core_has_no_shortcut():
    spec = {"type": "difference", "shapes": [{"type": "box", "lo": [-6.0, -6.0], "hi": [6.0, 6.0]},
                                             {"type": "sphere", "center": [0.0, 0.0], "radius": 2.0}]}
    shape = make_shape(spec, 2)
    assert not hasattr(Handshake(shape, 3.0).bond_weight_fn(np.zeros((3, 2))), "certain_unit")


@pytest.mark.parametrize("lower", [1, 0])
def test_compiled_strict_triangles_are_the_scipy_arrays(lower):
    """Random square CSC matrices with explicit zeros, unsorted row indices and empty columns: the kernel's
    CSR strict triangle and diagonal are the arrays of `_strict_triangle(M.tocsr())` and `M.diagonal()`."""
    k = load("sparse_setup")
    rng = np.random.default_rng(3)
    for n in (1, 7, 300):
        M = sp.random(n, n, density=0.05, random_state=rng, format="csc") + sp.diags(rng.uniform(1, 2, n))
        M = sp.csc_matrix(M)
        M.data[rng.random(M.nnz) < 0.1] = 0.0                   # explicit zeros are kept
        for c in range(n):                                      # unsorted indices within columns
            s = slice(M.indptr[c], M.indptr[c + 1])
            p = rng.permutation(M.indptr[c + 1] - M.indptr[c])
            M.indices[s], M.data[s] = M.indices[s][p], M.data[s][p]
        M.has_sorted_indices = False
        p, i, x, dg = k.csc_strict_csr(*_csc_arrays(M), lower)
        ref = _strict_triangle(M.tocsr(), lower=bool(lower))
        assert p.dtype == np.int32 and i.dtype == np.int32
        assert np.array_equal(p, ref.indptr) and np.array_equal(i, ref.indices)
        assert x.tobytes() == np.ascontiguousarray(ref.data, float).tobytes()
        assert dg.tobytes() == M.tocsr().diagonal().tobytes()


def _locate_by_candidates(loc, X: np.ndarray, tol: float = 1e-9):  # noqa: ANN001, ANN202
    """The former `Locator.locate` (no bounding-box fallback): the k nearest centroids of every point
    tried in order."""
    m = X.shape[0]
    found = np.full(m, -1, np.int64)
    xi = np.zeros(X.shape)
    _, cand = loc._tree.query(X, k=loc._k)
    for j in range(cand.shape[1]):
        todo = np.nonzero(found < 0)[0]
        x, ok = loc._try(X[todo], cand[todo, j], tol)
        found[todo[ok]] = cand[todo[ok], j]
        xi[todo[ok]] = x[ok]
    assert np.all(found >= 0)
    return loc._bid[found], loc._eid[found], xi


@pytest.mark.parametrize("element", ["tri3", "quad4"])
def test_locate_nearest_first_is_bitwise_the_candidate_loop(element):
    """Points at nodes, on element edges (equidistant centroids: ties) and inside a graded mesh: the same
    elements and reference coordinates as trying the k nearest centroids in order."""
    from multiscale.fem.generators._structured import structured_mesh
    from multiscale.fem.locate import Locator

    ax = np.concatenate([np.linspace(-6.0, 0.0, 7), [0.7, 1.7, 3.1, 5.0]])
    mesh = structured_mesh([ax, ax], element, None, [-6.0, -6.0], [5.0, 5.0])
    rng = np.random.default_rng(0)
    P = np.concatenate([mesh.nodes, 0.5 * (mesh.nodes[:-1] + mesh.nodes[1:]),
                        rng.uniform(-6.0, 5.0, (400, 2))])
    P = P[np.all((P >= -6.0) & (P <= 5.0), axis=1)]
    loc = Locator(mesh)
    got, ref = loc.locate(P), _locate_by_candidates(loc, P)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(got, ref, strict=True))


@pytest.mark.parametrize("d", [2, 3])
def test_bond_kernel_forms_the_bond_vectors_itself_bitwise(d):
    """``fn.symmetric(i, j, None)`` (the kernel forms (X_j − X_i) + 0.0 per bond) gives the bytes of the
    call with the gathered vectors, on pairs across the whole handshake (core, band, beyond); the atoms'
    list update (which passes None without a periodic axis) gives those bytes too."""
    rng = np.random.default_rng(11)
    n = 1500
    X = rng.uniform(-9.0, 9.0, (n, d))
    spec = {"type": "box", "lo": [-3.1] * d, "hi": [3.3] * d}
    hs = Handshake(make_shape(spec, d), 4.0, "cubic")
    fn = hs.bond_weight_fn(X)
    i = rng.integers(0, n, 20000)
    j = rng.integers(0, n, 20000)
    dX = np.take(X, j, axis=0) - np.take(X, i, axis=0)
    dX += 0.0
    w_none, w_dx = fn.symmetric(i, j, None), fn.symmetric(i, j, dX)
    assert w_none.tobytes() == w_dx.tobytes()
    assert np.any(w_dx == 1.0) and np.any(w_dx == 0.0) and np.any((w_dx > 0) & (w_dx < 1))
    with pytest.raises(IndexError):
        fn.symmetric(np.array([0]), np.array([n]), None)
    box = Box(X.min(axis=0) - 5.0, X.max(axis=0) + 5.0, [False] * d)
    atoms = AtomisticRegion(X, 1.0, LennardJones(epsilon=1.0, sigma=1.0, cutoff=2.5), box, skin=0.3)
    atoms.compute()
    seen = []

    class _Spy:
        def __init__(self) -> None:
            self.certain_unit = fn.certain_unit

        def __call__(self, a, b, v):  # noqa: ANN001, ANN204
            return fn(a, b, v)

        def symmetric(self, a, b, v):  # noqa: ANN001, ANN202
            seen.append(v is None)
            return fn.symmetric(a, b, v)

    w_list = _weights(atoms, _Spy())
    a, b = atoms.nlist.pairs()
    ref = np.ones(a.size)
    calc = ~fn.certain_unit(a, b)
    ref[calc] = fn.symmetric(a[calc], b[calc], X[b[calc]] - X[a[calc]] + 0.0)
    assert seen == [True] and w_list.tobytes() == ref.tobytes()


def test_build_model_computes_one_blend(monkeypatch):
    """A coupled deck's continuum gets its blend once (the handshake's), not an α ≡ 1 blend first that is
    then replaced; the masses are those of a region built with the α ≡ 1 blend and then given the same
    blend (bit for bit)."""
    from pathlib import Path

    from multiscale.deck.deck import load_deck
    from multiscale.fem import ContinuumRegion
    from multiscale.simulation import Simulation

    calls = []
    orig = ContinuumRegion.set_blend

    def spy(self, alpha_fn, *a, **k):  # noqa: ANN001, ANN202
        calls.append(alpha_fn)
        return orig(self, alpha_fn, *a, **k)

    monkeypatch.setattr(ContinuumRegion, "set_blend", spy)
    deck = Path(__file__).resolve().parents[2] / "decks" / "wave2d.yaml"
    model = Simulation.from_deck(load_deck(deck)).model
    assert len(calls) == 1 and calls[0] is not None
    cont, hs, s = model.continuum, model.handshake, model.system
    ref = ContinuumRegion(cont.mesh, cont.material, cont.density)        # α ≡ 1 first, as before
    ref.set_blend(hs.alpha, s._n_sub, alpha_const=hs.alpha_on_balls)
    assert ref.lumped_mass.tobytes() == cont.lumped_mass.tobytes()
    assert ref.alpha_qp.tobytes() == cont.alpha_qp.tobytes()
