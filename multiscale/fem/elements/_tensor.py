"""Shared code of the tensor-product Lagrange elements on [-1, 1]^dim (bar2, quad4, hex8)."""

from __future__ import annotations

import numpy as np
from numpy.polynomial.legendre import leggauss

from .base import Element, gauss01, tensor_rule


class TensorElement(Element):
    """Multilinear element on [-1, 1]^dim; ``ref_nodes`` are the corners (±1) in the element's order.

    Quadrature: ``n_gauss`` Gauss points per direction (1 for bar2, 2 for quad4/hex8). The tributary
    part of a Gauss point is the sub-box between the midpoints of neighbouring points (for 2 points:
    the half ``[-1, 0]`` or ``[0, 1]`` per direction)."""

    simplex = False
    n_gauss: int = 2

    @classmethod
    def shape(cls, xi: np.ndarray) -> np.ndarray:
        xi = np.atleast_2d(np.asarray(xi, float))
        s = cls.ref_nodes  # (nen, dim)
        return np.prod(0.5 * (1.0 + xi[:, None, :] * s[None, :, :]), axis=2)

    @classmethod
    def dshape(cls, xi: np.ndarray) -> np.ndarray:
        xi = np.atleast_2d(np.asarray(xi, float))
        s = cls.ref_nodes
        f = 0.5 * (1.0 + xi[:, None, :] * s[None, :, :])  # (m, nen, dim)
        out = np.empty(f.shape)
        for k in range(cls.dim):
            others = np.prod(np.delete(f, k, axis=2), axis=2) if cls.dim > 1 else 1.0
            out[:, :, k] = 0.5 * s[None, :, k] * others
        return out

    @classmethod
    def quadrature(cls) -> tuple[np.ndarray, np.ndarray]:
        x, w = leggauss(cls.n_gauss)
        return tensor_rule(x, w, cls.dim)

    @classmethod
    def tributary(cls, n_sub: int) -> tuple[np.ndarray, np.ndarray]:
        xg, _ = leggauss(cls.n_gauss)
        edges = np.concatenate([[-1.0], 0.5 * (xg[1:] + xg[:-1]), [1.0]])  # sub-intervals per direction
        u, wu = gauss01(n_sub)
        # 1D: for Gauss point i, points edges[i] + u*(edges[i+1]-edges[i])
        sub_x = [edges[i] + u * (edges[i + 1] - edges[i]) for i in range(cls.n_gauss)]
        sub_w = [wu * (edges[i + 1] - edges[i]) for i in range(cls.n_gauss)]
        idx, _ = tensor_rule(np.arange(cls.n_gauss, dtype=float), np.ones(cls.n_gauss), cls.dim)
        idx = idx.astype(int)  # (nq, dim): which 1D interval each Gauss point lies in, same order
        pts, wts = [], []
        for q in range(idx.shape[0]):
            grids = np.meshgrid(*[sub_x[i] for i in idx[q]], indexing="ij")
            wg = np.meshgrid(*[sub_w[i] for i in idx[q]], indexing="ij")
            pts.append(np.stack([g.ravel() for g in grids], axis=1))
            wts.append(np.prod(np.stack([g.ravel() for g in wg], axis=1), axis=1))
        return np.ascontiguousarray(pts), np.ascontiguousarray(wts)

    @classmethod
    def contains(cls, xi: np.ndarray, tol: float = 1e-10) -> np.ndarray:
        return np.all(np.abs(xi) <= 1.0 + tol, axis=1)
