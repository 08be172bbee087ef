"""Cubic (C1) blend α(s) = 3s² − 2s³."""

from __future__ import annotations

import numpy as np

from ...registry import BLENDS
from .base import Blend


@BLENDS.register("cubic")
class CubicBlend(Blend):
    """α(s) = 3s² − 2s³, dα/ds = 6s(1 − s): zero slope at both edges."""

    degree = 3
    continuity = 1

    def _value(self, s: np.ndarray) -> np.ndarray:
        return s * s * (3.0 - 2.0 * s)

    def _derivative(self, s: np.ndarray) -> np.ndarray:
        return 6.0 * s * (1.0 - s)
