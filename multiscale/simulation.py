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

Quasi-statics (``integrator.type: fire | lbfgs``): one minimisation per load stage
(`integrate/quasistatic.run_quasistatic`); each stage writes a thermo row, observables and a frame.
"""

from __future__ import annotations

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
from .errors import BlowUpError, DeckError
from .integrate.verlet import VelocityVerlet
from .md.stress import stress_atoms
from .output.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from .output.hardy import node_fields as hardy_node_fields
from .output.hdf5 import ResultsWriter
from .output.paths import lastgood_path
from .output.progress import Progress
from .registry import MINIMIZERS

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
        for i, ld in enumerate(m.loads):
            try:
                ld.prepare(s)
            except ValueError as exc:
                raise self.deck.error(f"loads[{self._load_index[i]}]", str(exc)) from exc
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
            self.integrator = VelocityVerlet(s, self.deck.config.integrator.dt, force_hooks=hooks,
                                             impose_hooks=list(m.loads), velocity_ops=ops,
                                             n_threads=m.threads)
            for ld in m.loads:
                ld.initialize(s)
            for ic in self.initial_conditions:
                self._wave_packet(ic)
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
            lines.append(f"lattice       {m.lattice.kind}, a = {m.lattice.a:.10g} {m.units.length}")
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
        lines.append(f"memory        ~{self._memory_estimate() / 2**20:.1f} MiB")
        lines.append(f"threads       {m.threads}")
        return "\n".join(lines)

    def _memory_estimate(self) -> float:
        m, s = self.model, self.model.system
        b = 0.0
        if m.atoms is not None:
            n, d = m.atoms.n, m.dim
            ent = getattr(m.atoms.nlist, "n_entries", None) or n * 60
            b += n * d * 8 * 10 + ent * 16
        if m.continuum is not None:
            N, d = len(m.continuum.nodes), m.dim
            nq = len(m.continuum.qp_positions)
            b += N * d * 8 * 10 + nq * (d * d * 8 * 4 + 8 * 4)
        if s.G is not None:
            b += s.G.nnz * 16 * 4
        return b

    # ------------------------------------------------------------------ output pieces
    def species(self) -> str:
        """Name of the (single) atom type: ``atoms.species`` of the deck, else the EAM potential's first
        element, else "X" (ASE's and OVITO's name for an unknown element)."""
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
                           "types": np.zeros(m.atoms.n, np.int64),
                           "mass": np.full(m.atoms.n, float(m.mass_user)),
                           "weight": np.asarray(s.atom_weight, float),
                           "pad": np.asarray(s.pad, np.int8),
                           "type_names": np.array([self.species()]),
                           "type_masses": np.array([float(m.mass_user)]),
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
        st = {"integrator": self.integrator.get_state(), "guard": self._guard.state()}
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
            restart: str | Path | None = None, progress: str = "auto") -> Path:
        """Run the deck; returns the path of the HDF5 results file (an XDMF sidecar is written next to it).

        output : results file (default: ``output.file`` of the deck, else ``<deck name>.h5``)
        steps : override the number of steps (dynamics) / stages (statics)
        restart : a checkpoint written by an earlier run of the same deck; results are appended to its file
        progress : "auto" | "bar" | "log" | "quiet"
        """
        self.check_time_step()
        self.prepare()
        path = self._output_path(output)
        cfg = self.deck.config
        seed = getattr(cfg.integrator, "seed", None)
        if restart is not None and not path.exists():
            raise DeckError(f"cannot restart: results file {path} does not exist (give the same -o as the "
                            "interrupted run)")
        writer = ResultsWriter(path, deck_text=self.deck.text, units=self.model.units.name, seed=seed,
                               msim_version=__version__, static=self._static(),
                               compression=cfg.output.compression, append=restart is not None)
        try:
            if self.statics:
                self._run_statics(writer, steps, progress)
            else:
                self._run_dynamics(writer, path, steps, restart, progress)
        finally:
            writer.close()
            from .output.xdmf import write_xdmf
            try:
                write_xdmf(path)
            except Exception:  # noqa: BLE001 - the HDF5 file is the result; the sidecar is a convenience
                pass
        return path

    def _run_dynamics(self, writer: ResultsWriter, path: Path, steps: int | None,
                      restart: str | Path | None, progress: str) -> None:
        cfg, integ = self.deck.config, self.integrator
        out = cfg.output
        total = int(steps) if steps is not None else self.n_steps()
        self._guard = BlowUpGuard(energy_floor=self._energy_floor())
        if restart is not None:
            self._set_state(load_checkpoint(restart))
            writer.truncate_after(integ.step_count)
        else:
            self._write_events(writer, 0, thermo=True, frame=True)
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
                    except (ValueError, FloatingPointError, RuntimeError) as exc:
                        self._blowup_from(exc, k)
                    k = nxt
                    thermo = k % out.thermo_every == 0 or k == total
                    frame = k % out.every == 0 or k == total
                    row = self._write_events(writer, k, thermo=thermo, frame=frame)
                except BlowUpError as exc:
                    bad = lastgood_path(path)
                    save_checkpoint(bad, last_good, meta={"msim_version": __version__})
                    raise BlowUpError(f"{exc}. The last good state (step {self._guard.last_good_step}) is "
                                      f"saved in {bad}", step=exc.step, region=exc.region,
                                      quantity=exc.quantity) from None
                if thermo:
                    last_good = self._state()
                if out.checkpoint_every and k % out.checkpoint_every == 0:
                    save_checkpoint(ckpt, self._state(), meta={"msim_version": __version__, "step": k})
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

    def _run_statics(self, writer: ResultsWriter, stages: int | None, progress: str) -> None:
        from .integrate.quasistatic import run_quasistatic
        integ_cfg = self.deck.config.integrator
        minimizer = plugin_of(integ_cfg).from_params(integ_cfg, self.model.units)
        n = int(stages) if stages is not None else self.n_steps()
        s = self.model.system

        with Progress(n, mode=progress) as bar:
            def callback(i: int, rec: dict) -> bool:
                row = {k: float(v) for k, v in rec.items()
                       if isinstance(v, int | float | np.floating | np.integer) and k != "stage"}
                writer.write_thermo(i, float(i), row)
                obs = {k: v for k, v in row.items() if "." in k}
                if obs:
                    writer.write_observables(i, float(i), obs)
                atoms, nodes = self._frame()
                writer.write_frame(i, float(i), atoms, nodes)
                bar.update(i + 1, energy=row["energy"], fmax=row["max_force"])
                return False

            run_quasistatic(s, self.model.loads, minimizer, stages=n, callback=callback)
