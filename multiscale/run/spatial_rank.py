"""A coupled dynamics run on the spatial path built PER RANK: no rank builds the serial model
(`parallel.rank_build`; docs/parallel.md "Per-rank memory of the spatial path", "The wiring").

Taken by ``msim run`` on the spatial path when `parallel.rank_build.per_rank_refusal` accepts the deck (one
place, each reason named); every other deck keeps `run.spatial` (every rank builds the serial model). A
deck runs fully on one or the other. The pieces are those of `run.spatial` with the serial model replaced:

* `RankIntegrator` (a `run.spatial.SpatialIntegrator`): `SpatialCoupled.from_rank_model` steps the run;
  the ledger shares, the Verlet correction and the constraint residual are `SpatialIntegrator`'s;
  ``gather_serial`` gathers the owned atoms to RANK 0 into its `RootArrays` (O(n) on rank 0 only, as
  today's serial arrays there), ``get_state`` is the serial checkpoint dict (`VelocityVerlet.get_state`'s
  keys, the neighbour list to be rebuilt at x, as `SpatialIntegrator.get_state`);
* `RootArrays`: the static per-atom columns (reference positions, site ids, types, β̄, pads, β̄ m) gathered
  to rank 0 once at set-up in global-id order, and the arrays each frame / checkpoint is gathered into;
* `RankFields`: the results file's static groups and frames from them (`run.fields.Fields`' layout and
  expressions), `RankMeasure`: `run.spatial.SpatialMeasure` from the per-rank pieces;
* `RankSimulation`: what ``msim run`` (`cli._run_mpi`) asks of a `Simulation`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np

from .spatial import SpatialFields, SpatialIntegrator, SpatialMeasure, SpatialState

__all__ = ["RankIntegrator", "RankSimulation", "RootArrays"]


class RootArrays:
    """Rank 0's arrays over all atoms (global-id order): the static columns gathered once (collective) and
    the dynamic ones each gather fills. Other ranks hold nothing (``None`` attributes)."""

    def __init__(self, rm, comm) -> None:  # noqa: ANN001
        from ..parallel.engine import _pack_rows, _unpack_rows
        st = rm.sites
        cols = [st.gid, st.X, st.site_id, st.types, st.weight, st.pad, st.mass]
        rows = _pack_rows(cols)
        parts = comm.gather(rows, 0) if comm.size > 1 else [rows]
        self.root = comm.rank == 0
        if not self.root:
            for k in ("X", "site_id", "types", "weight", "pad", "atom_mass", "x", "v", "f_atoms", "acc_atoms",
                      "energies", "fext_atoms"):
                setattr(self, k, None)
            return
        allrows = np.concatenate(parts)
        del parts
        gid, X, sid, types, w, pad, am = _unpack_rows(allrows, cols)
        del allrows
        n, d = rm.bsys.n_atoms, rm.bsys.d
        if not np.array_equal(np.sort(gid), np.arange(n)):
            raise RuntimeError("the ranks' sites are not every atom once")
        o = np.argsort(gid, kind="stable")
        self.X = np.ascontiguousarray(X[o])
        self.site_id, self.types, self.weight = sid[o], types[o], w[o]
        self.pad, self.atom_mass = pad[o].astype(bool), am[o]
        self.x, self.v = np.zeros((n, d)), np.zeros((n, d))
        self.f_atoms, self.acc_atoms = np.zeros((n, d)), np.zeros((n, d))
        self.energies, self.fext_atoms = np.zeros(n), np.zeros((n, d))


class RankIntegrator(SpatialIntegrator):
    """`SpatialIntegrator` of a run built per rank (module docstring); ``serial`` is None."""

    def __init__(self, rm, comm, root_arrays: RootArrays) -> None:  # noqa: ANN001
        self.rm, self.model, self.serial, self.comm = rm, None, None, comm
        self.root = comm.rank == 0
        self.dt = float(rm.dt)
        self.force_hooks = list(rm.hooks)
        self.velocity_ops = []
        b = rm.bsys
        self.node_mass = np.asarray(b.node_mass, float)
        inv_n = np.asarray(b.inv_nodes, float).reshape(-1)          # `CoupledSystem.inv_mass_dof`'s nodes
        self._m_nodes = np.where(inv_n > 0, 1.0 / np.where(inv_n > 0, inv_n, 1.0), 0.0)
        self.out = root_arrays
        from .spatial import _Share
        self.system = _Share(self)
        self.sc = None
        self._make()
        self.acc_nodes = self.f_nodes = self.fext_nodes = None
        self.step_count_root = 0

    def _make(self) -> None:
        from ..parallel.coupled_spatial import SpatialCoupled
        self.sc = SpatialCoupled.from_rank_model(self.rm, self.comm)

    def gather_serial(self) -> bool:
        """Collective: the owned atoms' x, v, forces, accelerations and per-atom energies gathered to rank 0
        into `RootArrays` (pads: x = X + N U, v = N V, the serial `CoupledSystem.update_pads`' kernel);
        True on rank 0."""
        sc = self.sc
        e = sc.engine
        no = e.n_own
        cols = [e.gid[:no], e.x[:no], e.v, e.forces[:no], sc.acc_own, e.atom_energies()]
        from .spatial import gather_rows_to_root
        if not self.root:
            gather_rows_to_root(self.comm, cols, None)
            return False
        A = self.out
        gather_rows_to_root(self.comm, cols, [A.x, A.v, A.f_atoms, A.acc_atoms, A.energies])
        if sc.n_pad:
            k, pad, Np, Ni, Nx, Xp, _, _ = self.rm.bsys._pads()
            k.pads_follow(pad, Np, Ni, Nx, Xp, sc.cont.U, sc.cont.V, A.x, A.v, 1)
        self.acc_nodes = sc.acc_nodes
        self.f_nodes = sc.f_nodes
        self.fext_nodes = sc.loads.fext_nodes
        return True

    def get_state(self) -> dict | None:
        """Collective. Rank 0: `VelocityVerlet.get_state`'s dict of the gathered state (the neighbour list to
        be rebuilt at x, as `SpatialIntegrator.get_state`); other ranks: None."""
        work = self.sc.ops.external_work()      # (collective)
        if not self.gather_serial():
            return None
        sc, A = self.sc, self.out
        d = sc.d
        return {"time": np.array(float(sc.time)), "step": np.array(int(sc.step_count), dtype=np.int64),
                "external_work": np.array(float(work)), "dissipated": np.array(float(sc.ops.dissipated)),
                "potential": np.array(float(sc.potential)), "initialized": np.array(True),
                "acc_atoms": A.acc_atoms.copy(), "acc_nodes": sc.acc_nodes.copy(),
                "fext_atoms": A.fext_atoms.copy(), "fext_nodes": np.array(sc.loads.fext_nodes, copy=True),
                "f_atoms": A.f_atoms.copy(), "f_nodes": sc.f_nodes.copy(),
                "x": A.x.copy(), "v": A.v.copy(),
                "atoms.x_build": A.x.copy(), "atoms.since_build": np.int64(0),
                "atoms.image": np.zeros((0, d), np.int64),
                "U": sc.cont.U.copy(), "V": sc.cont.V.copy()}

    def set_state(self, st: dict) -> None:
        raise RuntimeError("a run built per rank does not restart (parallel.rank_build.per_rank_refusal)")

    def project_state(self) -> None:
        raise RuntimeError("a run built per rank does not continue another run's state")


class RankState(SpatialState):
    """`SpatialState` of a run built per rank (the atoms are the engine's owned rows)."""

    def __init__(self, rm, integrator: RankIntegrator, comm) -> None:  # noqa: ANN001
        # the guard's lost-atom test and `run.blowup.route` read the atoms' box (`State.atoms.box`)
        self.system = NS(atoms=NS(box=rm.box), continuum=rm.continuum)
        self.integrator = integrator
        self.ids = np.zeros(0, np.int64)
        self.n_owned_nodes = int(rm.continuum.U.shape[0])
        self.node_ids = np.arange(self.n_owned_nodes, dtype=np.int64)
        self._parts = {}
        X = rm.sites.X
        d = X.shape[1]
        lo = X.min(axis=0) if len(X) else np.full(d, np.inf)
        hi = X.max(axis=0) if len(X) else np.full(d, -np.inf)
        if comm.size > 1:
            lo = -comm.allreduce_array(-lo, "max") if hasattr(comm, "allreduce_array") else lo
            hi = comm.allreduce_array(hi, "max") if hasattr(comm, "allreduce_array") else hi
        n = rm.bsys.n_atoms
        self._extent = max(float(np.max(hi - lo)) if n > 1 else 1.0, 1.0)

    def template(self) -> dict:
        raise RuntimeError("a run built per rank does not restart")

    def apply_origin(self, origin) -> None:  # noqa: ANN001
        raise RuntimeError("a run built per rank does not continue another run's state")


class RankFields(SpatialFields):
    """The results file's static groups and frames (`run.fields.Fields`' layout and expressions) from
    `RootArrays` and the replicated pieces; ``frame()`` gathers (collective), rank 0 returns the serial
    frame, the other ranks (None, None); ``static()`` is rank 0's ({} elsewhere)."""

    def __init__(self, rm, state: RankState, deck) -> None:  # noqa: ANN001
        from .fields import Fields
        self.rm, self.state, self.deck = rm, state, deck
        # the nodal strain / stress (`Fields.nodal`) read the continuum only
        self.fields = Fields(NS(continuum=rm.continuum, type_names=rm.type_names, potential=rm.potential),
                             deck, False)

    def static(self) -> dict:
        A, rm = self.state.integrator.out, self.rm
        if not self.state.integrator.root:
            return {}
        from ..diagnostics.stability import slaved_atoms
        b, units = rm.bsys, rm.units
        tm = np.asarray(rm.type_masses, float)
        n = A.X.shape[0]
        st: dict = {}
        st["atoms"] = {"reference_positions": A.X, "ids": np.asarray(A.site_id, np.int64),
                       "types": np.asarray(A.types, np.int64), "mass": tm[A.types],
                       "weight": np.asarray(A.weight, float), "pad": np.asarray(A.pad, np.int8),
                       "type_names": np.array(rm.type_names), "type_masses": np.array(rm.type_masses, float),
                       "index": np.arange(n, dtype=np.int64)}
        box = rm.box
        st["box"] = {"lo": np.asarray(box.lo, float), "hi": np.asarray(box.hi, float),
                     "periodic": np.asarray(box.periodic, np.int8)}
        tied = np.zeros(n, np.int8)
        if b.G is not None:
            # `slaved_atoms` gives free ids (the serial ``system.free`` numbering): the band's free atoms map them
            fids = np.asarray(slaved_atoms(b.G, b.n_free, b.d), np.int64)
            pos = np.searchsorted(b.free_id, fids)
            if fids.size and not np.array_equal(b.free_id[np.minimum(pos, b.free_id.size - 1)], fids):
                raise RuntimeError("a slaved atom is not in the handshake band")
            tied[b.free_gid[pos]] = 1
        st["atoms"]["tied_to_mesh"] = tied
        st["atoms"]["coupled_mass"] = units.mass_from_internal(np.asarray(A.atom_mass, float))
        st["run"] = {"kind": "dynamics", "integrator": str(getattr(self.deck.config.integrator, "type", ""))}
        c = rm.continuum
        mesh = c.mesh
        conn, types = {}, {}
        for i, blk in enumerate(mesh.blocks):
            name = f"block{i}_{blk.type}"
            conn[name] = np.asarray(blk.conn, np.int64)
            types[name] = blk.type
        st["mesh"] = {"nodes": mesh.nodes, "connectivity": conn, "element_types": types,
                      "alpha_qp": np.asarray(c.alpha_qp, float),
                      "lumped_mass": units.mass_from_internal(np.asarray(b.node_mass, float))}
        if mesh.node_sets:
            st["mesh"]["node_sets"] = {k: np.asarray(v, np.int64) for k, v in mesh.node_sets.items()}
        return st

    def frame(self) -> tuple[dict | None, dict | None]:
        it = self.state.integrator
        if not it.gather_serial():
            return None, None
        A, c = it.out, self.rm.continuum
        fields = self.deck.config.output.fields
        box = self.rm.box
        table = {"position": lambda: box.wrap(A.x), "displacement": lambda: A.x - A.X, "velocity": lambda: A.v,
                 "force": lambda: A.f_atoms, "energy": lambda: A.energies, "weight": lambda: A.weight}
        atoms = {f: np.array(table[f]()) for f in fields if f in table}
        f_nodes = it.sc.f_nodes
        table = {"position": lambda: c.nodes + c.U, "displacement": lambda: c.U, "velocity": lambda: c.V,
                 "force": lambda: f_nodes, "stress": lambda: self.fields.nodal("stress"),
                 "strain": lambda: self.fields.nodal("strain")}
        nodes = {f: np.array(table[f]()) for f in fields if f in table}
        return atoms, nodes

    def species(self) -> str:
        return self.fields.species()


class RankMeasure(SpatialMeasure):
    """`SpatialMeasure` from the per-rank pieces: physical masses by type, the pads' from the band."""

    def __init__(self, rm, state, reduce, hooks) -> None:  # noqa: ANN001
        model = NS(loads=[h.load for h in rm.hooks], units=rm.units,
                   system=NS(handshake=rm.handshake))
        self.model, self.state, self.reduce, self.hooks = model, state, reduce, hooks
        tmi = rm.units.mass_to_internal(np.asarray(rm.type_masses, float))
        self._mass_table = np.asarray(tmi, float).reshape(-1)
        self._mass = None
        self._pad_mass = np.asarray(rm.band.mass_full, float)[rm.band.pad]


class RankSimulation:
    """What ``msim run`` on P ranks (`cli._run_mpi`) asks of a `simulation.Simulation`, for a coupled
    dynamics deck built per rank (`parallel.rank_build.build_rank_model`; module docstring)."""

    statics = False

    def __init__(self, deck, comm, threads: int | None = None, decompose: str = "auto") -> None:  # noqa: ANN001
        from ..parallel.rank_build import build_rank_model
        from .distributed import Decomposition
        from .reduce import Reduction
        self.deck = deck
        self.decompose = decompose
        self.reduce = Reduction(comm)
        self.rm = build_rank_model(deck, comm, threads)
        self.decomposition = Decomposition("spatial", decompose, comm.size, "coupled dynamics", per_rank=True)
        self.model = NS(system=NS(n_atoms=self.rm.bsys.n_atoms, n_nodes=self.rm.bsys.n_nodes, d=self.rm.bsys.d),
                        units=deck.units, atoms=True, loads=[])
        self._prepared = False
        self._dt_checked = False

    # ------------------------------------------------------------------ cli._run_mpi's set-up calls
    def check_distributable(self) -> None:
        return None

    def choose_decomposition(self):  # noqa: ANN201
        return self.decomposition

    def check_time_step(self) -> None:
        """`run.summary.check_time_step` of the per-rank model (`parallel.rank_build.check_time_step`)."""
        if self._dt_checked:
            return
        from ..parallel.rank_build import check_time_step
        check_time_step(self.rm, self.deck, self.reduce.comm)
        self._dt_checked = True

    def check_restart(self, *a, **k) -> None:  # noqa: ANN002, ANN003
        raise RuntimeError("a run built per rank does not restart (parallel.rank_build.per_rank_refusal)")

    def n_steps(self) -> int:
        from .prepare import n_steps
        return n_steps(None, self.deck, False)

    def prepare(self, log=None) -> None:  # noqa: ANN001
        """The run's objects (collective: the static columns gathered to rank 0)."""
        if self._prepared:
            return
        from ..diagnostics.guard import BlowUpGuard
        from .operations import Guard
        comm = self.reduce.comm
        rm = self.rm
        self.out = RootArrays(rm, comm)
        self.integrator = RankIntegrator(rm, comm, self.out)
        self.state = RankState(rm, self.integrator, comm)
        self.fields = RankFields(rm, self.state, self.deck)
        self.hooks = list(rm.hooks)
        self.measure = RankMeasure(rm, self.state, self.reduce, self.hooks if comm.rank == 0 else [])
        self.guard = Guard(BlowUpGuard(), self.state, self.reduce, self.measure,
                           self.deck.config.output.thermo_every, loads=[h.load for h in self.hooks])
        self.state.attach("guard", self.guard)
        self.state.attach_hooks()
        self._prepared = True

    # ------------------------------------------------------------------ the run (`Simulation.run`'s dynamics)
    def run(self, output=None, steps: int | None = None, restart=None, progress: str = "auto",  # noqa: ANN001
            start_from=None, stages: int | None = None) -> Path:  # noqa: ANN001
        from .. import __version__
        from ..output import paths
        from ..output.hdf5 import ResultsWriter
        from .checkpoints import RunRecord
        from .distributed import NullWriter, quiet_record
        from .dynamics import run_dynamics
        from .prepare import run_length
        if restart is not None or start_from is not None:
            raise RuntimeError("a run built per rank does not restart or continue (per_rank_refusal)")
        self.check_time_step()
        self.prepare(log=sys.stderr if progress != "quiet" and self.reduce.rank == 0 else None)
        path = paths.results_path(self.deck, output)
        paths.check_output(path, inputs=paths.deck_inputs(self.deck), overwrite=True)
        cfg = self.deck.config
        seed = getattr(cfg.integrator, "seed", None)
        total = run_length(self.n_steps(), False, steps, stages)
        root = self.reduce.rank == 0
        if steps is None and root:
            from .prepare import time_rounding
            why = time_rounding(self.deck)
            if why:
                import warnings

                from ..errors import DeckWarning
                warnings.warn(why, DeckWarning, stacklevel=2)
        if root:        # rev32 F4: the lattice's prestress, as `Simulation.run` warns (once, rank 0)
            from . import summary
            rm = self.rm
            prestressed = summary.prestress_warning(NS(
                continuum=rm.continuum, handshake=rm.handshake, lattice=rm.lattice, potential=rm.potential,
                atoms=True, type_names=rm.type_names, units=rm.units), cfg)
            if prestressed:
                import warnings

                from ..errors import DeckWarning
                warnings.warn(prestressed, DeckWarning, stacklevel=2)
        # the checkpoints' model entry: the reference positions (gathered on rank 0) and the mesh
        self.record = record = RunRecord(self.deck, {
            "reference_positions": self.out.X if root else None,
            "mesh_nodes": self.rm.continuum.mesh.nodes})
        static = self.fields.static()
        if not root:
            quiet_record(record)
            progress = "quiet"
        writer = ResultsWriter(path, deck_text=self.deck.text, units=self.deck.units.name, seed=seed,
                               msim_version=__version__, static=static, compression=cfg.output.compression,
                               append=False, attrs=None, decomposition=self.decomposition.record()) \
            if root else NullWriter()
        try:
            run_dynamics(self, writer, path, total, None, None, progress)
        finally:
            writer.close()
            from ..output.xdmf import write_xdmf
            try:
                if root:
                    write_xdmf(path)
            except Exception:  # noqa: BLE001 - the HDF5 file is the result; the sidecar is a convenience
                pass
        return path

