"""`OperationLoop`: advance to the next event, run the operations that are due, until the last step.

The events are the steps where some operation with a cadence is due (``next_due``) and the last step;
the integrator advances in one chunk between events (`operations.Advance` is the first operation).
At every event the operations run in list order, each only if ``due(k, total)``. A `BlowUpError` from
any of them goes to ``on_blowup(exc)``, which returns the error to raise (after saving the last good
state). `start(ops_at_start)` runs the ``at_start`` operations once at the first step of a fresh run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import BlowUpError
from .operations import Event, Operation


class OperationLoop:
    """ops : operations in firing order; total : the last step; clock : () -> time [time];
    on_blowup : (BlowUpError) -> BaseException."""

    def __init__(self, ops: Sequence[Operation], total: int, clock: Callable[[], float],
                 on_blowup: Callable[[BlowUpError], BaseException]) -> None:
        self.ops = list(ops)
        self.total = int(total)
        self.clock = clock
        self.on_blowup = on_blowup

    def next_event(self, k: int) -> int:
        return min([self.total] + [n for n in (op.next_due(k) for op in self.ops) if n is not None])

    def start(self, k: int) -> None:
        """Run the ``at_start`` operations at step ``k`` (the initial state of a fresh run)."""
        ev = Event(k, k, self.clock, self.total)
        for op in self.ops:
            if op.at_start:
                op(ev)

    def run(self, k: int) -> int:
        """Advance from step ``k`` to ``total``; returns the last step."""
        while k < self.total:
            ev = Event(self.next_event(k), k, self.clock, self.total)
            try:
                for op in self.ops:
                    if op.due(ev.k, self.total):
                        op(ev)
            except BlowUpError as exc:
                raise self.on_blowup(exc) from None
            k = ev.k
        return k
