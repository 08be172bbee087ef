"""Traction (force per unit boundary measure) on continuum boundary faces.

Faces: a named face set of the mesh (``face_set``) or the boundary faces whose nodes all lie inside a
region (``region``). Traction t (d,) [energy/length^d: force per length in 2D, per area in 3D] times a
factor: ``factors[stage]`` (statics) × ramp(t) = min(t/ramp_time, 1). Consistent nodal forces
f_I = ∫_faces N_I t dA (`ContinuumRegion.traction_forces`), fixed in the reference configuration (dead
load). Energy −f·U [energy]; power −ḟ·U during the ramp.
Observable ``<label>.total_x/…`` = Σ f (the resultant force).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ..registry import LOADS
from .base import Load, LoadError, LoadParams, force_targets, model_dim


@LOADS.register("traction")
class Traction(Load):
    class Params(LoadParams):
        type: Literal["traction"] = "traction"
        traction: list[float] = Field(description="t, d values [force per unit boundary measure]")
        face_set: str | None = Field(None, description="name of a face set of the mesh")
        region: dict[str, Any] | None = Field(None, description="SHAPES section: boundary faces inside it")
        factors: list[float] | None = Field(None, description="statics: multiplier per load step")
        ramp_time: float = Field(0.0, ge=0, description="linear ramp duration [time]; 0 = at once")

        @model_validator(mode="after")
        def _one_selector(self):  # noqa: ANN202
            if (self.face_set is None) == (self.region is None):
                raise ValueError("traction needs exactly one of face_set or region")
            return self

    @property
    def n_stages(self) -> int:
        return 1 if self.params.factors is None else len(self.params.factors)

    def prepare(self, model) -> None:  # noqa: ANN001
        cont = getattr(model, "continuum", None)
        if cont is None:
            raise ValueError("traction acts on the continuum: the model has none")
        d = model_dim(model)
        p = self.params
        if len(p.traction) != d:
            raise LoadError(f"traction has {len(p.traction)} values in {d}D", "traction")
        mesh = cont.mesh
        if p.face_set is not None:
            if p.face_set not in mesh.face_sets:
                raise LoadError(f"no face set {p.face_set!r}; known: {sorted(mesh.face_sets)}", "face_set")
            faces = mesh.face_sets[p.face_set]
        else:
            from ..geometry import make_shape
            faces = mesh.faces_in(make_shape(p.region, d).contains)
        if faces.size == 0:
            raise LoadError("traction: no faces selected", "face_set" if p.face_set is not None else "region")
        self._f = np.array(cont.traction_forces(faces, np.asarray(p.traction, float)), dtype=float)
        self._last: dict[str, float] = {}

    def _factor(self, t: float) -> tuple[float, float]:
        p = self.params
        s = 1.0 if p.factors is None else float(p.factors[self.stage])
        if p.ramp_time <= 0:
            return s, 0.0
        return s * min(t / p.ramp_time, 1.0), (s / p.ramp_time if 0.0 <= t < p.ramp_time else 0.0)

    def apply(self, time: float, model, f_atoms: np.ndarray | None = None,  # noqa: ANN001
              f_nodes: np.ndarray | None = None) -> tuple[float, float]:
        s, ds = self._factor(time)
        c = model.continuum
        force_targets(model, f_atoms, f_nodes)[1][...] += s * self._f
        fu = float(np.einsum("ij,ij->", self._f, c.U))
        tot = s * self._f.sum(axis=0)
        self._last = {f"total_{k}": v for k, v in zip("xyz", tot, strict=False)}
        return -s * fu, -ds * fu

    def observables(self) -> dict[str, float]:
        return self._obs(**self._last)
