"""A dynamics run on P > 1 MPI ranks: the atoms of a plain-MD deck as a `parallel.engine.DistributedMD`;
a coupled deck as a replicated-data run (`parallel.replicated`).

COUPLED decks (a ``continuum``; `replicated`, `check_coupled`, `setup_replicated`): every rank builds and
steps the whole serial model (atoms, mesh, handshake, constraint factorisation, damping band, loads,
thermostat) with the serial integrator; only the atoms' forces and the continuum's node forces
(`parallel.split_continuum`, riding on the atoms' Allgatherv) are split over the ranks
(`parallel.split_forces.split_forces`, the split of `run.distributed_statics` too: the serial kernel on
the entries of a block of atoms, one Allgatherv of the owned rows; tabulated EAM with the owned
densities allgathered between its two passes, `parallel.split_eam`), so every rank holds the serial bits
and the run's `Reduction` is over a `ReplicatedComm` (global value = local value);
`ReplicatedMeasure` checks at every thermo row that the ranks' states are still bitwise equal. Output,
checkpoints (serial ones) and progress come from rank 0. Coupled quasi-statics: `run.distributed_statics`
(the same split, replicated minimiser). Refused (`DeckError` at ``potential``): external-engine
potentials (lammps, ase).

PLAIN-MD decks: chosen by `Simulation.prepare` when ``comm.size > 1``. What may run distributed
(`check_distributable`,
a `DeckError` naming the deck key otherwise — the same verdict on every rank, no communication):
atoms only (no ``continuum`` / ``handshake``), ``integrator.type: verlet`` (statics:
`run.distributed_statics`), no ``loads``, pair potentials or single-density EAM, the box at least
P·(cut-off + skin) long in x, periodic or free along x (free: the outer faces of the first and last
slab are open; a cluster or a free slab).
``integrator.thermostat: langevin`` runs: the engine calls the serial thermostat object on its owned atoms
with their global ids, its step counter set to the engine's step index and its mask (the region on the
reference positions) taken by global id, so the noise, and the trajectory, are those of the serial run
for any P; its work is booked as ``external_work`` like the serial force hook's.

Every rank builds the whole (serial) model from the deck; rank 0 hands all atoms to `DistributedMD`,
whose first rebuild migrates them to their slabs. The serial model's arrays are then only a mirror that
rank 0 fills from gathered, global-id-sorted arrays when it writes a frame, so frames and static groups
have the layout of a serial run. The pieces the operation loop sees:

* `DistributedIntegrator`: ``step(n)`` (collective), ``time``, ``step_count``, ``dt`` and, for
  `Reduction.ledger`, this rank's shares (``system.kinetic()``, ``system.energy``,
  ``system.momentum()``, ``verlet_correction()``) — the `Reduction` sums them over the ranks;
  ``get_state()`` (collective; the dict of `integrate.verlet.VelocityVerlet.get_state` for the gathered
  atoms on rank 0, None elsewhere): a checkpoint of P ranks is a serial checkpoint, and ``set_state``
  takes a checkpoint of any P (the engine redistributes);
* `DistributedState`: `State` over the engine (owned atoms, guard arrays, checkpoint);
* `DistributedFields`: frames gathered to rank 0;
* `DistributedMeasure`: the thermo row (reduced ledger) and the reduced temperature;
* `NullWriter` / `QuietRecord`: ranks > 0 write no file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DeckError
from .operations import Measure
from .state import State

#: the ``potential`` types the distributed engine evaluates (pair kernels and tabulated EAM)
_KERNEL_POTENTIALS = ("lj", "morse", "harmonic", "eam", "eam_zhou")


def replicated(model) -> bool:  # noqa: ANN001
    """True when a P > 1 run of this model is a replicated-data coupled run (`parallel.replicated`)."""
    return model.continuum is not None


#: the values of ``msim run --decompose`` (`Simulation.decompose`)
DECOMPOSE = ("auto", "replicated", "spatial")


@dataclass(frozen=True)
class Decomposition:
    """Which path a run takes (`choose_decomposition`): ``path`` "serial" (one rank), "replicated" (the
    whole model on every rank, forces split: coupled dynamics with ``--decompose replicated`` or a refusal
    of the spatial path, quasi-statics) or "spatial" (the atoms in slabs: plain MD on `DistributedMD`,
    coupled dynamics on `parallel.coupled_spatial.SpatialCoupled`); ``requested`` the option's value;
    ``refusal`` (deck key, message) of `spatial_refusal` when ``auto`` fell back to replicated."""

    path: str
    requested: str
    ranks: int
    kind: str                                   # "coupled dynamics" | "plain MD" | "quasi-statics" | ...
    refusal: tuple[str, str] | None = None
    #: the spatial path built per rank (`run.spatial_rank`: no rank builds the serial model)
    per_rank: bool = False

    def record(self) -> dict:
        """The results file's record (`output.hdf5.ResultsWriter(decomposition=)`: root attribute
        ``decomposition``, and in each ``restarts`` entry); ``build: "per rank"`` when no rank built the
        serial model."""
        out = {"ranks": self.ranks, "path": self.path, "requested": self.requested, "kind": self.kind}
        if self.refusal is not None:
            out["spatial_refused_at"], out["spatial_refusal"] = self.refusal
        if self.per_rank:
            out["build"] = "per rank"
        return out

    def describe(self) -> str:
        """One line for the run's log (rank 0) and `msim validate --ranks P`."""
        where = f"{self.ranks} MPI rank{'s' if self.ranks > 1 else ''}"
        if self.path == "serial":
            return f"decomposition: serial ({where})"
        what = {"spatial": "spatial (the atoms in slabs along x",
                "replicated": "replicated (the whole model on every rank"}[self.path]
        what += {("spatial", "plain MD"): ", `DistributedMD`)",
                 ("spatial", "coupled dynamics"): ", mesh and constraint solve replicated)"}.get(
            (self.path, self.kind), ", forces split over the ranks)")
        line = f"decomposition: {what} on {where}, {self.kind}, --decompose {self.requested}"
        if self.per_rank:
            line += "; built per rank (no rank builds the whole model)"
        if self.refusal is not None:
            # the refusal's own wording names the option that forces the path; the note is about `auto`
            why = self.refusal[1].replace(" (--decompose spatial)", "")
            line += f"; not spatial: the spatial decomposition refuses this deck at {self.refusal[0]}: {why}"
        return line


def choose_decomposition(model, deck, statics: bool, size: int, requested: str = "auto",  # noqa: ANN001
                         integrator=None) -> Decomposition:  # noqa: ANN001
    """The path of a run of ``model`` on ``size`` ranks with ``--decompose requested`` (no communication:
    every rank reaches the same verdict).

    * one rank: "serial" (``spatial`` forced: the spatial coupled path on one slab, a check of it);
    * quasi-statics: "replicated" on P > 1 ranks (`run.distributed_statics`); ``spatial`` is a
      `DeckError` at ``integrator`` on any P;
    * plain MD on P > 1 ranks: "spatial" (`DistributedMD`; there is no replicated plain-MD path:
      ``replicated`` is a `DeckError`);
    * coupled dynamics on P > 1 ranks: ``auto`` takes "spatial" when
      `parallel.coupled_spatial.spatial_refusal` says nothing (it needs the prepared ``integrator``),
      else "replicated" with the refusal recorded (the run's log names it); ``replicated`` / ``spatial``
      force the path (a refused ``spatial`` exits 2 in `run.spatial.setup_spatial`)."""
    if requested not in DECOMPOSE:
        raise ValueError(f"decompose must be one of {DECOMPOSE}, not {requested!r}")
    size = int(size)
    coupled = model.continuum is not None
    kind = "quasi-statics" if statics else ("coupled dynamics" if coupled and model.atoms is not None else
                                             "plain MD" if model.atoms is not None else "continuum dynamics")
    if statics and requested == "spatial":
        raise deck.error("integrator", "--decompose spatial runs coupled dynamics only (quasi-statics on P "
                         "ranks run replicated: leave the option out)")
    if size == 1:
        return Decomposition("spatial" if requested == "spatial" else "serial", requested, 1, kind)
    if statics:
        return Decomposition("replicated", requested, size, kind)
    if not coupled:
        if requested == "replicated":
            raise DeckError(f"--decompose replicated: a {kind} deck has no replicated path on {size} MPI "
                            "ranks (its atoms run decomposed in slabs, `DistributedMD`): leave the option out",
                            file=deck.name)
        return Decomposition("spatial", requested, size, kind)
    if requested != "auto":
        return Decomposition(requested, requested, size, kind)
    if integrator is None:
        raise ValueError("choose_decomposition: the automatic choice of a coupled dynamics run needs the "
                         "prepared integrator (`Simulation.prepare`)")
    from ..parallel.coupled_spatial import spatial_refusal
    why = spatial_refusal(model, integrator, size)
    if why is None:
        return Decomposition("spatial", requested, size, kind)
    return Decomposition("replicated", requested, size, kind, (str(why[0]), str(why[1])))


def check_coupled(model, deck, statics: bool, size: int) -> None:  # noqa: ANN001
    """The conditions of a replicated-data coupled run on ``size`` ranks (`DeckError` at the key): the
    atoms' potential is split by `parallel.split_forces.split_forces` (pair potentials, tabulated EAM).
    Quasi-statics: `run.distributed_statics.check_statics_distributable` (the same conditions)."""
    from ..parallel.split_forces import splittable
    cfg = deck.config
    if statics:
        from .distributed_statics import check_statics_distributable
        return check_statics_distributable(model, deck, size)
    if model.atoms is not None and not splittable(model.potential):
        raise deck.error("potential", f"a coupled deck with potential type '{cfg.potential.type}' cannot "
                         f"run on {size} MPI ranks yet (external engines are not split over ranks; pair "
                         "potentials and tabulated EAM are): run this deck on one rank (plain `msim run`)")
    if model.atoms is not None and model.atoms.n < size:
        raise deck.error("atoms", f"{model.atoms.n} atoms cannot be split over {size} ranks")


def setup_replicated(sim) -> None:  # noqa: ANN001
    """Make ``sim`` (a prepared-for-serial `Simulation` with a ``comm.size > 1`` Reduction) a replicated-
    data coupled run: its reductions over a `ReplicatedComm`, the atoms' forces split
    (`parallel.split_forces.split_forces`: pair potentials or tabulated EAM), the continuum's node forces
    split (`parallel.split_continuum.SplitContinuum`, unless the coupling method reads its per-point
    energy densities: force blending) in the same Allgatherv, the serial state, fields
    and measure (with the replicas' consistency check at every thermo row)."""
    from ..parallel.replicated import ReplicatedComm
    from ..parallel.split_continuum import SplitContinuum
    from ..parallel.split_forces import split_forces
    from .reduce import Reduction
    m = sim.model
    comm = ReplicatedComm(sim.reduce.comm)
    sim.reduce = Reduction(comm)
    if m.atoms is not None:
        sim.split = split_forces(m.atoms, comm).install()
    sim.split_continuum = None
    if SplitContinuum.supports(m.continuum, getattr(m.system, "method", None)):
        sim.split_continuum = SplitContinuum(m.continuum, comm).install()
        if m.atoms is not None:         # one Allgatherv per evaluation: the continuum's rides on the atoms'
            sim.split.partner = sim.split_continuum
    sim.state = State(m.system, sim.integrator, ids=m.site_ids if m.atoms is not None else None)
    sim.measure = ReplicatedMeasure(m, sim.state, sim.reduce, sim.hooks)


class ReplicatedMeasure(Measure):
    """`Measure` of a replicated-data run: the serial row (the state is whole on every rank), after
    checking that the ranks' states are still bitwise equal (`parallel.replicated.check_replicas`)."""

    def __call__(self) -> tuple[dict, dict]:
        from ..parallel.replicated import check_replicas
        check_replicas(self.reduce.comm, self.model.system)
        return super().__call__()


def check_distributable(model, deck, statics: bool, size: int) -> None:  # noqa: ANN001
    """Raise a `DeckError` at the deck key that keeps this deck from running on ``size`` ranks."""
    if statics:     # quasi-statics: replicated minimiser, split forces (run/distributed_statics.py)
        from .distributed_statics import check_statics_distributable
        return check_statics_distributable(model, deck, size)
    cfg = deck.config
    if replicated(model):
        check_coupled(model, deck, statics, size)
        return
    why = f"`mpiexec -n {size} msim run` runs plain molecular dynamics only (atoms, no continuum or " \
          "handshake, no loads; a Langevin thermostat may be given); run this deck on one rank " \
          "(plain `msim run`)"
    if cfg.continuum is not None or model.continuum is not None:
        raise deck.error("continuum", f"a deck with a continuum cannot run on {size} MPI ranks yet: {why}")
    if getattr(cfg, "handshake", None) is not None:
        raise deck.error("handshake", f"a coupled deck cannot run on {size} MPI ranks yet: {why}")
    if model.atoms is None:
        raise deck.error("atoms", f"the deck has no atoms: {why}")
    if cfg.loads:
        raise deck.error("loads", f"loads cannot run on {size} MPI ranks yet: {why}")
    th = model.thermostat
    if th is not None and not hasattr(th, "add_forces"):
        raise deck.error("integrator.thermostat", f"thermostat '{type(th).__name__}' is not distributed "
                         f"(the Langevin thermostat is): {why}")
    ptype = str(cfg.potential.type)
    # a plain-MD deck refused for its potential alone: say so, not "plain molecular dynamics only"
    one_rank = f"this plain-MD deck runs on one rank only (plain `msim run`, not `mpiexec -n {size}`)"
    if ptype not in _KERNEL_POTENTIALS or getattr(model.potential, "many_body", False) and \
            not hasattr(model.potential, "tables"):
        raise deck.error("potential", f"potential type '{ptype}' is not distributed (pair potentials "
                         f"and tabulated EAM are): {one_rank}")
    pot = model.potential      # tabulated EAM: setfl, funcfl and eam/fs (one density per element pair) alike
    box = model.atoms.box
    rlist = float(pot.cutoff) + float(cfg.atoms.skin)
    width = float(box.hi[0] - box.lo[0]) / size
    if width < rlist:
        raise deck.error("atoms", f"{size} slabs of {width:g} along x are thinner than cut-off + skin = "
                         f"{rlist:g}: use at most {int((box.hi[0] - box.lo[0]) // rlist)} ranks")


class _LocalShare:
    """This rank's share of the ledger terms (the interface `diagnostics.energy.ledger` reads)."""

    coupled = False

    def __init__(self, integ: DistributedIntegrator) -> None:
        self.integ = integ

    def kinetic(self) -> tuple[float, float]:
        e = self.integ.engine
        return 0.5 * float(np.sum(e.mass * np.sum(e.v * e.v, axis=1))), 0.0

    @property
    def energy(self) -> dict:
        return {"potential_atoms": float(self.integ.engine.energy_local), "potential_continuum": 0.0,
                "coupling": 0.0}

    def momentum(self) -> np.ndarray:
        e = self.integ.engine
        return e.mass @ e.v


class DistributedIntegrator:
    """Velocity Verlet of a `DistributedMD` behind the interface the run loop uses (module docstring).

    model : the serial `build.Model` (every rank); serial : its `VelocityVerlet` (unstepped: the layout of
    the checkpoint dict); comm : `MPIComm`; dt [time]."""

    dissipated = 0.0
    _initialized = True

    def __init__(self, model, serial, comm, dt: float) -> None:  # noqa: ANN001
        self.model, self.serial, self.comm, self.dt = model, serial, comm, float(dt)
        self.system = _LocalShare(self)
        th = model.thermostat
        # the thermostat is a checkpointed part (``hook0``, its step counter) as in the serial run
        self.force_hooks: list = [th] if th is not None else []
        self._th_mask = None
        if th is not None:
            if th.mask is not None:
                self._th_mask = np.asarray(th.mask, bool)
            elif th.region is not None:      # the serial hook's mask: the region on reference positions
                self._th_mask = np.asarray(th.region.contains(model.atoms.X), bool)
        self.engine = None
        a = model.atoms
        self._make(a.x, a.v, step=0, time=0.0, forces=None)

    @property
    def external_work(self) -> float:
        """This rank's share of the work of the thermostat forces [energy] (0 without one)."""
        return float(self.engine.work_local)

    def _make(self, x, v, step: int, time: float, forces, f_ext=None, work: float = 0.0) -> None:  # noqa: ANN001
        """(Re)distribute the atoms: rank 0 gives all of them (global arrays, index = global id)."""
        from ..parallel.engine import DistributedMD
        m, a = self.model, self.model.atoms
        mine = self.comm.rank == 0
        sel = slice(None) if mine else slice(0, 0)
        n = a.n
        types = np.zeros(n, np.int32) if a.types is None else np.asarray(a.types, np.int32)
        self.engine = DistributedMD(
            self.comm, np.asarray(x, float)[sel], np.asarray(v, float)[sel],
            np.asarray(m.system.atom_mass, float)[sel], np.arange(n, dtype=np.int64)[sel], m.potential,
            a.box, a.nlist.skin, types=types[sel], axis=0, newton=None, n_threads=m.threads,
            neighbor=a.nlist.policy, step=int(step),
            forces=None if forces is None else np.asarray(forces, float)[sel],
            thermostat=m.thermostat, thermostat_mask=self._th_mask, dt=self.dt,
            f_ext=None if f_ext is None or forces is None else np.asarray(f_ext, float)[sel])
        self.engine.time = float(time)
        self.engine.work_local = float(work) if mine else 0.0

    # ------------------------------------------------------------------ the loop's interface
    @property
    def step_count(self) -> int:
        return int(self.engine.step_count)

    @property
    def time(self) -> float:
        return float(self.engine.time)

    @property
    def potential(self) -> float:
        return float(self.engine.energy_local)

    def step(self, n: int = 1) -> None:
        """n steps (collective); the clock is step_count · dt as in the serial integrator."""
        self.engine.step(int(n), self.dt)

    def initialize(self) -> None:
        return None

    def verlet_correction(self) -> float:
        """This rank's −(Δt²/8) Σ m a² over its owned atoms [energy]."""
        e = self.engine
        acc = e.forces[: e.n_own] * e.inv_mass[:, None]
        return -0.125 * self.dt ** 2 * float(np.sum(e.mass * np.sum(acc * acc, axis=1)))

    def constraint_residual(self) -> float:
        return 0.0

    def gather(self) -> dict | None:
        """Collective: global arrays sorted by global id on rank 0 (`DistributedMD.gather`), else None."""
        return self.engine.gather(0)

    # ------------------------------------------------------------------ checkpoints
    def get_state(self) -> dict | None:
        """Collective. Rank 0: the `VelocityVerlet.get_state` dict of the gathered state (a serial
        checkpoint: x unwrapped, the neighbour list to be rebuilt at x); other ranks: None."""
        g = self.gather()
        energy = float(self.comm.allreduce(self.engine.energy_local, "sum"))
        work = float(self.comm.allreduce(self.engine.work_local, "sum"))
        if g is None:
            return None
        st = self.serial.get_state()        # the layout and the arrays that are zero in plain MD
        n = len(g["gid"])
        if not np.array_equal(g["gid"], np.arange(n)):
            raise RuntimeError("gathered atoms are not the global ids 0..n-1")
        mass = np.asarray(self.model.system.atom_mass, float)
        st.update({"time": np.array(self.time), "step": np.array(self.step_count, dtype=np.int64),
                   "potential": np.array(energy), "initialized": np.array(True),
                   "acc_atoms": g["forces"] * np.where(mass > 0, 1.0 / np.where(mass > 0, mass, 1.0),
                                                       0.0)[:, None],
                   "f_atoms": g["forces"].copy(), "x": g["x"].copy(), "v": g["v"].copy(),
                   "fext_atoms": g["f_ext"].copy(), "external_work": np.array(work),
                   "atoms.x_build": g["x"].copy(), "atoms.since_build": np.int64(0),
                   "atoms.image": np.zeros((0, g["x"].shape[1]), np.int64)})
        return st

    def set_state(self, st: dict) -> None:
        """A checkpoint of any rank count (every rank reads the same dict): redistribute the atoms with
        that step's forces (and thermostat forces, booked work)."""
        self._make(st["x"], st["v"], step=int(st["step"]), time=float(st["time"]), forces=st["f_atoms"],
                   f_ext=st.get("fext_atoms"), work=float(st.get("external_work", 0.0)))


class DistributedState(State):
    """`State` of a distributed run: the arrays are the engine's owned atoms (module docstring)."""

    def __init__(self, model, integrator: DistributedIntegrator) -> None:  # noqa: ANN001
        super().__init__(model.system, integrator, ids=model.site_ids)
        self.serial_template = None

    @property
    def engine(self):  # noqa: ANN201
        return self.integrator.engine

    @property
    def n_owned(self) -> int:      # noqa: D102
        return int(self.engine.n_own)

    @n_owned.setter
    def n_owned(self, value: int) -> None:   # set by State.__init__; the engine decides
        pass

    def guard_arrays(self) -> dict:
        e = self.engine
        n = e.n_own
        return {"atoms": {"x": e.x[:n], "v": e.v, "forces": e.forces[:n], "gid": e.gid[:n]}}

    def get_state(self) -> dict | None:
        """Collective; the checkpoint dict on rank 0, None elsewhere."""
        st = self.integrator.get_state()
        parts = {name: part.get_state() for name, (part, _) in self._parts.items()}
        if st is None:
            return None
        return {"kind": "dynamics", "integrator": st, **parts}

    def set_state(self, st: dict) -> None:
        self.integrator.set_state(st["integrator"])
        for name, (part, required) in self._parts.items():
            if required or name in st:
                part.set_state(st[name])

    def template(self) -> dict:
        st = {"kind": "dynamics", "integrator": self.integrator.serial.get_state()}
        for name, (part, required) in self._parts.items():
            st[name] = {} if required else part.get_state()
        return st

    def apply_origin(self, origin) -> None:  # noqa: ANN001
        """``--from``: the other run's x, v (global arrays) replace the initial state."""
        self.integrator._make(origin.x, origin.v, step=0, time=0.0, forces=None)

    def not_finite(self) -> tuple[str, str] | None:
        e = self.engine
        for qty, arr in (("x", e.x[: e.n_own]), ("v", e.v)):
            if not np.all(np.isfinite(arr)):
                return "atoms", qty
        return None

    def exploded(self) -> bool:
        return self.not_finite() is not None


class DistributedFields:
    """`run.fields.Fields` of a distributed run: ``frame()`` gathers the atoms to rank 0, puts them into
    the serial model's arrays there and returns the serial frame ((None, None) on the other ranks)."""

    def __init__(self, fields, state: DistributedState, comm) -> None:  # noqa: ANN001
        self.fields, self.state, self.comm = fields, state, comm

    def species(self) -> str:
        return self.fields.species()

    def static(self) -> dict:
        return self.fields.static()

    def frame(self) -> tuple[dict | None, dict | None]:
        g = self.state.integrator.gather()
        if g is None:
            return None, None
        m = self.fields.model
        a, s = m.atoms, m.system
        a.x[...] = g["x"]
        a.v[...] = g["v"]
        a.forces[...] = g["forces"]
        s.f_atoms[...] = g["forces"]
        a.energies[...] = g["energies"]
        return self.fields.frame()


class DistributedMeasure(Measure):
    """Thermo row (the `Reduction`'s ledger of the ranks' shares) and the temperature of all atoms."""

    def __call__(self) -> tuple[dict, dict]:
        row = self.row()
        e = self.state.engine
        T = self.reduce.temperature(e.v, e.mass, self.model.units.boltz)
        return row, {"temperature": T}


class NullWriter:
    """The results writer of ranks > 0: writes nothing (rank 0 writes the gathered data)."""

    def write_thermo(self, *a, **k) -> None:  # noqa: ANN002, ANN003
        return None

    write_observables = write_frame = truncate_after = write_thermo

    def columns(self, table: str) -> dict:  # noqa: ARG002
        return {}

    def close(self) -> None:
        return None


def quiet_record(record):  # noqa: ANN001, ANN201
    """A `RunRecord` that writes no checkpoint file (ranks > 0); ``save_lastgood`` returns its error."""
    class QuietRecord(type(record)):
        def save_checkpoint(self, path, state, **extra) -> None:  # noqa: ANN001, ANN003
            return None

        def save_lastgood(self, path, state, exc, at):  # noqa: ANN001, ANN201
            from ..output.paths import lastgood_path
            if getattr(exc, "collective", False):     # every rank raised it: rank 0 saves, then all stop
                tail = f"The last good state ({at}) is saved in {lastgood_path(path)}"
            else:   # found on this rank alone (a kernel's error inside a step): rank 0 waits in a collective
                tail = (f"The last good state ({at}) could NOT be saved: the blow-up was found on this rank "
                        f"alone while rank 0 waited; the results file holds every finished output step "
                        f"(restart from the last checkpoint, if any, with a smaller time step)")
            return type(exc)(f"{exc}. {tail}", step=exc.step, region=exc.region, quantity=exc.quantity)

    record.__class__ = QuietRecord
    return record


__all__ = ["DeckError", "DistributedFields", "DistributedIntegrator", "DistributedMeasure",
           "DistributedState", "NullWriter", "check_distributable", "quiet_record"]
