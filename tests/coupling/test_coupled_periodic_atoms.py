"""Periodic atoms in a coupled deck: the mesh is never periodic, so the atoms' periodic images bonded the
handshake atoms on one side of the core to those on the other side (found by a user-style deck: a 2D LJ core
23σ wide with `boundary: [p, f]` and `box_fit: snap` validated and ran, its atoms' reference energy −959.47
instead of −959.07 with free boundaries). Deck error at ``atoms.boundary`` (exit 2); free is unchanged."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from multiscale.cli import cli

DECK = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [-14.0, -14.0], hi: [14.0, 14.0]}}   # handshake edge ±11 + cut-off + skin
  mass: 1.0
  boundary: [{b}]
  box_fit: snap
continuum:
  mesh: {{type: rectangle, element: tri3, lo: [-24.0, -20.0], hi: [24.0, 20.0], size: 2.0,
         hole: {{lo: [-6.0, -6.0], hi: [6.0, 6.0]}}}}
handshake:
  shape: {{type: box, lo: [-7.0, -7.0], hi: [7.0, 7.0]}}
  width: 4.0
  blend: {{type: linear}}
  coupling: {{type: strong}}
integrator: {{type: verlet, dt: 0.005, steps: 10}}
"""


@pytest.mark.parametrize("b, axis", [("p, f", "x"), ("f, p", "y"), ("p, p", "x")])
def test_periodic_atoms_in_a_coupled_deck_are_refused(tmp_path, b: str, axis: str) -> None:
    path = tmp_path / "per.yaml"
    path.write_text(DECK.format(b=b))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.stderr and "per.yaml:8:" in r.stderr and "atoms.boundary" in r.stderr
    assert f"periodic along {axis} in a coupled deck" in r.stderr, r.stderr


def test_free_atoms_in_the_same_deck_pass(tmp_path) -> None:
    path = tmp_path / "free.yaml"
    path.write_text(DECK.format(b="f, f"))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output + r.stderr
