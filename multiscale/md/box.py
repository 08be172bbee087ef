"""Orthorhombic simulation box with periodic or free axes."""

from __future__ import annotations

import numpy as np


class Box:
    """``Box(lo (d,), hi (d,), periodic (d,) bool)`` [length].

    Periodic axes use the minimum-image convention with period ``L = hi - lo``; positions need not be
    wrapped into the box. On free axes ``lo``/``hi`` are only informative (atoms may leave them).
    """

    def __init__(self, lo, hi, periodic=None) -> None:  # noqa: ANN001
        self.lo = np.ascontiguousarray(np.atleast_1d(np.asarray(lo, float)))
        self.hi = np.ascontiguousarray(np.atleast_1d(np.asarray(hi, float)))
        self.dim = int(self.lo.size)
        if self.dim not in (1, 2, 3) or self.hi.shape != self.lo.shape:
            raise ValueError("Box lo and hi must have the same length 1, 2 or 3")
        if periodic is None:
            periodic = [False] * self.dim
        self.periodic = np.atleast_1d(np.asarray(periodic, dtype=bool))
        if self.periodic.shape != (self.dim,):
            raise ValueError("Box periodic must have one flag per axis")
        if np.any(self.periodic & ~(np.isfinite(self.lo) & np.isfinite(self.hi) & (self.hi > self.lo))):
            raise ValueError("periodic axes need finite hi > lo")

    @property
    def lengths(self) -> np.ndarray:
        """(d,) hi - lo [length]."""
        return self.hi - self.lo

    @property
    def volume(self) -> float:
        """Product of the lengths (length, area or volume)."""
        return float(np.prod(self.lengths))

    def minimum_image(self, dx: np.ndarray) -> np.ndarray:
        """Separation vectors (m, d) mapped to their minimum image on periodic axes (returns a copy)."""
        dx = np.array(dx, dtype=float, copy=True)
        for k in range(self.dim):
            if self.periodic[k]:
                L = self.hi[k] - self.lo[k]
                dx[..., k] -= L * np.floor(dx[..., k] / L + 0.5)
        return dx

    def wrap(self, x: np.ndarray) -> np.ndarray:
        """Positions (n, d) wrapped into [lo, hi) on periodic axes (returns a copy)."""
        x = np.array(x, dtype=float, copy=True)
        for k in range(self.dim):
            if self.periodic[k]:
                L = self.hi[k] - self.lo[k]
                w = self.lo[k] + np.mod(x[:, k] - self.lo[k], L)
                # x − lo = −1e-16 gives mod = L (or lo + mod rounds to hi): that atom is at lo (review
                # rev33 R4: atoms on lo were written at exactly hi)
                x[:, k] = np.where(w >= self.hi[k], self.lo[k], w)
        return x

    def __repr__(self) -> str:
        return f"Box(lo={self.lo.tolist()}, hi={self.hi.tolist()}, periodic={self.periodic.tolist()})"
