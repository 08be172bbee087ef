"""The interface every load plugin (`LOADS` registry) implements, and shared helpers.

A load is built from its validated ``Params`` (``Load(params)``, or ``Load(**fields)`` in Python) and then
attached to a model: any object with ``.atoms`` (an `AtomisticRegion` or None) and ``.continuum`` (a
`ContinuumRegion` or None). Arrays: ``n`` atoms, ``N`` nodes, ``d`` dimension; deck units throughout.

Life cycle and hooks (the integrator / the statics driver call them in this order)::

    load.prepare(model)            # once: select atoms/nodes from REFERENCE positions (atoms.X, nodes)
    load.fixed_dofs()              # -> (atom_mask (n,d) bool | None, node_mask (N,d) bool | None):
                                   #    dofs whose values the load imposes; integrator/minimiser keep
                                   #    them out of the force update (velocity-Verlet: no kick; statics:
                                   #    held fixed). Union over all loads.
    load.initialize(model)         # once, before the first step: initial displacements (K-field: all atoms)
    load.set_stage(i)              # quasi-static load step i = 0 … n_stages−1 (depth steps, K steps)
    load.impose(time, model)       # kinematic part: set x/v of atoms and U/V of nodes on its fixed dofs
                                   #    (dynamics: after the drift; statics: before each minimisation)
    E, P = load.apply(time, model, f_atoms=None, f_nodes=None)
                                   # force part: ADD forces into f_atoms (n,d) / f_nodes (N,d), by default
                                   #    model.atoms.forces / model.continuum.forces (after the region
                                   #    forces, before the constraint projection)
    load.observables()             # -> dict[str, float], e.g. {"indenter.load": …, "indenter.depth": …}

``apply`` returns ``(energy, power)``: ``energy`` is the load's potential energy at the current
configuration [energy] (indenter: Σ K (R − r)³/3; dead loads: −f·u), to be added to the potential terms of
the ledger; ``power`` is ∂energy/∂t at fixed configuration plus, for kinematic loads, the rate of work
done through the imposed motion [energy/time]; the ledger integrates it as ``external_work`` so that
``K + V + Σ energy − external_work`` is conserved. ``time`` is the physical time in dynamics; the statics
driver passes the load-step index as a pseudo-time (velocity-controlled loads then advance by their
"velocity" per step).

Reactions (fixed, prescribed, kfield power) read the model's current forces: ``model.f_atoms`` /
``model.f_nodes`` when the model is a `CoupledSystem`, else ``atoms.forces`` / ``continuum.forces``.
A `CoupledSystem` is itself a valid model (it has ``.atoms`` and ``.continuum``); `ForceHook` adapts a load
to `VelocityVerlet`'s ``force_hooks`` protocol.

``n_stages`` (int) is the number of load steps a load defines (1 when it has none); the statics driver runs
max(n_stages) steps. Masses: ``atoms.mass`` and ``continuum.lumped_mass`` are internal force-mass units.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from ..deck.section import PluginSection
from ..registry import SHAPES, PluginParams

_AXES = {"x": 0, "y": 1, "z": 2}


class LoadParams(PluginParams):
    """Fields common to every load."""

    label: str | None = Field(None, description="name prefixed to this load's observables "
                              "(default: the load type)")


class RegionLoadParams(LoadParams):
    """A load acting on the atoms and/or nodes inside a region shape."""

    region: PluginSection(SHAPES) = Field(  # type: ignore[valid-type]
        description="SHAPES section selecting atoms/nodes by reference position (errors inside keep their "
                    "key path, e.g. loads[0].region.type)")
    components: list[Literal["x", "y", "z"]] | None = Field(None, description="components acted on, subset of x, y, z "
                                         "(default: all)")
    targets: str = Field("both", pattern="^(atoms|nodes|both)$", description="atoms | nodes | both")

    @field_validator("components")
    @classmethod
    def _comp_ok(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if len(set(v)) != len(v) or not v:  # names outside x, y, z: rejected by the type, per item
                raise ValueError(f"components must be distinct names among x, y, z; got {v}")
        return v


class LoadError(ValueError):
    """A load's mistake found when it selects its atoms/nodes (`Load.prepare`), with the key of the load's
    section it comes from: ``key`` (``"center"``, ``"region"``, ``"direction"``; None = the load as a whole).
    `run.prepare` reports it as a deck error at ``loads[i].<key>``."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def model_dim(model) -> int:  # noqa: ANN001
    """Space dimension of a model (from its atoms or its continuum)."""
    if getattr(model, "atoms", None) is not None:
        return int(model.atoms.X.shape[1])
    if getattr(model, "continuum", None) is not None:
        return int(model.continuum.nodes.shape[1])
    raise ValueError("the model has neither atoms nor a continuum")


def force_targets(model, f_atoms: np.ndarray | None, f_nodes: np.ndarray | None  # noqa: ANN001
                  ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The arrays a load adds its forces into: the given ones, else the regions' ``forces``."""
    a, c = getattr(model, "atoms", None), getattr(model, "continuum", None)
    return (f_atoms if f_atoms is not None else (None if a is None else a.forces),
            f_nodes if f_nodes is not None else (None if c is None else c.forces))


def current_forces(model) -> tuple[np.ndarray | None, np.ndarray | None]:  # noqa: ANN001
    """The model's current total forces (for reactions): CoupledSystem ``f_atoms``/``f_nodes`` if present."""
    a, c = getattr(model, "atoms", None), getattr(model, "continuum", None)
    fa, fn = getattr(model, "f_atoms", None), getattr(model, "f_nodes", None)
    return (fa if fa is not None else (None if a is None else a.forces),
            fn if fn is not None else (None if c is None else c.forces))


def component_mask(components: list[str] | None, d: int) -> np.ndarray:
    """(d,) bool of the selected components. ValueError for an axis beyond d."""
    m = np.zeros(d, bool)
    if components is None:
        m[:] = True
        return m
    for c in components:
        if _AXES[c] >= d:
            raise LoadError(f"component {c!r} does not exist in {d}D", "components")
        m[_AXES[c]] = True
    return m


class Load:
    """Base class: no-op hooks. Subclasses register with ``@LOADS.register(name)`` and define ``Params``."""

    Params: type[PluginParams] = LoadParams
    registered_name: str = "load"

    def __init__(self, params: PluginParams | None = None, **fields: Any) -> None:
        if params is None:
            params = self.Params(**fields)
        elif fields:
            raise TypeError("pass either a Params instance or keyword fields, not both")
        self.params = params
        self.stage = 0
        self.atom_sel: np.ndarray | None = None   # (n,) bool
        self.node_sel: np.ndarray | None = None   # (N,) bool
        self.comp: np.ndarray | None = None       # (d,) bool

    @classmethod
    def from_params(cls, params: PluginParams, units=None) -> Load:  # noqa: ANN001
        """Build from a validated Params (``units``: the deck's unit system, unused by most loads)."""
        return cls(params)

    @property
    def name(self) -> str:
        return getattr(self.params, "label", None) or self.registered_name

    @property
    def n_stages(self) -> int:
        return 1

    def set_stage(self, i: int) -> None:
        if not 0 <= i < self.n_stages:
            raise IndexError(f"{self.name}: stage {i} outside 0..{self.n_stages - 1}")
        self.stage = int(i)

    def prepare(self, model) -> None:  # noqa: ANN001
        """Select atoms/nodes (region loads: inside ``params.region`` by reference position)."""
        p = self.params
        if not hasattr(p, "region"):
            return
        from ..geometry import make_shape
        d = model_dim(model)
        shape = make_shape(p.region, d)
        self.comp = component_mask(p.components, d)
        atoms, cont = getattr(model, "atoms", None), getattr(model, "continuum", None)
        self.atom_sel = (shape.contains(atoms.X) if atoms is not None and p.targets in ("atoms", "both")
                         else None)
        self.node_sel = (shape.contains(cont.nodes) if cont is not None and p.targets in ("nodes", "both")
                         else None)
        n_sel = sum(int(s.sum()) for s in (self.atom_sel, self.node_sel) if s is not None)
        if n_sel == 0:
            raise LoadError(f"load {self.name!r}: its region selects no atom and no node", "region")

    def fixed_dofs(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return None, None

    def _masks(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(n,d)/(N,d) masks of the selected entities × selected components (cached after prepare)."""
        key = (id(self.atom_sel), id(self.node_sel), id(self.comp))
        if getattr(self, "_mask_key", None) != key:
            a = None if self.atom_sel is None else self.atom_sel[:, None] & self.comp[None, :]
            b = None if self.node_sel is None else self.node_sel[:, None] & self.comp[None, :]
            self._mask_cache, self._mask_key = (a, b), key
        return self._mask_cache

    def _selected_sum(self, fa: np.ndarray | None, fn: np.ndarray | None) -> np.ndarray:
        """(d,) sum of the given per-atom / per-node arrays over the selection, selected components only."""
        sa = sn = None
        if self.atom_sel is not None and fa is not None:
            if getattr(self, "_aidx", None) is None or self._aidx_src is not self.atom_sel:
                self._aidx, self._aidx_src = np.flatnonzero(self.atom_sel), self.atom_sel
            sa = fa[self._aidx]
        if self.node_sel is not None and fn is not None:
            if getattr(self, "_nidx", None) is None or self._nidx_src is not self.node_sel:
                self._nidx, self._nidx_src = np.flatnonzero(self.node_sel), self.node_sel
            sn = fn[self._nidx]
        return self.selection_sum(sa, sn)

    def selection_sum(self, fa_sel: np.ndarray | None, fn_sel: np.ndarray | None) -> np.ndarray:
        """(d,) sum of the selected atoms' rows fa_sel (k, d) then the selected nodes' rows fn_sel (m, d)
        (None: left out; in selection order), selected components only (`_selected_sum`; the spatial
        path passes the gathered rows)."""
        r = np.zeros(self.comp.size)
        if fa_sel is not None:
            r += fa_sel.sum(axis=0)
        if fn_sel is not None:
            r += fn_sel.sum(axis=0)
        return np.where(self.comp, r, 0.0)

    def initialize(self, model) -> None:  # noqa: ANN001
        pass

    def impose(self, time: float, model) -> None:  # noqa: ANN001
        pass

    def imposed_reach(self, time: float) -> np.ndarray | None:
        """(d,) the largest |displacement| [length] per component this load imposes on atoms at ``time``
        (loads whose ``impose`` moves atoms), else None: the blow-up guard widens the free box faces by it,
        so atoms a load moves out of the box (a tensile test's grip) are not "lost" (review rev33 R1)."""
        return None

    def apply(self, time: float, model, f_atoms: np.ndarray | None = None,  # noqa: ANN001
              f_nodes: np.ndarray | None = None) -> tuple[float, float]:
        return 0.0, 0.0

    def observables(self) -> dict[str, float]:
        return {}

    def _obs(self, **values: float) -> dict[str, float]:
        return {f"{self.name}.{k}": float(v) for k, v in values.items()}


class Steps(PluginParams):
    """An arithmetic sequence of stage values, ``start, start+step, …`` up to ``stop`` (inclusive)."""

    start: float = Field(0.0, description="first value")
    stop: float = Field(description="last value (included when reached to 1e-9 of a step)")
    step: float = Field(description="increment (sign towards stop)")

    def values(self) -> np.ndarray:
        if self.step == 0 or (self.stop - self.start) / self.step < -1e-9:
            raise ValueError("steps: need a non-zero step that goes from start towards stop")
        n = int(np.floor((self.stop - self.start) / self.step + 1e-9)) + 1
        return self.start + self.step * np.arange(n)


def stage_values(steps: Steps | None, values: list[float] | None) -> np.ndarray | None:
    """Stage values from ``steps`` or an explicit list (at most one of them may be given)."""
    if values is not None and steps is not None:
        raise ValueError("give either the steps or the explicit list of values, not both")
    if values is not None:
        return np.asarray(values, float)
    return None if steps is None else steps.values()


class ForceHook:
    """Adapter of a load to `VelocityVerlet`'s ``force_hooks`` protocol
    (``forces(system, t, f_atoms, f_nodes)``); keeps the last ``(energy, power)`` in ``last``."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.last = (0.0, 0.0)

    def forces(self, system, t: float, f_atoms: np.ndarray, f_nodes: np.ndarray) -> None:  # noqa: ANN001
        self.last = self.load.apply(t, system, f_atoms, f_nodes)
