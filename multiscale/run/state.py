"""`State`: the one handle on everything a run advances and checkpoints.

What it holds (shapes: ``n`` local atoms, ``N`` local nodes, ``d`` dimension):

* the atoms: positions ``x``, velocities ``v``, reference positions ``X``, forces ``f_atoms`` (n, d), all
  indexed by LOCAL index, and ``ids`` (n,) int64 their GLOBAL ids (the lattice-site ids of the results
  file's ``atoms/ids``). Local atoms ``0 .. n_owned-1`` are owned, ``n_owned .. n-1`` are ghosts (copies
  of another rank's atoms; none in a serial run, where ``n_owned == n``). Sums over atoms (the
  `Reduction`) take the owned ones only;
* the mesh nodes: ``U``, ``V``, ``f_nodes`` (N, d), ``node_ids`` (N,) global ids, ``n_owned_nodes``;
* the clock: ``time`` [time], ``step`` (the integrator's);
* the checkpoint: `get_state` / `set_state` give and take the dict a checkpoint file stores
  (``{"kind": "dynamics", "integrator": ..., <part>: ...}``); the parts are the objects attached with
  `attach` (the blow-up guard, the load hooks, the thermostat: anything with ``get_state``/``set_state``).

The arrays are the regions' own arrays (`AtomisticRegion.x`, `ContinuumRegion.U`, ...): the integrator's
kernels update them in place, and `State` is where the run loop and the checkpoints find them.
"""

from __future__ import annotations

import numpy as np


class State:
    """The run's state (module docstring). ``system``: `coupling.coupled.CoupledSystem`; ``integrator``:
    `integrate.verlet.VelocityVerlet` or None (statics); ``ids``: (n,) global atom ids (default 0..n-1)."""

    def __init__(self, system, integrator=None, ids=None) -> None:  # noqa: ANN001
        self.system = system
        self.integrator = integrator
        n = system.atoms.n if system.atoms is not None else 0
        N = len(system.continuum.U) if system.continuum is not None else 0
        self.ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        if len(self.ids) != n:
            raise ValueError(f"{len(self.ids)} atom ids for {n} atoms")
        self.n_owned = n
        self.node_ids = np.arange(N, dtype=np.int64)
        self.n_owned_nodes = N
        self._parts: dict[str, tuple[object, bool]] = {}

    # ------------------------------------------------------------------ arrays
    @property
    def atoms(self):  # noqa: ANN201
        return self.system.atoms

    @property
    def continuum(self):  # noqa: ANN201
        return self.system.continuum

    @property
    def x(self) -> np.ndarray | None:
        return None if self.atoms is None else self.atoms.x

    @property
    def v(self) -> np.ndarray | None:
        return None if self.atoms is None else self.atoms.v

    @property
    def X(self) -> np.ndarray | None:
        return None if self.atoms is None else self.atoms.X

    @property
    def U(self) -> np.ndarray | None:
        return None if self.continuum is None else self.continuum.U

    @property
    def V(self) -> np.ndarray | None:
        return None if self.continuum is None else self.continuum.V

    @property
    def f_atoms(self) -> np.ndarray:
        return self.system.f_atoms

    @property
    def f_nodes(self) -> np.ndarray:
        return self.system.f_nodes

    @property
    def time(self) -> float:
        return 0.0 if self.integrator is None else float(self.integrator.time)

    @property
    def step(self) -> int:
        return 0 if self.integrator is None else int(self.integrator.step_count)

    def guard_arrays(self) -> dict:
        """{region: {quantity: array}} of the local state, as `BlowUpGuard.check` takes it."""
        arrays = {}
        if self.atoms is not None:
            arrays["atoms"] = {"x": self.atoms.x, "v": self.atoms.v, "forces": self.system.f_atoms}
        if self.continuum is not None:
            arrays["continuum"] = {"U": self.continuum.U, "V": self.continuum.V,
                                   "forces": self.system.f_nodes}
        return arrays

    # ------------------------------------------------------------------ checkpoint
    def attach(self, name: str, part, required: bool = True) -> None:  # noqa: ANN001
        """Add a checkpointed part (``get_state() -> dict``, ``set_state(dict)``) under key ``name``.
        ``required=False``: a checkpoint without the key leaves the part as it is."""
        self._parts[name] = (part, required)

    def attach_hooks(self) -> None:
        """The integrator's force hooks that keep a state (loads, thermostat) as parts ``hook<i>``."""
        for i, h in enumerate(self.integrator.force_hooks):
            if hasattr(h, "get_state"):
                self.attach(f"hook{i}", h, required=False)

    def get_state(self) -> dict:
        """Everything needed to continue bitwise (copies): the dict a dynamics checkpoint stores."""
        st = {"kind": "dynamics", "integrator": self.integrator.get_state()}
        for name, (part, _) in self._parts.items():
            st[name] = part.get_state()
        return st

    def set_state(self, st: dict) -> None:
        self.integrator.set_state(st["integrator"])
        for name, (part, required) in self._parts.items():
            if required or name in st:
                part.set_state(st[name])

    def template(self) -> dict:
        """What a checkpoint of this model must hold (shapes of the arrays; parts without a fixed layout
        as empty groups), for `run.checkpoints.state_mismatch`."""
        st = {"kind": "dynamics", "integrator": self.integrator.get_state()}
        for name, (part, required) in self._parts.items():
            st[name] = {} if required else part.get_state()
        return st

    # ------------------------------------------------------------------ continuation
    def apply_origin(self, origin) -> None:  # noqa: ANN001
        """Dynamics: the continuation's state (``origin.x, v, U, V``) replaces the initial one; dofs fixed
        by this deck are at rest; the constraints are re-imposed."""
        s = self.system
        if s.atoms is not None:
            s.atoms.x[...] = origin.x
            s.atoms.v[...] = origin.v
        if s.continuum is not None:
            s.continuum.U[...] = origin.U
            s.continuum.V[...] = origin.V
        vq = s.gather_v()
        vq[s.inv_mass_dof == 0.0] = 0.0
        s.set_velocities_from_q(vq)
        s.update_pads()
        self.integrator.project_state()
        s.update_pads()

    # ------------------------------------------------------------------ health
    def not_finite(self) -> tuple[str, str] | None:
        """(region, quantity) of the first of x, v, U, V that holds a NaN/inf, else None."""
        checks = []
        if self.atoms is not None:
            checks += [("atoms", "x", self.atoms.x), ("atoms", "v", self.atoms.v)]
        if self.continuum is not None:
            checks += [("continuum", "U", self.continuum.U), ("continuum", "V", self.continuum.V)]
        for region, qty, arr in checks:
            if not np.all(np.isfinite(arr)):
                return region, qty
        return None

    def exploded(self) -> bool:
        """True when positions are no longer finite or some atom moved further than the atoms' extent."""
        if self.atoms is not None and self.atoms.n:
            x, X = self.atoms.x, self.atoms.X
            if not np.all(np.isfinite(x)):
                return True
            ext = float(np.max(np.ptp(X, axis=0))) if len(X) > 1 else 1.0
            if float(np.max(np.abs(x - X))) > max(ext, 1.0):
                return True
        if self.continuum is not None and not np.all(np.isfinite(self.continuum.U)):
            return True
        return False
