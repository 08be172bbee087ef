"""``--decompose spatial``: a coupled dynamics run with the atoms on the spatial engine (opt-in).

`parallel.coupled_spatial.SpatialCoupled` steps the model (atoms owned by slab on `DistributedMD`, the
mesh and the constraint solve replicated, one Allgatherv per step). The run loop's operations (thermo,
guard, frames, checkpoints, the replica check) keep working on the serial model's arrays: after every
`step(n)` call of the loop (the steps up to the next thermo row, frame or checkpoint) `SpatialIntegrator`
gathers the atoms' x, v, forces, accelerations and per-atom energies to EVERY rank (one allgather per
call, not per step) and writes them, the continuum's forces and accelerations, the clock and the energy
terms into the serial `VelocityVerlet` and `CoupledSystem`. So the ledger, the results file and the
checkpoints are those of a serial run (a checkpoint restarts on any P, with or without the option), and
the run's `Reduction` is over a `ReplicatedComm` as in the replicated run.

Refused (`DeckError` at the key, exit 2): everything `parallel.coupled_spatial.spatial_refusal` names
(strong coupling, 1D, external engines and eam/fs files with several elements, thermostats, damping
bands, loads other than initial conditions, periodic atom boxes, slabs thinner than cut-off + skin) and
quasi-statics.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SpatialIntegrator", "setup_spatial"]


def setup_spatial(sim) -> None:  # noqa: ANN001
    """Make the prepared (serial) ``sim`` a spatially decomposed coupled dynamics run (module docstring).
    Raises the deck's `DeckError` at the key of the first unsupported feature."""
    from ..parallel.coupled_spatial import spatial_refusal
    from ..parallel.replicated import ReplicatedComm
    from .distributed import ReplicatedMeasure
    from .reduce import Reduction
    from .state import State
    m, deck = sim.model, sim.deck
    if sim.statics:
        raise deck.error("integrator", "--decompose spatial runs coupled dynamics only (quasi-statics on P "
                         "ranks run replicated: leave the option out)")
    why = spatial_refusal(m, sim.integrator, sim.reduce.comm.size)
    if why is not None:
        raise deck.error(why[0], why[1])
    comm = sim.reduce.comm
    sim.integrator = SpatialIntegrator(m, sim.integrator, comm)
    sim.reduce = Reduction(ReplicatedComm(comm))
    sim.state = State(m.system, sim.integrator, ids=m.site_ids)
    sim.measure = ReplicatedMeasure(m, sim.state, sim.reduce, sim.hooks)


class SpatialIntegrator:
    """The run loop's integrator for ``--decompose spatial``: `SpatialCoupled` stepping, the serial
    `VelocityVerlet` ``serial`` holding the gathered state after each `step` (every attribute not defined
    here is the serial integrator's)."""

    def __init__(self, model, serial, comm) -> None:  # noqa: ANN001
        self.__dict__.update(model=model, serial=serial, comm=comm, sc=None)
        self._make()

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.__dict__["serial"], name)

    def _make(self) -> None:
        """(Re)distribute the atoms from the serial state (at the start, after a restart or --from)."""
        from ..parallel.coupled_spatial import SpatialCoupled
        self.__dict__["sc"] = SpatialCoupled(self.model, self.serial, self.comm)

    def initialize(self) -> None:
        """The initial forces' accelerations, and the serial arrays made current (collective)."""
        if not self.sc._init:
            self.sc.initialize_acc()
            self.sc._init = True
        self._sync()

    def step(self, n: int = 1) -> None:
        """n steps (collective), then the serial arrays made current on every rank."""
        self.sc.step(int(n))
        self._sync()

    def _sync(self) -> None:
        sc, it = self.sc, self.serial
        s, e = it.system, sc.engine
        no = e.n_own
        mine = (e.gid[:no].copy(), e.x[:no].copy(), e.v.copy(), e.forces[:no].copy(), sc.acc_own.copy(),
                e.atom_energies())
        parts = self.comm.allgather(mine) if self.comm.size > 1 else [mine]
        gid = np.concatenate([p[0] for p in parts])
        a = s.atoms
        if gid.size != s.n_atoms or np.unique(gid).size != gid.size:
            raise RuntimeError("the gathered atoms are not every atom once")
        for k, arr in ((1, a.x), (2, a.v), (3, s.f_atoms), (4, it.acc_atoms)):
            arr[gid] = np.concatenate([p[k] for p in parts])
        a.energies[gid] = np.concatenate([p[5] for p in parts])
        a.forces[...] = s.f_atoms
        s.update_pads()                      # pads: x = X + N U (as on the engine), v = N V
        s.f_nodes[...] = sc.f_nodes
        it.acc_nodes[...] = sc.acc_nodes
        it.step_count, it.time, it.potential = sc.step_count, sc.time, sc.potential
        s.energy = dict(sc.energy)
        it._initialized = True

    def get_state(self) -> dict:
        """The serial checkpoint dict of the gathered state (the neighbour list to be rebuilt at x)."""
        st = self.serial.get_state()
        a = self.serial.system.atoms
        st.update({"atoms.x_build": a.x.copy(), "atoms.since_build": np.int64(0),
                   "atoms.image": np.zeros((0, a.x.shape[1]), np.int64)})
        return st

    def set_state(self, st: dict) -> None:
        self.serial.set_state(st)
        self._make()

    def project_state(self) -> None:
        self.serial.project_state()
        self._make()
