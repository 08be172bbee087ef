"""A load with several quasi-static stages (``depth_steps``, ``K_steps``, ``factors``, ...) in a dynamics
deck: dynamics runs at stage 0 for its whole length, so the other stages would be ignored without a word
(found by continuing a quasi-static indentation in dynamics with the statics deck's loads: the indenter jumped
back from depth 1 to depth 0). Deck error at the load's stage key, exit 2; one stage stays allowed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from multiscale.cli import cli

FILM = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [-0.2, -0.2], hi: [12.0, 8.0]}}
  mass: 1.0
loads:
- {{type: fixed, region: {{type: box, lo: [-1, -1], hi: [13, 0.5]}}}}
- {load}
integrator: {{type: {integ}}}
"""

INDENT = "{type: indenter, shape: cylinder, radius: 3.0, stiffness: 10.0, center: [6.0, 11.0], "
KFIELD = "{type: kfield, tip: [6.0, 4.0], boundary: {type: box, lo: [-1, 7], hi: [13, 9]}, "
VERLET = "verlet, dt: 0.002, steps: 10"


@pytest.mark.parametrize("load, integ, key", [
    (INDENT + "depth_steps: {start: 0.0, stop: 1.0, step: 0.25}}", VERLET, "loads[1].depth_steps"),
    (INDENT + "depths: [0.5, 1.0]}", VERLET, "loads[1].depths"),
    (KFIELD + "K_steps: {start: 0.1, stop: 0.3, step: 0.1}}", VERLET, "loads[1].K_steps"),
])
def test_several_stages_in_dynamics_are_a_deck_error(tmp_path, load: str, integ: str, key: str) -> None:
    path = tmp_path / "dyn.yaml"
    path.write_text(FILM.format(load=load, integ=integ))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.stderr and "dyn.yaml:" in r.stderr and key in r.stderr, r.stderr
    assert "quasi-static load stages in a dynamics deck" in r.stderr


@pytest.mark.parametrize("load, integ", [
    (INDENT + "depths: [0.5], velocity: 0.1}", VERLET),                          # one stage: dynamics
    (INDENT + "depth_steps: {start: 0.0, stop: 1.0, step: 0.25}}", "fire"),     # stages: statics
])
def test_one_stage_in_dynamics_and_stages_in_statics_pass(tmp_path, load: str, integ: str) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(FILM.format(load=load, integ=integ))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output + r.stderr
