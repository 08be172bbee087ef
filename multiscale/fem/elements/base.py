"""Element interface: reference geometry, shape functions, quadrature, tributary sub-quadrature, faces.

Every element type is one class in its own module, registered in ``ELEMENTS`` under its deck name.
Classes are used as stateless namespaces (no instances). Reference coordinates ``ξ`` are
dimensionless; ``dim`` is the element's own (reference) dimension, which equals the mesh dimension.

Conventions
-----------
- ``shape(xi (m, dim)) -> N (m, nen)``; ``dshape(xi (m, dim)) -> dN/dξ (m, nen, dim)``.
- ``quadrature() -> (xi (nq, dim), w (nq,))``: the rule used for stiffness and internal forces.
- ``tributary(n_sub) -> (xi (nq, ns, dim), w (nq, ns))``: for each quadrature point a sub-rule over the
  part of the reference element that point stands for (its sub-box for tensor Gauss rules, the whole
  element for one-point rules), with ``n_sub`` Gauss points per direction. The sub-rules tile the
  element: ``w.sum() == reference volume``.
- ``faces (nfaces, nfn)``: local node indices of each face, ordered so the face normal points outward;
  ``face_type`` is the element name of a face (``"point"`` for bar2).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.polynomial.legendre import leggauss

from ...registry import PluginParams


def gauss01(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n-point Gauss–Legendre rule on [0, 1]: points (n,), weights (n,) summing to 1."""
    x, w = leggauss(int(n))
    return 0.5 * (x + 1.0), 0.5 * w


def tensor_rule(x: np.ndarray, w: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor product of a 1D rule (points x, weights w) in ``dim`` directions; first axis fastest."""
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    wgrids = np.meshgrid(*([w] * dim), indexing="ij")
    pts = np.stack([g.ravel() for g in grids], axis=1)[:, ::-1]
    wts = np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)
    return np.ascontiguousarray(pts), np.ascontiguousarray(wts)


class Element:
    """Base class of the element plugins (see the module docstring for the conventions)."""

    name: ClassVar[str]
    dim: ClassVar[int]
    nen: ClassVar[int]
    simplex: ClassVar[bool]
    ref_nodes: ClassVar[np.ndarray]
    faces: ClassVar[np.ndarray]
    face_type: ClassVar[str]
    ref_volume: ClassVar[float]

    class Params(PluginParams):
        """Elements have no deck parameters."""

    @classmethod
    def shape(cls, xi: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def dshape(cls, xi: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def quadrature(cls) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def tributary(cls, n_sub: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def contains(cls, xi: np.ndarray, tol: float = 1e-10) -> np.ndarray:  # pragma: no cover - abstract
        """(m,) bool: ξ inside the reference element (with tolerance)."""
        raise NotImplementedError

    @classmethod
    def _J(cls, Xe: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """J = dX/dξ (ne, nq, d, dim) at points ξ (nq, dim) of elements Xe (ne, nen, d)."""
        dN = cls.dshape(xi)  # (nq, nen, dim)
        return np.matmul(np.swapaxes(Xe, 1, 2)[:, None], dN[None])

    @classmethod
    def det_jacobian(cls, Xe: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """det J (ne, nq) at points ξ (nq, dim) of elements Xe (ne, nen, d)."""
        return np.linalg.det(cls._J(Xe, xi))

    @classmethod
    def jacobian(cls, Xe: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At points ξ (nq, dim) of elements with nodes Xe (ne, nen, d):
        J = dX/dξ (ne, nq, d, dim), detJ (ne, nq), dN/dX (ne, nq, nen, d). Requires d == dim."""
        J = cls._J(Xe, xi)
        detJ = np.linalg.det(J)
        Jinv = np.linalg.inv(J)
        dNdX = np.matmul(cls.dshape(xi)[None], Jinv)
        return J, detJ, dNdX

    @classmethod
    def inverse_map(cls, Xe: np.ndarray, x: np.ndarray, iters: int = 30) -> np.ndarray:
        """Reference coordinates ξ (m, dim) of physical points x (m, d) in elements Xe (m, nen, d).

        Newton iteration (one step is exact for affine elements), per point: a point stops once its own
        step is ≤ 1e-14 in every component (its result does not depend on the other points; formerly
        every point iterated until all had converged, adding round-off steps to the converged ones).
        Points outside return ξ outside the reference element (or NaN when the map is singular)."""
        m = x.shape[0]
        xi = np.tile(cls.ref_nodes.mean(axis=0), (m, 1))
        act = np.arange(m)
        for _ in range(iters):
            full = act.size == m
            Xa, xa, xia = (Xe, x, xi) if full else (Xe[act], x[act], xi[act])
            N = cls.shape(xia)
            r = xa - np.einsum("ma,mad->md", N, Xa)
            J = np.einsum("mad,mak->mdk", Xa, cls.dshape(xia))
            with np.errstate(all="ignore"):
                try:
                    dxi = np.linalg.solve(J, r[..., None])[..., 0]
                except np.linalg.LinAlgError:
                    return np.full_like(xi, np.nan)
            xi[act] = xia + dxi
            if cls.simplex:
                break
            act = act[np.any(np.abs(dxi) > 1e-14, axis=1)]
            if act.size == 0:
                break
        return xi
