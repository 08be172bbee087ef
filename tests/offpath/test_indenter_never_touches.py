"""A quasi-static indentation whose indenter never reaches the atoms (offpath4: a film deck with the
indenter above the surface at every depth) ran every stage at zero load without a word. Now `msim run`
warns once at the end (`errors.DeckWarning`): "the indenter 'indenter' never touched the atoms (closest
approach X ...)", X the smallest atom-to-surface distance over the stages; an indenter that pushes at some
stage says nothing."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.errors import DeckWarning
from multiscale.output.reader import ResultsReader

DECK = Path(__file__).resolve().parents[1] / "parallel" / "decks" / "lj3d_indent_statics.yaml"


@pytest.mark.parametrize(("zc", "warned"), [(14.0, True), (10.0, False)])
def test_indenter_that_never_touches_is_said(tmp_path: Path, zc: float, warned: bool) -> None:
    text = DECK.read_text()
    assert "center: [4.65, 4.65, 10.0]" in text
    deck = tmp_path / "ind.yaml"
    deck.write_text(text.replace("center: [4.65, 4.65, 10.0]", f"center: [4.65, 4.65, {zc}]"))
    out = tmp_path / "ind.h5"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    said = [str(w.message) for w in caught if issubclass(w.category, DeckWarning)]
    assert len(said) == int(warned), said
    with ResultsReader(out) as r:
        load = r.thermo()["indenter.load"]
        x0 = r._file["static/atoms/reference_positions"][()]
        x_last = x0 + r.field("atoms", "displacement", r.nframes - 1)
    assert (not load.any()) == warned, load
    if warned:
        m = re.fullmatch(r"the indenter 'indenter' never touched the atoms \(closest approach (\S+) σ over "
                         r"4 stages\): every stage ran at zero load", said[0])
        assert m, said
        # deepest stage (depth 1.5, the last frame): the sphere (R = 4) centred at (4.65, 4.65, zc - 1.5)
        gap = np.linalg.norm(x_last - [4.65, 4.65, zc - 1.5], axis=1).min() - 4.0
        assert gap > 1.0 and float(m.group(1)) == pytest.approx(gap, rel=1e-3)



@pytest.mark.parametrize(("shape", "expected"), [("sphere", np.sqrt(10.0) - 2.0), ("cylinder", 1.0 - 2.0),
                                                 ("flat", 3.0)])
def test_clearance_is_the_gap_to_the_surface(shape: str, expected: float) -> None:
    """`Indenter.clearance` (R = 2, centre 0): sphere min |x − c| − R; cylinder (axis z) the distance to
    the axis − R (negative: an atom inside); flat punch (direction z) the height in front of the face of
    the atoms within its lateral reach R (the other two are beside the punch)."""
    from types import SimpleNamespace

    from multiscale.loads.indenter import Indenter

    x = np.array([[1.0, 0.0, 3.0], [5.0, 0.0, 0.5], [0.0, 8.0, -1.0]])
    ind = Indenter(type="indenter", shape=shape, radius=2.0, stiffness=1.0, center=[0.0, 0.0, 0.0],
                   direction=[0.0, 1.0, 0.0] if shape == "cylinder" else [0.0, 0.0, 1.0])
    ind.prepare(SimpleNamespace(atoms=SimpleNamespace(X=x)))
    assert ind.clearance(x) == pytest.approx(expected, rel=1e-12)


def test_restart_past_the_touching_stages_says_nothing(tmp_path: Path) -> None:
    """The stages before a `--restart` count: an indenter that pushed at stages 1–2 and is withdrawn at
    stages 3–4 (run to stage 3, then restarted) was reported as "never touched the atoms ... over 2 stages"
    (rev30 F7); the file holds the loads of both parts. A restart whose every stage misses still warns."""
    text = DECK.read_text()
    assert "  depth_steps: {start: 0.0, stop: 1.5, step: 0.5}" in text
    text = text.replace("  depth_steps: {start: 0.0, stop: 1.5, step: 0.5}", "  depths: [0.0, 1.0, 1.5, -1.5, -2.0]")
    text = text.replace("  every: 1\n", "  every: 1\n  checkpoint_every: 1\n")
    for zc, warned in ((10.0, False), (14.0, True)):
        deck = tmp_path / f"ind{zc:g}.yaml"
        deck.write_text(text.replace("center: [4.65, 4.65, 10.0]", f"center: [4.65, 4.65, {zc}]"))
        out = tmp_path / f"ind{zc:g}.h5"
        res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet", "--stages", "3"])
        assert res.exit_code == 0, res.output
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet", "--restart",
                                           str(tmp_path / f"ind{zc:g}.checkpoint.h5")])
        assert res.exit_code == 0, res.output
        said = [str(w.message) for w in caught if issubclass(w.category, DeckWarning)]
        with ResultsReader(out) as r:
            load = r.thermo()["indenter.load"]
        assert len(load) == 5 and (not load.any()) == warned, load
        assert len(said) == int(warned), said
