"""The dynamics run (``integrator.type: verlet``) as a list of operations.

1. the start: a continuation's state replaces the initial one (`State.apply_origin`); the guard's energy
   floor is the initial energy scale (`Reduction.energy_scale`); a restart sets the checkpoint's state and
   truncates the results file after its step, a fresh run fires the ``at_start`` operations at step 0
   (guard, thermo, frame). A failure there saves the initial state as OUT.lastgood.h5;
2. `OperationLoop` with ``[Advance, Guard, ThermoWriter, FrameWriter, LastGood, Checkpoint,
   ProgressReport]``: guard, thermo and last-good every ``output.thermo_every`` steps and at the last,
   frames every ``output.every`` and at the last, checkpoints every ``output.checkpoint_every``;
3. a blow-up saves the last good state (the last guarded event) as OUT.lastgood.h5 and raises
   `BlowUpError` (exit 3).
"""

from __future__ import annotations

from pathlib import Path

from ..diagnostics.guard import BlowUpGuard
from ..errors import BlowUpError
from ..output.checkpoint import checkpoint_path
from ..output.progress import Progress
from . import blowup
from .loop import OperationLoop
from .operations import (
    Advance,
    Checkpoint,
    FrameWriter,
    LastGood,
    ProgressReport,
    ThermoWriter,
)


def run_dynamics(sim, writer, path: Path, total: int, ck_state: dict | None, origin,  # noqa: ANN001
                 progress: str) -> None:
    """Run ``sim`` (a prepared `Simulation`) to step ``total``, writing to ``writer`` (module docstring)."""
    model, state, reduce, record = sim.model, sim.state, sim.reduce, sim.record
    integ, out = state.integrator, sim.deck.config.output
    if origin is not None:
        state.apply_origin(origin)
    measure, guard = sim.measure, sim.guard      # made (and attached to the state) by `Simulation.prepare`
    guard.guard = BlowUpGuard()                  # a fresh guard; its energy floor is set below
    initial = state.get_state() if ck_state is None else None
    ops = [Advance(state, model.units.length), guard, ThermoWriter(writer, measure, out.thermo_every),
           FrameWriter(writer, sim.fields, out.every), last_good := LastGood(state, out.thermo_every),
           Checkpoint(checkpoint_path(path), state, record, out.checkpoint_every)]

    def on_blowup(exc: BlowUpError) -> BlowUpError:
        err = record.save_lastgood(path, last_good.snapshot, exc, f"step {guard.guard.last_good_step}")
        if getattr(exc, "collective", False):    # MPI: no rank stops before rank 0 has saved the file
            reduce.comm.barrier()
            err.collective = True
        return err

    loop = OperationLoop(ops, total, lambda: integ.time, on_blowup)
    try:
        try:
            # the jump test's energy scale: the initial |energy| terms, at least 1e-3 per atom
            n = reduce.count(state.n_owned) if model.atoms is not None else 1
            guard.guard = BlowUpGuard(energy_floor=max(reduce.energy_scale(integ), 1e-3 * n))
            if ck_state is not None:
                state.set_state(ck_state)
                writer.truncate_after(integ.step_count)
            else:
                loop.start(0)
        except blowup.NUMERIC as exc:  # e.g. a wave packet of amplitude 1e30: atoms beyond the neighbour grid
            blowup.route(exc, state, integ.step_count, model.units.length)
    except BlowUpError as exc:        # the initial state itself is bad: keep it for inspection
        if initial is None:
            raise
        raise record.save_lastgood(path, initial, exc, "the initial state, step 0") from None
    last_good.take()
    with Progress(total, mode=progress, start_step=integ.step_count) as bar:
        loop.ops.append(ProgressReport(bar))
        loop.run(integ.step_count)
    _warn_untouched_indenters(sim, writer, out.thermo_every)
    _warn_held_residual(integ)


#: `_warn_held_residual` speaks above this max |G q − c| of the rows dropped as held [length]
HELD_RESIDUAL_NOTE = 1e-10


def _warn_held_residual(integ) -> None:  # noqa: ANN001
    """rev32 F14: the rows the projector dropped as held (`ConstraintProjector.held_rows`, named by the
    `run.prepare.warn_held_rows` warning) are not enforced; when the loads' held motion left them violated
    at the end of a serial run (max |G q − c| above `HELD_RESIDUAL_NOTE`), a `DeckWarning` gives that residual:
    it is not in the thermo's ``constraint_residual``."""
    from ..integrate.verlet import VelocityVerlet
    p = getattr(integ, "projector", None)
    if not isinstance(integ, VelocityVerlet) or p is None or p.held_rows.size == 0:
        return
    res = p.residual_held(integ.system.gather_q())
    if res > HELD_RESIDUAL_NOTE:
        import warnings

        from ..errors import DeckWarning
        warnings.warn(f"the {p.held_rows.size} constraint rows dropped as held read max |G q - c| = {res:.3g} at "
                      "the end of the run (not enforced: the loads' held dofs moved them; thermo "
                      "constraint_residual covers the other rows)", DeckWarning, stacklevel=2)


def _warn_untouched_indenters(sim, writer, every: int) -> None:  # noqa: ANN001
    """rev32 F15: an indenter that pushed on no atom at any thermo row of the results file (the rows
    before a restart included) gets the statics' `DeckWarning` (`statics._Contact`). Rank 0 only: the
    other ranks' writer holds no rows; on the spatial path the rows hold the reduced indenter force."""
    from .statics import _Contact
    contact = _Contact(sim.model.loads, sim.model.atoms, sim.model.units.length)
    if not contact.loads:
        return
    cols = writer.columns("observables")
    rows = max((len(c) for c in cols.values()), default=0)     # `columns` leaves step and time out
    if rows:
        contact.seed(cols)
        contact.warn_rows(rows, every)
