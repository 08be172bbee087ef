"""Uniform body force given as an acceleration g (gravity-like) [length/time²].

Force on atom a: w_a m_a g, on node I: M^α_I g (lumped continuum mass, which already carries α), where
w_a is the atom's site weight β̄_a when the region exposes one (``atoms.site_w``; 1 otherwise), so the
total force is (total mass)·g in a coupled model as in a plain one. Optionally restricted to a region
(reference positions). g(t) = g · ramp(t), ramp = min(t/ramp_time, 1).

Energy (dead load potential) −Σ f·u [energy]; power ∂E/∂t = −ḟ·u during the ramp.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from ..registry import LOADS
from .base import Load, LoadError, LoadParams, force_targets, model_dim


@LOADS.register("body_force")
class BodyForce(Load):
    class Params(LoadParams):
        type: Literal["body_force"] = "body_force"
        acceleration: list[float] = Field(description="g, d values [length/time²]")
        ramp_time: float = Field(0.0, ge=0, description="linear ramp duration [time]; 0 = at once")
        region: dict[str, Any] | None = Field(None, description="optional SHAPES section restricting it")

    @classmethod
    def from_params(cls, params, units=None) -> BodyForce:  # noqa: ANN001
        ld = cls(params)
        ld._units = units          # the `mass` observable in the deck's mass unit (review rev33 R7)
        return ld

    def prepare(self, model) -> None:  # noqa: ANN001
        d = model_dim(model)
        p = self.params
        if len(p.acceleration) != d:
            raise LoadError(f"body_force acceleration has {len(p.acceleration)} values in {d}D", "acceleration")
        self._g = np.asarray(p.acceleration, float)
        shape = None
        if p.region is not None:
            from ..geometry import make_shape
            shape = make_shape(p.region, d)
        self._wm_atoms = self._wm_nodes = None
        a, c = getattr(model, "atoms", None), getattr(model, "continuum", None)
        if a is not None:
            w = getattr(a, "site_w", None)
            wm = np.asarray(a.mass, float) * (1.0 if w is None else np.asarray(w, float))
            self._wm_atoms = wm if shape is None else np.where(shape.contains(a.X), wm, 0.0)
        if c is not None:
            wm = np.asarray(c.lumped_mass, float)
            self._wm_nodes = wm if shape is None else np.where(shape.contains(c.nodes), wm, 0.0)
        self._last: dict[str, float] = {}

    def _ramp(self, t: float) -> tuple[float, float]:
        T = self.params.ramp_time
        if T <= 0:
            return 1.0, 0.0
        return min(t / T, 1.0), (1.0 / T if 0.0 <= t < T else 0.0)

    def apply(self, time: float, model, f_atoms: np.ndarray | None = None,  # noqa: ANN001
              f_nodes: np.ndarray | None = None) -> tuple[float, float]:
        s, _ = self._ramp(time)
        fa, fn = force_targets(model, f_atoms, f_nodes)
        fu = []
        if self._wm_atoms is not None:
            a = model.atoms
            fu.append(self.add_part(s, self._wm_atoms, a.x - a.X, fa))
        if self._wm_nodes is not None:
            fu.append(self.add_part(s, self._wm_nodes, model.continuum.U, fn))
        return self.record(time, fu)

    def add_part(self, s: float, wm: np.ndarray, disp: np.ndarray, target: np.ndarray) -> float:
        """target (m, d) += s · wm ⊗ g (the forces of m entities of weighted masses wm (m,) at ramp factor
        s); returns f·u = Σ (wm ⊗ g) · disp [energy] of their displacements disp (m, d)."""
        f = np.outer(wm, self._g)
        target += s * f
        return float(np.einsum("ij,ij->", f, disp))

    def record(self, time: float, fu: list[float]) -> tuple[float, float]:
        """(energy, power) of the parts' f·u (`add_part`: atoms, then nodes) at ``time``; keeps the
        observables (the spatial path records its ranks' summed atom part)."""
        s, ds = self._ramp(time)
        E = P = 0.0
        for v in fu:
            E -= s * v
            P -= ds * v
        total = 0.0
        for wm in (self._wm_atoms, self._wm_nodes):
            if wm is not None:
                total += float(wm.sum())
        units = getattr(self, "_units", None)
        self._last = {"mass": total if units is None else float(units.mass_from_internal(total)), "energy": E}
        return E, P

    def observables(self) -> dict[str, float]:
        return self._obs(**self._last)
