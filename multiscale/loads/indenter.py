"""Rigid indenter acting on atoms: cylinder (2D disc / 3D cylinder), sphere, or flat punch.

Radial indenters (LAMMPS ``fix indent`` form): an atom at distance r < R from the centre (sphere, 2D
cylinder) or from the axis (3D cylinder) feels the repulsive radial force of magnitude K (R − r)²
(``F(r) = −K (r − R)²``), from the energy e(r) = K (R − r)³ / 3. Flat punch of half-width / radius R with
its face through the centre, normal to the indenting direction n: an atom behind the face by
δ = −(x − c)·n > 0 and within lateral distance R of the axis feels K δ² n, energy K δ³/3 (the punch edge is
sharp: the energy jumps at the lateral edge, so prefer the cylinder for minimisation).

The centre moves along the unit indenting direction n (default −y in 2D, −z in 3D):
c(t) = center + depth(t)·n with depth(t) = depths[stage] + velocity·t (depth steps for statics, a velocity
for dynamics, or both). Acts on every atom with the full (unweighted) force: the contact zone must lie in
the pure atomistic core. Units: K [energy/length³], R [length], velocity [length/time].

Observables ``<label>.depth``, ``.load`` (P = Σ_a F_a·n, the reaction force along the indenting direction:
for indent2d P_y = −Σ F_y), ``.force_x/_y/_z`` (force on the indenter, −Σ F_a), ``.energy``, ``.contacts``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..registry import LOADS
from .base import Load, LoadError, LoadParams, Steps, force_targets, model_dim, stage_values


@LOADS.register("indenter")
class Indenter(Load):
    class Params(LoadParams):
        type: Literal["indenter"] = "indenter"
        shape: Literal["cylinder", "sphere", "flat"] = Field("cylinder", description="indenter geometry")
        radius: float = Field(gt=0, description="radius R (flat punch: half-width / radius) [length]")
        stiffness: float = Field(gt=0, description="K in F = K (R − r)² [energy/length³]")
        center: list[float] = Field(description="centre (flat: face centre) at depth 0 [length], d values")
        direction: list[float] | None = Field(None, description="indenting direction (normalised here); "
                                              "default −y in 2D, −z in 3D")
        axis: list[float] | None = Field(None, description="3D cylinder axis (default z ⟂ direction)")
        depth_steps: Steps | None = Field(None, description="quasi-static depths {start, stop, step} "
                                            "[length]")
        depths: list[float] | None = Field(None, description="explicit quasi-static depths [length]")
        velocity: float = Field(0.0, description="indentation rate along the direction [length/time]")

    def __init__(self, params=None, **fields) -> None:  # noqa: ANN001
        super().__init__(params, **fields)
        p = self.params
        self._depths = stage_values(p.depth_steps, p.depths)
        self._n: np.ndarray | None = None
        self._axis: np.ndarray | None = None
        self._last: dict[str, float] = {}

    @property
    def n_stages(self) -> int:
        return 1 if self._depths is None else int(self._depths.size)

    def prepare(self, model) -> None:  # noqa: ANN001
        d = model_dim(model)
        p = self.params
        if getattr(model, "atoms", None) is None:
            raise ValueError("the indenter acts on atoms: the model has none")
        if len(p.center) != d:
            raise LoadError(f"indenter center has {len(p.center)} values in {d}D", "center")
        n = -np.eye(d)[d - 1] if p.direction is None else np.asarray(p.direction, float)
        if n.shape != (d,) or not np.linalg.norm(n) > 0:
            raise LoadError(f"indenter direction must be a non-zero vector of {d} values", "direction")
        self._n = n / np.linalg.norm(n)
        if p.shape == "cylinder" and d == 3:
            ax = np.array([0.0, 0.0, 1.0]) if p.axis is None else np.asarray(p.axis, float)
            ax = ax / np.linalg.norm(ax)
            if abs(ax @ self._n) > 1e-12:
                raise LoadError("the cylinder axis must be perpendicular to the indenting direction", "axis")
            self._axis = ax
        self._center0 = np.asarray(p.center, float)

    def depth(self, time: float) -> float:
        """Current depth [length]."""
        base = 0.0 if self._depths is None else float(self._depths[self.stage])
        return base + self.params.velocity * float(time)

    def center(self, time: float) -> np.ndarray:
        """Current centre (d,) [length]."""
        return self.center_at(self.depth(time))

    def center_at(self, depth: float) -> np.ndarray:
        """The centre (d,) [length] at ``depth`` [length] along the indenting direction."""
        return self._center0 + depth * self._n

    def energy_forces(self, x: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Energy [energy], forces on the atoms in contact (m, d), and their indices (m,) for positions
        x (n, d) and centre c (d,)."""
        s3, f, idx = self.contact(x, c)
        return self.energy_of(s3), f, idx

    def energy_of(self, s3: float) -> float:
        """The energy K Σ g³ / 3 [energy] of the contacts' summed cubed overlaps ``s3`` [length³] (`contact`;
        the spatial path sums the ranks' ``s3``)."""
        return float(self.params.stiffness * s3 / 3)

    def contact(self, x: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(Σ g³ [length³] over the contacts — g the overlap R − r, or δ for the flat punch —, forces on the
        atoms in contact (m, d) [force], their indices (m,)) for positions x (n, d) and centre c (d,)."""
        K = self.params.stiffness
        idx, gap, dx, r = self.inside(x, c)
        if r is None:                     # flat punch: force K δ² along n
            return float(np.sum(gap ** 3)), (K * gap ** 2)[:, None] * self._n, idx
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(r > 0, K * gap * gap / r, 0.0)[:, None] * dx
        return float(np.sum(gap ** 3)), f, idx

    def inside(self, x: np.ndarray, c: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The atoms of x (n, d) inside the indenter centred at c (d,): (indices (m,), overlaps g (m,)
        [length] — R − r, or the depth δ behind a flat punch's face —, and for the radial shapes their
        offsets from the centre or axis (m, d) and distances r (m,); None, None for the flat punch)."""
        R = self.params.radius
        dx = x - c
        if self.params.shape == "flat":
            s = dx @ self._n
            lat = dx - s[:, None] * self._n
            idx = np.flatnonzero((s < 0) & (np.einsum("ij,ij->i", lat, lat) <= R * R))
            return idx, -s[idx], None, None
        if self._axis is not None:
            dx = dx - np.outer(dx @ self._axis, self._axis)
        r2 = np.einsum("ij,ij->i", dx, dx)
        idx = np.flatnonzero(r2 < R * R)
        r = np.sqrt(r2[idx])
        return idx, R - r, dx[idx], r

    def clearance(self, x: np.ndarray) -> float:
        """Smallest distance [length] from the atoms x (n, d) to the indenter's surface at the depth of
        the last `apply` (radial: min r − R; flat: min height above the face of the atoms within the
        punch's lateral reach, inf if none); < 0 when some atom is inside."""
        c = self._center0 + self._last.get("depth", self.depth(0.0)) * self._n
        dx = np.asarray(x, float) - c
        if self.params.shape == "flat":
            s = dx @ self._n
            lat = dx - s[:, None] * self._n
            near = np.einsum("ij,ij->i", lat, lat) <= self.params.radius ** 2
            return float(s[near].min()) if near.any() else float("inf")
        if self._axis is not None:
            dx = dx - np.outer(dx @ self._axis, self._axis)
        if not len(dx):
            return float("inf")
        return float(np.sqrt(np.einsum("ij,ij->i", dx, dx).min()) - self.params.radius)

    def apply(self, time: float, model, f_atoms: np.ndarray | None = None,  # noqa: ANN001
              f_nodes: np.ndarray | None = None) -> tuple[float, float]:
        atoms = model.atoms
        E, f, idx = self.energy_forces(atoms.x, self.center(time))
        force_targets(model, f_atoms, f_nodes)[0][idx] += f
        ftot = f.sum(axis=0) if idx.size else np.zeros(atoms.x.shape[1])
        return E, self.record(time, ftot, E, idx.size)

    def record(self, time: float, ftot: np.ndarray, E: float, contacts: int) -> float:
        """Keep the observables of one evaluation — ``ftot`` (d,) the summed force on the atoms [force], E
        [energy], the number of contacts — and return the power velocity · load [energy/time] (`apply`;
        the spatial path records its reduced sums)."""
        load = float(ftot @ self._n)
        self._last = {"depth": self.depth(time), "load": load, "energy": E, "contacts": float(contacts)}
        for k, name in enumerate("xyz"[: ftot.size]):
            self._last[f"force_{name}"] = -float(ftot[k])
        return self.params.velocity * load

    def observables(self) -> dict[str, float]:
        return self._obs(**self._last)
