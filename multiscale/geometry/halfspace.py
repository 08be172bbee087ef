"""Half-space shape: the points on the inner side of a plane (a point in 1D, a line in 2D)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..registry import SHAPES
from .base import Shape, ShapeParams, as_points, check_dim


@SHAPES.register("halfspace")
class HalfSpaceShape(Shape):
    """``(X - point)·n <= 0`` where ``n`` is the OUTWARD unit normal (normalised here)."""

    convex = True

    class Params(ShapeParams):
        type: Literal["halfspace"] = "halfspace"
        point: list[float] = Field(description="a point on the bounding plane [length]")
        normal: list[float] = Field(description="outward normal (pointing away from the region), any length")

    def __init__(self, point, normal) -> None:  # noqa: ANN001
        self.point = np.asarray(point, float)
        self.dim = check_dim(self.point.size, None, "halfspace point")
        n = np.asarray(normal, float)
        if n.shape != self.point.shape or np.linalg.norm(n) == 0:
            raise ValueError("halfspace normal must be a non-zero vector of the same dimension as point")
        self.normal = n / np.linalg.norm(n)
        self._tol = 1e-12 * max(1.0, float(np.max(np.abs(self.point))))

    @classmethod
    def from_params(cls, params, dim=None):  # noqa: ANN001, ANN206
        check_dim(len(params.point), dim, "halfspace point")
        return cls(params.point, params.normal)

    def signed_distance(self, X: np.ndarray) -> np.ndarray:
        X = as_points(X, self.dim)
        return (X - self.point) @ self.normal
