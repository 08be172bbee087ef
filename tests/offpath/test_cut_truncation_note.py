"""`msim validate` names the energy jump of a pair potential truncated without a shift (`truncation: cut`,
the default of lj and morse, as in LAMMPS). Found off the gallery: a 2D Morse deck (α = 3, r0 = 1.12,
cut at 2.2: φ(r_c) = −0.077 D) drifted 0.057 in total energy over 50 steps of a 600-atom coupled model with
nothing in the summary to say why; with `truncation: shift` 1.5e-3."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from multiscale.cli import cli

DECK = """\
msim: 1
units: lj
potential: {pot}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [0.0, 0.0], hi: [8.0, 8.0]}}
  mass: 1.0
integrator: {{type: verlet, dt: 0.002, steps: 2}}
"""


@pytest.mark.parametrize("pot, note", [
    ("{type: morse, D: 1.0, alpha: 3.0, r0: 1.12, cutoff: 2.2}", "phi(cut-off) = -0.0768 ε, 7.7 %"),
    ("{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5}", "phi(cut-off) = -0.0163 ε, 1.6 %"),
    ("{type: morse, D: 1.0, alpha: 3.0, r0: 1.12, cutoff: 2.2, truncation: shift}", None),
    ("{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 4.0}", None),            # 0.098 % of the well
])
def test_cut_truncation_jump_is_named(tmp_path, pot: str, note: str | None) -> None:
    deck = tmp_path / "d.yaml"
    deck.write_text(DECK.format(pot=pot))
    r = CliRunner().invoke(cli, ["validate", str(deck)])
    assert r.exit_code == 0, r.output
    if note is None:
        assert "truncation cut" not in r.stdout
    else:
        assert f"truncation cut: {note} of the well depth" in r.stdout, r.stdout
