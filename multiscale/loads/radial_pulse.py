"""Initial condition: a radial Gaussian displacement pulse (a circular / spherical wave source).

u(X) = A exp(−|X − X0|² / 2σ²) (X − X0)/σ   [length], set on every atom and node at the start
(``initialize``); velocities are left as they are (zero), so the pulse splits into an outgoing and a
converging part that passes through the centre and follows. It is no force and does no work afterwards.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..registry import LOADS
from .base import Load, LoadError, LoadParams, model_dim


@LOADS.register("radial_pulse")
class RadialPulse(Load):
    class Params(LoadParams):
        type: Literal["radial_pulse"] = "radial_pulse"
        center: list[float] = Field(description="pulse centre X0, d values [length]")
        sigma: float = Field(gt=0, description="Gaussian width σ [length]")
        amplitude: float = Field(description="amplitude A [length]")

    def displacement(self, X: np.ndarray) -> np.ndarray:
        """u (m, d) [length] at reference points X (m, d)."""
        p = self.params
        dX = np.asarray(X, float) - np.asarray(p.center, float)
        g = np.exp(-0.5 * np.sum(dX * dX, axis=1) / p.sigma**2)
        return p.amplitude * g[:, None] * dX / p.sigma

    def prepare(self, model) -> None:  # noqa: ANN001
        d = model_dim(model)
        if len(self.params.center) != d:
            raise LoadError(f"radial_pulse center has {len(self.params.center)} values in {d}D", "center")

    def initialize(self, model) -> None:  # noqa: ANN001
        atoms, cont = getattr(model, "atoms", None), getattr(model, "continuum", None)
        if atoms is not None:
            atoms.x[...] = atoms.X + self.displacement(atoms.X)
        if cont is not None:
            cont.U[...] = self.displacement(cont.nodes)

    def apply(self, time: float, model, f_atoms=None, f_nodes=None) -> tuple[float, float]:  # noqa: ANN001
        return 0.0, 0.0
