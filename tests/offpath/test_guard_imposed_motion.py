"""The blow-up guard's lost-atom test and loads that move atoms out of the box (review rev33 R1): a tensile
test (a strip held at its left end, its right end pulled by `prescribed`) stopped at 11 % strain with "the
run became unstable: atom 71 left the box along x" — the grip atoms, exactly where the load put them; a
K-field on the outer frame of a 3D Cu crystal stopped alike at K = 0.54. The guard now widens the free box
faces by the largest displacement the loads impose (`Load.imposed_reach`); an atom that really flies away
is still caught."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from multiscale.cli import cli

PULL = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [0, 0], hi: [12, 5]}}
  boundary: [f, f]
  mass: 1.0
loads:
- type: fixed
  region: {{type: box, lo: [-1, -1], hi: [1.5, 6]}}
  components: [x, y]
- type: prescribed
  label: grip
  region: {{type: box, lo: [10.5, -1], hi: [13, 6]}}
  components: [x]
  velocity: [{vel}, 0.0]
{extra}
integrator: {{type: verlet, dt: 0.005, steps: 400}}
output: {{every: 100, thermo_every: 20, fields: [displacement]}}
"""


def _run(tmp_path, text: str):  # noqa: ANN202
    deck = tmp_path / "d.yaml"
    deck.write_text(text)
    return CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "d.h5"), "--quiet"])


def test_a_pulled_grip_beyond_the_box_margin_is_not_lost(tmp_path) -> None:
    # u = 1.0 * 400 * 0.005 = 2.0 sigma at the end: 17 % strain, the grip 0.8 sigma beyond the 10 % margin
    res = _run(tmp_path, PULL.format(vel=1.0, extra=""))
    assert res.exit_code == 0, res.output


def test_the_widened_box_still_catches_a_flying_atom(tmp_path) -> None:
    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    deck = tmp_path / "d.yaml"
    deck.write_text(PULL.format(vel=1.0, extra=""))
    sim = Simulation.from_deck(load_deck(deck))
    sim.prepare()
    lo, hi, per = sim.guard.box(2.0)
    box = sim.model.atoms.box
    # the free faces move out by the grip's displacement at t = 2: u = 2.0 along x, nothing along y
    assert np.allclose(lo, np.asarray(box.lo) - [2.0, 0.0]) and np.allclose(hi, np.asarray(box.hi) + [2.0, 0.0])
    x = sim.model.atoms.X.copy()
    grip = sim.model.loads[1].atom_sel
    x[grip, 0] += 2.0                                     # where the load puts the grip at t = 2
    g = sim.guard.guard
    assert g.lost_atoms(x, (lo, hi, per))[0] == 0
    assert g.lost_atoms(x, box)[0] > 0                    # the unwidened box called some of them lost
    free = int(np.flatnonzero(~grip)[0])
    x[free, 1] = hi[1] + 0.6 * (hi[1] - lo[1])            # a free atom far beyond the y margin
    assert g.lost_atoms(x, (lo, hi, per))[:3] == (1, free, 1)
