"""Dynamics: an indenter that pushes on no atom at any thermo row gets a `DeckWarning` at the end of the
run, as quasi-statics does (rev32 F15: an indenter moving away from the surface gave an unloaded run, exit
0, no word); one that indents gets none."""

from __future__ import annotations

import warnings

import pytest

from multiscale import Simulation
from multiscale.deck import load_deck_text
from multiscale.errors import DeckWarning

DECK = """\
msim: 1
units: lj
title: 2D LJ film under a moving cylinder (untouched-indenter warning)
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [-0.2, -0.2], hi: [20.2, 10.2]}}
  boundary: [f, f]
  mass: 1.0
  skin: 0.3
loads:
- {{type: fixed, label: bottom, region: {{type: box, lo: [-10.0, -10.0], hi: [30.0, 1.5]}}}}
- {{type: indenter, shape: cylinder, radius: 4.0, stiffness: 10.0, center: [10.0, 14.5], depths: [0.0],
   velocity: 0.5, direction: {direction}}}
integrator: {{type: verlet, dt: 0.005, steps: 400}}
output: {{every: 400, thermo_every: 20, fields: [displacement]}}
"""


def _run(tmp_path, direction):
    deck = load_deck_text(DECK.format(direction=direction), str(tmp_path / "d.yaml"))
    Simulation.from_deck(deck, threads=1).run(output=tmp_path / "d.h5", progress="quiet")


def test_indenter_moving_away_warns(tmp_path):
    with pytest.warns(DeckWarning, match="pushed on no atom at any of the 21 thermo rows"):
        _run(tmp_path, "[0.0, 1.0]")


def test_indenter_that_indents_does_not_warn(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeckWarning)
        _run(tmp_path, "[0.0, -1.0]")
