"""Pad atoms are the lattice sites of weight 0 within cut-off + skin of a weighted handshake atom
(`Handshake.classify`); they can only be taken from the atoms' region. A region that ends between the
handshake's outer edge and edge + cut-off used to leave them out without a word: the patch test deck with
atoms to ±20.5 (outer edge ±20, cut-off 2.5) validated "OK" with 48 pads instead of 306, and its perfect
lattice did not stay at rest. Now refused at `atoms.region` (exit 2); a region ending between edge +
cut-off and edge + cut-off + skin validates with a note (the gallery's thermal2d)."""

from __future__ import annotations

import h5py
import pytest
from click.testing import CliRunner

from multiscale.cli import cli

DECK = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [-{r}, -{r}], hi: [{r}, {r}]}}
  mass: 1.0
  skin: 0.5
continuum:
  mesh: {{type: rectangle, element: tri3, lo: [-30.0, -30.0], hi: [30.0, 30.0], size: 2.0,
         hole: {{lo: [-6.0, -6.0], hi: [6.0, 6.0]}}}}
handshake:
  shape: {{type: box, lo: [-8.0, -8.0], hi: [8.0, 8.0]}}
  width: 6.0
  blend: {{type: cubic}}
  coupling: {{type: ghost_corrected, correction: homogeneous, every: 1}}
integrator: {{type: verlet, dt: 0.005, steps: 40}}
output: {{every: 40, thermo_every: 10, fields: [displacement]}}
"""


def _deck(tmp_path, r: float):  # noqa: ANN202
    p = tmp_path / f"r{r}.yaml"
    p.write_text(DECK.format(r=r))
    return p


def test_region_ending_inside_the_pad_band_is_refused(tmp_path) -> None:
    deck = _deck(tmp_path, 14.5)                   # outer edge 14, cut-off 2.5: pads needed to 16.5
    for command in ("validate", "run"):
        r = CliRunner().invoke(cli, [command, str(deck), "-o", str(tmp_path / "x.h5")] if command == "run"
                               else [command, str(deck)])
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        assert f"{deck}:6:" in r.stderr and "atoms.region" in r.stderr
        assert "needed as pad atoms" in r.stderr and "cut-off 2.5" in r.stderr


def test_region_ending_inside_the_skin_band_is_a_note(tmp_path) -> None:
    r = CliRunner().invoke(cli, ["validate", str(_deck(tmp_path, 16.4))])   # pad band rows end below 16.4
    assert r.exit_code == 0, r.output
    assert "note" in r.stdout and "within cut-off + skin = 3" in r.stdout


@pytest.mark.parametrize("r", [17.5, 30.0])
def test_region_with_every_pad_keeps_the_perfect_lattice_at_rest(tmp_path, r: float) -> None:
    deck = _deck(tmp_path, r)
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 0, res.output
    assert "within cut-off + skin" not in res.stdout
    out = tmp_path / f"r{r}.h5"
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    with h5py.File(out, "r") as f:
        assert f["thermo/kinetic_atoms"][:].max() < 1e-20
        assert f["thermo/kinetic_continuum"][:].max() < 1e-20
