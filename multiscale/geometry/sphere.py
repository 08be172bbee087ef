"""Sphere shape (interval in 1D, disc in 2D, ball in 3D)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..registry import SHAPES
from .base import Shape, ShapeParams, as_points, check_dim


@SHAPES.register("sphere")
class SphereShape(Shape):
    """``|X - center| <= radius``."""

    convex = True

    class Params(ShapeParams):
        type: Literal["sphere"] = "sphere"
        center: list[float] = Field(description="centre [length], d values")
        radius: float = Field(gt=0, description="radius [length]")

    def __init__(self, center, radius: float) -> None:  # noqa: ANN001
        self.center = np.asarray(center, float)
        self.radius = float(radius)
        self.dim = check_dim(self.center.size, None, "sphere center")
        if not self.radius > 0:
            raise ValueError("sphere radius must be > 0")
        self._tol = 1e-12 * self.radius

    @classmethod
    def from_params(cls, params, dim=None):  # noqa: ANN001, ANN206
        check_dim(len(params.center), dim, "sphere center")
        return cls(params.center, params.radius)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.center - self.radius, self.center + self.radius

    def signed_distance(self, X: np.ndarray) -> np.ndarray:
        X = as_points(X, self.dim)
        return np.linalg.norm(X - self.center, axis=1) - self.radius
