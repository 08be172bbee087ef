"""A `type: lammps` deck that names its element (`elements: [Si]`) and no `atoms.species`: the type name
comes from it. Found off the gallery: an SW Si run's extxyz export said species `X` (ASE: atomic number 0,
OVITO: type X) although the deck names Si. Checked with ASE reading the export."""

from __future__ import annotations

import ase.io
from click.testing import CliRunner

from multiscale.cli import cli

DECK = """\
msim: 1
units: metal
potential: {type: lammps, pair_style: sw, pair_coeff: ["* * Si.sw Si"], elements: [Si]}
atoms:
  lattice: {type: diamond, a: 5.431}
  cells: [2, 2, 2]
  skin: 1.0
  boundary: [p, p, p]
  mass: 28.0855
  velocity: {temperature: 300.0, seed: 5}
integrator: {type: verlet, dt: 0.001, steps: 2}
output: {every: 2, thermo_every: 2, fields: [position, velocity]}
"""


def test_engine_elements_name_the_atoms(tmp_path) -> None:
    deck = tmp_path / "si.yaml"
    deck.write_text(DECK)
    out = tmp_path / "si.h5"
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["export", str(out), "--format", "extxyz"])
    assert res.exit_code == 0, res.output
    frames = ase.io.read(tmp_path / "si.extxyz", index=":")
    assert len(frames) == 2
    assert set(frames[-1].get_chemical_symbols()) == {"Si"}
    assert len(frames[-1]) == 64
