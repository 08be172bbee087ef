"""``a: relaxed`` with a cut-off below the potential's minimum (LJ cut at 0.9σ, 1.05σ < 2^(1/6)σ): the
refusal said "no zero-stress spacing of hex bracketed in [0.8858, 0.891]", which does not say why (found
off the gallery). Now it names the cause (repulsive at every spacing inside the cut-off) and the remedy.
(3D lattices take the same path; fcc costs ~6 s CPU in the existing low-spacing scan, so 1D/2D here.)"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from multiscale.cli import cli

DECK = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: {cut}}}
atoms:
  lattice: {{type: {kind}, a: relaxed}}
  cells: {cells}
  boundary: {bnd}
  mass: 1.0
integrator: {{type: verlet, dt: 0.005, steps: 20}}
"""


@pytest.mark.parametrize("kind,cells,bnd", [("hex", "[10, 6]", "[p, p]"), ("chain", "[10]", "[f]")])
@pytest.mark.parametrize("cut", [0.9, 1.05])
def test_repulsive_cutoff_is_named(tmp_path, kind: str, cells: str, bnd: str, cut: float) -> None:  # noqa: ANN001
    deck = tmp_path / "d.yaml"
    deck.write_text(DECK.format(cut=cut, kind=kind, cells=cells, bnd=bnd))
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 2, res.output
    assert f"{deck}:5:" in res.output and "atoms.lattice.a: cannot find the zero-stress spacing" in res.output
    assert f"falls at every spacing with neighbours inside the cut-off {cut:g}" in res.output
    assert "Give `a` a number, or a longer cut-off" in res.output
