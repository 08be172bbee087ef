"""Statics decks with odd stages and dynamics-only sections (found off the gallery).

- ``depths: []`` (or ``displacement_steps: []``): validated, then ``msim run`` died with "internal error:
  IndexError: indenter: stage -1 outside 0..-1" (exit 1). Now a deck error at the key (exit 2).
- ``atoms.velocity`` or ``handshake.damping`` with a minimiser: validated and ran, silently ignored (a
  deck switched from verlet to fire keeping its temperature). Now a deck error at the key.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from multiscale.cli import cli

ROOT = Path(__file__).resolve().parents[2]

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
- type: indenter
  radius: 5.0
  stiffness: 10.0
  center: [16.8, 20.5]
  depth_steps: {start: 0.0, stop: 1.0, step: 0.5}
integrator: {type: fire, ftol: 1.0e-4}
output: {fields: [displacement, force]}
"""


def _empty_depths(d: dict) -> None:
    d["loads"][1].pop("depth_steps")
    d["loads"][1]["depths"] = []


def _empty_prescribed(d: dict) -> None:
    d["loads"].append({"type": "prescribed", "region": {"type": "box", "lo": [-5, 12], "hi": [100, 20]},
                       "displacement_steps": []})


def _dynamics_empty(d: dict) -> None:
    _empty_depths(d)
    d["integrator"] = {"type": "verlet", "dt": 0.005, "steps": 10}


def _velocity(d: dict) -> None:
    d["atoms"]["velocity"] = {"temperature": 0.1, "seed": 3}


CASES = {   # change -> (key named, words)
    "empty_depths": (_empty_depths, "loads[1].depths", "an empty list of load stages"),
    "empty_displacement_steps": (_empty_prescribed, "loads[2].displacement_steps",
                                 "an empty list of load stages"),
    "dynamics_empty_depths": (_dynamics_empty, "loads[1].depths", "an empty list of load stages"),
    "statics_velocity": (_velocity, "atoms.velocity", "integrator `fire` is a minimiser"),
}


def _deck(tmp_path: Path, d: dict) -> Path:
    p = tmp_path / "deck.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def _refused(tmp_path: Path, deck: Path, key: str, words: str) -> None:
    for cmd in (["validate", str(deck)], ["run", str(deck), "--quiet", "-o", str(tmp_path / "r.h5")]):
        res = CliRunner().invoke(cli, cmd)
        assert res.exit_code == 2, (cmd[0], res.output)
        assert "Traceback" not in res.output and "internal error" not in res.output
        assert f"{deck}:" in res.output and f"{key}: " in res.output and words in res.output, res.output


@pytest.mark.parametrize("case", list(CASES))
def test_refused_at_the_key(tmp_path: Path, case: str) -> None:
    change, key, words = CASES[case]
    d = yaml.safe_load(FILM)
    change(d)
    _refused(tmp_path, _deck(tmp_path, d), key, words)


def test_the_film_itself_runs(tmp_path: Path) -> None:
    """The unchanged film (3 stages) runs: the refusals above come from the change alone."""
    deck = _deck(tmp_path, yaml.safe_load(FILM))
    res = CliRunner().invoke(cli, ["run", str(deck), "--quiet", "-o", str(tmp_path / "r.h5")])
    assert res.exit_code == 0, res.output


def test_statics_damping_band_is_refused(tmp_path: Path) -> None:
    d = yaml.safe_load((ROOT / "decks" / "indent2d_small.yaml").read_text())
    d.pop("expect", None)
    d["handshake"]["damping"] = {"gamma0": 1.0}
    _refused(tmp_path, _deck(tmp_path, copy.deepcopy(d)), "handshake.damping", "acts on velocities")
