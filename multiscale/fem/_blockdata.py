"""Per-block precomputation for `ContinuumRegion`: geometry deduplication, shape-function gradients,
quadrature volumes, element stiffness matrices, and the tributary (sub-quadrature) integrals of α.

Elements that are translates of each other (to 1e-12 of the smallest element size) share one geometry
entry, so structured and graded meshes store only a handful of gradient tables and stiffness matrices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .materials.base import VOIGT_PAIRS
from .mesh import ElementBlock


@dataclass
class BlockData:
    """Arrays of one element block (ne elements, nen nodes, nqe quadrature points, ng geometries)."""

    block: ElementBlock
    geom: np.ndarray           # (ne,) int64 geometry id
    dN: np.ndarray             # (ng, nqe, nen, d) dN/dX [1/length]
    Vq: np.ndarray             # (ng, nqe) quadrature volumes [length^d]
    qp_offset: int             # first flat quadrature-point index of this block
    row_offset: int            # first (element, node) row in the stacked element-force array
    Ke: np.ndarray | None = None  # (ng, nen*d, nen*d) linear stiffness, when stored
    ke_elems: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    qp_elems: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    act_elems: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    alpha_e: np.ndarray | None = None  # (ne,) element weight on the Ke path
    mode: np.ndarray | None = None     # (ne,) int8: 0 skipped (α ≡ 0), 1 Ke path, 2 per-qp path
    ptr: np.ndarray | None = None      # (N+1,) int32 node -> incidences of this block
    ent: np.ndarray | None = None      # (ne*nen,) int32 rows e*nen + a sorted by node (stable)
    conn32: np.ndarray | None = None   # int32 copies of conn and geom for the node kernel
    geom32: np.ndarray | None = None
    me: np.ndarray | None = None       # (ne, nen) element contributions to the lumped mass [mass]

    @property
    def ne(self) -> int:
        return len(self.block)

    @property
    def nqe(self) -> int:
        return int(self.dN.shape[1])

    @property
    def conn(self) -> np.ndarray:
        return self.block.conn


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first (nu,), inverse (n,) int64) of the distinct rows of a (n, k): a[first[inverse]] == a."""
    order = np.lexsort(a.T[::-1])
    s = a[order]
    new = np.concatenate([[True], np.any(s[1:] != s[:-1], axis=1)])
    gid = np.cumsum(new) - 1
    inv = np.empty(a.shape[0], np.int64)
    inv[order] = gid
    return order[new], inv


def dedup_geometry(Xe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(geom (ne,) int64, representative element of each geometry (ng,)) for element nodes Xe (ne, nen, d)."""
    rel = (Xe - Xe[:, :1, :]).reshape(Xe.shape[0], -1)
    size = np.max(np.abs(rel), axis=1)
    tol = 1e-12 * max(float(size.min()), 1e-300)
    first, inv = unique_rows(np.round(rel / tol))
    return inv, first


def b_matrix(dN: np.ndarray) -> np.ndarray:
    """Strain-displacement matrices B (..., nv, nen*d) from gradients dN (..., nen, d), engineering shears."""
    *lead, nen, d = dN.shape
    pairs = VOIGT_PAIRS[d]
    B = np.zeros((*lead, len(pairs), nen, d))
    for a, (i, j) in enumerate(pairs):
        B[..., a, :, i] += dN[..., :, j]
        if i != j:
            B[..., a, :, j] += dN[..., :, i]
    return B.reshape(*lead, len(pairs), nen * d)


def build_block(nodes: np.ndarray, block: ElementBlock, qp_offset: int, row_offset: int) -> BlockData:
    el = block.element
    xi, w = el.quadrature()
    Xe = nodes[block.conn]
    geom, rep = dedup_geometry(Xe)
    _, detJ, dN = el.jacobian(Xe[rep], xi)
    return BlockData(block, geom, np.ascontiguousarray(dN), np.ascontiguousarray(detJ * w),
                     qp_offset, row_offset)


def element_stiffness(bd: BlockData, C: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Σ_q w_q B_qᵀ C B_q per geometry (weights (ng, nqe), default Vq), or per element when weights is
    (ne_subset, nqe) with ``bd.dN`` indexed by the caller. Returns (.., nen*d, nen*d)."""
    B = b_matrix(bd.dN)
    W = bd.Vq if weights is None else weights
    return np.einsum("gq,gqai,ab,gqbj->gij", W, B, C, B, optimize=True)


def _sub_volumes(el, Xe: np.ndarray, xs_f: np.ndarray, ws: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """det J × weight (c, K) at the K sub-points xs_f (K, dim) of elements Xe (c, nen, d). Simplices and
    affine tensor elements (parallelograms / parallelepipeds: every node at X_c + J_c (ξ_a − ξ_c) to
    1e-13 of the element's size) have a constant J: one det per element (for simplices the same bits as
    per point; for affine tensor elements it differs from the per-point dets by round-off only)."""
    w = ws.reshape(-1)
    if el.simplex:
        return el.det_jacobian(Xe, xs_f[:1]) * w
    xc = el.ref_nodes.mean(axis=0)[None]
    Jc = el._J(Xe, xc)[:, 0]                                   # (c, d, dim)
    Xc = np.einsum("a,ead->ed", el.shape(xc)[0], Xe)
    pred = Xc[:, None, :] + np.einsum("edk,ak->ead", Jc, el.ref_nodes - xc)
    size = np.max(np.abs(Xe - Xc[:, None, :]), axis=(1, 2))
    affine = np.max(np.abs(pred - Xe), axis=(1, 2)) <= 1e-13 * size
    dV = np.empty((Xe.shape[0], w.size))
    dV[affine] = np.linalg.det(Jc[affine])[:, None] * w
    rest = ~affine
    if np.any(rest):
        dV[rest] = el.det_jacobian(Xe[rest], xs_f) * w
    return dV


#: the most values (float64: α and the sub-point coordinates it checks) `_alpha_by_class` keeps (8 MiB)
_ALPHA_CACHE = 1 << 20
#: elements with fewer sub-points evaluate α directly: the classes' per-element Python work (a few µs)
#: costs more than evaluating α at a few hundred points (2D bench, tri3, 48 points: 0.09 -> 0.13 s)
_CLASS_MIN_POINTS = 256


def _check_alpha(av: np.ndarray) -> None:
    if av.size and (not np.all(np.isfinite(av)) or av.min() < -1e-12 or av.max() > 1 + 1e-12):
        raise ValueError("alpha_fn must return values in [0, 1]")


def _alpha_by_class(alpha_fn: Callable, alpha_axes: Callable, Xe: np.ndarray, Xs: np.ndarray,
                    classes: dict, corners: np.ndarray | None) -> np.ndarray:
    """α (c, K) at the sub-points Xs (c, K, d) of elements Xe (c, nen, d), as ``alpha_fn(Xs)``: elements
    whose class (free axes, node coordinates on the other axes) was evaluated before and whose
    sub-points agree bitwise with that element's on the other axes take its values (α depends on those
    coordinates only: ``alpha_axes``); the others are evaluated, and stored as their class's values
    while the cache (``classes``, kept across the caller's chunks) holds fewer than `_ALPHA_CACHE`.
    ``corners`` (2^dim, nen): the shape functions at the corners of the sub-points' ξ box, for linear
    elements (x affine or multilinear in ξ: those corners' box, padded, bounds the sub-points); None:
    the sub-points' own extent is taken."""
    c, K, d = Xs.shape
    if corners is not None:
        # x(ξ) is affine or multilinear in ξ: over the box of the sub-points' ξ its values lie between
        # those at the box's corners; the computed sub-points within round-off of that (a few ulps of
        # max |X|, any summation order): 1e-9 covers it
        Xc = np.matmul(corners[None], Xe)
        pad = 1e-9 * (1.0 + np.max(np.abs(Xe), axis=(1, 2)))[:, None]
        free = alpha_axes(Xc.min(axis=1) - pad, Xc.max(axis=1) + pad)
    else:
        free = alpha_axes(np.stack([Xs[:, :, k].min(axis=1) for k in range(d)], axis=1),
                          np.stack([Xs[:, :, k].max(axis=1) for k in range(d)], axis=1))
    if free is None:
        av = np.asarray(alpha_fn(Xs.reshape(-1, d)), float).reshape(c, -1)
        _check_alpha(av)
        return av
    free = np.asarray(free, bool).reshape(c, d)
    av = np.empty((c, K))
    todo, new, pend = [], {}, []
    for e in range(c):
        f = free[e]
        if not f.any():
            todo.append(e)
            continue
        key = (f.tobytes(), Xe[e][:, ~f].tobytes())
        hit = classes.get(key)
        if hit is not None:
            if np.array_equal(Xs[e][:, ~f], hit[1]):
                av[e] = hit[0]
            else:
                todo.append(e)
        elif key in new:
            pend.append((e, new[key]))       # the class's first element in this chunk: checked below
        else:
            new[key] = e
            todo.append(e)
    if todo:
        ev = np.asarray(todo)
        av[ev] = np.asarray(alpha_fn(Xs[ev].reshape(-1, d)), float).reshape(ev.size, -1)
        _check_alpha(av[ev])
    late = []
    for e, e0 in pend:
        nf = ~free[e]
        if np.array_equal(Xs[e][:, nf], Xs[e0][:, nf]):
            av[e] = av[e0]
        else:
            late.append(e)
    if late:
        ev = np.asarray(late)
        av[ev] = np.asarray(alpha_fn(Xs[ev].reshape(-1, d)), float).reshape(ev.size, -1)
        _check_alpha(av[ev])
    held = sum(v[0].size + v[1].size for v in classes.values())
    for key, e in new.items():
        f = free[e]
        if held + K * (1 + int(np.count_nonzero(~f))) > _ALPHA_CACHE:
            break
        classes[key] = (av[e].copy(), Xs[e][:, ~f].copy())
        held += K * (1 + int(np.count_nonzero(~f)))
    return av


def tributary_integrals(nodes: np.ndarray, bd: BlockData, alpha_fn: Callable | None, n_sub: int,
                        density: float, chunk: int = 8192,
                        alpha_const: Callable | None = None,
                        alpha_axes: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """α_q (ne, nqe) = average of α over each quadrature point's tributary part, and the element mass
    contributions me (ne, nen) = ∫ α ρ N_a dX [mass], with ``n_sub`` Gauss points per direction.
    ``alpha_fn(X (m, d)) -> (m,)`` in [0, 1]; None means α ≡ 1.

    ``alpha_const(C (m, d), R (m,)) -> (m,)``: optional, the value of α where it is certainly constant
    (exactly 0.0 or 1.0, as ``alpha_fn`` returns it there) on the ball of centre C and radius R
    [length], NaN elsewhere (`Handshake.alpha_on_balls`). Elements inside such a ball (the ball around
    their nodes' mean through their farthest node: every element point is a convex combination of the
    nodes) skip the evaluation of α. The work arrays hold at most ~10⁶ sub-points (``chunk`` elements
    or fewer). Cost and bits:

    - simplex elements (constant Jacobian): det J once per element, α only on the undecided elements;
      the same arithmetic as evaluating everything, hence the same bits; affine quad4/hex8 elements:
      det J once per element (`_sub_volumes`: round-off differences from the per-point dets);
    - other elements of constant α: the sub-quadrature of one element per geometry (translates share
      it: `dedup_geometry`), scaled by α ∈ {0, 1}; it differs from the element's own sub-quadrature by
      the round-off of the translation (|Δme| ≲ 1e-15 me);
    - ``alpha_axes(lo (m, d), hi (m, d)) -> (m, d) bool | None``: optional (`Handshake.alpha_axes`), the
      axes along which α does not depend on the coordinate for points in [lo, hi]. An element whose
      sub-points' other coordinates are bitwise those of an element evaluated before (same free axes,
      checked on both elements' own sub-points) takes that element's α values instead of evaluating
      them: the same values, and every sum is unchanged, hence the same bits (an element's row is
      still computed in its chunk). At most `_ALPHA_CACHE` values are kept; elements with fewer than
      `_CLASS_MIN_POINTS` sub-points evaluate α directly.
    """
    el = bd.block.element
    xs, ws = el.tributary(n_sub)           # (nqe, ns, dim), (nqe, ns)
    nqe, ns = ws.shape
    xs_f = xs.reshape(-1, el.dim)
    Ns = el.shape(xs_f)                    # (nqe*ns, nen)
    conn = bd.conn
    ne = conn.shape[0]
    alpha_q = np.empty((ne, nqe))
    me = np.empty((ne, conn.shape[1]))
    # α per element where it is certainly constant (NaN: evaluate)
    if alpha_fn is None:
        const = np.ones(ne)
    elif alpha_const is not None and ne:
        Xe = nodes[conn]
        C = Xe.mean(axis=1)
        R = np.sqrt(np.max(np.sum((Xe - C[:, None, :]) ** 2, axis=2), axis=1))
        const = np.asarray(alpha_const(C, R), float).reshape(ne)
        del Xe
    else:
        const = np.full(ne, np.nan)
    chunk = max(1, min(int(chunk), (1 << 20) // max(1, nqe * ns)))
    if el.simplex:
        todo = np.arange(ne)
    else:
        todo = np.flatnonzero(np.isnan(const))
        done = np.flatnonzero(~np.isnan(const))
        if done.size:
            g_used, rep = np.unique(bd.geom[done], return_index=True)
            rep = done[rep]
            aq1 = np.empty((g_used.size, nqe))
            me1 = np.empty((g_used.size, conn.shape[1]))
            for s in range(0, rep.size, chunk):
                Xe = nodes[conn[rep[s:s + chunk]]]
                dV = _sub_volumes(el, Xe, xs_f, ws)
                aq1[s:s + chunk] = dV.reshape(-1, nqe, ns).sum(axis=2) / dV.reshape(-1, nqe, ns).sum(axis=2)
                me1[s:s + chunk] = density * dV @ Ns
            slot = np.searchsorted(g_used, bd.geom[done])
            c = const[done]
            alpha_q[done] = c[:, None] * aq1[slot]
            me[done] = c[:, None] * me1[slot]
    classes: dict = {}
    corners = None
    if el.nen == (el.dim + 1 if el.simplex else 2 ** el.dim):     # linear: affine / multilinear in ξ
        lo_xi, hi_xi = xs_f.min(axis=0), xs_f.max(axis=0)
        pick = np.array(np.meshgrid(*([[0, 1]] * el.dim), indexing="ij")).reshape(el.dim, -1).T
        corners = el.shape(np.where(pick == 0, lo_xi, hi_xi))
    for s in range(0, todo.size, chunk):
        idx = todo[s:s + chunk]
        Xe = nodes[conn[idx]]
        dV = _sub_volumes(el, Xe, xs_f, ws)
        if alpha_fn is None:
            a = np.ones_like(dV)
        else:
            cst = const[idx]
            a = np.empty_like(dV)
            a[:] = cst[:, None]
            ev = np.flatnonzero(np.isnan(cst))
            if ev.size:
                Xs = np.matmul(Ns[None], Xe[ev])
                if alpha_axes is None or nqe * ns < _CLASS_MIN_POINTS:
                    av = np.asarray(alpha_fn(Xs.reshape(-1, Xe.shape[2])), float).reshape(ev.size, -1)
                    _check_alpha(av)
                else:
                    av = _alpha_by_class(alpha_fn, alpha_axes, Xe[ev], Xs, classes, corners)
                a[ev] = np.clip(av, 0.0, 1.0)
        adV = a * dV
        alpha_q[idx] = adV.reshape(-1, nqe, ns).sum(axis=2) / dV.reshape(-1, nqe, ns).sum(axis=2)
        me[idx] = density * adV @ Ns
    return alpha_q, me
