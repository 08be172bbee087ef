"""Axis-aligned box shape (interval in 1D, rectangle in 2D)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from ..registry import SHAPES
from .base import Shape, ShapeParams, as_points, check_dim

_FMAX = float(np.finfo(float).max)


@SHAPES.register("box")
class BoxShape(Shape):
    """``lo <= X <= hi`` componentwise. Infinite bounds (``.inf``) are allowed (slabs)."""

    convex = True

    class Params(ShapeParams):
        type: Literal["box"] = "box"
        lo: list[float] = Field(description="lower corner [length], d values (-.inf allowed)")
        hi: list[float] = Field(description="upper corner [length], d values (.inf allowed)")

        @field_validator("hi")
        @classmethod
        def _check(cls, hi: list[float], info: ValidationInfo) -> list[float]:
            """hi > lo per component, reported at ``hi``. Unequal lengths are left to the deck's
            dimension check (which names the deck's dimension) and to the constructor."""
            lo = info.data.get("lo")
            if lo is not None and len(lo) == len(hi):
                bad = [i for i in range(len(hi)) if not hi[i] > lo[i]]
                if bad:
                    i = bad[0]
                    raise ValueError(f"hi must exceed lo in every component: hi[{i}] = {hi[i]:g} <= "
                                     f"lo[{i}] = {lo[i]:g}")
            return hi

    def __init__(self, lo, hi) -> None:  # noqa: ANN001
        self.lo = np.asarray(lo, float)
        self.hi = np.asarray(hi, float)
        self.dim = check_dim(self.lo.size, None, "box lo")
        if self.hi.shape != self.lo.shape or np.any(self.hi <= self.lo):
            raise ValueError("box needs hi > lo with matching dimensions")
        ext = np.where(np.isfinite(self.hi - self.lo), self.hi - self.lo, 1.0)
        self._tol = 1e-12 * float(np.max(ext))

    @classmethod
    def from_params(cls, params, dim=None):  # noqa: ANN001, ANN206
        check_dim(len(params.lo), dim, "box lo")
        return cls(params.lo, params.hi)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lo.copy(), self.hi.copy()

    def signed_distance(self, X: np.ndarray) -> np.ndarray:
        """(m,) signed distance [length] of X (m, d): the length of the positive parts of
        q = max(lo − X, X − hi) outside, max_k q_k (< 0) inside. Computed column by column (one pass per
        axis, no (m, d) temporaries), the same arithmetic in the same order as the row-wise formula."""
        X = as_points(X, self.dim)
        q = []
        with np.errstate(invalid="ignore"):
            for k in range(self.dim):
                qk = np.maximum(self.lo[k] - X[:, k], X[:, k] - self.hi[k])  # >0 outside along axis k
                bad = ~np.isfinite(qk)
                if bad.any():     # as np.nan_to_num(q, nan=-inf): NaN -> -inf, ±inf -> ±float max
                    v = qk[bad]
                    qk[bad] = np.where(np.isnan(v), -np.inf, np.where(v > 0, _FMAX, -_FMAX))
                q.append(qk)
        with np.errstate(over="ignore"):   # huge points give inf, as before
            p = np.maximum(q[0], 0.0)
            ss = p * p
            top = q[0]
            for qk in q[1:]:
                p = np.maximum(qk, 0.0)
                ss += p * p
                top = np.maximum(top, qk)
        np.sqrt(ss, out=ss)
        ss += np.minimum(top, 0.0)
        return ss
