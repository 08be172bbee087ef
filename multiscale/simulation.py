"""`Simulation`: a model built from a deck, and its run loop (dynamics or quasi-statics).

Python API (mirrors the deck)::

    from multiscale import load_deck, Simulation
    sim = Simulation.from_deck(load_deck("decks/wave1d.yaml"), threads=2)
    print(sim.summary())
    sim.run(output="wave1d.h5")

Run loop (dynamics, ``integrator.type: verlet``); the step itself is `VelocityVerlet.step` (see
`multiscale/integrate/verlet.py` for the step order):

1. prepare: loads select their atoms/nodes (`load.prepare`), fixed dofs get zero inverse mass, the
   integrator factorises ``G M⁻¹ Gᵀ`` once, loads set initial fields (`load.initialize`), the initial state
   is projected onto the constraints;
2. step 0 is written (thermo, observables, a frame) unless restarting;
3. the integrator advances in chunks up to the next event; at every thermo event the energy ledger and
   the loads' observables are appended to the HDF5 file and the blow-up guard checks the state; at every
   frame event the requested fields are appended; at every checkpoint event the whole state is saved
   atomically (`OUT.checkpoint.h5`). Every write is flushed: a killed run keeps every finished step.
4. a blow-up (NaN/inf, lost atom, energy jump) stops the run with `BlowUpError`; the last good state is
   saved as ``OUT.lastgood.h5`` (a checkpoint ``msim run --restart`` accepts).

Quasi-statics (``integrator.type: fire | lbfgs | precon_lbfgs``): one minimisation per load stage
(`integrate/quasistatic.run_quasistatic`); each stage writes a thermo row, observables and a frame, then
a checkpoint (every ``output.checkpoint_every`` stages, default every stage) with the state to go on at
the next stage; ``--restart`` continues there bitwise. Non-finite energies, forces, positions or loads
stop the run with `BlowUpError`; the state after the last good stage is saved as ``OUT.lastgood.h5``.

Restart (``run(restart=CKPT)``): the checkpoint's checksum, deck fingerprint (the validated deck key by
key and the content of its input files; `output.checkpoint.RESTART_MAY_DIFFER` lists what may change) and
state shapes are checked before the results file is touched. Continuation (``run(start_from=
"PREV.h5:STEP")``): a new run from the state of a frame or checkpoint of another run of the same model
(`output/continuation.py`); the new file records its provenance chain.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from . import __version__
from .build import Model, build_model
from .deck import Deck
from .deck.section import plugin_of
from .diagnostics.energy import ledger
from .diagnostics.guard import BlowUpGuard
from .diagnostics.temperature import group_temperatures
from .errors import BlowUpError, DeckError, KernelError
from .integrate.verlet import VelocityVerlet
from .md.stress import stress_atoms
from .output.checkpoint import (
    RESTART_MAY_DIFFER,
    checkpoint_path,
    deck_fingerprint,
    fingerprint_differences,
    fingerprint_sha256,
    load_checkpoint,
    save_checkpoint,
)
from .output.hardy import node_fields as hardy_node_fields
from .output.hdf5 import ResultsWriter
from .output.paths import lastgood_path
from .output.progress import Progress
from .registry import MINIMIZERS

#: what a numerically exploding state makes the step raise (routed to the blow-up path, exit 3)
_NUMERIC = (ValueError, FloatingPointError, RuntimeError, OverflowError, ZeroDivisionError, MemoryError,
            KernelError)

_THERMO_SKIP = ("step", "time", "momentum")


class _LoadHook:
    """Adapter of a load to `VelocityVerlet.force_hooks`: adds its forces and keeps its energy [energy].

    The integrator books the work of hook forces and of imposed motion (the loads are also its
    ``impose_hooks``) as ``external_work``; the loads' own energies are reported separately
    (``external_energy``), not added to the total.
    """

    def __init__(self, load) -> None:  # noqa: ANN001
        self.load = load
        self.energy = 0.0

    def forces(self, system, t: float, f_atoms: np.ndarray, f_nodes: np.ndarray) -> None:  # noqa: ANN001
        self.energy = float(self.load.apply(t, system, f_atoms, f_nodes)[0])

    def get_state(self) -> dict:
        st = {"energy": self.energy}
        if hasattr(self.load, "get_state"):
            st["load"] = self.load.get_state()
        return st

    def set_state(self, st: dict) -> None:
        self.energy = float(st["energy"])
        if "load" in st and hasattr(self.load, "set_state"):
            self.load.set_state(st["load"])


def _fmt_seconds(t: float) -> str:
    if t < 60:
        return f"{t:.2g} s"
    if t < 3600:
        return f"{t / 60:.2g} min"
    if t < 86400 * 2:
        return f"{t / 3600:.2g} h"
    return f"{t / 86400:.3g} days"


class Simulation:
    """One run of one deck. Build with `from_deck`; `summary()` for `msim validate`; `run()` to run."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.deck: Deck = model.deck
        cfg = self.deck.config
        self.statics = cfg.integrator.type in MINIMIZERS
        self.integrator: VelocityVerlet | None = None
        self.hooks: list = []
        self._prepared = False
        self._qp_to_nodes = None

    @classmethod
    def from_deck(cls, deck: Deck, threads: int | None = None) -> Simulation:
        return cls(build_model(deck, threads))

    # ------------------------------------------------------------------ set-up
    def prepare(self) -> None:
        """Loads, fixed dofs, integrator (constraint factorisation), initial fields. Idempotent."""
        if self._prepared:
            return
        m, s = self.model, self.model.system
        from .loads.wave_packet import WavePacket
        self.initial_conditions = [ld for ld in m.loads if isinstance(ld, WavePacket)]
        self._load_index = [i for i, ld in enumerate(m.loads) if not isinstance(ld, WavePacket)]
        m.loads = [ld for ld in m.loads if not isinstance(ld, WavePacket)]
        atom_mask = np.zeros((s.n_atoms, s.d), bool)
        node_mask = np.zeros((s.n_nodes, s.d), bool)
        from .build import located
        for i, ld in enumerate(m.loads):
            key = f"loads[{self._load_index[i]}]"
            with located(self.deck, key, "the load"):  # e.g. an unknown shape name inside a load
                try:
                    ld.prepare(s)
                except ValueError as exc:
                    raise self.deck.error(key, str(exc)) from exc
            a, n = ld.fixed_dofs()
            if a is not None:
                atom_mask |= a
            if n is not None:
                node_mask |= n
        if not self.statics:
            s.fix_dofs(atom_mask if s.n_atoms else None, node_mask if s.n_nodes else None)
            self.hooks = [_LoadHook(ld) for ld in m.loads]
            if m.thermostat is not None:
                m.thermostat.dt = float(self.deck.config.integrator.dt)
            hooks = list(self.hooks) + ([m.thermostat] if m.thermostat is not None else [])
            ops = [m.damping] if m.damping is not None else []
            with located(self.deck, "integrator", "the integrator"):
                self.integrator = VelocityVerlet(s, self.deck.config.integrator.dt, force_hooks=hooks,
                                                 impose_hooks=list(m.loads), velocity_ops=ops,
                                                 n_threads=m.threads)
            for i, ld in enumerate(m.loads):
                with located(self.deck, f"loads[{self._load_index[i]}]", "the initial state of the load"):
                    ld.initialize(s)
            wave = [i for i, ld in enumerate(self.deck.config.loads) if ld.type == "wave_packet"]
            for i, ic in enumerate(self.initial_conditions):
                with located(self.deck, f"loads[{wave[i]}]" if i < len(wave) else "loads", "the wave packet"):
                    self._wave_packet(ic)
            with located(self.deck, "integrator", "the initial state"):
                self.integrator.project_state()
        self._prepared = True

    def _wave_packet(self, packet) -> None:  # noqa: ANN001
        """Start a one-directional wave packet on a 1D chain (docs/physics.md §6)."""
        from .loads.wave_packet import chain_dispersion
        m = self.model
        if m.atoms is None or m.dim != 1:
            raise self.deck.error("loads", "wave_packet needs a 1D atomistic chain")
        a = m.lattice.a
        shells = np.arange(1, int(m.potential.cutoff / a) + 1) * a
        h = 1e-4 * a
        springs = (m.potential.pair(shells + h)[1] - m.potential.pair(shells - h)[1]) / (2 * h)
        omega = chain_dispersion(a, m.units.mass_to_internal(m.mass_user), springs)
        packet.apply(m.system, self.deck.config.integrator.dt, a, omega)

    def n_steps(self) -> int:
        integ = self.deck.config.integrator
        if self.statics:
            return max([ld.n_stages for ld in self.model.loads] + [1])
        if integ.steps is not None:
            return int(integ.steps)
        if integ.time is not None:
            return int(math.ceil(integ.time / integ.dt - 1e-9))
        return 0

    # ------------------------------------------------------------------ report
    def stable_dt(self) -> dict[str, float]:
        """Stable time step estimates [time]: atoms 2/ω_max (Verlet), continuum h_min/c_max (lumped), and
        for coupled models the handshake's weighted atoms (`diagnostics.stability`: light edge atoms)."""
        from .build import _max_lattice_frequency
        out = {}
        m = self.model
        if m.atoms is not None:
            out["atoms"] = 2.0 / _max_lattice_frequency(m)
        if m.continuum is not None:
            out["continuum"] = float(m.continuum.stable_dt())
        if m.atoms is not None and m.continuum is not None and m.handshake is not None:
            from .diagnostics.stability import weighted_atoms_stable_dt
            out["weighted atoms"], _ = weighted_atoms_stable_dt(self.model.system, m.potential,
                                                                 _max_lattice_frequency(m))
        return out

    def check_time_step(self) -> None:
        """Raise a `DeckError` at ``integrator.dt`` when dt is not below the smallest stable estimate of
        `stable_dt` (dynamics only), unless the deck sets ``integrator.allow_unstable_dt: true``."""
        if self.statics:
            return
        integ = self.deck.config.integrator
        if getattr(integ, "allow_unstable_dt", False):
            return
        dts = self.stable_dt()
        if not dts:
            return
        which, worst = min(dts.items(), key=lambda kv: kv[1])
        if integ.dt >= worst:
            unit = self.model.units.time
            parts = ", ".join(f"{k} {v:.4g}" for k, v in dts.items())
            raise self.deck.error(
                "integrator.dt",
                f"time step {integ.dt:g} {unit} is not below the stable estimate {worst:.4g} {unit} "
                f"({which}; estimates: {parts}): the run would be unstable",
                hint=f"use dt < {worst:.4g} (e.g. {0.5 * worst:.3g}), or set `allow_unstable_dt: true` in "
                     "`integrator` to run anyway")

    def summary(self) -> str:
        """What `msim validate` prints: sizes, handshake checks, time steps, memory."""
        m, s, cfg = self.model, self.model.system, self.deck.config
        lines = [f"deck          {self.deck.path or self.deck.name}", f"units         {m.units.name}",
                 f"dimension     {m.dim}"]
        if m.atoms is not None:
            n_pad = int(len(s.pad_idx))
            lines.append(f"atoms         {m.atoms.n} ({m.atoms.n - n_pad} integrated, {n_pad} pad, "
                         f"{m.n_dropped} lattice sites left to the continuum)")
            if m.lattice is not None:
                lines.append(f"lattice       {m.lattice.describe()}, a = {m.lattice.a:.10g} {m.units.length}")
            else:
                lines.append(f"structure     {m.structure_file}")
            if len(m.type_names) > 1:
                counts = np.bincount(m.atom_types, minlength=len(m.type_names))
                parts = zip(m.type_names, counts, m.type_masses, strict=True)
                lines.append("types         " + ", ".join(f"{n} ({c}, mass {w:g})" for n, c, w in parts))
            lines += [f"note          {note}" for note in m.notes]
            lines.append(f"potential     {cfg.potential.type}, cut-off {m.potential.cutoff:g}, "
                         f"skin {cfg.atoms.skin:g} {m.units.length}")
        if m.continuum is not None:
            mesh = m.continuum.mesh
            blocks = ", ".join(f"{len(b.conn)} {b.type}" for b in mesh.blocks)
            lines.append(f"continuum     {len(mesh.nodes)} nodes, elements: {blocks}; "
                         f"material {cfg.continuum.material.type}")
        if m.handshake is not None:
            from .build import _element_size_across
            need = m.potential.cutoff + cfg.atoms.skin
            h = _element_size_across(m.continuum, m.handshake)
            lines.append(f"handshake     width {m.handshake.width:g} {m.units.length} >= cut-off+skin "
                         f"{need:g} "
                         f"and >= element size {h:g}: ok; blend {cfg.handshake.blend.type}, "
                         f"coupling {cfg.handshake.coupling.type}")
            rep = s.partition_report()
            from .diagnostics.stability import slaved_atoms
            lines.append(f"              {len(s.constrained)} atoms in the handshake, "
                         f"{0 if s.G is None else s.G.shape[0]} constraint rows "
                         f"({len(slaved_atoms(s.G, s.n_free, s.d))} atoms tied one by one to the mesh), "
                         f"partition of unity error {rep['max_pou_error']:.1e}")
            if "volume_error" in rep:
                lines.append("              integral partition of unity: "
                             "(sum beta_a V_a + int alpha dV - V)/V "
                             f"{rep['volume_error']:.1e}, mass (sum beta_a m_a + sum M_I - rho V)/(rho V) "
                             f"{rep['mass_error']:.1e} (V: bounding box of mesh and atom cells)")
            if len(s.floored):
                lines.append(f"              {len(s.floored)} light handshake atoms given the floor mass")
        if self.statics:
            lines.append(f"integrator    {cfg.integrator.type} (statics), {self.n_steps()} load stages")
        else:
            dts = self.stable_dt()
            dt = cfg.integrator.dt
            parts = ", ".join(f"{k} {v:.4g}" for k, v in dts.items())
            worst = min(dts.values()) if dts else math.inf
            verdict = "ok" if dt < worst else "TOO LARGE: the run will be unstable"
            lines.append(f"time step     deck {dt:g} {m.units.time}; stable estimates: {parts} -> {verdict}")
            lines.append(f"steps         {self.n_steps()}")
        from .resources import fmt_bytes, memory_limit
        limit, src = memory_limit()
        lines.append(f"memory        ~{fmt_bytes(self._memory_estimate())} (this machine: "
                     f"{fmt_bytes(limit)}, {src})")
        t = self._time_estimate()
        if t is not None:
            lines.append(f"run time      ~{_fmt_seconds(t)} on {m.threads} thread(s) (rough: "
                         f"{'minimisations' if self.statics else 'steps'} x model size)")
        lines.append(f"threads       {m.threads}")
        return "\n".join(lines)

    def _memory_estimate(self) -> float:
        """Bytes the run holds: atoms (`build.atom_bytes` with the built neighbour list), nodes and
        quadrature points (`fem.generators._structured.mesh_bytes`), the constraint matrices."""
        from .build import atom_bytes
        from .fem.generators._structured import mesh_bytes
        m, s = self.model, self.model.system
        b = 0.0
        if m.atoms is not None:
            n, d = m.atoms.n, m.dim
            ent = getattr(m.atoms.nlist, "n_entries", None) or n * 60
            b += atom_bytes(d, ent / max(n, 1)) * n
        if m.continuum is not None:
            mesh = m.continuum.mesh
            for blk in mesh.blocks:
                b += mesh_bytes(m.dim, blk.type)[1] / 2 * len(blk.conn)
            b += mesh_bytes(m.dim, "")[0] / 2 * len(mesh.nodes)
        if s.G is not None:
            b += s.G.nnz * 16 * 4
        return b

    def _time_estimate(self) -> float | None:
        """Rough wall time [s] of the whole run: per step ~25 ns per neighbour pair and ~0.06 µs per
        quadrature point (1 thread, measured on the gallery decks); a minimisation ~600 force calls."""
        m = self.model
        work = 0.0
        if m.atoms is not None:
            ent = getattr(m.atoms.nlist, "n_entries", None) or m.atoms.n * 60
            work += 25e-9 * ent + 0.1e-6 * m.atoms.n
        if m.continuum is not None:
            work += 0.06e-6 * len(m.continuum.qp_positions)
        calls = self.n_steps() * (600 if self.statics else 1)
        return work * calls / max(1, m.threads) if calls else None

    # ------------------------------------------------------------------ output pieces
    def species(self) -> str:
        """Name of the first atom type (`build.Model.type_names`: ``atoms.species`` of the deck, else the EAM
        potential's first element, else "X", ASE's and OVITO's name for an unknown element)."""
        if self.model.type_names:
            return str(self.model.type_names[0])
        cfg = self.deck.config.atoms
        if cfg is not None and getattr(cfg, "species", None):
            return str(cfg.species)
        elements = getattr(self.model.potential, "elements", None)
        return str(elements[0]) if elements else "X"

    def _static(self) -> dict:
        """Static groups of the results file (layout: `output/hdf5.py`); masses in user units [mass]."""
        m, s = self.model, self.model.system
        st: dict = {}
        if m.atoms is not None:
            st["atoms"] = {"reference_positions": m.atoms.X, "ids": np.asarray(m.site_ids, np.int64),
                           "types": np.asarray(m.atom_types, np.int64),
                           "mass": np.asarray(m.type_masses, float)[m.atom_types],
                           "weight": np.asarray(s.atom_weight, float),
                           "pad": np.asarray(s.pad, np.int8),
                           "type_names": np.array(m.type_names),
                           "type_masses": np.array(m.type_masses, float),
                           "index": np.arange(m.atoms.n, dtype=np.int64)}   # vertex list of the XDMF
            box = m.atoms.box
            st["box"] = {"lo": np.asarray(box.lo, float), "hi": np.asarray(box.hi, float),
                         "periodic": np.asarray(box.periodic, np.int8)}
            if s.coupled:
                from .diagnostics.stability import slaved_atoms
                tied = np.zeros(m.atoms.n, np.int8)
                tied[s.free[slaved_atoms(s.G, s.n_free, s.d)]] = 1
                st["atoms"]["tied_to_mesh"] = tied      # strong rows: u_a = Σ N_I U_I
                # β̄ m [mass]
                st["atoms"]["coupled_mass"] = m.units.mass_from_internal(np.asarray(s.atom_mass, float))
        # what the frames' "time" is: time [time] in dynamics, the load-stage index in quasi-statics
        st["run"] = {"kind": "quasistatic" if self.statics else "dynamics",
                     "integrator": str(getattr(self.deck.config.integrator, "type", ""))}
        if m.continuum is not None:
            mesh = m.continuum.mesh
            conn, types = {}, {}
            for i, blk in enumerate(mesh.blocks):
                name = f"block{i}_{blk.type}"
                conn[name] = np.asarray(blk.conn, np.int64)
                types[name] = blk.type
            st["mesh"] = {"nodes": mesh.nodes, "connectivity": conn, "element_types": types,
                          "alpha_qp": np.asarray(m.continuum.alpha_qp, float),
                          "lumped_mass": m.units.mass_from_internal(np.asarray(s.node_mass, float))}
            if mesh.node_sets:
                st["mesh"]["node_sets"] = {k: np.asarray(v, np.int64) for k, v in mesh.node_sets.items()}
        return st

    def _frame(self) -> tuple[dict | None, dict | None]:
        m, s = self.model, self.model.system
        fields = self.deck.config.output.fields
        atoms = nodes = None
        if m.atoms is not None:
            a = m.atoms
            # position: wrapped into the periodic box; displacement: unwrapped x − X (continuous)
            table = {"position": a.wrapped_positions, "displacement": lambda: a.x - a.X,
                     "velocity": lambda: a.v,
                     "force": lambda: s.f_atoms, "energy": lambda: a.energies,
                     "weight": lambda: s.atom_weight,
                     # (n, d*d) [energy] = -(m v⊗v + W_a), LAMMPS stress/atom / nktv2p (md/stress.py)
                     "stress_atom": lambda: stress_atoms(a, mass=s.atom_mass)}
            atoms = {f: np.array(table[f]()) for f in fields if f in table}
        if m.continuum is not None:
            c = m.continuum
            table = {"position": lambda: c.nodes + c.U, "displacement": lambda: c.U, "velocity": lambda: c.V,
                     "force": lambda: s.f_nodes, "stress": lambda: self._nodal("stress"),
                     "strain": lambda: self._nodal("strain")}
            nodes = {f: np.array(table[f]()) for f in fields if f in table}
            # hardy_*: kernel averages of the atoms at the nodes (output/hardy.py)
            nodes.update(hardy_node_fields(m, fields, lambda: self._nodal("stress")))
        return atoms, nodes

    def _nodal(self, what: str) -> np.ndarray:
        """Quadrature-point field smoothed to the nodes (volume-weighted shape-function average), (N, d*d).

        ``strain``: Green–Lagrange E = ½(FᵀF − I); ``stress`` [energy/length^d]: for linear materials their
        (small-strain, symmetric) stress C:ε, for nonlinear ones the Cauchy stress σ = P Fᵀ / det F.
        """
        c = self.model.continuum
        if self._qp_to_nodes is None:
            Nq = c.interpolation_matrix(c.qp_positions).tocsr()          # (nq, N)
            w = np.asarray(Nq.T @ c.qp_volumes).ravel()
            self._qp_to_nodes = (Nq.T @ sp.diags(c.qp_volumes), np.where(w > 0, w, 1.0))
        F = c.deformation_gradients()
        d = F.shape[1]
        if what == "strain":
            q = 0.5 * (np.einsum("qki,qkj->qij", F, F) - np.eye(d))
        else:
            P = c.material.evaluate(F)[0]
            if not getattr(c.material, "is_linear", False):
                P = np.einsum("qik,qjk->qij", P, F) / np.linalg.det(F)[:, None, None]
            q = P
        A, w = self._qp_to_nodes
        return np.asarray(A @ q.reshape(len(q), d * d)) / w[:, None]

    def _observables(self) -> dict:
        out: dict = {}
        for ld in self.model.loads:
            out.update(ld.observables())
        m = self.model
        if m.atoms is not None and len(m.system.free):
            from .md.velocities import kinetic_temperature
            s = m.system
            out["temperature"] = kinetic_temperature(m.atoms.v[s.free], s.atom_mass[s.free], m.units.boltz)
            if s.coupled:   # per group: core, handshake, pad atoms, mesh nodes (diagnostics/temperature.py)
                out.update(group_temperatures(s, m.units.boltz))
        return out

    def _thermo_row(self) -> dict:
        rec = ledger(self.integrator)
        row = {k: float(v) for k, v in rec.items() if k not in _THERMO_SKIP}
        for i, p in enumerate(np.atleast_1d(rec["momentum"])):
            row["momentum_" + "xyz"[i]] = float(p)
        row["external_energy"] = float(sum(h.energy for h in self.hooks))
        return row

    def _state(self) -> dict:
        st = {"kind": "dynamics", "integrator": self.integrator.get_state(), "guard": self._guard.state()}
        for i, h in enumerate(self.integrator.force_hooks):
            if hasattr(h, "get_state"):
                st[f"hook{i}"] = h.get_state()
        return st

    def _set_state(self, st: dict) -> None:
        self.integrator.set_state(st["integrator"])
        self._guard.set_state(st["guard"])
        for i, h in enumerate(self.integrator.force_hooks):
            if f"hook{i}" in st and hasattr(h, "set_state"):
                h.set_state(st[f"hook{i}"])

    def _meta(self, **extra: object) -> dict:
        """Root attributes of this run's checkpoints: version, the deck's fingerprint, provenance."""
        meta = {"msim_version": __version__, "deck": json.dumps(self._fingerprint, sort_keys=True),
                "deck_sha256": fingerprint_sha256(self._fingerprint)}
        if self._provenance:
            meta["provenance"] = json.dumps(self._provenance)
        meta.update(extra)
        return meta

    def _restart_state(self, restart: str | Path) -> dict:
        """Read and check a checkpoint for `--restart`: checksum (in `load_checkpoint`), same deck (key by
        key, input files by content), a state that fits this model. `DeckError` (exit 2) otherwise."""
        state, meta = load_checkpoint(restart, with_meta=True)
        where = str(restart)
        if "deck" not in meta:
            raise DeckError("the checkpoint does not record the deck it belongs to: cannot check that it "
                            "fits this deck", file=where)
        try:
            old = json.loads(meta["deck"])
        except (TypeError, ValueError):
            raise DeckError("damaged checkpoint: its deck record is not readable", file=where) from None
        diffs = fingerprint_differences(old, self._fingerprint)
        if diffs:
            raise DeckError(f"cannot restart: this deck differs from the one that wrote the checkpoint in "
                            f"{len(diffs)} key(s): " + "; ".join(diffs), file=where,
                            hint="on restart only " + ", ".join(RESTART_MAY_DIFFER) + " may change; to go "
                                 "on with a changed deck start a new run with --from " + where)
        if self.statics:
            from .integrate.quasistatic import static_state
            template = static_state(self.model.system, self.model.loads, 0)
        else:
            template = {"kind": "dynamics", "integrator": self.integrator.get_state(), "guard": {}}
            for i, h in enumerate(self.integrator.force_hooks):
                if hasattr(h, "get_state"):
                    template[f"hook{i}"] = h.get_state()
        problem = _state_mismatch(template, state)
        if problem is not None:
            raise DeckError(f"unusable checkpoint: {problem}", file=where)
        self._provenance = json.loads(meta.get("provenance", "[]"))
        return state

    def _output_path(self, output: str | Path | None) -> Path:
        """The results file (`output/paths.py`: ``-o``, else ``output.file``, else ``<deck>.h5``), checked:
        DeckError if it is an input of the run or one of its own companion files (``res.xdmf``), a
        directory or unwritable. Replacing an existing file is the caller's decision (``msim run``
        refuses it without ``--overwrite``)."""
        from .output import paths
        path = paths.results_path(self.deck, output)
        paths.check_output(path, inputs=paths.deck_inputs(self.deck), overwrite=True)
        return path

    # ------------------------------------------------------------------ run
    def run(self, output: str | Path | None = None, steps: int | None = None,
            restart: str | Path | None = None, progress: str = "auto",
            start_from: str | Path | None = None, stages: int | None = None) -> Path:
        """Run the deck; returns the path of the HDF5 results file (an XDMF sidecar is written next to it).

        output : results file (default: ``output.file`` of the deck, else ``<deck name>.h5``)
        steps : override the number of steps (dynamics) / load stages (statics)
        stages : the number of load stages to run (statics; at most the deck's, same as ``steps`` there)
        restart : a checkpoint written by an earlier run of the same deck (see `RESTART_MAY_DIFFER` for what
            may change); results are appended to its file
        start_from : ``FILE[:STEP]``, a results file (and step) or a checkpoint: start this (new) run from
            that state (`multiscale.output.continuation`)
        progress : "auto" | "bar" | "log" | "quiet"
        """
        self.check_time_step()
        self.prepare()
        path = self._output_path(output)
        cfg = self.deck.config
        seed = getattr(cfg.integrator, "seed", None)
        if restart is not None and start_from is not None:
            raise DeckError("--restart and --from exclude each other: --restart goes on with the same run "
                            "and deck, --from starts a new run from another run's state")
        total = self._length(steps, stages)
        self._fingerprint = deck_fingerprint(self.deck)
        self._provenance: list = []
        ck_state = origin = None
        if restart is not None:
            ck_state = self._restart_state(restart)
            if not path.exists():
                raise DeckError(f"cannot restart: results file {path} does not exist (give the same -o as "
                                "the interrupted run)")
        if start_from is not None:
            from .output.continuation import check_compatible, read_origin
            origin = read_origin(start_from, need_velocities=not self.statics)
            check_compatible(origin, self._static(), str(start_from))
            self._provenance = origin.provenance
        try:
            writer = ResultsWriter(path, deck_text=self.deck.text, units=self.model.units.name, seed=seed,
                                   msim_version=__version__, static=self._static(),
                                   compression=cfg.output.compression, append=restart is not None,
                                   attrs={"provenance": json.dumps(self._provenance)} if origin else None)
        except ValueError as exc:          # appending to a results file of another model
            if restart is None:
                raise
            raise DeckError(f"cannot restart: {exc}", file=str(path)) from None
        try:
            if self.statics:
                self._run_statics(writer, path, total, ck_state, origin, progress)
            else:
                self._run_dynamics(writer, path, total, ck_state, origin, progress)
        finally:
            writer.close()
            from .output.xdmf import write_xdmf
            try:
                write_xdmf(path)
            except Exception:  # noqa: BLE001 - the HDF5 file is the result; the sidecar is a convenience
                pass
        return path

    def _length(self, steps: int | None, stages: int | None) -> int:
        """Steps (dynamics) or load stages (statics) to run; `DeckError` for a value that does not fit."""
        if not self.statics:
            if stages is not None:
                raise DeckError("--stages limits the load stages of a quasi-static deck; this deck runs "
                                "dynamics (integrator.type: verlet): use --steps")
            return int(steps) if steps is not None else self.n_steps()
        if steps is not None and stages is not None and int(steps) != int(stages):
            raise DeckError(f"--steps {steps} and --stages {stages} disagree (for a quasi-static deck both "
                            "count load stages): give one")
        n = stages if stages is not None else steps
        deck_n = self.n_steps()
        if n is None:
            return deck_n
        if int(n) > deck_n:
            raise DeckError(f"--stages {n}: the deck has {deck_n} load stages", hint="to load further, "
                            "write more stages in a new deck and continue with --from")
        return int(n)

    def _apply_origin(self, origin) -> None:  # noqa: ANN001
        """Dynamics: the continuation's state replaces the initial one; dofs fixed by this deck at rest."""
        s = self.model.system
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

    def _save_lastgood(self, path: Path, state: dict, exc: BlowUpError, at: str) -> BlowUpError:
        bad = lastgood_path(path)
        save_checkpoint(bad, state, meta=self._meta())
        return BlowUpError(f"{exc}. The last good state ({at}) is saved in {bad}", step=exc.step,
                           region=exc.region, quantity=exc.quantity)

    def _run_dynamics(self, writer: ResultsWriter, path: Path, total: int, ck_state: dict | None,
                      origin, progress: str) -> None:  # noqa: ANN001
        cfg, integ = self.deck.config, self.integrator
        out = cfg.output
        if origin is not None:
            self._apply_origin(origin)
        self._guard = BlowUpGuard()   # for the initial state; replaced below once the energy floor is known
        initial = self._state() if ck_state is None else None
        try:
            try:
                self._guard = BlowUpGuard(energy_floor=self._energy_floor())
                if ck_state is not None:
                    self._set_state(ck_state)
                    writer.truncate_after(integ.step_count)
                else:
                    self._write_events(writer, 0, thermo=True, frame=True)
            except _NUMERIC as exc:  # e.g. a wave packet of amplitude 1e30: atoms beyond the neighbour grid
                self._blowup_from(exc, integ.step_count)
        except BlowUpError as exc:        # the initial state itself is bad: keep it for inspection
            if initial is None:
                raise
            raise self._save_lastgood(path, initial, exc, "the initial state, step 0") from None
        ckpt = checkpoint_path(path)
        every = [out.thermo_every, out.every] + ([out.checkpoint_every] if out.checkpoint_every else [])
        last_good = self._state()
        with Progress(total, mode=progress, start_step=integ.step_count) as bar:
            while integ.step_count < total:
                k = integ.step_count
                nxt = min([total] + [(k // e + 1) * e for e in every])
                try:
                    try:
                        integ.step(nxt - k)
                    except _NUMERIC as exc:  # e.g. the neighbour grid of atoms flown to 1e300
                        self._blowup_from(exc, k)
                    k = nxt
                    thermo = k % out.thermo_every == 0 or k == total
                    frame = k % out.every == 0 or k == total
                    row = self._write_events(writer, k, thermo=thermo, frame=frame)
                except BlowUpError as exc:
                    raise self._save_lastgood(path, last_good, exc,
                                              f"step {self._guard.last_good_step}") from None
                if thermo:
                    last_good = self._state()
                if out.checkpoint_every and k % out.checkpoint_every == 0:
                    save_checkpoint(ckpt, self._state(), meta=self._meta(step=k))
                if row is not None:
                    bar.update(k, energy=row["total_plus_dissipated"],
                               **({"T": row["temperature"]} if "temperature" in row else {}))
                else:
                    bar.update(k)

    def _blowup_from(self, exc: Exception, k: int) -> None:
        """A kernel failed inside a chunk of steps: if the state is no longer finite, that is a blow-up."""
        s = self.model.system
        checks = []
        if s.atoms is not None:
            checks += [("atoms", "x", s.atoms.x), ("atoms", "v", s.atoms.v)]
        if s.continuum is not None:
            checks += [("continuum", "U", s.continuum.U), ("continuum", "V", s.continuum.V)]
        for region, qty, arr in checks:
            if not np.all(np.isfinite(arr)):
                raise BlowUpError(f"blow-up at step {self.integrator.step_count + 1} (after step {k} was "
                                  f"written): quantity {qty} of region '{region}' is no longer finite "
                                  f"({type(exc).__name__}: {exc}); the time "
                                  "step is probably too large", step=self.integrator.step_count,
                                  region=region, quantity=qty) from exc
        if s.atoms is not None and s.atoms.n:
            # an atom crossing a sizeable part of the box in one step is a blow-up, finite or not
            jump = float(np.max(np.abs(s.atoms.v))) * self.integrator.dt
            size = float(np.min(s.atoms.box.hi - s.atoms.box.lo))
            if jump > 0.25 * size:
                raise BlowUpError(f"blow-up at step {self.integrator.step_count + 1} (after step {k} was "
                                  f"written): in region 'atoms' an atom moves {jump:.3g} "
                                  f"{self.model.units.length} "
                                  f"per step (box {size:.3g}) "
                                  f"({type(exc).__name__}: {exc}); the time step is probably too large",
                                  step=self.integrator.step_count, region="atoms", quantity="v") from exc
        raise exc

    def _state_exploded(self) -> bool:
        """True when positions are no longer finite or some atom moved further than the atoms' extent."""
        s = self.model.system
        if s.atoms is not None and s.atoms.n:
            x, X = s.atoms.x, s.atoms.X
            if not np.all(np.isfinite(x)):
                return True
            ext = float(np.max(np.ptp(X, axis=0))) if len(X) > 1 else 1.0
            if float(np.max(np.abs(x - X))) > max(ext, 1.0):
                return True
        if s.continuum is not None and not np.all(np.isfinite(s.continuum.U)):
            return True
        return False

    def _energy_floor(self) -> float:
        """Energy scale for the guard's jump test: the initial |energy| terms (plus one ε per atom)."""
        rec = ledger(self.integrator)
        scale = sum(abs(float(rec[k])) for k in ("kinetic_atoms", "kinetic_continuum", "potential_atoms",
                                                   "potential_continuum"))
        n = self.model.atoms.n if self.model.atoms is not None else 1
        return max(scale, 1e-3 * n)

    def _write_events(self, writer: ResultsWriter, k: int, *, thermo: bool, frame: bool) -> dict | None:
        integ, s = self.integrator, self.model.system
        row = None
        if thermo:
            row = self._thermo_row()
            obs = self._observables()
            arrays = {}
            if s.atoms is not None:
                arrays["atoms"] = {"x": s.atoms.x, "v": s.atoms.v, "forces": s.f_atoms}
            if s.continuum is not None:
                arrays["continuum"] = {"U": s.continuum.U, "V": s.continuum.V, "forces": s.f_nodes}
            self._guard.check(k, arrays, energy_total=row["total_plus_dissipated"],
                              box=s.atoms.box if s.atoms is not None else None,
                              energies={"atoms": row["potential_atoms"] + row["kinetic_atoms"],
                                        "continuum": row["potential_continuum"] + row["kinetic_continuum"]})
            # the energy scale grows as loads do work: let the jump test follow it (after the check)
            scale = sum(abs(row[t]) for t in ("kinetic_atoms", "kinetic_continuum", "potential_continuum",
                                              "external_work", "dissipated"))
            self._guard.energy_floor = max(self._guard.energy_floor, scale)
            writer.write_thermo(k, integ.time, row)
            if obs:
                writer.write_observables(k, integ.time, obs)
                row.update({f"obs.{kk}": v for kk, v in obs.items()})
                if "temperature" in obs:
                    row["temperature"] = obs["temperature"]
        if frame:
            atoms, nodes = self._frame()
            writer.write_frame(k, integ.time, atoms, nodes)
        return row

    def _run_statics(self, writer: ResultsWriter, path: Path, n: int, ck_state: dict | None,
                     origin, progress: str) -> None:  # noqa: ANN001
        """One minimisation per load stage; a checkpoint after every ``output.checkpoint_every`` converged
        stages (default: every stage), holding the state to go on at the next stage. A blow-up (non-finite
        energy, forces, positions or loads) saves the state after the last good stage in OUT.lastgood.h5."""
        from .integrate.quasistatic import run_quasistatic, static_state
        integ_cfg = self.deck.config.integrator
        minimizer = plugin_of(integ_cfg).from_params(integ_cfg, self.model.units)
        s, loads = self.model.system, self.model.loads
        every = self.deck.config.output.checkpoint_every or 1
        ckpt = checkpoint_path(path)
        start, state = 0, None
        if ck_state is not None:
            start, state = int(ck_state["next_stage"]), ck_state
            writer.truncate_after(start - 1)
        elif origin is not None:
            state = {"x": origin.x, "U": origin.U}
        last_good: dict = {}

        with Progress(n, mode=progress, start_step=start) as bar:
            def callback(i: int, rec: dict) -> bool:
                row = {k: float(v) for k, v in rec.items()
                       if isinstance(v, int | float | np.floating | np.integer) and k != "stage"}
                writer.write_thermo(i, float(i), row)
                obs = {k: v for k, v in row.items() if "." in k}
                if obs:
                    writer.write_observables(i, float(i), obs)
                atoms, nodes = self._frame()
                writer.write_frame(i, float(i), atoms, nodes)
                last_good.update(static_state(s, loads, i + 1))
                if (i + 1) % every == 0 or i + 1 == n:
                    save_checkpoint(ckpt, last_good, meta=self._meta(step=i, next_stage=i + 1))
                bar.update(i + 1, energy=row["energy"], fmax=row["max_force"])
                return False

            def initial() -> None:
                last_good.update(static_state(s, loads, start))

            try:
                try:
                    run_quasistatic(s, loads, minimizer, stages=n, callback=callback,
                                    start=start, state=state, after_start=initial)
                except _NUMERIC as exc:
                    # extreme but valid numbers (an indenter stiffness of 1e99): the minimisation diverges
                    if (isinstance(exc, ValueError | RuntimeError | KernelError)
                            and not self._state_exploded()):
                        raise
                    raise BlowUpError(f"the minimisation diverged ({type(exc).__name__}: {exc}); a load or "
                                      "stiffness is probably far too large", step=-1, region="all",
                                      quantity="energy") from None
            except BlowUpError as exc:
                at = (f"after load stage {last_good['next_stage'] - 1}" if last_good.get("next_stage")
                      else "the initial state, before load stage 0")
                raise self._save_lastgood(path, last_good, exc, at) from None


def _state_mismatch(template: object, state: object, where: str = "state") -> str | None:
    """Why a checkpoint's state cannot be this model's (missing entries, arrays of other shapes), or None."""
    if isinstance(template, dict):
        if not isinstance(state, dict):
            return f"{where} is not a group"
        if template and not state:
            return f"{where} is empty"
        for k, v in template.items():
            if k not in state:
                if isinstance(v, dict) and not v:
                    continue
                return f"{where} has no entry '{k}'"
            problem = _state_mismatch(v, state[k], f"{where}/{k}")
            if problem is not None:
                return problem
    elif isinstance(template, np.ndarray) and template.ndim:
        if not isinstance(state, np.ndarray):
            return f"{where} is not an array"
        if state.ndim != template.ndim or (state.shape != template.shape and template.shape[0]
                                            and state.shape[0]) or state.shape[1:] != template.shape[1:]:
            return f"{where} has shape {state.shape}, this model needs {template.shape}"
    return None
