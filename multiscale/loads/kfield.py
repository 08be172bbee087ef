"""K-field loading of a mode-I crack: anisotropic linear-elastic crack-tip displacements (crack_field.py).

u(X) = K · u₁(X) with u₁ the unit-K_I field of the elastic constants C in the crack frame (tip at ``tip``,
crack faces along −e, e = (cos angle, sin angle) the propagation direction; 3D: straight front along z,
plane strain, u_z = 0). C [energy/length^d], Voigt in the lab frame: ``elastic`` when given, otherwise
derived from the model's potential at its lattice (``model.elastic_constants`` if the model carries them,
else `multiscale.md.properties.elastic_constants(model.potential, model.lattice)`), so the far field has
the stiffness of the atoms.

- ``boundary`` (a SHAPES section): atoms and/or nodes inside it are fixed dofs that follow K(t)·u₁ (the
  outer boundary of the mesh, or of a fully atomistic crystal);
- ``initialize``: with ``initial`` every atom and node is put on the field of the first K (positions
  x = X + K u₁(X), velocities 0 untouched);
- K per stage: ``K_steps``/``K_values`` (statics), plus ``K_rate``·t (dynamics); on a stage change with
  ``increment_interior`` every non-boundary atom and node also receives ΔK·u₁ (a predictor that
  shortens the minimisation).
- Slit meshes (`multiscale.fem.slit`): a node on the crack faces (on the line behind the tip) takes the
  lower face's field (θ = −π) when every element it belongs to lies below the crack line, else the upper
  face's (θ = +π), so the two copies of a doubled node open apart (`node_sides`).

K [energy/length^(3/2) in 2D and for a 3D front: force/length^(3/2)]. Observables ``<label>.K``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from ..registry import LOADS
from .base import Load, LoadError, LoadParams, Steps, current_forces, model_dim, stage_values
from .crack_field import mode_I_displacement, reduced_compliance, rotate_stiffness


def elastic_constants_of(model) -> np.ndarray:  # noqa: ANN001
    """Voigt C of a model: ``model.elastic_constants`` or computed from ``model.potential``/``.lattice``."""
    C = getattr(model, "elastic_constants", None)
    if C is not None:
        return np.asarray(C, float)
    pot, lat = getattr(model, "potential", None), getattr(model, "lattice", None)
    if pot is None or lat is None:
        raise ValueError("kfield: give `elastic`, or a model with elastic_constants or potential + lattice")
    from ..md.properties import elastic_constants
    return elastic_constants(pot, lat)


@LOADS.register("kfield")
class KField(Load):
    class Params(LoadParams):
        type: Literal["kfield"] = "kfield"
        tip: list[float] = Field(description="crack tip (x, y) [length] (3D: the front line at this x, y)")
        angle: float = Field(0.0, description="propagation direction, degrees from +x (faces behind the tip)")
        K: float | None = Field(None, description="single stress intensity K_I")
        K_steps: Steps | None = Field(None, description="quasi-static K_I values {start, stop, step}")
        K_values: list[float] | None = Field(None, description="explicit quasi-static K_I values")
        K_rate: float = Field(0.0, description="dK_I/dt for dynamics")
        elastic: list[list[float]] | None = Field(None, description="Voigt C, lab frame [energy/length^d]; "
                                                  "default: derived from the potential")
        boundary: dict[str, Any] = Field(description="SHAPES section: dofs inside follow the field")
        targets: str = Field("both", pattern="^(atoms|nodes|both)$", description="atoms | nodes | both")
        initial: bool = Field(True, description="put every atom and node on the first K's field at start")
        increment_interior: bool = Field(True, description="on a stage change add ΔK·u₁ everywhere")

    def __init__(self, params=None, **fields) -> None:  # noqa: ANN001
        super().__init__(params, **fields)
        p = self.params
        given = [x is not None for x in (p.K, p.K_steps, p.K_values)]
        if sum(given) != 1:
            raise ValueError("kfield needs exactly one of K, K_steps, K_values")
        self._K = np.array([p.K]) if p.K is not None else stage_values(p.K_steps, p.K_values)
        self._k_imposed: float | None = None

    @property
    def n_stages(self) -> int:
        return int(self._K.size)

    def K(self, time: float) -> float:
        return float(self._K[self.stage]) + self.params.K_rate * float(time)

    def _rotation(self) -> np.ndarray:
        c, s = np.cos(np.deg2rad(self.params.angle)), np.sin(np.deg2rad(self.params.angle))
        return np.array([[c, -s], [s, c]])                  # crack frame → lab (in-plane)

    def node_sides(self, mesh) -> np.ndarray:  # noqa: ANN001
        """(N,) −1 for the nodes all of whose elements have their centroids below the crack plane (crack
        frame y < 0), +1 otherwise; decides θ = ∓π for nodes on the crack faces of a slit mesh."""
        R = self._rotation()
        top = np.full(mesh.n_nodes, -np.inf)
        for blk in mesh.blocks:
            yc = ((mesh.nodes[blk.conn].mean(axis=1)[:, :2] - self._tip) @ R)[:, 1]   # (ne,)
            np.maximum.at(top, blk.conn, np.repeat(yc[:, None], blk.conn.shape[1], axis=1))
        return np.where(top < 0.0, -1.0, 1.0)

    def _node_field(self, cont) -> np.ndarray:  # noqa: ANN001
        """u₁ (N, d) at the nodes of a ContinuumRegion (faces of a slit told apart by `node_sides`)."""
        mesh = getattr(cont, "mesh", None)
        return self.unit_field(cont.nodes, None if mesh is None else self.node_sides(mesh))

    def unit_field(self, X: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        """u₁ (m, d) [length per unit K] at reference points X (m, d), lab frame; ``side`` (m,) < 0 marks
        points of the lower crack face (see `crack_field.crack_angle`)."""
        R = self._rotation()
        Xc = (X[:, :2] - self._tip) @ R                     # lab → crack frame: Rᵀ (X − tip)
        u = mode_I_displacement(Xc, self._b, side=side) @ R.T
        if X.shape[1] == 3:
            u = np.column_stack([u, np.zeros(len(u))])
        return u

    def prepare(self, model) -> None:  # noqa: ANN001
        from ..geometry import make_shape
        d = model_dim(model)
        if d not in (2, 3):
            raise ValueError("kfield needs a 2D or 3D model")
        p = self.params
        if len(p.tip) != 2:
            raise LoadError("kfield tip needs the two in-plane coordinates (x, y)", "tip")
        self._tip = np.asarray(p.tip, float)
        C = np.asarray(p.elastic, float) if p.elastic is not None else elastic_constants_of(model)
        if C.shape != {2: (3, 3), 3: (6, 6)}[d]:
            raise LoadError(f"kfield: elastic constants of shape {C.shape} in {d}D",
                            "elastic" if p.elastic is not None else None)
        c, s = np.cos(np.deg2rad(p.angle)), np.sin(np.deg2rad(p.angle))
        Q = np.array([[c, s], [-s, c]]) if d == 2 else np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]])
        self._b = reduced_compliance(rotate_stiffness(C, Q))   # crack-frame compliance
        shape = make_shape(p.boundary, d)
        atoms, cont = getattr(model, "atoms", None), getattr(model, "continuum", None)
        self.comp = np.ones(d, bool)
        self.atom_sel = (shape.contains(atoms.X) if atoms is not None and p.targets in ("atoms", "both")
                         else None)
        self.node_sel = (shape.contains(cont.nodes) if cont is not None and p.targets in ("nodes", "both")
                         else None)
        if sum(int(m.sum()) for m in (self.atom_sel, self.node_sel) if m is not None) == 0:
            raise LoadError("kfield: the boundary region selects no atom and no node", "boundary")
        self._ua = None if self.atom_sel is None else self.unit_field(atoms.X[self.atom_sel])
        self._un = None if self.node_sel is None else self._node_field(cont)[self.node_sel]

    def fixed_dofs(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return self._masks()

    def _add_everywhere(self, model, dK: float) -> None:  # noqa: ANN001
        a, c = getattr(model, "atoms", None), getattr(model, "continuum", None)
        if a is not None:
            a.x += dK * self.unit_field(a.X)
        if c is not None:
            c.U += dK * self._node_field(c)

    def initialize(self, model) -> None:  # noqa: ANN001
        """With ``initial``: x = X + K u₁(X) for every atom, U = K u₁ for every node (idempotent)."""
        if self.params.initial:
            K = self.K(0.0)
            a, c = getattr(model, "atoms", None), getattr(model, "continuum", None)
            if a is not None:
                a.x[...] = a.X + K * self.unit_field(a.X)
            if c is not None:
                c.U[...] = K * self._node_field(c)
            self._k_imposed = K

    def imposed_reach(self, time: float) -> np.ndarray | None:
        if self._ua is None or not len(self._ua):
            return None
        if getattr(self, "_ua_reach", None) is None or self._ua_reach[0] is not self._ua:
            self._ua_reach = (self._ua, np.abs(self._ua).max(axis=0))
        return abs(self.K(time)) * self._ua_reach[1]

    def impose(self, time: float, model) -> None:  # noqa: ANN001
        K = self.K(time)
        if (self.params.increment_interior and self._k_imposed is not None
                and self.params.K_rate == 0.0 and K != self._k_imposed):
            self._add_everywhere(model, K - self._k_imposed)
        self.note_imposed(K)
        Kd = self.params.K_rate
        if self.atom_sel is not None:
            a = model.atoms
            a.x[self.atom_sel] = a.X[self.atom_sel] + K * self._ua
            a.v[self.atom_sel] = Kd * self._ua
        if self.node_sel is not None:
            self.impose_nodes(model.continuum, K)

    def note_imposed(self, K: float) -> None:
        """Record K as the one imposed last (``increment_interior``'s reference, the ``K`` observable)."""
        self._k_imposed = K
        self._last_K = K

    def impose_nodes(self, cont, K: float) -> None:  # noqa: ANN001
        """U = K u₁, V = K̇ u₁ [length, length/time] of the boundary nodes of the continuum ``cont``
        (`impose`; the spatial path's replicated nodes)."""
        cont.U[self.node_sel] = K * self._un
        cont.V[self.node_sel] = self.params.K_rate * self._un

    def apply(self, time: float, model, f_atoms: np.ndarray | None = None,  # noqa: ANN001
              f_nodes: np.ndarray | None = None) -> tuple[float, float]:
        """Work of the imposed boundary motion: power = −Σ f·v on the boundary dofs."""
        Kd = self.params.K_rate
        P = 0.0
        if Kd != 0.0:
            fa, fn = current_forces(model)
            if self.atom_sel is not None:
                P -= Kd * float(np.einsum("ij,ij->", fa[self.atom_sel], self._ua))
            if self.node_sel is not None:
                P -= Kd * float(np.einsum("ij,ij->", fn[self.node_sel], self._un))
        return 0.0, P

    def observables(self) -> dict[str, float]:
        return self._obs(K=getattr(self, "_last_K", self.K(0.0)))

    def get_state(self) -> dict:
        """For checkpoints: the K last imposed (``increment_interior`` adds the change from it)."""
        return {"k_imposed": self._k_imposed, "last_K": getattr(self, "_last_K", None)}

    def set_state(self, state: dict) -> None:
        self._k_imposed = None if state["k_imposed"] is None else float(state["k_imposed"])
        if state.get("last_K") is not None:
            self._last_K = float(state["last_K"])
