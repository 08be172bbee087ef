"""`run.loop.OperationLoop`: events at the union of the cadences and the last step, operations fired in
list order only when due, the integrator advanced in one chunk per event, a blow-up routed once."""

from __future__ import annotations

import pytest

from multiscale.errors import BlowUpError
from multiscale.run.loop import OperationLoop
from multiscale.run.operations import Operation


class _Advance(Operation):
    def __init__(self, log):
        super().__init__(always=True)
        self.log = log

    def __call__(self, ev):
        self.log.append(("advance", ev.prev, ev.k))


class _Mark(Operation):
    def __init__(self, name, log, every=None, **kw):
        super().__init__(every, **kw)
        self.name, self.log = name, log

    def __call__(self, ev):
        self.log.append((self.name, ev.k))


def _loop(log, total=17):
    ops = [_Advance(log), _Mark("a", log, 3, at_start=True, at_end=True), _Mark("b", log, 5),
           _Mark("c", log, always=True)]
    return OperationLoop(ops, total, clock=lambda: 0.0, on_blowup=lambda exc: exc)


def test_events_and_firing_order():
    log = []
    loop = _loop(log)
    loop.start(0)
    assert log == [("a", 0)]                               # only the at_start operations at the start
    log.clear()
    assert loop.run(0) == 17
    advances = [(p, k) for name, p, k in (e for e in log if e[0] == "advance")]
    # union of multiples of 3 and 5 below 17, then 17 (hand-listed)
    assert advances == [(0, 3), (3, 5), (5, 6), (6, 9), (9, 10), (10, 12), (12, 15), (15, 17)]
    fired = [e for e in log if e[0] != "advance"]
    assert [k for n, k in fired if n == "a"] == [3, 6, 9, 12, 15, 17]      # at_end adds 17
    assert [k for n, k in fired if n == "b"] == [5, 10, 15]                 # no at_end
    assert [k for n, k in fired if n == "c"] == [3, 5, 6, 9, 10, 12, 15, 17]
    # within one event: list order
    assert log[log.index(("advance", 12, 15)) + 1:][:4] == [("a", 15), ("b", 15), ("c", 15),
                                                           ("advance", 15, 17)]


def test_resumes_from_a_restart_step():
    log = []
    _loop(log).run(10)
    assert [(p, k) for n, p, k in (e for e in log if e[0] == "advance")] == [(10, 12), (12, 15), (15, 17)]


def test_a_blow_up_goes_through_on_blowup_once():
    seen = []

    class Boom(Operation):
        def __init__(self):
            super().__init__(4)

        def __call__(self, ev):
            raise BlowUpError(f"bad at {ev.k}", step=ev.k, region="all", quantity="x")

    def on_blowup(exc):
        seen.append(exc.step)
        return RuntimeError(f"saved; {exc}")

    log = []
    ops = [_Advance(log), Boom(), _Mark("after", log, always=True)]
    loop = OperationLoop(ops, 10, lambda: 0.0, on_blowup)
    with pytest.raises(RuntimeError, match="saved; bad at 4"):
        loop.run(0)
    assert seen == [4]
    assert ("after", 4) not in log                          # nothing runs after the failing operation
