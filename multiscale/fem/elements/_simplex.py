"""Shared code of the linear simplex elements (tri3, tet4) on the unit reference simplex."""

from __future__ import annotations

import numpy as np

from .base import Element, gauss01, tensor_rule


class SimplexElement(Element):
    """Linear simplex: N_0 = 1 − Σξ, N_k = ξ_k. One-point (centroid) rule; its tributary part is the
    whole element, integrated with a collapsed (Duffy) tensor Gauss rule of ``n_sub`` points per
    direction."""

    simplex = True

    @classmethod
    def shape(cls, xi: np.ndarray) -> np.ndarray:
        xi = np.atleast_2d(np.asarray(xi, float))
        return np.concatenate([1.0 - xi.sum(axis=1, keepdims=True), xi], axis=1)

    @classmethod
    def dshape(cls, xi: np.ndarray) -> np.ndarray:
        xi = np.atleast_2d(np.asarray(xi, float))
        g = np.vstack([-np.ones(cls.dim), np.eye(cls.dim)])  # (nen, dim)
        return np.broadcast_to(g, (xi.shape[0], cls.nen, cls.dim)).copy()

    @classmethod
    def quadrature(cls) -> tuple[np.ndarray, np.ndarray]:
        return np.full((1, cls.dim), 1.0 / (cls.dim + 1)), np.array([cls.ref_volume])

    @classmethod
    def tributary(cls, n_sub: int) -> tuple[np.ndarray, np.ndarray]:
        u, wu = gauss01(n_sub)
        cube, wc = tensor_rule(u, wu, cls.dim)  # points in [0,1]^dim
        a = cube[:, 0]
        if cls.dim == 2:
            b = cube[:, 1]
            xi = np.stack([a, b * (1 - a)], axis=1)
            jac = 1 - a
        else:
            b, c = cube[:, 1], cube[:, 2]
            xi = np.stack([a, b * (1 - a), c * (1 - a) * (1 - b)], axis=1)
            jac = (1 - a) ** 2 * (1 - b)
        return xi[None], (wc * jac)[None]

    @classmethod
    def contains(cls, xi: np.ndarray, tol: float = 1e-10) -> np.ndarray:
        return np.all(xi >= -tol, axis=1) & (xi.sum(axis=1) <= 1.0 + tol)
