"""Progress: periodic log lines with rate and ETA; a rich bar on a terminal; quiet is silent."""

from __future__ import annotations

import io

import pytest

from multiscale.output.progress import Progress


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_log_mode_lines():
    out, clock = io.StringIO(), Clock()
    with Progress(1000, mode="auto", every_seconds=10.0, stream=out, clock=clock) as p:
        assert p.mode == "log"                           # a StringIO is not a terminal
        for step in range(1, 1001):
            clock.t += 0.0625                            # 16 steps/s (exact in binary)
            p.update(step, E=-3512.25, T=301.4)
    lines = out.getvalue().splitlines()
    assert len(lines) == 6 + 1                           # every 10 s of 62.5 s, plus the final line
    assert lines[0] == ("step 160/1000 (16.0%) | elapsed 0:00:10 | ETA 0:00:52 | 16 steps/s | "
                        "E=-3512.25 T=301.4")
    assert lines[-1].startswith("step 1000/1000 (100.0%) | elapsed 0:01:02 | ETA 0:00:00 | 16 steps/s")


def test_restart_counts_from_start_step():
    out, clock = io.StringIO(), Clock()
    with Progress(2000, mode="log", every_seconds=1e9, start_step=1000, stream=out, clock=clock) as p:
        clock.t += 10.0
        p.update(1500)
        assert p.rate == pytest.approx(50.0) and p.eta == pytest.approx(10.0)
    assert out.getvalue().splitlines() == [
        "step 1500/2000 (75.0%) | elapsed 0:00:10 | ETA 0:00:10 | 50 steps/s"]


def test_quiet_prints_nothing():
    out = io.StringIO()
    with Progress(10, mode="quiet", stream=out) as p:
        for s in range(1, 11):
            p.update(s, E=1.0)
    assert out.getvalue() == ""


def test_bar_mode_renders():
    out = io.StringIO()
    with Progress(50, mode="bar", stream=out, description="wave1d") as p:
        for s in range(1, 51):
            p.update(s, E=-1.5, T=0.25)
    text = out.getvalue()
    assert "wave1d" in text and "50/50" in text and "steps/s" in text and "E=-1.5 T=0.25" in text


def test_bad_mode():
    with pytest.raises(ValueError, match="progress mode"):
        Progress(10, mode="fancy")
