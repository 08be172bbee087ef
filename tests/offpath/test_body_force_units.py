"""The `body_force` observable `<label>.mass` is in the deck's mass unit (review rev33 R7: a metal deck read
2.7869 — eV·ps²/Å², the internal unit — for 26 889 amu). Its forces were right (internal masses)."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.output.reader import ResultsReader

DECK = """\
msim: 1
units: {units}
potential: {potential}
atoms:
  lattice: {{type: fcc, a: {a}}}
  region: {{type: box, lo: [0, 0, 0], hi: [{L}, {L}, {L}]}}
  boundary: [f, f, f]
  mass: {mass}
loads:
- {{type: body_force, label: g, acceleration: [0.0, 0.0, -0.01]}}
integrator: {{type: verlet, dt: 0.001, steps: 4}}
output: {{every: 2, thermo_every: 2, fields: [displacement]}}
"""


def test_body_force_mass_in_deck_units(tmp_path) -> None:
    for units, pot, a, mass in (("metal", "{type: eam_zhou, element: Cu}", 3.615, 63.546),
                                ("lj", "{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5}", 1.5874, 2.0)):
        deck = tmp_path / f"{units}.yaml"
        deck.write_text(DECK.format(units=units, potential=pot, a=a, L=2 * a, mass=mass))
        out = tmp_path / f"{units}.h5"
        res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet"])
        assert res.exit_code == 0, res.output
        with ResultsReader(out) as r:
            n = len(np.asarray(r.static("atoms")["reference_positions"]))
            got = np.asarray(r.observables()["g.mass"])
        assert n > 10
        np.testing.assert_allclose(got, n * mass, rtol=1e-12)
