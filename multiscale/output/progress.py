"""Run progress: a rich bar on a terminal, periodic plain log lines in batch jobs, or nothing.

    with Progress(total_steps=10_000, mode="auto") as p:        # mode: auto | bar | log | quiet
        for step in range(1, 10_001):
            ...
            p.update(step, E=e_total, T=temperature)            # values shown live (any names)

`auto` picks `bar` when the stream (stderr by default) is a terminal, `log` otherwise. Log lines look
like `step 2000/10000 (20.0%) | elapsed 0:00:12 | ETA 0:00:48 | 166.7 steps/s | E=-3512.2 T=301.4`,
one every `every_seconds` of wall time, plus one at the end. Steps/s and ETA count from `start_step`
(the restart step of a restarted run).

A long set-up stage before the first step (the ``quasi_harmonic`` covariance) reports through `SetupLog`:
``set-up: <what>: <k>/<n> <unit> (p%) | elapsed 0:00:40 | ETA 0:02:10`` when it starts, at most every
`every_seconds` of wall time while it runs, and once when it is done.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

MODES = ("auto", "bar", "log", "quiet")


def _hms(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _values(values: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.6g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in values.items())


class Progress:
    """Progress of a run of `total_steps` steps (the last step number); see the module docstring."""

    def __init__(self, total_steps: int, mode: str = "auto", every_seconds: float = 10.0, *,
                 start_step: int = 0, stream: IO[str] | None = None, description: str = "msim",
                 clock: Callable[[], float] = time.monotonic) -> None:
        if mode not in MODES:
            raise ValueError(f"progress mode must be one of {MODES}, not {mode!r}")
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "log"
        self.mode = mode
        self.total = int(total_steps)
        self.start_step = int(start_step)
        self.every = float(every_seconds)
        self.description = description
        self.clock = clock
        self.step = self.start_step
        self.values: dict[str, float] = {}
        self._t0 = self._last_log = 0.0
        self._bar = None
        self._task = None
        self._lines = 0

    # ------------------------------------------------------------------ figures
    @property
    def elapsed(self) -> float:
        return self.clock() - self._t0

    @property
    def rate(self) -> float:
        """Steps per second of wall time since the start."""
        dt = self.elapsed
        return (self.step - self.start_step) / dt if dt > 0 else float("nan")

    @property
    def eta(self) -> float:
        r = self.rate
        return (self.total - self.step) / r if r and r == r and r > 0 else float("nan")

    def line(self) -> str:
        """The plain log line for the current state."""
        pct = 100.0 * self.step / self.total if self.total else 100.0
        parts = [f"step {self.step}/{self.total} ({pct:.1f}%)", f"elapsed {_hms(self.elapsed)}",
                 f"ETA {_hms(self.eta)}", f"{self.rate:.4g} steps/s"]
        if self.values:
            parts.append(_values(self.values))
        return " | ".join(parts)

    # ------------------------------------------------------------------ lifetime
    def __enter__(self) -> Progress:
        self._t0 = self._last_log = self.clock()
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            console = Console(file=self.stream, force_terminal=True)
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
                TextColumn("{task.fields[rate]} steps/s"), TextColumn("{task.fields[values]}"),
                console=console, transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, completed=self.start_step,
                                            eta="-:--:--", rate="-", values="")
        return self

    def update(self, step: int, **values: float) -> None:
        """The run has completed `step`; `values` (e.g. E=..., T=...) are shown with it."""
        self.step = int(step)
        if values:
            self.values.update(values)
        if self.mode == "bar":
            self._bar.update(self._task, completed=self.step, eta=_hms(self.eta), rate=f"{self.rate:.4g}",
                             values=_values(self.values))
        elif self.mode == "log":
            now = self.clock()
            if now - self._last_log >= self.every:
                self._emit()
                self._last_log = now

    def _emit(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self._lines += 1

    def close(self) -> None:
        if self.mode == "bar" and self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.mode == "log" and self._lines >= 0:
            self._emit()
            self._lines = -1

    def __exit__(self, *exc: object) -> None:
        self.close()


class SetupLog:
    """Plain progress lines of one long set-up stage on ``stream`` (module docstring): `update(k)` after
    k of `total` units of work, `done()` at the end. ``stream=None``: nothing is printed."""

    def __init__(self, what: str, total: int, unit: str, stream: IO[str] | None, every_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.total, self.unit, self.stream = what, int(total), unit, stream
        self.every, self.clock = float(every_seconds), clock
        self.k = 0
        self._t0 = self._last = clock()
        self._emit()

    def line(self) -> str:
        el = self.clock() - self._t0
        pct = 100.0 * self.k / self.total if self.total else 100.0
        eta = el * (self.total - self.k) / self.k if self.k else float("nan")
        return (f"set-up: {self.what}: {self.k}/{self.total} {self.unit} ({pct:.0f}%) | elapsed {_hms(el)} | "
                f"ETA {_hms(eta)}")

    def _emit(self) -> None:
        if self.stream is not None:
            print(self.line(), file=self.stream, flush=True)

    def update(self, k: int) -> None:
        self.k = int(k)
        now = self.clock()
        if now - self._last >= self.every:
            self._last = now
            self._emit()

    def done(self) -> None:
        self.k = self.total
        if self.stream is not None:
            print(f"set-up: {self.what}: done in {_hms(self.clock() - self._t0)}", file=self.stream,
                  flush=True)
