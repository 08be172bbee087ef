"""Set operations on shapes: ``union`` (of any number) and ``difference`` (first minus the others)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from ..registry import SHAPES
from .base import Shape, ShapeParams, make_shape


def _validate_members(v: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(v) < 2:
        raise ValueError("needs at least two shapes")
    for s in v:
        if not isinstance(s, dict) or "type" not in s:
            raise ValueError("each member shape needs a 'type'")
        cls = SHAPES.get(s["type"])
        cls.Params(**s)  # raises a pydantic ValidationError on bad members
    return v


def _members(params, dim: int | None) -> list[Shape]:  # noqa: ANN001
    shapes = [make_shape(s, dim) for s in params.shapes]
    dims = {s.dim for s in shapes}
    if len(dims) != 1:
        raise ValueError(f"member shapes have different dimensions: {sorted(dims)}")
    return shapes


class _Compound(Shape):
    """A shape made of member shapes (``shapes``, all of one dimension)."""

    def __init__(self, shapes: list[Shape]) -> None:
        self.shapes = list(shapes)
        self.dim = self.shapes[0].dim
        self._tol = max(s._tol for s in self.shapes)

    @classmethod
    def from_params(cls, params, dim=None):  # noqa: ANN001, ANN206
        return cls(_members(params, dim))


@SHAPES.register("union")
class UnionShape(_Compound):
    """Points in any member. Distance outside is exact (min over members)."""

    class Params(ShapeParams):
        type: Literal["union"] = "union"
        shapes: list[dict[str, Any]] = Field(description="member shapes, each a shape section with `type`")
        _v = field_validator("shapes")(_validate_members)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        bs = [s.bounds() for s in self.shapes]
        return np.min([b[0] for b in bs], axis=0), np.max([b[1] for b in bs], axis=0)

    def signed_distance(self, X: np.ndarray) -> np.ndarray:
        return np.min([s.signed_distance(X) for s in self.shapes], axis=0)


@SHAPES.register("difference")
class DifferenceShape(_Compound):
    """Points in the first shape and in none of the others: ``sd = max(sd_A, -sd_B1, -sd_B2, ...)``."""

    class Params(ShapeParams):
        type: Literal["difference"] = "difference"
        shapes: list[dict[str, Any]] = Field(description="first shape, then the shapes cut out of it")
        _v = field_validator("shapes")(_validate_members)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.shapes[0].bounds()

    def contains(self, X: np.ndarray) -> np.ndarray:
        """Inside A (boundary included) and strictly outside every cut-out shape."""
        inside = self.shapes[0].signed_distance(X) <= self.shapes[0]._tol
        for s in self.shapes[1:]:
            inside &= s.signed_distance(X) > s._tol
        return inside

    def signed_distance(self, X: np.ndarray) -> np.ndarray:
        sd = self.shapes[0].signed_distance(X)
        for s in self.shapes[1:]:
            sd = np.maximum(sd, -s.signed_distance(X))
        return sd
