"""Quintic (C2) blend α(s) = 10s³ − 15s⁴ + 6s⁵."""

from __future__ import annotations

import numpy as np

from ...registry import BLENDS
from .base import Blend


@BLENDS.register("quintic")
class QuinticBlend(Blend):
    """α(s) = 10s³ − 15s⁴ + 6s⁵, dα/ds = 30s²(1 − s)²: zero slope and curvature at both edges."""

    degree = 5
    continuity = 2

    def _value(self, s: np.ndarray) -> np.ndarray:
        return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))

    def _derivative(self, s: np.ndarray) -> np.ndarray:
        return 30.0 * s * s * (1.0 - s) ** 2
