"""A coupled deck whose lattice the potential does not hold stable (found by review rev28): a 2D square
lattice with a Morse pair potential gives a Born stiffness with C12 = C66 < 0. `msim validate` said OK
and the run completed with the continuum's kinetic and potential energies growing exponentially in
opposite signs (total conserved: no guard, no drift check fired). Now the deck is refused at
`continuum.material` (exit 2) with the eigenvalues; the hex lattice with the same potential passes."""

from __future__ import annotations

from click.testing import CliRunner

from multiscale.cli import cli

DECK = """\
msim: 1
units: metal
potential: {{type: morse, D: 0.3429, alpha: 1.3588, r0: 2.866, cutoff: 5.0, truncation: shift}}
atoms:
  lattice: {{type: {lattice}, a: relaxed}}
  region: {{type: box, lo: [-25.0, -20.0], hi: [31.0, 20.0]}}
  mass: 63.546
  skin: 0.5
continuum:
  mesh:
    type: rectangle
    element: quad4
    lo: [-60.0, -50.0]
    hi: [70.0, 50.0]
    size: 3.0
    hole: {{lo: [-6.0, -6.0], hi: [12.0, 6.0]}}
handshake:
  shape: {{type: box, lo: [-9.0, -9.0], hi: [15.0, 9.0]}}
  width: 7.0
  blend: {{type: linear}}
  coupling: {{type: projected}}
integrator: {{type: verlet, dt: 0.002, steps: 10}}
"""


def _validate(tmp_path, lattice: str):  # noqa: ANN001, ANN202
    p = tmp_path / f"{lattice}.yaml"
    p.write_text(DECK.format(lattice=lattice))
    return CliRunner().invoke(cli, ["validate", str(p)])


def test_square_lattice_with_a_pair_potential_is_refused_at_the_material(tmp_path) -> None:  # noqa: ANN001
    res = _validate(tmp_path, "square")
    assert res.exit_code == 2, res.output
    assert "square.yaml:9:" in res.output and "continuum.material" in res.output
    assert "not positive definite" in res.output and "square lattice is mechanically unstable" in res.output
    assert "Traceback" not in res.output


def test_hex_lattice_with_the_same_potential_validates(tmp_path) -> None:  # noqa: ANN001
    res = _validate(tmp_path, "hex")
    assert res.exit_code == 0, res.output
