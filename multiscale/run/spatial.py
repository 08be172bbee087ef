"""``--decompose spatial``: a coupled dynamics run with the atoms on the spatial engine (opt-in).

`parallel.coupled_spatial.SpatialCoupled` steps the model (atoms owned by slab on `DistributedMD`, the
mesh and the constraint solve replicated, one Allgatherv per step). The run loop's operations work on the
ranks' OWNED atoms, as the plain-MD path (`run.distributed`) does; no rank keeps a current copy of all atoms:

* thermo (`SpatialMeasure`): the run's `Reduction` is over the real communicator; each rank gives its
  share of every ledger term (`_Share`: kinetic energy, momentum and Verlet correction of its owned atoms,
  its share of the atoms' potential energy; rank 0 adds the replicated continuum's terms), the
  temperatures are reduced from the owned atoms (groups core / handshake by the reference position carried
  with the atom, pads from the replicated pad plan on rank 0). On one rank every figure is the serial
  expression on the same arrays in the same order (bitwise the serial run's thermo);
* guard (`SpatialState.guard_arrays`): the owned atoms' x, v, forces, global ids and the continuum's arrays, the
  verdict collective (`Reduction.guard_check`);
* frames, the last good state and checkpoints (`SpatialIntegrator.gather_serial`): the owned atoms' x, v,
  forces, accelerations and per-atom energies gathered to RANK 0 only, written there into the serial
  model's arrays (pads: x = X + N U, v = N V), so frames and checkpoints are those of a serial run (a
  checkpoint restarts on any P, with or without the option); ranks > 0 write nothing;
* the replicated parts (U, V, the touched-atom copy) are compared over the ranks at every thermo row
  (a checksum, `check_replicas`).

Memory of the run phase per rank: the engine's owned atoms and ghosts, the touched copy, the pads and the
mesh (rank 0 also the serial arrays it gathers into). The serial model itself is built on every rank on
this path; the decks `parallel.rank_build.per_rank_refusal` accepts run on `run.spatial_rank` instead (no
rank builds it: docs/parallel.md "Per-rank memory of the spatial path").

Refused (`DeckError` at the key, exit 2): everything `parallel.coupled_spatial.spatial_refusal` names
(1D, external engines, thermostats other than Langevin, loads other than initial conditions, ``fixed``,
``prescribed``, ``kfield``, ``indenter``, ``body_force`` and ``traction`` (`parallel.spatial_loads`; ``precrack``
among them), periodic atom boxes, slabs thinner
than cut-off + skin) and quasi-statics. The Langevin thermostat and the damping band run in
`parallel.spatial_operators`: each rank's ledger share holds its owned atoms' thermostat work (rank 0 the
replicated dissipated energy); the gather to rank 0 writes the thermostat forces into ``fext_atoms`` (so
checkpoints carry them) and a restart hands them, the work and the dissipated energy back.
"""

from __future__ import annotations

import numpy as np

from .operations import Measure
from .state import State

__all__ = ["SpatialFields", "SpatialIntegrator", "SpatialMeasure", "SpatialState", "check_time_step_root",
           "setup_spatial"]


def setup_spatial(sim) -> None:  # noqa: ANN001
    """Make the prepared (serial) ``sim`` a spatially decomposed coupled dynamics run (module docstring).
    Raises the deck's `DeckError` at the key of the first unsupported feature."""
    from ..parallel.coupled_spatial import spatial_refusal
    from .reduce import Reduction
    m, deck = sim.model, sim.deck
    if sim.statics:
        raise deck.error("integrator", "--decompose spatial runs coupled dynamics only (quasi-statics on P "
                         "ranks run replicated: leave the option out)")
    why = spatial_refusal(m, sim.integrator, sim.reduce.comm.size)
    if why is not None:
        raise deck.error(why[0], why[1])
    comm = sim.reduce.comm
    # the time-step check before the engine exists: rank 0's transient serial neighbour list then adds to
    # the prepared model only, not to the engine too (its peak memory)
    check_time_step_root(sim)
    sim.integrator = SpatialIntegrator(m, sim.integrator, comm)
    if comm.rank != 0:
        release_unowned(m, sim.integrator.serial)
    sim.reduce = Reduction(comm)
    sim.state = SpatialState(m, sim.integrator)
    sim.fields = SpatialFields(sim.fields, sim.state)
    # the load hooks are replicated: their energies are counted once (rank 0)
    sim.measure = SpatialMeasure(m, sim.state, sim.reduce, sim.hooks if comm.rank == 0 else [])


def check_time_step_root(sim) -> None:  # noqa: ANN001
    """`run.summary.check_time_step` of a spatial run (once: `setup_spatial` calls it before the engine is
    built, `Simulation.check_time_step` then finds it done): rank 0 decides (the weighted atoms'
    estimate builds the serial neighbour list of all atoms; rank 0 releases it afterwards, the other
    ranks never build it) and every rank raises the same `DeckError` (collective)."""
    from ..parallel.comm import root_decides
    from . import summary
    if getattr(sim, "_dt_checked", False):      # done (`setup_spatial` checks before the engine is built)
        return

    def check() -> None:
        try:
            summary.check_time_step(sim.model, sim.deck, sim.statics)
        finally:
            release_serial_list(sim.model.atoms)

    root_decides(sim.reduce.comm, check)
    sim._dt_checked = True


def release_serial_list(atoms) -> None:  # noqa: ANN001
    """Drop the serial region's neighbour list and bond weights (the engine has its own): the list is
    rebuilt on demand (`NeighborList.x_build is None`) by whatever needs it."""
    from ..md.neighbors import NeighborList
    nl = atoms.nlist
    # where it was built and its policy count: the spatial path builds its engine's first list there when the
    # serial run would go on from this list (ghost_corrected's `prepare` builds one, `spatial_coupling`)
    atoms._released_list = None if nl.x_build is None else (nl.x_build, int(nl.since_build))
    atoms.nlist = NeighborList(atoms.box, nl.cutoff, nl.skin, nl.n_threads, policy=nl.policy, wrap=True)
    atoms.bond_w = None
    atoms._bw_keys, atoms._bw_vals, atoms._bw_unsorted = np.zeros(0, np.int64), np.zeros(0), False
    atoms.__dict__.pop("_bw_rows", None)        # the row flags of the released weights
    atoms.__dict__.pop("_bw_rows_of", None)


def release_unowned(model, serial) -> None:  # noqa: ANN001
    """Ranks > 0: the serial model's per-atom arrays that neither the spatial step nor a redistribution
    reads (the serial forces, per-atom energies, accelerations and thermostat forces: rank 0 gathers into
    its own) become read-only zero views of the same shape (no memory; a checkpoint template still has
    the serial shapes). Kept: x, v (a restart or ``--from`` writes them, the redistribution reads the
    touched rows), X, masses, weights, the constraint data."""
    s, a = model.system, model.atoms

    def zero(arr: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.zeros((), arr.dtype), arr.shape)

    a.forces, a.energies = zero(a.forces), zero(a.energies)
    s.f_atoms = zero(s.f_atoms)
    serial.acc_atoms, serial.fext_atoms = zero(serial.acc_atoms), zero(serial.fext_atoms)


class _Share:
    """This rank's share of the ledger terms (the interface `diagnostics.energy.ledger` reads): its owned
    atoms' kinetic energy, momentum and potential-energy share; rank 0 adds the (replicated) continuum's
    kinetic energy, potential energy and momentum. On one rank: the serial expressions, bitwise."""

    coupled = True

    def __init__(self, integ: SpatialIntegrator) -> None:
        self.integ = integ

    def _live(self):  # noqa: ANN202
        e = self.integ.sc.engine
        live = e.mass > 0.0                   # the free atoms (pads have no mass), in global-id order
        return e, live

    def kinetic(self) -> tuple[float, float]:
        e, live = self._live()
        ma, mn = self.integ.sc.loads.kinetic_masks()     # prescribed dofs not counted (`CoupledSystem.kinetic`)
        v = e.v[live] if ma is None else e.v[live] * ma[live]
        Ka = 0.5 * float(np.sum(e.mass[live] * np.sum(v * v, axis=1)))
        Kc = 0.0
        if self.integ.root:
            V = self.integ.sc.cont.V if mn is None else self.integ.sc.cont.V * mn
            Kc = 0.5 * float(np.sum(self.integ.node_mass * np.sum(V * V, axis=1)))
        return Ka, Kc

    @property
    def energy(self) -> dict:
        sc = self.integ.sc
        return {"potential_atoms": float(sc.engine.energy_local),
                "potential_continuum": float(sc.energy["potential_continuum"]) if self.integ.root else 0.0,
                # the coupling method's term (ghost_corrected) is replicated: counted once, on rank 0
                "coupling": float(sc.energy["coupling"]) if self.integ.root else 0.0}

    def momentum(self) -> np.ndarray:
        e, live = self._live()
        p = np.zeros(self.integ.sc.d)
        p += e.mass[live] @ e.v[live]
        if self.integ.root:
            p += self.integ.node_mass @ self.integ.sc.cont.V
        return p


class SpatialIntegrator:
    """The run loop's integrator for ``--decompose spatial`` (module docstring): `SpatialCoupled` stepping,
    ``system`` this rank's ledger share, ``gather_serial`` / ``get_state`` (collective) the serial arrays
    and checkpoint on rank 0. ``serial``: the prepared serial `VelocityVerlet` (not stepped; its arrays are
    current on rank 0 after a gather only)."""

    def __init__(self, model, serial, comm) -> None:  # noqa: ANN001
        self.model, self.serial, self.comm = model, serial, comm
        self.root = comm.rank == 0
        self.dt = float(serial.dt)
        self.force_hooks = serial.force_hooks
        self.velocity_ops = serial.velocity_ops
        s = model.system
        self.node_mass = np.asarray(s.node_mass, float)
        inv_n = np.asarray(s.inv_mass_dof[s.n_free * s.d:], float)
        self._m_nodes = np.where(inv_n > 0, 1.0 / np.where(inv_n > 0, inv_n, 1.0), 0.0)
        self.system = _Share(self)
        self.sc = None
        self._make()

    def _make(self) -> None:
        """(Re)distribute the atoms from the serial state (at the start, after a restart or --from)."""
        from ..parallel.coupled_spatial import SpatialCoupled
        self.sc = SpatialCoupled(self.model, self.serial, self.comm)

    # ------------------------------------------------------------------ the loop's interface
    @property
    def step_count(self) -> int:
        return int(self.sc.step_count)

    @property
    def time(self) -> float:
        return float(self.sc.time)

    @property
    def potential(self) -> float:
        return float(self.sc.potential)

    @property
    def external_work(self) -> float:
        """This rank's share of the thermostat's booked work [energy] (`parallel.spatial_operators`)."""
        return self.sc.ops.work_share()

    @property
    def dissipated(self) -> float:
        """The damping band's dissipated energy [energy], replicated: rank 0's share is all of it."""
        return self.sc.ops.dissipated if self.root else 0.0

    @property
    def _initialized(self) -> bool:
        return bool(self.sc._init)

    def initialize(self) -> None:
        """The initial forces' accelerations (replicated and owned; no communication)."""
        if not self.sc._init:
            self.sc.initialize_acc()
            self.sc._init = True

    def step(self, n: int = 1) -> None:
        """n steps (collective)."""
        self.sc.step(int(n))

    def verlet_correction(self) -> float:
        """This rank's share of −(Δt²/8) Σ_dof M a² [energy]: its owned free atoms (rank 0: and the nodes),
        the serial expression (one sum over the concatenated dofs) on one rank."""
        sc = self.sc
        e = sc.engine
        live = e.mass > 0.0
        inv = np.repeat(e.inv_mass[live][:, None], sc.d, axis=1).ravel()
        m = [np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), 0.0)]
        a = [sc.acc_own[live].ravel()]
        if self.root:
            m.append(self._m_nodes)
            a.append(sc.acc_nodes.ravel())
        m, a = np.concatenate(m), np.concatenate(a)
        return -0.125 * self.dt ** 2 * float(np.sum(m * a * a))

    def constraint_residual(self) -> float:
        """max |G q| [length] from the replicated touched copy and U (the same on every rank)."""
        sc = self.sc
        if sc.p is None:        # no constraints (penalty; `VelocityVerlet.constraint_residual`: 0)
            return 0.0
        res = float(sc.p.residual_into(sc.xT.reshape(-1), sc.XT.reshape(-1), sc.cont.U.reshape(-1), 1, sc.tc,
                                       sc.t_node, sc.buf_t, sc.r))
        # the rows dropped as dependent too, as the serial `ConstraintProjector.residual` (rev32 F14)
        return max(res, sc.p.dependent_residual_touched(sc.buf_t)) if sc.p.dependent_rows.size else res

    # ------------------------------------------------------------------ the serial arrays on rank 0
    def gather_serial(self) -> bool:
        """Collective: the owned atoms' x, v, forces, accelerations and per-atom energies gathered to rank 0
        and written there into the serial model (with the nodes' forces and accelerations, the clock and
        the energy terms). True on rank 0, False elsewhere. Rank 0 writes its own rows straight from the
        engine and receives the other ranks' rows one rank at a time (one packed float64 buffer each,
        written into the serial arrays and dropped before the next: the transient is one rank's rows, not
        every rank's at once)."""
        sc, it = self.sc, self.serial
        e = sc.engine
        no = e.n_own
        fe = sc.ops.fext_own()              # thermostat forces (checkpointed: `fext_atoms`), None without
        cols = [e.gid[:no], e.x[:no], e.v, e.forces[:no], sc.acc_own, e.atom_energies()]
        if fe is not None:
            cols.append(fe)
        work = sc.ops.external_work()       # (collective)
        if not self.root:
            gather_rows_to_root(self.comm, cols, None)
            return False
        s = it.system
        a = s.atoms
        gather_rows_to_root(self.comm, cols, [a.x, a.v, s.f_atoms, it.acc_atoms, a.energies]
                            + ([it.fext_atoms] if fe is not None else []))
        it.external_work, it.dissipated = work, sc.ops.dissipated
        a.forces[...] = s.f_atoms
        s.update_pads()                      # pads: x = X + N U (as on the engine), v = N V
        s.f_nodes[...] = sc.f_nodes
        it.fext_nodes[...] = sc.loads.fext_nodes        # the loads' node forces (checkpointed)
        it.acc_nodes[...] = sc.acc_nodes
        it.step_count, it.time, it.potential = sc.step_count, sc.time, sc.potential
        s.energy = dict(sc.energy)
        it._initialized = True
        return True

    def get_state(self) -> dict | None:
        """Collective. Rank 0: the serial checkpoint dict of the gathered state (the neighbour list to be
        rebuilt at x); other ranks: None."""
        if not self.gather_serial():
            return None
        st = self.serial.get_state()
        a = self.serial.system.atoms
        st.update({"atoms.x_build": a.x.copy(), "atoms.since_build": np.int64(0),
                   "atoms.image": np.zeros((0, a.x.shape[1]), np.int64)})
        return st

    def set_state(self, st: dict) -> None:
        """A checkpoint of any rank count (every rank reads the same dict): the clock, x, v, U, V into the
        serial arrays, then the atoms redistributed (the engine computes the forces and accelerations at
        the restored state: the checkpoint's, to round-off in the cross pairs' order). The serial
        region's neighbour list is not rebuilt (the engine builds its own)."""
        it = self.serial
        s = it.system
        it.time, it.step_count = float(st["time"]), int(st["step"])
        s.atoms.x[...] = st["x"]
        s.atoms.v[...] = st["v"]
        s.continuum.U[...] = st["U"]
        s.continuum.V[...] = st["V"]
        # the thermostat's forces, its work and the band's dissipated energy continue from the checkpoint
        # (`parallel.spatial_operators`: read at construction; ranks > 0 keep no serial fext_atoms array)
        it.external_work, it.dissipated = float(st["external_work"]), float(st["dissipated"])
        it._initialized = True
        it.set_ops_state(st)                # the damping band's noise step
        it.set_method_state(st)             # ghost_corrected's g, q_g, booked work, counters (replicated)
        keep, it.fext_atoms = it.fext_atoms, np.asarray(st["fext_atoms"])
        try:
            self._make()
        finally:
            it.fext_atoms = keep
        if self.root:
            it.fext_atoms[...] = st["fext_atoms"]

    def project_state(self) -> None:
        self.serial.project_state()
        self._make()

    def replicated_checksum(self) -> tuple[int, int]:
        """(xor, wrapping sum) of the bits of the replicated arrays (U, V, the touched copy's x, v)."""
        from ..parallel.replicated import bits_checksum
        sc = self.sc
        return bits_checksum((sc.cont.U, sc.cont.V, sc.xT, sc.vT))


def gather_rows_to_root(comm, cols: list, dst: list | None, tag: int = 41) -> None:  # noqa: ANN001
    """Collective: every rank's owned rows ``cols`` = [gid (m,), then per-atom columns (m,) or (m, d)] written
    on rank 0 into ``dst`` (the serial arrays, one per column after gid, indexed by gid); ``dst`` None on
    the other ranks. Rank 0 writes its own rows straight away and receives the other ranks' rows one rank
    at a time (one packed float64 buffer each, dropped before the next: the transient is one rank's rows).
    RuntimeError when the gathered gids are not every row of ``dst`` once."""
    from ..parallel.engine import _pack_rows
    if dst is None:
        comm.sendrecv_rows([(_pack_rows(cols), 0, comm.MPI.PROC_NULL, tag)])
        return
    seen = np.zeros(dst[0].shape[0], bool)

    def write(gid: np.ndarray, parts: list) -> None:
        if gid.size and (int(gid.min()) < 0 or int(gid.max()) >= seen.size or np.any(seen[gid])):
            raise RuntimeError("the gathered atoms are not every atom once")
        seen[gid] = True
        for arr, col in zip(dst, parts, strict=True):
            arr[gid] = col

    write(cols[0], cols[1:])
    widths = [1 if c.ndim == 1 else c.shape[1] for c in cols[1:]]
    w = 1 + sum(widths)
    for r in range(1, comm.size):       # one rank's rows at a time (packed as `_pack_rows(cols)`)
        rows = comm.sendrecv_rows([(np.empty((0, w)), comm.MPI.PROC_NULL, r, tag)])[0]
        parts, o = [], 1
        for c, k in zip(cols[1:], widths, strict=True):
            parts.append(rows[:, o] if c.ndim == 1 else rows[:, o:o + k])
            o += k
        write(rows.view(np.int64)[:, 0], parts)
        del rows, parts
    if not seen.all():
        raise RuntimeError("the gathered atoms are not every atom once")


class SpatialState(State):
    """`State` of a spatial run: the atoms are the engine's owned rows (module docstring)."""

    def __init__(self, model, integrator: SpatialIntegrator) -> None:  # noqa: ANN001
        super().__init__(model.system, integrator, ids=model.site_ids)
        X = np.asarray(model.atoms.X, float)
        self._extent = max(float(np.max(np.ptp(X, axis=0))) if len(X) > 1 else 1.0, 1.0)

    @property
    def engine(self):  # noqa: ANN201
        return self.integrator.sc.engine

    @property
    def n_owned(self) -> int:      # noqa: D102
        return int(self.engine.n_own)

    @n_owned.setter
    def n_owned(self, value: int) -> None:   # set by State.__init__; the engine decides
        pass

    def guard_arrays(self) -> dict:
        e, sc = self.engine, self.integrator.sc
        n = e.n_own
        return {"atoms": {"x": e.x[:n], "v": e.v, "forces": e.forces[:n], "gid": e.gid[:n]},
                "continuum": {"U": sc.cont.U, "V": sc.cont.V, "forces": sc.f_nodes}}

    def get_state(self) -> dict | None:
        """Collective; the checkpoint dict on rank 0, None elsewhere."""
        st = self.integrator.get_state()
        parts = {name: part.get_state() for name, (part, _) in self._parts.items()}
        if st is None:
            return None
        return {"kind": "dynamics", "integrator": st, **parts}

    def template(self) -> dict:
        st = {"kind": "dynamics", "integrator": self.integrator.serial.get_state()}
        for name, (part, required) in self._parts.items():
            st[name] = {} if required else part.get_state()
        return st

    def apply_origin(self, origin) -> None:  # noqa: ANN001
        """``--from``: the serial state takes the other run's x, v, U, V (`State.apply_origin`: fixed dofs
        at rest, constraints re-imposed), then the atoms are redistributed."""
        State(self.system, self.integrator.serial).apply_origin(origin)
        self.integrator._make()

    def not_finite(self) -> tuple[str, str] | None:
        e, sc = self.engine, self.integrator.sc
        for region, qty, arr in (("atoms", "x", e.x[: e.n_own]), ("atoms", "v", e.v),
                                 ("continuum", "U", sc.cont.U), ("continuum", "V", sc.cont.V)):
            if not np.all(np.isfinite(arr)):
                return region, qty
        return None

    def exploded(self) -> bool:
        if self.not_finite() is not None:
            return True
        e = self.engine
        n = e.n_own
        return bool(n and float(np.max(np.abs(e.x[:n] - e.X_ref[:n]))) > self._extent)


class SpatialFields:
    """`run.fields.Fields` of a spatial run: ``frame()`` gathers the atoms to rank 0 (collective) and
    returns the serial frame there, (None, None) on the other ranks."""

    def __init__(self, fields, state: SpatialState) -> None:  # noqa: ANN001
        self.fields, self.state = fields, state

    def species(self) -> str:
        return self.fields.species()

    def static(self) -> dict:
        return self.fields.static()

    def frame(self) -> tuple[dict | None, dict | None]:
        if not self.state.integrator.gather_serial():
            return None, None
        return self.fields.frame()


class SpatialMeasure(Measure):
    """Thermo row (the `Reduction`'s ledger of the ranks' shares) and the observables reduced from the
    owned atoms: the loads' own (replicated), the temperature of the integrated atoms (not pads, not held
    along every component) and, per group, of the core,
    handshake and pad atoms (physical masses; `diagnostics.temperature.group_temperatures`) and of the
    mesh. On one rank bitwise the serial `Reduction.observables`. Also checks that the replicated parts
    are still bitwise equal over the ranks."""

    def __init__(self, model, state, reduce, hooks) -> None:  # noqa: ANN001
        super().__init__(model, state, reduce, hooks)
        a, s = model.atoms, model.system
        types = np.zeros(a.n, np.int64) if a.types is None else np.asarray(a.types, np.int64)
        mass = np.asarray(a.mass, float)
        # the physical mass by type when each type has one mass (else the serial array, by global id)
        table = {}
        for t in np.unique(types):
            mt = np.unique(mass[types == t])
            if mt.size != 1:
                table = None
                break
            table[int(t)] = float(mt[0])
        self._mass_table = None if table is None else np.array([table.get(t, 0.0) for t in
                                                                  range(int(types.max()) + 1)])
        self._mass = mass if table is None else None
        self._pad_mass = mass[np.asarray(s.pad_idx, np.int64)]

    def _physical_mass(self, e) -> np.ndarray:  # noqa: ANN001
        n = e.n_own
        if self._mass_table is not None:
            return self._mass_table[e.types[:n]]
        return self._mass[e.gid[:n]]

    def observables(self) -> dict:
        """Collective (module docstring)."""
        red, model = self.reduce, self.model
        s, sc = model.system, self.state.integrator.sc
        e = sc.engine
        n = e.n_own
        boltz = model.units.boltz
        out: dict = {}
        for ld in model.loads:
            out.update(ld.observables())
        live = e.mass > 0.0
        # the integrated atoms: pads and atoms whose every component is held left out (`Reduction.observables`)
        moving = np.zeros(e.mass.shape, bool)
        moving[:n] = sc.free_own.any(axis=1)
        free = np.zeros((e.mass.shape[0], sc.free_own.shape[1]), bool)
        free[:n] = sc.free_own
        m = self._physical_mass(e)
        mm = np.zeros(e.mass.shape)
        mm[:n] = m
        out["temperature"] = red.temperature(e.v[moving], mm[moving], boltz, free=free[moving])
        pad = ~live
        dist = s.handshake.distance(e.X_ref[:n]) if n else np.zeros(0)
        groups = {"core": np.flatnonzero(live & (dist <= 0.0)),
                  "handshake": np.flatnonzero(live & (dist > 0.0))}
        for name, idx in groups.items():
            if red.any(bool(len(idx) and np.any(m[idx] > 0))):
                out[f"temperature_{name}"] = red.mean_temperature(e.v[idx], m[idx], boltz)
        del pad
        # pads: v = N V from the replicated pad plan, counted on rank 0
        if sc.n_pad and red.any(bool(np.any(self._pad_mass > 0))):
            if self.state.integrator.root:
                xP, vP = np.zeros_like(sc.xP), np.zeros_like(sc.xP)
                sc._ck.pads_follow(sc._ar_pad, sc._Np, sc._Ni, sc._Nx, sc._Xp, sc.cont.U, sc.cont.V, xP, vP,
                                   1)
                mp = self._pad_mass
            else:
                vP, mp = np.zeros((0, sc.d)), np.zeros(0)
            out["temperature_pad"] = red.mean_temperature(vP, mp, boltz)
        if self.state.integrator.root:
            V, mn = sc.cont.V, self.state.integrator.node_mass
        else:
            V, mn = np.zeros((0, sc.d)), np.zeros(0)
        out["temperature_continuum"] = red.mean_temperature(V, mn, boltz)
        return out

    def __call__(self) -> tuple[dict, dict]:
        check_replicas(self.reduce.comm, self.state.integrator)
        return self.row(), self.observables()


def check_replicas(comm, integ: SpatialIntegrator) -> None:  # noqa: ANN001
    """RuntimeError on every rank when the replicated parts differ between the ranks."""
    if comm.size == 1:
        return
    sums = comm.allgather(integ.replicated_checksum())
    if any(c != sums[0] for c in sums):
        raise RuntimeError("the replicated parts of the spatial run (mesh, touched atoms) differ between the "
                           "ranks (a rank-dependent computation)")
