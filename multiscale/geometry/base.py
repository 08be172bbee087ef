"""Region shapes: the common interface and `make_shape`.

A shape is a set of points in d-dimensional space (d = 1, 2, 3) [length]. Every shape provides

- ``contains(X (m, d)) -> (m,) bool``  (boundary points count as inside),
- ``signed_distance(X) -> (m,)``  negative inside, positive outside [length],
- ``distance(X) -> (m,)``  Euclidean distance from X to the shape, 0 inside [length]
  (= max(signed_distance, 0)).

For the primitives (box, sphere, cylinder, halfspace) ``signed_distance`` is exact. For ``union`` it is exact
outside (min of the members' distances); inside it is a bound. For ``difference`` it is
``max(sd_A, -sd_B)``, exact when the nearest boundary point lies on a single member's boundary, otherwise
a lower bound of the true distance (the standard constructive-solid-geometry bound).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..registry import SHAPES, PluginParams


def as_points(X: np.ndarray, dim: int) -> np.ndarray:
    """Return X as a (m, dim) float64 array (a (m,) array is accepted when dim == 1)."""
    X = np.asarray(X, dtype=float)
    if X.ndim == 1 and dim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[1] != dim:
        raise ValueError(f"points must have shape (m, {dim}), got {X.shape}")
    return X


class Shape(ABC):
    """Base class of region shapes. ``dim`` is the space dimension (1, 2 or 3)."""

    dim: int

    @abstractmethod
    def signed_distance(self, X: np.ndarray) -> np.ndarray:
        """(m,) signed distance [length]: < 0 inside, > 0 outside."""

    def contains(self, X: np.ndarray) -> np.ndarray:
        """(m,) bool: True for points inside or on the boundary (tolerance 1e-12 relative to the size)."""
        return self.signed_distance(X) <= self._tol

    def distance(self, X: np.ndarray) -> np.ndarray:
        """(m,) Euclidean distance [length] from each point to the shape; 0 inside."""
        return np.maximum(self.signed_distance(X), 0.0)

    _tol: float = 1e-12
    #: the shape is a convex set (box, sphere, half-space): a segment whose ends lie inside lies inside
    convex: bool = False

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (lo (d,), hi (d,)) [length]; ±inf along unbounded directions."""
        return np.full(self.dim, -np.inf), np.full(self.dim, np.inf)

    @classmethod
    def from_params(cls, params: Any, dim: int | None = None) -> Shape:  # pragma: no cover - overridden
        raise NotImplementedError


def make_shape(params: Any, dim: int | None = None) -> Shape:
    """Build a shape from its validated ``Params`` (with a ``type`` field) or from a plain dict.

    ``dim`` is the space dimension; when None it is inferred from the parameters (lengths of the
    coordinate lists). Raises ValueError on inconsistent dimensions.
    """
    if isinstance(params, dict):
        params = dict(params)
        name = params.pop("type")
        cls = SHAPES.get(name)
        params = cls.Params(type=name, **params)
    else:
        cls = SHAPES.get(params.type)
    return cls.from_params(params, dim)


def check_dim(n: int, dim: int | None, what: str) -> int:
    if dim is not None and n != dim:
        raise ValueError(f"{what} has {n} coordinates but the space is {dim}-dimensional")
    if n not in (1, 2, 3):
        raise ValueError(f"{what} must have 1, 2 or 3 coordinates, got {n}")
    return n


class ShapeParams(PluginParams):
    """Common base of shape parameter models (``type`` names the registered shape)."""

    type: str
