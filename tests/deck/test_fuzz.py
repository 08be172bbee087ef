"""Hostile fuzzing of `msim validate` and `msim run` through the real CLI entry point and the real plugin
registries (msim issues 11 and 17): mutated decks from decks/*.yaml, malformed EAM funcfl/setfl and gmsh
files, odd-but-valid decks (huge regions, time steps x10-x1000). No case may end in a traceback, an
internal error (exit 1), an unlocated exit-2 message, a report over 20 000 characters, or an exit 3
without a readable last-good state. The mutants are in `fuzzing.py` (deterministic seed); run it as a
script for the counts."""

from __future__ import annotations

import random

import pytest

from . import fuzzing as F

BAD = {"traceback", "exit1", "unlocated", "too_long", "lastgood"}


def _report(outcomes: list[F.Outcome]) -> str:
    lines = []
    for o in outcomes:
        if o.verdict in BAD:
            tail = " | ".join(o.output.strip().splitlines()[-3:])[:400]
            lines.append(f"{o.verdict} {o.command} {o.case.name} [{o.case.what[:100]}] exit={o.exit_code}: "
                         f"{tail}")
    return "\n".join(lines)


def _check(outcomes: list[F.Outcome]) -> None:
    bad = [o for o in outcomes if o.verdict in BAD]
    assert not bad, f"{len(bad)} of {len(outcomes)} endings are bad:\n{_report(outcomes)}"


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
    files, 80 meshes, 120 odd decks; `msim run --steps 5` on every one that validates."""
    names = tuple(n for n in F.ALL_DECKS if n != "indent3d")
    cases = F.all_cases(n_decks=1200, n_eam=160, n_mesh=80, names=names, n_odd=120, seed=F.SEED + 7)
    outcomes = F.fuzz(cases, tmp_path, run=True, steps=5, timeout=300, run_timeout=300)
    _check(outcomes)
