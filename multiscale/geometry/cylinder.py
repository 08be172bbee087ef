"""Cylinder shape: a disc in 2D; in 3D a circular cylinder with an axis, infinite or of finite length."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..registry import SHAPES
from .base import Shape, ShapeParams, as_points, check_dim

_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


@SHAPES.register("cylinder")
class CylinderShape(Shape):
    """2D: ``|X - center| <= radius``. 3D: distance from the axis line through ``center`` along ``axis``
    at most ``radius``, and, when ``length`` is given, ``|(X - center)·axis| <= length/2``."""

    class Params(ShapeParams):
        type: Literal["cylinder"] = "cylinder"
        center: list[float] = Field(description="a point on the axis (3D) or the disc centre (2D) [length]")
        radius: float = Field(gt=0, description="radius [length]")
        axis: Literal["x", "y", "z"] | list[float] = Field(
            "z", description="3D only: axis direction, 'x'|'y'|'z' or a vector (normalised here)")
        length: float | None = Field(None, gt=0, description="3D only: length along the axis, centred on "
                                     "`center` [length]; omitted = infinite")

    def __init__(self, center, radius: float, axis="z", length: float | None = None) -> None:  # noqa: ANN001
        self.center = np.asarray(center, float)
        self.dim = check_dim(self.center.size, None, "cylinder center")
        if self.dim == 1:
            raise ValueError("a cylinder needs 2 or 3 dimensions (use a box or sphere in 1D)")
        self.radius = float(radius)
        a = np.asarray(_AXES[axis] if isinstance(axis, str) else axis, float)
        if a.shape != (3,) or np.linalg.norm(a) == 0:
            raise ValueError("cylinder axis must be 'x', 'y', 'z' or a non-zero 3-vector")
        self.axis = a / np.linalg.norm(a)
        self.length = None if length is None else float(length)
        self._tol = 1e-12 * self.radius

    @classmethod
    def from_params(cls, params, dim=None):  # noqa: ANN001, ANN206
        check_dim(len(params.center), dim, "cylinder center")
        return cls(params.center, params.radius, params.axis, params.length)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c, r = self.center, self.radius
        if self.dim < 3:
            return c - r, c + r
        half = np.inf if self.length is None else 0.5 * self.length
        ax = np.abs(self.axis)
        ext = np.sqrt(np.clip(1.0 - ax**2, 0.0, None)) * r + np.where(ax > 0, ax * half, 0.0)
        return c - ext, c + ext

    def signed_distance(self, X: np.ndarray) -> np.ndarray:
        X = as_points(X, self.dim)
        rel = X - self.center
        if self.dim == 2:
            return np.linalg.norm(rel, axis=1) - self.radius
        h = rel @ self.axis
        radial = np.linalg.norm(rel - h[:, None] * self.axis, axis=1) - self.radius
        if self.length is None:
            return radial
        axial = np.abs(h) - 0.5 * self.length
        out = np.hypot(np.maximum(radial, 0.0), np.maximum(axial, 0.0))
        return out + np.minimum(np.maximum(radial, axial), 0.0)
