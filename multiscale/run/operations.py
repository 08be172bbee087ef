"""The run loop's operations: small objects with one interface, run by `run.loop` at their cadence.

Interface (`Operation`)::

    every     steps between firings (None: no cadence of its own; then ``always`` says whether it runs
              at every event the others make)
    at_start  also runs at the start of a fresh run (step 0 / nothing before stage 0)
    at_end    also runs at the last step / stage
    due(k, total) -> bool;  next_due(k) -> int | None   (the loop advances the integrator in one chunk
              up to the smallest next_due)
    __call__(event)         do it; ``event`` (`Event`) carries the step, the time and what earlier
                            operations of the same event measured (thermo row, observables)

Dynamics: `Advance` (the integrator's steps since the last event, numerical failures routed to
`run.blowup`), `Guard` (the blow-up guard on the reduced thermo row), `ThermoWriter` (energy ledger +
observables), `FrameWriter` (``output.fields``), `LastGood` (the state a blow-up saves), `Checkpoint`,
`ProgressReport`. Statics: `StageThermo`, `FrameWriter`, `StageLastGood`, `StageCheckpoint`,
`ProgressReport`, one firing per converged load stage (`run.statics`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BlowUpError
from . import blowup

_THERMO_SKIP = ("step", "time", "momentum")


class Event:
    """One firing of the operations: ``k`` the step (dynamics) or stage (statics) reached, ``prev`` the
    previous event's step, ``time`` [time] (statics: the stage index), ``done`` the progress count.
    Operations leave what they computed for the later ones: ``row`` (thermo row), ``obs`` (observables),
    ``progress`` (the figures shown next to the progress bar)."""

    def __init__(self, k: int, prev: int, clock, total: int, done: int | None = None,  # noqa: ANN001
                 record: dict | None = None) -> None:
        self.k, self.prev, self.total = int(k), int(prev), int(total)
        self._clock = clock
        self.done = self.k if done is None else int(done)
        self.record = record
        self.row: dict | None = None
        self.obs: dict | None = None
        self.progress: dict | None = None
        self._measure = None

    @property
    def time(self) -> float:
        return float(self._clock())

    def measure(self, fn) -> tuple[dict, dict]:  # noqa: ANN001
        """(row, obs) computed once per event by ``fn()``."""
        if self._measure is None:
            self._measure = fn()
        return self._measure


class Operation:
    """Base class: cadence and firing rule (module docstring)."""

    name = "operation"

    def __init__(self, every: int | None = None, *, at_start: bool = False, at_end: bool = False,
                 always: bool = False) -> None:
        self.every = int(every) if every else None
        self.at_start = at_start
        self.at_end = at_end
        self.always = always

    def due(self, k: int, total: int) -> bool:
        return self.always or bool(self.every and k % self.every == 0) or (self.at_end and k == total)

    def next_due(self, k: int) -> int | None:
        return (k // self.every + 1) * self.every if self.every else None

    def __call__(self, event: Event) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(every={self.every})"


# ---------------------------------------------------------------------- dynamics
class Advance(Operation):
    """The integrator's steps from ``event.prev`` to ``event.k`` in one call (`VelocityVerlet.step`); an
    exception of a numerically exploding state becomes a `BlowUpError` (`run.blowup.route`)."""

    name = "advance"

    def __init__(self, state, length_unit: str) -> None:  # noqa: ANN001
        super().__init__(always=True)
        self.state = state
        self.length_unit = length_unit

    def __call__(self, event: Event) -> None:
        try:
            self.state.integrator.step(event.k - event.prev)
        except blowup.NUMERIC as exc:  # e.g. the neighbour grid of atoms flown to 1e300
            blowup.route(exc, self.state, event.prev, self.length_unit)
        except BlowUpError as exc:     # MPI: found by every rank together inside the step (the engine's check)
            if not getattr(exc, "in_step", False):
                raise
            raise blowup.in_step(exc, self.state, event.prev, self.length_unit) from None


class Measure:
    """The thermo row (reduced energy ledger, ``external_energy`` of the load hooks) and the observables
    of the current state, both through the run's `Reduction`."""

    def __init__(self, model, state, reduce, hooks) -> None:  # noqa: ANN001
        self.model, self.state, self.reduce, self.hooks = model, state, reduce, hooks

    def row(self) -> dict:
        rec = self.reduce.ledger(self.state.integrator)
        row = {k: float(v) for k, v in rec.items() if k not in _THERMO_SKIP}
        for i, p in enumerate(np.atleast_1d(rec["momentum"])):
            row["momentum_" + "xyz"[i]] = float(p)
        row["external_energy"] = float(self.reduce.sum(float(sum(h.energy for h in self.hooks))))
        return row

    def __call__(self) -> tuple[dict, dict]:
        row = self.row()
        return row, self.reduce.observables(self.model)


class Guard(Operation):
    """The blow-up guard (`diagnostics.guard.BlowUpGuard`) on the local arrays and the reduced energies;
    after each check its energy floor follows the scale of the energy terms (loads doing work).
    Checkpointed (part ``guard``)."""

    name = "guard"

    def __init__(self, guard, state, reduce, measure: Measure, every: int, loads=()) -> None:  # noqa: ANN001
        super().__init__(every, at_start=True, at_end=True)
        self.guard, self.state, self.reduce, self.measure = guard, state, reduce, measure
        self.loads = list(loads)

    def box(self, time: float):  # noqa: ANN201
        """The atoms' box for the lost-atom test: the free faces moved out by the largest displacement
        the loads impose at ``time`` (`loads.base.Load.imposed_reach`; the loads are replicated, so every
        rank widens alike), or None without atoms."""
        s = self.state
        if s.atoms is None:
            return None
        reach = [r for ld in self.loads if (r := ld.imposed_reach(time)) is not None]
        if not reach:
            return s.atoms.box
        from ..diagnostics.guard import _box_arrays
        lo, hi, per = _box_arrays(s.atoms.box)
        r = np.sum(reach, axis=0)
        return lo - r, hi + r, per

    def __call__(self, event: Event) -> None:
        row, _ = event.measure(self.measure)
        s = self.state
        self.reduce.guard_check(self.guard, event.k, s.guard_arrays(),
                                energy_total=row["total_plus_dissipated"],
                                box=self.box(event.time),
                                energies={"atoms": row["potential_atoms"] + row["kinetic_atoms"],
                                          "continuum": row["potential_continuum"] + row["kinetic_continuum"]})
        # the energy scale grows as loads do work: let the jump test follow it (after the check)
        scale = sum(abs(row[t]) for t in ("kinetic_atoms", "kinetic_continuum", "potential_continuum",
                                          "external_work", "dissipated"))
        self.guard.energy_floor = max(self.guard.energy_floor, scale)

    def get_state(self) -> dict:
        return self.guard.state()

    def set_state(self, st: dict) -> None:
        self.guard.set_state(st)


class ThermoWriter(Operation):
    """Appends the thermo row and the observables to the results file (rank 0 writes)."""

    name = "thermo"

    def __init__(self, writer, measure: Measure, every: int) -> None:  # noqa: ANN001
        super().__init__(every, at_start=True, at_end=True)
        self.writer, self.measure = writer, measure

    def __call__(self, event: Event) -> None:
        row, obs = event.measure(self.measure)
        self.writer.write_thermo(event.k, event.time, row)
        if obs:
            self.writer.write_observables(event.k, event.time, obs)
            row.update({f"obs.{kk}": v for kk, v in obs.items()})
            if "temperature" in obs:
                row["temperature"] = obs["temperature"]
        event.row = row
        event.progress = {"energy": row["total_plus_dissipated"],
                          **({"T": row["temperature"]} if "temperature" in row else {})}


class FrameWriter(Operation):
    """Appends a frame of the deck's ``output.fields`` (`run.fields.Fields.frame`)."""

    name = "frame"

    def __init__(self, writer, fields, every: int | None, *, always: bool = False) -> None:  # noqa: ANN001
        super().__init__(every, at_start=True, at_end=True, always=always)
        self.writer, self.fields = writer, fields

    def __call__(self, event: Event) -> None:
        atoms, nodes = self.fields.frame()
        self.writer.write_frame(event.k, event.time, atoms, nodes)


class LastGood(Operation):
    """Keeps a copy of the state after every guarded event: what a blow-up saves as OUT.lastgood.h5."""

    name = "last_good"

    def __init__(self, state, every: int) -> None:  # noqa: ANN001
        super().__init__(every, at_end=True)
        self.state = state
        self.snapshot: dict | None = None

    def take(self) -> None:
        self.snapshot = None       # the previous copy is released first: one copy at a time (peak memory)
        self.snapshot = self.state.get_state()

    def __call__(self, event: Event) -> None:
        self.take()


class Checkpoint(Operation):
    """Saves the whole state atomically to OUT.checkpoint.h5 every ``every`` steps."""

    name = "checkpoint"

    def __init__(self, path: Path, state, record, every: int | None) -> None:  # noqa: ANN001
        super().__init__(every)
        self.path, self.state, self.record = path, state, record

    def __call__(self, event: Event) -> None:
        self.record.save_checkpoint(self.path, self.state.get_state(), step=event.k)


class ProgressReport(Operation):
    """Moves the progress bar (`output.progress.Progress`) at every event, with the figures the thermo
    operation left in ``event.progress``."""

    name = "progress"

    def __init__(self, bar) -> None:  # noqa: ANN001
        super().__init__(always=True)
        self.bar = bar

    def __call__(self, event: Event) -> None:
        if event.progress is not None:
            self.bar.update(event.done, **event.progress)
        else:
            self.bar.update(event.done)


# ---------------------------------------------------------------------- statics
class StageThermo(Operation):
    """Statics: the stage's record (energy terms, max force, the loads' observables ``load.key``) as a
    thermo row (time = the stage index) and its observables."""

    name = "thermo"

    def __init__(self, writer) -> None:  # noqa: ANN001
        super().__init__(always=True)
        self.writer = writer

    def __call__(self, event: Event) -> None:
        row = {k: float(v) for k, v in event.record.items()
               if isinstance(v, int | float | np.floating | np.integer) and k != "stage"}
        self.writer.write_thermo(event.k, event.time, row)
        obs = {k: v for k, v in row.items() if "." in k}
        if obs:
            self.writer.write_observables(event.k, event.time, obs)
        event.row = row
        event.progress = {"energy": row["energy"], "fmax": row["max_force"]}


class StageLastGood(Operation):
    """Statics: the state to go on with at the next stage (`integrate.quasistatic.static_state`)."""

    name = "last_good"

    def __init__(self, system, loads) -> None:  # noqa: ANN001
        super().__init__(always=True)
        self.system, self.loads = system, loads
        self.snapshot: dict = {}

    def take(self, next_stage: int) -> None:
        from ..integrate.quasistatic import static_state
        self.snapshot.update(static_state(self.system, self.loads, next_stage))

    def __call__(self, event: Event) -> None:
        self.take(event.k + 1)


class StageCheckpoint(Operation):
    """Statics: a checkpoint of `StageLastGood`'s state after every ``every`` stages and the last one."""

    name = "checkpoint"

    def __init__(self, path: Path, last_good: StageLastGood, record, every: int, n: int) -> None:  # noqa: ANN001
        super().__init__(every)
        self.path, self.last_good, self.record, self.n = path, last_good, record, n

    def due(self, k: int, total: int) -> bool:   # k is the stage index: the count of stages done is k + 1
        return (k + 1) % self.every == 0 or k + 1 == self.n

    def __call__(self, event: Event) -> None:
        self.record.save_checkpoint(self.path, self.last_good.snapshot, step=event.k, next_stage=event.k + 1)
