"""Hostile fuzzing of `msim validate` and `msim run` through the real CLI entry point and the real plugin
registries (msim issues 11 and 17): mutated decks from decks/*.yaml, malformed EAM funcfl/setfl and gmsh
files, odd-but-valid decks (huge regions, time steps x10-x1000). No case may end in a traceback, an
internal error (exit 1), an unlocated exit-2 message, a report over 20 000 characters, or an exit 3
without a readable last-good state. The mutants are in `fuzzing.py` (deterministic seed); run it as a
script for the counts."""

from __future__ import annotations

import random
import time
import warnings

import pytest

from . import fuzzing as F

#: the fast tests allow no timed-out case: their CPU budgets (60 s per validate / run) are far above what any
#: of their cases uses, and CPU time does not grow with the machine's load
FAST_MAX_TIMEOUTS = 0
#: the slow test allows at most this many timed-out cases (of ~2 800 validate + run endings), each reported
SLOW_MAX_TIMEOUTS = 2


def _check(outcomes: list[F.Outcome], max_timeouts: int = FAST_MAX_TIMEOUTS) -> None:
    """No bad ending and at most ``max_timeouts`` timed-out cases; the timed-out ones are printed and
    warned about (pytest's warnings summary) with their deck mutation."""
    report = F.check(outcomes, max_timeouts)
    if report:
        print(report)
        n = sum(o.verdict == "timeout" for o in outcomes)
        warnings.warn(f"fuzz: {n} of {len(outcomes)} case(s) timed out (bound {max_timeouts}):\n{report}",
                      stacklevel=2)


def _report(outcomes: list[F.Outcome]) -> str:
    return "\n".join(F.describe(o) for o in outcomes if o.verdict in F.BAD or o.verdict == "timeout")


def test_unmutated_inputs_are_valid(tmp_path):
    """The sources of the data-file mutants validate and run: the mutants test the readers, not a broken
    deck."""
    cases = [F.Case("eam-funcfl", F.EAM_DECK.format(fmt="funcfl", file="pot.eam").encode(),
                    {"pot.eam": F.funcfl_text().encode()}),
             F.Case("eam-setfl", F.EAM_DECK.format(fmt="setfl", file="pot.eam.alloy").encode(),
                    {"pot.eam.alloy": F.setfl_text().encode()}),
             F.Case("mesh", F.MESH_DECK.encode(), {"plate.msh": F.gmsh_text().encode()})]
    outcomes = F.fuzz(cases, tmp_path, run=True, steps=3, timeout=60, run_timeout=60)
    assert [(o.command, o.exit_code) for o in outcomes] == [("validate", 0), ("run", 0)] * 3, \
        "\n".join(o.output for o in outcomes)


def test_fuzz_validate(tmp_path):
    """~400 hostile mutants through `msim validate`: every ending is exit 0 or a located exit 2."""
    cases = F.all_cases(n_decks=260, n_eam=80, n_mesh=50)
    outcomes = F.fuzz(cases, tmp_path, timeout=60)
    _check(outcomes)
    counts = {k: dict(v) for k, v in F.tally(outcomes).items()}
    # the mutants reach the readers and the model builder, not only the YAML parser
    assert counts["validate deck"].get("ok", 0) == 260
    codes = [o.exit_code for o in outcomes]
    assert codes.count(0) >= 30 and codes.count(2) >= 200, counts


def test_fuzz_run_odd_decks(tmp_path):
    """Odd but valid decks (time step x10-x1000, regions x100 or x10^5-10^6, one number x10^±3...) through
    `msim run --steps 20`: exit 0, a located exit 2 (e.g. a refusal naming the memory), or exit 3 with a
    readable last-good state; never exit 1."""
    rng = random.Random(F.SEED + 1)
    cases = F.odd_cases(16, rng, ("wave1d", "lj_melt", "wave1d_damped"), region_factors=(1e2, 1e5, 1e6))
    lj = (F.DECKS / "lj_melt.yaml").read_text()  # and one certain blow-up: the liquid at dt x10
    assert "dt: 0.005," in lj
    hot = lj.replace("dt: 0.005,", "dt: 0.05, allow_unstable_dt: true,")
    cases.append(F.Case("odd-lj_melt-dt", hot.encode(), what="dt x10"))
    outcomes = F.fuzz(cases, tmp_path, run=True, steps=20, timeout=60, run_timeout=60)
    _check(outcomes)
    assert any(o.command == "run" and o.exit_code == 3 for o in outcomes), _report(outcomes)


@pytest.mark.slow
def test_fuzz_every_deck_slow(tmp_path):
    """The larger version: 1 200 mutants of every deck in decks/ but indent3d (18 s to validate), 160 EAM
    files, 80 meshes, 120 odd decks; `msim run --steps 5` on every one that validates. CPU budget 300 s
    per validate / run, wall cap 6 000 s; at most `SLOW_MAX_TIMEOUTS` timed-out cases, each reported."""
    names = tuple(n for n in F.ALL_DECKS if n != "indent3d")
    cases = F.all_cases(n_decks=1200, n_eam=160, n_mesh=80, names=names, n_odd=120, seed=F.SEED + 7)
    outcomes = F.fuzz(cases, tmp_path, run=True, steps=5, timeout=300, run_timeout=300)
    _check(outcomes, SLOW_MAX_TIMEOUTS)


# ------------------------------------------------------------------ the harness itself can fail
_MARK = "# fuzz-harness: "


def _harness_cases(*modes: str) -> list[F.Case]:
    """wave1d decks, each with a comment naming what the patched loader does with it."""
    text = (F.DECKS / "wave1d.yaml").read_text()
    return [F.Case(f"harness-{m}", (text + f"\n{_MARK}{m}\n").encode(), what=f"made to {m}") for m in modes]


@pytest.fixture
def broken_loader(monkeypatch):
    """`msim`'s deck loader, broken on purpose by a marker comment in the deck: `spin` burns CPU forever,
    `block` sleeps forever (no CPU), `nap` sleeps 1.2 s then loads, `raise` raises a RuntimeError."""
    import multiscale.cli as cli

    real = cli._load

    def load(path):  # noqa: ANN001, ANN202
        text = open(path).read()
        mode = text.split(_MARK)[1].split()[0] if _MARK in text else ""
        if mode == "spin":
            while True:
                pass
        if mode == "block":
            time.sleep(1e6)
        if mode == "nap":
            time.sleep(1.2)
        if mode == "raise":
            raise RuntimeError("broken on purpose")
        return real(path)

    monkeypatch.setattr(cli, "_load", load)


def test_harness_hang_is_a_timeout_never_a_pass(tmp_path, broken_loader):
    """A case spinning on the CPU is stopped by the CPU budget, one sleeping forever by the wall cap; both
    are verdict ``timeout`` (not ok), are named with their mutation in the report, and fail the check
    when over the bound. A case that is only slow in wall time (1.2 s asleep, as under load) passes."""
    outcomes = F.fuzz(_harness_cases("ok", "nap", "spin"), tmp_path / "a", timeout=1.0, wall_factor=100.0)
    outcomes += F.fuzz(_harness_cases("block"), tmp_path / "b", timeout=1.0, wall_factor=1.5)
    got = [(o.case.name, o.verdict, o.timed_out) for o in outcomes]
    assert got == [("harness-ok", "ok", ""), ("harness-nap", "ok", ""), ("harness-spin", "timeout", "cpu"),
                   ("harness-block", "timeout", "wall")], (got, _report(outcomes))
    _, nap, spin, block = outcomes
    assert nap.seconds >= 1.2 and nap.cpu_seconds < 1.0, (nap.seconds, nap.cpu_seconds)
    # the budget is CPU seconds (ITIMER_PROF's count ran ~15 % ahead of time.process_time here: 1.71 s of 2)
    assert spin.cpu_seconds >= 0.75, spin.cpu_seconds
    assert block.cpu_seconds < 1.0 and block.seconds >= 1.45, (block.cpu_seconds, block.seconds)  # wall cap
    with pytest.raises(AssertionError, match=r"2 of 4 cases timed out \(bound 1\)") as e:
        F.check(outcomes, max_timeouts=1)
    assert "harness-spin [made to spin]" in str(e.value) and "harness-block [made to block]" in str(e.value)
    report = F.check(outcomes, max_timeouts=2)
    assert "stopped by the cpu limit" in report and "stopped by the wall limit" in report, report


def test_harness_traceback_fails(tmp_path, broken_loader):
    """A case whose `msim validate` raises (an internal error, exit 1, or an uncaught traceback) is a bad
    ending: the check fails and names it, whatever the timeout bound."""
    outcomes = F.fuzz(_harness_cases("ok", "raise"), tmp_path, timeout=60)
    assert [o.verdict for o in outcomes] == ["ok", "exit1"], _report(outcomes)
    with pytest.raises(AssertionError, match="1 of 2 endings are bad") as e:
        F.check(outcomes, max_timeouts=5)
    assert "harness-raise [made to raise]" in str(e.value) and "broken on purpose" in str(e.value)
