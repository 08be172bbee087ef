"""Blow-up routing: which exceptions mean "the numbers exploded", and the message that says where.

A numerically exploding state makes the step raise one of `NUMERIC` (a kernel refusing a NaN, the
neighbour grid of atoms flown to 1e300, ...). `route` turns such an exception into a `BlowUpError` (exit 3)
when the state shows it (positions/velocities not finite, an atom crossing a quarter of the box in one
step) and re-raises it unchanged otherwise (an internal error, exit 1). The caller then saves the last
good state (`run.checkpoints.RunRecord.save_lastgood`).
"""

from __future__ import annotations

import numpy as np

from ..errors import BlowUpError, KernelError

#: what a numerically exploding state makes the step raise (routed to the blow-up path, exit 3)
NUMERIC = (ValueError, FloatingPointError, RuntimeError, OverflowError, ZeroDivisionError, MemoryError,
           KernelError)


def route(exc: Exception, state, k: int, length_unit: str) -> None:  # noqa: ANN001
    """Raise `BlowUpError` from ``exc`` (raised inside the chunk of steps after step ``k``) if the state is
    no longer finite or an atom moves more than a quarter of the box per step; else re-raise ``exc``."""
    integ = state.integrator
    bad = state.not_finite()
    if bad is not None:
        region, qty = bad
        raise BlowUpError(f"blow-up at step {integ.step_count + 1} (after step {k} was "
                          f"written): quantity {qty} of region '{region}' is no longer finite "
                          f"({type(exc).__name__}: {exc}); the time "
                          "step is probably too large", step=integ.step_count,
                          region=region, quantity=qty) from exc
    atoms = state.atoms
    mine = state.guard_arrays().get("atoms", {})
    v = mine.get("v")                   # this rank's atoms (the engine's on MPI paths)
    # On P > 1 ranks (the engine's comm) the other ranks are inside a collective: the
    # figure is this rank's largest, and the message says so (rev30 F4).
    ranks = getattr(getattr(getattr(state, "engine", None), "comm", None), "size", 1)
    whose = "an atom of this rank" if ranks > 1 else "an atom"
    if atoms is not None and v is not None and len(v):
        # an atom crossing a sizeable part of the box in one step is a blow-up, finite or not
        jump = float(np.max(np.abs(v))) * integ.dt
        size = float(np.min(atoms.box.hi - atoms.box.lo))
        if jump > 0.25 * size:
            raise BlowUpError(f"blow-up at step {integ.step_count + 1} (after step {k} was "
                              f"written): in region 'atoms' {whose} moves {jump:.3g} "
                              f"{length_unit} "
                              f"per step (box {size:.3g}) "
                              f"({type(exc).__name__}: {exc}); the time step is probably too large",
                              step=integ.step_count, region="atoms", quantity="v") from exc
    raise exc


def in_step(exc: BlowUpError, state, k: int, length_unit: str) -> BlowUpError:  # noqa: ANN001
    """The run loop's message for an in-step blow-up found by every rank together (``exc.in_step``: the
    distributed engine's rebuild check, `parallel.engine.DistributedMD._verdict`, raised at the same point
    on every rank): the step and the last written step as `route` gives them; still ``collective`` (rank 0
    saves the last good state while the others wait, `run.dynamics`)."""
    integ = state.integrator
    what = str(exc)
    moved = getattr(exc, "moved", None)
    if moved is not None:
        what = (f"in region 'atoms' an atom moved {moved[0]:.3g} {length_unit} since the last neighbour-list "
                f"build (more than {moved[1]:.3g} {length_unit}, 1e6 box sides)")
    err = BlowUpError(f"blow-up at step {integ.step_count + 1} (after step {k} was written): {what}, found "
                      "inside the step on every rank together; the time step is probably too large",
                      step=integ.step_count, region=exc.region, quantity=exc.quantity)
    err.collective = True
    return err


def minimisation_diverged(exc: Exception, state) -> None:  # noqa: ANN001
    """Statics: extreme but valid numbers (an indenter stiffness of 1e99) make the minimisation diverge.
    Raise `BlowUpError` for that; re-raise ``exc`` when it is a plain error of a sane state."""
    if isinstance(exc, ValueError | RuntimeError | KernelError) and not state.exploded():
        raise exc
    raise BlowUpError(f"the minimisation diverged ({type(exc).__name__}: {exc}); a load or "
                      "stiffness is probably far too large", step=-1, region="all",
                      quantity="energy") from None
