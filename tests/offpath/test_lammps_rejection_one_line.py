"""LAMMPS's refusal of a potential (``pair_coeff * * Si.tersoff C``: no C entry) is two lines ("ERROR: ...",
"Last input line: ..."); the deck error printed the line break as a literal ``\\n`` (control characters
are escaped so that garbage cannot garble the terminal). Now the lines are joined with "; " (found off the
gallery)."""

from __future__ import annotations

from click.testing import CliRunner

from multiscale.cli import cli

DECK = """\
msim: 1
units: metal
potential: {type: lammps, pair_style: tersoff, pair_coeff: ["* * Si.tersoff C"], elements: [Si]}
atoms:
  lattice: {type: diamond, a: 5.431}
  cells: [3, 3, 3]
  boundary: [p, p, p]
  mass: 28.0855
  skin: 1.0
integrator: {type: verlet, dt: 0.001, steps: 4}
"""


def test_lammps_message_on_one_line(tmp_path) -> None:  # noqa: ANN001
    deck = tmp_path / "si.yaml"
    deck.write_text(DECK)
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 2, res.output
    first = res.output.splitlines()[0]
    assert first.startswith(f"error: {deck}:3:") and "potential: cannot build the potential" in first
    assert "missing an entry for: C C C" in first and "; Last input line: pair_coeff" in first
    assert "\\n" not in res.output
