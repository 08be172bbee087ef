"""The quasi-static run (``integrator.type: fire | lbfgs | precon_lbfgs``): one minimisation per load stage
(`integrate.quasistatic.run_quasistatic`), and after each converged stage the operations
``[StageThermo, FrameWriter, StageLastGood, StageCheckpoint, ProgressReport]`` (the same loop interface
as dynamics, one event per stage; time = the stage index). Checkpoints every ``output.checkpoint_every``
stages (default every stage) and after the last, holding the state to go on at the next stage
(``--restart`` continues there bitwise). Non-finite energies, forces, positions or loads stop the run with
`BlowUpError`; the state after the last good stage is saved as OUT.lastgood.h5.

A load with a ``clearance(x)`` (the indenter) that exerted no force at any converged stage of the run
gets one `errors.DeckWarning` at the end: "the indenter never touched the atoms (closest approach X)"
(a deck whose indenter misses the body otherwise runs every stage at zero load without a word).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..deck.section import plugin_of
from ..errors import BlowUpError, DeckWarning
from ..output.checkpoint import checkpoint_path
from ..output.progress import Progress
from . import blowup
from .operations import Event, FrameWriter, ProgressReport, StageCheckpoint, StageLastGood, StageThermo


def run_statics(sim, writer, path: Path, n: int, ck_state: dict | None, origin,  # noqa: ANN001
                progress: str, after_stage=None) -> None:  # noqa: ANN001
    """Run ``n`` load stages of ``sim`` (a prepared `Simulation`), writing to ``writer``.
    ``after_stage(i)``: called after each converged stage, before its operations (a P-rank run checks
    there that its replicas are still equal)."""
    from ..integrate.quasistatic import run_quasistatic
    integ_cfg = sim.deck.config.integrator
    minimizer = plugin_of(integ_cfg).from_params(integ_cfg, sim.model.units)
    s, loads, record = sim.model.system, sim.model.loads, sim.record
    every = sim.deck.config.output.checkpoint_every or 1
    start, state = 0, None
    if ck_state is not None:
        start, state = int(ck_state["next_stage"]), ck_state
        writer.truncate_after(start - 1)
    elif origin is not None:
        state = {"x": origin.x, "U": origin.U}
    last_good = StageLastGood(s, loads)

    with Progress(n, mode=progress, start_step=start) as bar:
        ops = [StageThermo(writer), FrameWriter(writer, sim.fields, None, always=True), last_good,
               StageCheckpoint(checkpoint_path(path), last_good, record, every, n), ProgressReport(bar)]

        contact = _Contact(loads, sim.model.atoms, sim.model.units.length)
        if start > 0:
            contact.seed(writer.columns("observables"))

        def callback(i: int, rec: dict) -> bool:
            if after_stage is not None:
                after_stage(i)
            contact.stage()
            ev = Event(i, i, lambda: float(i), n, done=i + 1, record=rec)
            for op in ops:
                if op.due(i, n):
                    op(ev)
            return False

        try:
            try:
                run_quasistatic(s, loads, minimizer, stages=n, callback=callback,
                                start=start, state=state, after_start=lambda: last_good.take(start))
            except blowup.NUMERIC as exc:
                from ..coupling.projector import DependentConstraintsError
                if isinstance(exc, DependentConstraintsError):      # the deck's mesh, not a divergence
                    from .prepare import dependent_constraints
                    raise dependent_constraints(sim.deck, exc) from None
                if isinstance(exc, MemoryError) and not sim.state.exploded():
                    # a sane state that does not fit (the preconditioner's factor of a huge model): say so
                    # at the integrator, exit 2 (a divergence would blame the loads)
                    raise sim.deck.error("integrator", f"not enough memory for the minimisation: {exc}",
                                         "make the region or mesh smaller, or use integrator.preconditioner: "
                                         "none or integrator.type: fire (no factorised preconditioner)"
                                         ) from None
                blowup.minimisation_diverged(exc, sim.state)
            if sim.reduce.rank == 0:     # replicated on P ranks: every rank sees the same; say it once
                contact.warn()
        except BlowUpError as exc:
            snap = last_good.snapshot
            at = (f"after load stage {snap['next_stage'] - 1}" if snap.get("next_stage")
                  else "the initial state, before load stage 0")
            raise record.save_lastgood(path, snap, exc, at) from None


class _Contact:
    """Per load with a ``clearance`` (the indenter): did it push on any atom at a converged stage, and its
    closest approach to the atoms [length] over the stages."""

    def __init__(self, loads, atoms, length_unit: str) -> None:  # noqa: ANN001
        self.atoms, self.unit = atoms, length_unit
        self.loads = [] if atoms is None else [ld for ld in loads if hasattr(ld, "clearance")]
        self.touched = [False] * len(self.loads)
        self.closest = [float("inf")] * len(self.loads)
        self.stages = 0

    def seed(self, columns: dict) -> None:
        """A restart: the stages before it count (``columns``: the results file's observables rows, as
        `HDF5Writer.columns` reads them) — a force on a load's atoms at any of them is a touch (rev30 F7:
        the warning said "never touched" after a restart past the stages that pushed)."""
        for k, ld in enumerate(self.loads):
            for key, rows in columns.items():
                load, _, q = key.rpartition(".")
                if load == ld.name and q.startswith("force_") and np.any(np.asarray(rows) != 0.0):
                    self.touched[k] = True

    def stage(self) -> None:
        self.stages += 1
        for k, ld in enumerate(self.loads):
            self.touched[k] |= any(v != 0.0 for key, v in ld.observables().items()
                                   if key.rsplit(".", 1)[-1].startswith("force_"))
            if not self.touched[k]:
                self.closest[k] = min(self.closest[k], ld.clearance(self.atoms.x))

    def warn(self) -> None:
        for ld, touched, closest in zip(self.loads, self.touched, self.closest, strict=True):
            if self.stages and not touched:
                warnings.warn(f"the indenter '{ld.name}' never touched the atoms (closest approach "
                              f"{closest:.4g} {self.unit} over {self.stages} stage{'s' * (self.stages != 1)}): "
                              f"every stage ran at zero load", DeckWarning, stacklevel=2)
