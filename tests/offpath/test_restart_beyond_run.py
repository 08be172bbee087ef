"""``--restart`` from a checkpoint that lies beyond the run's end (found off the gallery).

A deck whose ``integrator.steps`` was shortened after its run (or ``--steps`` below the checkpoint's step)
restarted "at step 40/20 (200.0%)", ran nothing, counted a restart in the results file and exited 0. Now
it is refused (exit 2) naming both numbers; the same end (nothing left) and a longer run still work.
Statics alike with load stages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.output.reader import ResultsReader

MD = """\
msim: 1
units: lj
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: hex, a: relaxed}
  cells: [6, 4]
  boundary: [p, p]
  mass: 1.0
  velocity: {temperature: 0.1, seed: 1}
integrator: {type: verlet, dt: 0.005, steps: 40}
output: {every: 10, thermo_every: 10, checkpoint_every: 20, fields: [position, velocity]}
"""

FILM = """\
msim: 1
units: lj
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: hex, a: relaxed}
  cells: [30, 8]
  boundary: [p, f]
  mass: 1.0
loads:
- {type: fixed, label: bottom, region: {type: box, lo: [-5, -5], hi: [100, 1.5]}}
- {type: indenter, radius: 5.0, stiffness: 10.0, center: [16.8, 20.5], depths: [0.0, 0.3, 0.6]}
integrator: {type: fire, ftol: 1.0e-4}
output: {fields: [displacement]}
"""


def _run(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, ["run", *args, "--quiet"])


def test_dynamics_restart_beyond_the_end(tmp_path: Path) -> None:
    deck = tmp_path / "md.yaml"
    deck.write_text(MD)
    out, ck = tmp_path / "md.h5", tmp_path / "md.checkpoint.h5"
    assert _run(str(deck), "-o", str(out)).exit_code == 0
    keep = tmp_path / "keep.h5"
    shutil.copy(ck, keep)                                    # the state after 40 steps
    for shorter in (["--steps", "20"], []):
        if shorter:
            args = shorter
        else:
            deck.write_text(MD.replace("steps: 40", "steps: 30"))
            args = []
        res = _run(str(deck), "-o", str(out), "--restart", str(keep), *args)
        assert res.exit_code == 2, res.output
        assert "cannot restart: the checkpoint holds the state after 40 steps" in res.output
        assert "run's length of " in res.output and "Traceback" not in res.output
    with ResultsReader(out) as r:
        assert r.steps.tolist() == [0, 10, 20, 30, 40]
    deck.write_text(MD)
    assert _run(str(deck), "-o", str(out), "--restart", str(keep)).exit_code == 0       # the same end
    deck.write_text(MD.replace("steps: 40", "steps: 60"))
    assert _run(str(deck), "-o", str(out), "--restart", str(keep)).exit_code == 0       # further
    with ResultsReader(out) as r:
        assert r.steps.tolist() == [0, 10, 20, 30, 40, 50, 60]


def test_statics_restart_beyond_the_end(tmp_path: Path) -> None:
    deck = tmp_path / "film.yaml"
    deck.write_text(FILM)
    out = tmp_path / "film.h5"
    assert _run(str(deck), "-o", str(out)).exit_code == 0
    ck = tmp_path / "film.checkpoint.h5"
    res = _run(str(deck), "-o", str(out), "--restart", str(ck), "--stages", "2")
    assert res.exit_code == 2, res.output
    assert "the checkpoint holds the state after 3 load stages, beyond this run's length of 2" in res.output
    assert _run(str(deck), "-o", str(out), "--restart", str(ck)).exit_code == 0        # the same end
