"""Common base of the blending functions (BLENDS registry).

A blend maps the normalised handshake coordinate ``s ∈ [0, 1]`` (0 = atomistic edge, 1 = continuum
edge) to the continuum weight ``α(s)``, with α(0) = 0, α(1) = 1; the atomistic weight is β = 1 − α.
Values outside [0, 1] are clipped. All functions are vectorised over arrays of any shape (dimensionless).
"""

from __future__ import annotations

import numpy as np

from ...registry import PluginParams


class Blend:
    """Base class: subclasses implement `_value(s)` and `_derivative(s)` for s already clipped to [0, 1].

    ``degree`` is the polynomial degree (used to choose exact Gauss quadrature), ``continuity`` the order
    of the derivative that still vanishes at both ends (C0, C1, C2).
    """

    degree: int = 1
    continuity: int = 0

    class Params(PluginParams):
        """No parameters."""

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None) -> Blend:  # noqa: ANN001
        return cls(params)

    def value(self, s: np.ndarray) -> np.ndarray:
        """α(s) (dimensionless), same shape as s."""
        return self._value(np.clip(np.asarray(s, dtype=float), 0.0, 1.0))

    __call__ = value

    def derivative(self, s: np.ndarray) -> np.ndarray:
        """dα/ds (dimensionless); zero outside (0, 1)."""
        s = np.asarray(s, dtype=float)
        d = self._derivative(np.clip(s, 0.0, 1.0))
        return np.where((s < 0.0) | (s > 1.0), 0.0, d)

    def _value(self, s: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _derivative(self, s: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
