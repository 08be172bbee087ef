"""An `atoms.region` that ends inside the handshake, inside the mesh, leaves lattice sites with atomistic
weight β > 0 without atoms: there the model holds only the continuum's α = 1 − β (found off the gallery:
a 3D Morse deck, atoms to ±9 Å in a handshake reaching ±11.2 Å, validated "OK" with an integral partition
of unity of −2.3e-2). Refused now at `atoms.region` (exit 2), site by site; a region that ends between
lattice planes just inside the outer edge leaves no site of β > 0 out but the pads beyond it, refused by the
pad check (`tests/offpath/test_pads_missing.py`); a free surface crossing the handshake outside the mesh
(sites there are beyond the model, nothing is missing) still validates."""

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
  region: {{type: box, lo: [-{r}, -14.0], hi: [14.0, {top}]}}
  mass: 1.0
continuum:
  mesh: {{type: rectangle, element: tri3, lo: [-24.0, -20.0], hi: [24.0, {mtop}], size: 2.0,
         hole: {{lo: [-6.0, -6.0], hi: [6.0, {htop}]}}}}
handshake:
  shape: {{type: box, lo: [-7.0, -7.0], hi: [7.0, 7.0]}}
  width: 4.0
  blend: {{type: linear}}
  coupling: {{type: strong}}
integrator: {{type: verlet, dt: 0.005, steps: 10}}
"""

# (left edge of the atoms' region, top of atoms / mesh / hole, refused by: None, the β check, the pad check
# `build._check_pads_filled`: the handshake's outer edge is at ±11, the pads reach ±11 + cut-off 2.5)
CASES = [
    (14.0, 14.0, 20.0, 6.0, None),     # atoms beyond the handshake's outer edge + cut-off + skin
    (10.9, 14.0, 20.0, 6.0, "pad"),    # ends 0.1 inside the outer edge: no site of β > 0 missing, pads are
    (12.0, 14.0, 20.0, 6.0, "pad"),    # ends 1 beyond the outer edge: pads missing
    (9.0, 14.0, 20.0, 6.0, "beta"),    # ends 2 inside: β up to 0.38 missing
    (14.0, 0.0, 0.0, 0.0, None),       # free surface at y = 0 crossing the handshake, no mesh above it
    (9.0, 0.0, 0.0, 0.0, "beta"),      # the same with the left edge inside the handshake
]


@pytest.mark.parametrize("r, top, mtop, htop, refused", CASES)
def test_region_ending_inside_the_handshake(tmp_path, r, top, mtop, htop, refused) -> None:
    path = tmp_path / "h.yaml"
    path.write_text(DECK.format(r=r, top=top, mtop=mtop, htop=htop))
    res = CliRunner().invoke(cli, ["validate", str(path)])
    if not refused:
        assert res.exit_code == 0, res.output
        return
    assert res.exit_code == 2, res.output
    assert "h.yaml:6:11: atoms.region:" in res.output
    assert ("lattice site(s) inside the mesh and the handshake lie outside the atoms' region" in res.output) \
        == (refused == "beta"), res.output
    assert ("needed as pad atoms" in res.output) == (refused == "pad"), res.output
    assert "Traceback" not in res.output
