"""A quasi-static run whose indenter starts buried in the atoms (the slow deck fuzz's timeout case
``indent2d_full-1197``: ``indent2d_full.yaml`` with the indenter's centre y = 0, R = 10 σ, so the disc
covers the fixed bottom rows and 7.5 σ of the free film) spent 300 s CPU in 5 stages: hundreds of L-BFGS
iterations per stage pushing the buried atoms out through the crystal, each with one triangular solve of
the stiffness preconditioner's SuperLU factor (the factor itself is the unmutated deck's: the preconditioner
does not read the indenter). Now `msim run` stops at once with a deck error (exit 2) at the indenter's
``center`` (or its ``depth_steps`` when the centre alone is clear): no atom may start inside the indenter
by more than the atoms' nearest-neighbour spacing (`run.statics.check_indenter_start`). Shown here on the
80 x 40 film (``indent2d_full_small.yaml``, same geometry near the indenter): the old code ran its 5 stages
(1 200 iterations, exit 0)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from multiscale.cli import cli

DECKS = Path(__file__).resolve().parents[2] / "decks"
SMALL = DECKS / "indent2d_full_small.yaml"
CENTER = "center: [44.2497518164, 47.5983637278]"      # y = top row + R: touching at depth 0
DEPTHS = "depth_steps: {start: 0.0, stop: 2.0, step: 0.5}"


def _deck(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    text = SMALL.read_text()
    assert old in text
    deck = tmp_path / "deck.yaml"
    deck.write_text(text.replace(old, new))
    return deck, 1 + text[: text.index(old)].count("\n")


def _run(deck: Path, out: Path, stages: int):  # noqa: ANN202
    t0 = time.process_time()
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--stages", str(stages), "--quiet"])
    return res, time.process_time() - t0


def test_indenter_centred_in_the_fixed_rows_is_a_deck_error(tmp_path):
    """The fuzz case's mutation on the small film: exit 2 at the ``center`` line before any minimisation
    (no results file), naming the depth of the deepest atom (9.72 σ: the fixed atom nearest the centre),
    the count inside (157, 54 of them fixed) and the nearest-neighbour spacing (a₀ = 1.113 σ)."""
    deck, line = _deck(tmp_path, CENTER, "center: [44.2497518164, 0.0]")
    out = tmp_path / "out.h5"
    res, cpu = _run(deck, out, 5)
    assert res.exit_code == 2, res.output
    first = next(ln for ln in res.output.splitlines() if ln.startswith("error:"))
    assert re.match(rf"error: {re.escape(str(deck))}:{line}:\d+: loads\[1\]\.center: the indenter 'indenter' "
                    r"starts 9\.722 σ deep inside the atoms at its first depth \(0 σ\): 157 atoms lie inside "
                    r"it \(54 of them fixed\), deeper than their nearest-neighbour spacing 1\.113 σ",
                    first), res.output
    assert "hint: place the indenter at the surface" in res.output
    assert "Traceback" not in res.output and not out.exists()
    assert cpu < 30.0, cpu      # the old code: 5 stages, ~1 200 iterations (7 s CPU here, 300 s at full size)


def test_first_depth_too_deep_points_at_depth_steps(tmp_path):
    """A centre at the surface but a first depth of 3 σ: the key is ``depth_steps``."""
    deck, line = _deck(tmp_path, DEPTHS, "depth_steps: {start: 3.0, stop: 4.0, step: 0.5}")
    res, _ = _run(deck, tmp_path / "out.h5", 1)
    assert res.exit_code == 2, res.output
    first = next(ln for ln in res.output.splitlines() if ln.startswith("error:"))
    assert re.match(rf"error: {re.escape(str(deck))}:{line}:\d+: loads\[1\]\.depth_steps: the indenter "
                    r"'indenter' starts 2\.994 σ deep inside the atoms at its first depth \(3 σ\): 35 "
                    r"atoms lie inside it, deeper", first), res.output


@pytest.mark.parametrize("start", [0.5, 1.05])
def test_start_within_one_spacing_runs(tmp_path, start):
    """An indenter starting up to one nearest-neighbour spacing (1.113 σ) inside the top row is a load path:
    the first stage runs and converges (no refusal at 0.5 σ or 1.05 σ)."""
    deck, _ = _deck(tmp_path, DEPTHS, f"depth_steps: {{start: {start}, stop: 2.0, step: 0.5}}")
    out = tmp_path / "out.h5"
    res, _ = _run(deck, out, 1)
    assert res.exit_code == 0, res.output
    from multiscale.output.reader import ResultsReader
    with ResultsReader(out) as r:
        th = r.thermo()
        assert np.all(th["converged"] == 1) and th["indenter.load"][0] > 0, th


def test_from_a_deeper_state_is_checked_against_that_state(tmp_path):
    """`msim run --from` starts from the earlier run's positions: an indentation continued at depth 2 σ
    (2 σ inside the REFERENCE top row, more than one spacing) from the state converged at depth 2 σ runs;
    the same deck without ``--from`` is refused at ``depth_steps``."""
    first = tmp_path / "first.h5"
    res, _ = _run(SMALL, first, 5)                  # depths 0, 0.5, ..., 2.0
    assert res.exit_code == 0, res.output
    deck, _ = _deck(tmp_path, DEPTHS, "depth_steps: {start: 2.0, stop: 2.5, step: 0.5}")
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "cont.h5"), "--from", str(first),
                                   "--stages", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    res, _ = _run(deck, tmp_path / "fresh.h5", 1)
    assert res.exit_code == 2 and "loads[1].depth_steps: the indenter" in res.output, res.output
