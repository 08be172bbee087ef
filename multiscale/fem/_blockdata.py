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


def tributary_integrals(nodes: np.ndarray, bd: BlockData, alpha_fn: Callable | None, n_sub: int,
                        density: float, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """α_q (ne, nqe) = average of α over each quadrature point's tributary part, and the element mass
    contributions me (ne, nen) = ∫ α ρ N_a dX [mass], with ``n_sub`` Gauss points per direction.
    ``alpha_fn(X (m, d)) -> (m,)`` in [0, 1]; None means α ≡ 1."""
    el = bd.block.element
    xs, ws = el.tributary(n_sub)           # (nqe, ns, dim), (nqe, ns)
    nqe, ns = ws.shape
    xs_f = xs.reshape(-1, el.dim)
    Ns = el.shape(xs_f)                    # (nqe*ns, nen)
    conn = bd.conn
    ne = conn.shape[0]
    alpha_q = np.empty((ne, nqe))
    me = np.empty((ne, conn.shape[1]))
    for s in range(0, ne, chunk):
        Xe = nodes[conn[s:s + chunk]]
        dV = el.det_jacobian(Xe, xs_f) * ws.reshape(-1)  # (c, nqe*ns)
        if alpha_fn is None:
            a = np.ones_like(dV)
        else:
            Xs = np.matmul(Ns[None], Xe)
            a = np.asarray(alpha_fn(Xs.reshape(-1, Xe.shape[2])), float).reshape(dV.shape)
            if not np.all(np.isfinite(a)) or a.min() < -1e-12 or a.max() > 1 + 1e-12:
                raise ValueError("alpha_fn must return values in [0, 1]")
            a = np.clip(a, 0.0, 1.0)
        adV = a * dV
        alpha_q[s:s + chunk] = adV.reshape(-1, nqe, ns).sum(axis=2) / dV.reshape(-1, nqe, ns).sum(axis=2)
        me[s:s + chunk] = density * adV @ Ns
    return alpha_q, me
