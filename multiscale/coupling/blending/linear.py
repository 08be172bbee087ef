"""Linear blend α(s) = s (C0)."""

from __future__ import annotations

import numpy as np

from ...registry import BLENDS
from .base import Blend


@BLENDS.register("linear")
class LinearBlend(Blend):
    """α(s) = s, dα/ds = 1 on (0, 1)."""

    degree = 1
    continuity = 0

    def _value(self, s: np.ndarray) -> np.ndarray:
        return s.copy()

    def _derivative(self, s: np.ndarray) -> np.ndarray:
        return np.ones_like(s)
