"""`precrack` cuts the bonds across its crack line through bond weights. Review rev33 R6: on an EAM crystal the
weights cut only the pair term — the faces kept each other's electron density and closed (2D Cu at K = 0: the
rows across the cut ended 0.24 Å apart, the minimiser did not converge, exit 0; a 3D dynamics run blew up).
R8: with an external engine the run stopped with an internal error after `msim validate` said OK. Both are
now a deck error at the load (exit 2) in validate and run; a pair potential runs as before."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from multiscale.cli import cli

DECK = """\
msim: 1
units: {units}
potential: {potential}
atoms:
  lattice: {{type: hex, a: {a}}}
  region: {{type: box, lo: [-8.0, -8.0], hi: [8.0, 8.0]}}
  boundary: [f, f]
  mass: {mass}
loads:
- type: precrack
  label: crack
  tip: [0.0, {tip}]
- type: fixed
  region: {{type: box, lo: [-9, -9], hi: [9, -6.5]}}
integrator: {{type: fire, ftol: 1.0e-3, max_iter: 200}}
output: {{every: 1, thermo_every: 1, fields: [displacement]}}
"""

CASES = {
    "eam": (dict(units="metal", potential="{type: eam_zhou, element: Cu}", a=2.556, mass=63.546, tip=1.1067),
            "electron density"),
    "lammps": (dict(units="lj", potential='{type: lammps, pair_style: "lj/cut 2.5", pair_coeff: ["* * 1.0 1.0"], '
                    'elements: [Ar]}', a=1.1225, mass=1.0, tip=0.486), "external engine"),
    "lj": (dict(units="lj", potential="{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5}", a=1.1225, mass=1.0,
                tip=0.486), None),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_precrack_needs_a_pair_potential(tmp_path, case: str, command: str) -> None:
    params, words = CASES[case]
    deck = tmp_path / f"{case}.yaml"
    deck.write_text(DECK.format(**params))
    args = [command, str(deck)] + (["-o", str(tmp_path / "o.h5"), "--quiet"] if command == "run" else [])
    res = CliRunner().invoke(cli, args)
    if words is None:
        assert res.exit_code == 0, res.output
        return
    assert res.exit_code == 2, res.output
    assert "loads[0]" in res.output and words in res.output and "Traceback" not in res.output, res.output
