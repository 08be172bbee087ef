"""Prescribed displacement of the atoms and/or nodes inside a region, as a function of time.

u(t) = u_step[stage] + velocity · t + displacement · ramp(t), per selected component [length], with
ramp(t) = min(t / ramp_time, 1) (ramp_time = 0: a step, ramp ≡ 1). ``impose`` sets x = X + u(t),
v = u̇(t) (atoms) and U, V (nodes) on the selected components, which are fixed dofs for the integrator
and the minimiser. In statics t is the load-step index, so ``velocity`` is a displacement per step and
``displacement_steps`` lists one displacement vector per step.

``apply`` books the work of the imposed motion: power = Σ (m a − f)·v over the prescribed dofs, with
f the forces present when it is called (add it after the force loads) and a = ü(t) (zero except at the end
of a ramp, where it is not resolved). Observables: ``<label>.reaction_x/…`` (−Σ f on the prescribed
dofs, the force the load exerts) and ``<label>.displacement_x/…``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..registry import LOADS
from .base import Load, LoadError, RegionLoadParams, current_forces


@LOADS.register("prescribed")
class Prescribed(Load):
    class Params(RegionLoadParams):
        type: Literal["prescribed"] = "prescribed"
        velocity: list[float] | None = Field(None, description="constant velocity, d values [length/time]")
        displacement: list[float] | None = Field(None, description="final displacement reached by the "
                                                 "ramp, d values [length]")
        ramp_time: float = Field(0.0, ge=0, description="ramp duration [time]; 0 = applied at once")
        displacement_steps: list[list[float]] | None = Field(None, description="statics: displacement "
                                                             "vector per load step [length]")

    @property
    def n_stages(self) -> int:
        s = self.params.displacement_steps
        return 1 if s is None else len(s)

    def _vec(self, v: list[float] | None, d: int, what: str, key: str | None = None) -> np.ndarray:
        if v is None:
            return np.zeros(d)
        if len(v) != d:
            raise LoadError(f"prescribed {what} has {len(v)} values in {d}D", key or what)
        return np.asarray(v, float)

    def prepare(self, model) -> None:  # noqa: ANN001
        super().prepare(model)
        d = self.comp.size
        p = self.params
        self._vel = self._vec(p.velocity, d, "velocity")
        self._disp = self._vec(p.displacement, d, "displacement")
        steps = p.displacement_steps
        self._steps = (np.zeros((1, d)) if steps is None
                       else np.array([self._vec(s, d, "displacement_steps entry", f"displacement_steps[{k}]")
                                 for k, s in enumerate(steps)]))
        self._last: dict[str, float] = {}

    def u(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """Displacement (d,) [length] and velocity (d,) [length/time] at ``time``."""
        T = self.params.ramp_time
        if T > 0:
            ramp, dramp = min(time / T, 1.0), (1.0 / T if 0.0 <= time < T else 0.0)
        else:
            ramp, dramp = 1.0, 0.0
        return (self._steps[self.stage] + self._vel * time + self._disp * ramp,
                self._vel + self._disp * dramp)

    def fixed_dofs(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return self._masks()

    def imposed_reach(self, time: float) -> np.ndarray | None:
        if self.atom_sel is None or not self.atom_sel.any():
            return None
        return np.where(self.comp, np.abs(self.u(time)[0]), 0.0)

    def impose(self, time: float, model) -> None:  # noqa: ANN001
        u, v = self.u(time)
        am, nm = self._masks()
        if am is not None:
            a = model.atoms
            self.set_motion(am, a.X, a.x, a.v, u, v)
        if nm is not None:
            c = model.continuum
            self.set_motion(nm, None, c.U, c.V, u, v)

    @staticmethod
    def set_motion(mask: np.ndarray, X: np.ndarray | None, x: np.ndarray, v: np.ndarray, u: np.ndarray,
                   vel: np.ndarray) -> None:
        """In place on the entries of ``mask`` (m, d): x = X + u (X None: x = u, the nodes' U) [length],
        v = vel [length/time]; x, v, X (m, d), u, vel (d,) (`impose`; the spatial path's owned rows)."""
        x[...] = np.where(mask, u if X is None else X + u, x)
        v[...] = np.where(mask, vel, v)

    def apply(self, time: float, model, f_atoms: np.ndarray | None = None,  # noqa: ANN001
              f_nodes: np.ndarray | None = None) -> tuple[float, float]:
        return 0.0, self.record(time, self._selected_sum(*current_forces(model)))

    def record(self, time: float, fsum: np.ndarray) -> float:
        """Keep the observables of ``fsum`` (d,) [force], the summed current forces on the prescribed
        dofs (`Load._selected_sum`), and return the power of the imposed motion [energy/time] (`apply`;
        the spatial path records the sum of its gathered forces)."""
        u, v = self.u(time)
        power = -float(fsum @ v)      # ü = 0 almost everywhere: (m a − f)·v = −f·v
        self._last = {}
        for k, name in enumerate("xyz"[: self.comp.size]):
            if self.comp[k]:
                self._last[f"reaction_{name}"] = -float(fsum[k])
                self._last[f"displacement_{name}"] = float(u[k])
        return power

    def observables(self) -> dict[str, float]:
        return self._obs(**self._last)
