"""`Simulation`: a model built from a deck and its run. A thin facade over `multiscale.run`.

Python API (mirrors the deck)::

    from multiscale import load_deck, Simulation
    sim = Simulation.from_deck(load_deck("decks/wave1d.yaml"), threads=2)
    print(sim.summary())
    sim.run(output="wave1d.h5")

The pieces (package `multiscale/run/`): `prepare` (loads, fixed dofs, integrator, initial fields),
`summary` (``msim validate``, time-step check), `state.State` (atoms with global ids, nodes, clock,
checkpoint state), `reduce.Reduction` (every global sum/max), `fields.Fields` (static groups and frames of
the results file), `operations` + `loop.OperationLoop` (the run loop: integrator, guard, thermo, frames,
last-good state, checkpoints, progress, each at its cadence), `dynamics.run_dynamics` /
`statics.run_statics` (the two lists of operations), `checkpoints.RunRecord` (fingerprint, provenance,
restart check, last-good file), `blowup` (numerical failures → `BlowUpError`, exit 3).

Restart (``run(restart=CKPT)``): the checkpoint's checksum, deck fingerprint (the validated deck key by
key and the content of its input files; `output.checkpoint.RESTART_MAY_DIFFER` lists what may change) and
state shapes are checked before the results file is touched. Continuation (``run(start_from=
"PREV.h5:STEP")``): a new run from the state of a frame or checkpoint of another run of the same model
(`output/continuation.py`); the new file records its provenance chain.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import __version__
from .build import Model, build_model
from .deck import Deck
from .diagnostics.guard import BlowUpGuard
from .errors import DeckError
from .integrate.verlet import VelocityVerlet
from .output.hdf5 import ResultsWriter
from .registry import MINIMIZERS
from .run import summary as _summary
from .run.checkpoints import RunRecord
from .run.dynamics import run_dynamics
from .run.fields import Fields
from .run.operations import Guard, Measure
from .run.prepare import n_steps as _n_steps
from .run.prepare import prepare as _prepare
from .run.prepare import run_length
from .run.reduce import Reduction
from .run.state import State
from .run.statics import run_statics


class Simulation:
    """One run of one deck. Build with `from_deck`; `summary()` for `msim validate`; `run()` to run.

    ``comm``: a communicator for the run's global reductions (`run.reduce.Reduction`; default serial).
    """

    def __init__(self, model: Model, comm=None) -> None:  # noqa: ANN001
        self.model = model
        self.deck: Deck = model.deck
        self.statics = self.deck.config.integrator.type in MINIMIZERS
        self.integrator: VelocityVerlet | None = None
        self.hooks: list = []
        self.initial_conditions: list = []
        self.reduce = Reduction(comm)
        self.fields = Fields(model, self.deck, self.statics)
        self.state: State | None = None
        self.record: RunRecord | None = None
        #: `msim run --decompose`: "auto" (default), "replicated" or "spatial" (`run.distributed.
        #: choose_decomposition`: on P > 1 ranks ``auto`` runs coupled dynamics on the spatial engine,
        #: `run.spatial`, unless `parallel.coupled_spatial.spatial_refusal` names a feature, else replicated)
        self.decompose = "auto"
        #: the path taken (`run.distributed.Decomposition`), set by `prepare` (`choose_decomposition`)
        self.decomposition = None
        self._prepared = False

    @classmethod
    def from_deck(cls, deck: Deck, threads: int | None = None, comm=None) -> Simulation:  # noqa: ANN001
        return cls(build_model(deck, threads), comm=comm)

    @property
    def distributed(self) -> bool:
        """True when the run is split over MPI ranks (`run.distributed`: plain-MD decks only)."""
        return self.reduce.size > 1

    def check_distributable(self) -> None:
        """`DeckError` at the deck key that keeps this deck from running on ``comm.size`` ranks (no
        communication: every rank reaches the same verdict); nothing for a serial run."""
        if self.distributed:
            from .run.distributed import check_distributable
            check_distributable(self.model, self.deck, self.statics, self.reduce.size)

    def choose_decomposition(self):  # noqa: ANN201
        """The path of this run (`run.distributed.choose_decomposition`: "serial", "replicated" or
        "spatial", with the spatial path's refusal when ``auto`` fell back), chosen once. The automatic
        choice for coupled dynamics on P > 1 ranks needs the prepared integrator: it prepares the run."""
        if self.decomposition is None:
            from .run.distributed import choose_decomposition
            if self.integrator is None and self.decompose == "auto" and self.distributed and \
                    not self.statics and self.model.continuum is not None:
                self.prepare()                      # chooses, after the integrator is built
                return self.decomposition
            self.decomposition = choose_decomposition(self.model, self.deck, self.statics, self.reduce.size,
                                                      self.decompose, self.integrator)
        return self.decomposition

    def _spatial_coupled(self) -> bool:
        """True when the run takes `run.spatial.setup_spatial` (the coupled spatial path; plain MD on P > 1
        ranks takes `run.distributed.DistributedIntegrator`)."""
        return self.choose_decomposition().path == "spatial" and \
            (self.model.continuum is not None or not self.distributed)

    # ------------------------------------------------------------------ set-up
    def prepare(self, log=None) -> None:  # noqa: ANN001
        """Loads, fixed dofs, integrator (constraint factorisation), initial fields. Idempotent. ``log``: a
        text stream for the progress lines of long set-up stages (`output.progress.SetupLog`), or None."""
        if self._prepared:
            return
        p = _prepare(self.model, self.deck, self.statics, log)
        self.integrator, self.hooks, self.initial_conditions = p.integrator, p.hooks, p.initial_conditions
        m = self.model
        self.choose_decomposition()
        if self.distributed and self.statics:   # P > 1 ranks, statics: split forces, replicated minimiser
            from .run.distributed_statics import RootFields, distribute_statics
            self.check_distributable()
            distribute_statics(m, self.reduce.comm)
            self.fields = RootFields(self.fields, self.reduce.comm)
        if self._spatial_coupled():     # coupled dynamics, atoms on the spatial engine (any P)
            from .run.spatial import setup_spatial
            setup_spatial(self)
        elif self.distributed and not self.statics:    # P > 1 ranks: a plain-MD deck's atoms in a DistributedMD
            from .run import distributed as dist
            self.check_distributable()
            if self.decomposition.path == "replicated":      # coupled: replicated model, forces split
                dist.setup_replicated(self)
            else:
                integ = dist.DistributedIntegrator(m, self.integrator, self.reduce.comm, self.integrator.dt)
                self.state = dist.DistributedState(m, integ)
                self.fields = dist.DistributedFields(self.fields, self.state, self.reduce.comm)
                self.measure = dist.DistributedMeasure(m, self.state, self.reduce, self.hooks)
        else:
            self.state = State(m.system, self.integrator, ids=m.site_ids if m.atoms is not None else None)
            if not self.statics:
                self.measure = Measure(m, self.state, self.reduce, self.hooks)
        if not self.statics:   # the checkpointed parts: the guard, then the load hooks and thermostat
            self.guard = Guard(BlowUpGuard(), self.state, self.reduce, self.measure,
                               self.deck.config.output.thermo_every, loads=m.loads)
            self.state.attach("guard", self.guard)
            self.state.attach_hooks()
        self._prepared = True

    def n_steps(self) -> int:
        return _n_steps(self.model, self.deck, self.statics)

    # ------------------------------------------------------------------ report
    def stable_dt(self) -> dict[str, float]:
        return _summary.stable_dt(self.model)

    def check_time_step(self) -> None:
        """`run.summary.check_time_step` (dt against the stable estimate, a weighted EAM unstable at the
        reference), once. On P > 1 ranks rank 0 decides and every rank raises the same `DeckError`
        (`cli._run_mpi` calls this in its agreed set-up: the message once, exit 2, on every path)."""
        if self._spatial_coupled():     # rank 0 decides, the serial neighbour list released after
            from .run.spatial import check_time_step_root
            return check_time_step_root(self)
        if getattr(self, "_dt_checked", False):
            return
        if self.distributed:            # replicated coupled or plain MD: the same verdict from rank 0
            from .parallel.comm import root_decides
            root_decides(self.reduce.comm,
                         lambda: _summary.check_time_step(self.model, self.deck, self.statics))
        else:
            _summary.check_time_step(self.model, self.deck, self.statics)
        self._dt_checked = True

    def held_row_note(self) -> str | None:
        """`run.prepare.held_row_note` of a dynamics deck (the constraint rows its run drops as held, for
        `msim validate`), None for quasi-statics or when no row is held."""
        if self.statics:
            return None
        from .run.prepare import held_row_note
        return held_row_note(self.model)

    def check_loads(self) -> None:
        """`run.prepare.check_loads`: the loads select their atoms/nodes as the run's `prepare` will, their
        mistakes deck errors at ``loads[i].<key>`` (`msim validate`)."""
        from .run.prepare import check_loads
        check_loads(self.model, self.deck)

    def check_restart(self, output: str | Path | None, restart: str | Path, steps: int | None = None,
                      stages: int | None = None) -> None:
        """The checks of ``run(restart=...)`` that need no prepared state (`RunRecord.check_restart_deck`:
        the checkpoint readable, written by this deck, not beyond the run's end; the results file
        exists), on rank 0 with one verdict for every rank (`parallel.comm.root_decides`). `cli._run_mpi`
        calls it in its agreed set-up so that a refused restart prints one plain message, exit 2."""
        from .parallel.comm import root_decides

        def check() -> None:
            total = run_length(self.n_steps(), self.statics, steps, stages)
            RunRecord(self.deck).check_restart_deck(restart, total)
            path = self._output_path(output)
            if not path.exists():
                raise DeckError(f"cannot restart: results file {path} does not exist (give the same -o as "
                                "the interrupted run)")
        root_decides(self.reduce.comm, check)

    def summary(self) -> str:
        return _summary.summary(self.model, self.deck, self.statics, self.n_steps())

    # ------------------------------------------------------------------ output pieces
    def species(self) -> str:
        return self.fields.species()

    def _static(self) -> dict:
        return self.fields.static()

    def _frame(self) -> tuple[dict | None, dict | None]:
        return self.fields.frame()

    def _output_path(self, output: str | Path | None) -> Path:
        """The results file (`output/paths.py`: ``-o``, else ``output.file``, else ``<deck>.h5``), checked:
        DeckError if it is an input of the run or one of its own companion files (``res.xdmf``), a
        directory or unwritable. Replacing an existing file is the caller's decision (``msim run``
        refuses it without ``--overwrite``)."""
        from .output import paths
        path = paths.results_path(self.deck, output)
        paths.check_output(path, inputs=paths.deck_inputs(self.deck), overwrite=True)
        return path

    def _template(self) -> dict:
        """What a checkpoint of this model holds (for the restart check)."""
        if self.statics:
            from .integrate.quasistatic import static_state
            return static_state(self.model.system, self.model.loads, 0)
        return self.state.template()

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
        # the set-up's progress lines go where the run's progress goes (stderr), not when quiet / rank > 0
        self.prepare(log=sys.stderr if progress != "quiet" and self.reduce.rank == 0 else None)
        path = self._output_path(output)
        cfg = self.deck.config
        seed = getattr(cfg.integrator, "seed", None)
        if restart is not None and start_from is not None:
            raise DeckError("--restart and --from exclude each other: --restart goes on with the same run "
                            "and deck, --from starts a new run from another run's state")
        total = run_length(self.n_steps(), self.statics, steps, stages)
        if steps is None and not self.statics and self.reduce.rank == 0:
            from .run.prepare import time_rounding
            why = time_rounding(self.deck)
            if why:
                import warnings

                from .errors import DeckWarning
                warnings.warn(why, DeckWarning, stacklevel=2)
        if self.reduce.rank == 0:       # rev32 F4: the lattice's prestress, as `msim validate` says it (once)
            prestressed = _summary.prestress_warning(self.model, self.deck.config)
            if prestressed:
                import warnings

                from .errors import DeckWarning
                warnings.warn(prestressed, DeckWarning, stacklevel=2)
        m = self.model
        self.record = record = RunRecord(self.deck, {
            "reference_positions": None if m.atoms is None else m.atoms.X,
            "mesh_nodes": None if m.continuum is None else m.continuum.mesh.nodes})
        ck_state = origin = None
        if restart is not None:
            ck_state = record.restart_state(restart, self._template(), total)
            if not path.exists():
                raise DeckError(f"cannot restart: results file {path} does not exist (give the same -o as "
                                "the interrupted run)")
        static = self._static()      # the results file's static groups; a continuation checks against them
        if start_from is not None:
            from .output.continuation import check_checkpoint_model, check_compatible, check_units, read_origin
            origin = read_origin(start_from, need_velocities=not self.statics)
            check_units(origin, self.deck)
            check_compatible(origin, static, str(start_from))
            check_checkpoint_model(origin, self.deck, str(start_from))
            record.provenance = origin.provenance
        root = self.reduce.rank == 0
        if origin is not None and root:
            import warnings

            from .errors import ContinuationWarning
            from .output.continuation import imposed_jumps, mass_changes, potential_changes
            changed = potential_changes(origin, self.deck)
            if changed:
                more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
                warnings.warn(f"--from {start_from}: the potential differs from the one of the run that "
                              f"wrote this state: {'; '.join(changed[:3])}{more}; its forces and energy "
                              "change at step 0", ContinuationWarning, stacklevel=2)
            for note in origin.notes:
                warnings.warn(f"--from {start_from}: {note}", ContinuationWarning, stacklevel=2)
            vel = self.deck.config.atoms.velocity if self.deck.config.atoms is not None else None
            if vel is not None and origin.v is not None and not self.statics:
                # rev32 F10: the state's velocities are kept; a new temperature is a thermostat's job
                warnings.warn(f"--from {start_from}: atoms.velocity (temperature {vel.temperature:g}) is not "
                              "applied: the atoms keep the velocities of the state they continue from; to "
                              "change the temperature use a thermostat, or start without --from",
                              ContinuationWarning, stacklevel=2)
            for jump in imposed_jumps(origin, self.model):
                warnings.warn(f"--from {start_from}: {jump}", ContinuationWarning, stacklevel=2)
            mass_note = mass_changes(origin, static, self.deck)
            if mass_note:
                warnings.warn(f"--from {start_from}: {mass_note}; the velocities are kept, so the kinetic "
                              "energy changes at step 0", ContinuationWarning, stacklevel=2)
        if self.statics and ck_state is None:   # a fresh quasi-static run: no indenter buried in the atoms
            from .run.statics import check_indenter_start
            check_indenter_start(self, origin)
        if not root:        # a distributed run: rank 0 writes the results, checkpoints and progress
            from .run.distributed import NullWriter, quiet_record
            quiet_record(record)
            progress = "quiet"
        try:
            writer = ResultsWriter(path, deck_text=self.deck.text, units=self.model.units.name, seed=seed,
                                   msim_version=__version__, static=static,
                                   compression=cfg.output.compression, append=restart is not None,
                                   attrs={"provenance": json.dumps(record.provenance)} if origin else None,
                                   decomposition=self.decomposition.record()) \
                if root else NullWriter()
        except ValueError as exc:          # appending to a results file of another model
            if restart is None:
                raise
            raise DeckError(f"cannot restart: {exc}", file=str(path)) from None
        try:
            run = run_statics if self.statics else run_dynamics
            if self.statics and self.distributed:
                from .run.distributed_statics import run_statics_distributed as run
            run(self, writer, path, total, ck_state, origin, progress)
        finally:
            writer.close()
            from .output.xdmf import write_xdmf
            try:
                if root:
                    write_xdmf(path)
            except Exception:  # noqa: BLE001 - the HDF5 file is the result; the sidecar is a convenience
                pass
        return path
