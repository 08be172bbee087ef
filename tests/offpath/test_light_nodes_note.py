"""Nodes of near-zero blended mass take arbitrary displacements, written to the frames unmarked (review rev32
F3: d17r / d17cb, a circular core r 10 in a quad4 mesh with a square hole ±6.5: nodes at the hole's edge keep
a sliver of α, lumped masses 5e-12 … 1.8e-4 against a median 6.5, |U| up to 34 σ while the atoms moved
≤ 1 σ). `msim validate` now notes how many nodes have 0 < M^α < `LIGHT_NODE_FRACTION` × the median
(`run.summary.light_node_lines`); the slow test is the measurement behind the fraction. (Since main's
projector fix 824f2f4 d17cb no longer shows the 34 σ node: its prestressed Cauchy–Born mesh moves as a whole.)"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.deck import load_deck
from multiscale.run.summary import LIGHT_NODE_FRACTION
from multiscale.simulation import Simulation

D17R = Path(__file__).resolve().parent / "data" / "rev32_d17r_relaxed.yaml"   # rev32's rev/d17r_relaxed.yaml

BOX = """\
msim: 1
units: lj
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: hex, a: relaxed}
  region: {type: box, lo: [-14.0, -14.0], hi: [14.0, 14.0]}
  mass: 1.0
continuum:
  mesh: {type: rectangle, element: tri3, lo: [-24.0, -20.0], hi: [24.0, 20.0], size: 2.0,
         hole: {lo: [-6.0, -6.0], hi: [6.0, 6.0]}}
handshake:
  shape: {type: box, lo: [-7.0, -7.0], hi: [7.0, 7.0]}
  width: 4.0
  blend: {type: linear}
  coupling: {type: strong}
integrator: {type: verlet, dt: 0.005, steps: 10}
"""


def _light(deck: Path) -> tuple[int, np.ndarray]:
    m = Simulation.from_deck(load_deck(deck)).model
    M = m.system.node_mass
    r = M / np.median(M[M > 0])
    return int(np.sum((M > 0) & (r < LIGHT_NODE_FRACTION))), r


def test_validate_notes_the_light_nodes_of_a_circular_core():
    n, _ = _light(D17R)
    assert n > 0
    res = CliRunner().invoke(cli, ["validate", str(D17R)])
    assert res.exit_code == 0, res.output
    line = [ln for ln in res.output.splitlines() if "carry almost no mass" in ln]
    assert len(line) == 1 and line[0].startswith("note "), res.output
    assert re.search(rf"\b{n} nodes carry almost no mass", line[0]), line[0]


def test_no_note_for_a_box_core_whose_blend_follows_the_elements(tmp_path):
    p = tmp_path / "box.yaml"
    p.write_text(BOX)
    assert _light(p)[0] == 0
    res = CliRunner().invoke(cli, ["validate", str(p)])
    assert res.exit_code == 0, res.output
    assert "carry almost no mass" not in res.output


def test_the_light_nodes_are_those_that_move_arbitrarily(tmp_path):
    """The measurement behind `LIGHT_NODE_FRACTION`: d17r (relaxed, no load, at rest), 400 steps. Measured
    (session 28, the projector as on main after the F14 revert): atoms' largest displacement 0.00425 σ; the
    6 nodes below the fraction (ratios 7.6e-13 … 2.8e-5) move 0.018 … 0.22 σ (≥ 4.2 × the atoms, median
    0.032); those at 1e-4 … 1e-3 move 0.008 … 0.025 σ (median 0.012): the fraction does not separate the two
    classes cleanly (with the scaled dense path tried that session the second class moved ≤ 0.0125 σ), so
    the test asserts the light nodes' lower bound and that they move more than the next class in the median."""
    d = yaml.safe_load(D17R.read_text())
    d["output"] = {"every": 400, "thermo_every": 100}
    p = tmp_path / "d17r.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    sim = Simulation.from_deck(load_deck(p))
    sim.run(str(tmp_path / "d17r.h5"), progress="quiet")
    m = sim.model
    M = m.system.node_mass
    ratio = M / np.median(M[M > 0])
    U = np.linalg.norm(m.continuum.U, axis=1)
    u_atoms = float(np.max(np.linalg.norm(m.atoms.x - m.atoms.X, axis=1)))
    light = (M > 0) & (ratio < LIGHT_NODE_FRACTION)
    near = (ratio >= LIGHT_NODE_FRACTION) & (ratio < 1e-3)
    assert light.sum() == 6 and near.sum() >= 4
    print("light", U[light], "near", U[near], "atoms", u_atoms)
    assert np.all(U[light] > 4.0 * u_atoms), (U[light], u_atoms)
    assert np.median(U[light]) > 2.0 * np.median(U[near]), (U[light], U[near])
