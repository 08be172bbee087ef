"""A funcfl EAM file (``Cu_u3.eam``) names its element by atomic number (``29``); results files carried the
type name "29", and ``msim export --format extxyz`` wrote species X with a type_name column 29, so OVITO /
ASE saw no copper (found off the gallery: an exported frame read back as a structure file). Now the
element is its chemical symbol; a results file of the old kind (type name 29) still continues (``--from``)
as the same species."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.md.potentials.eam import EAMFile
from multiscale.md.engines.lammps_lib import potentials_dir

DECK = """\
msim: 1
units: metal
potential: {type: eam, file: Cu_u3.eam}
atoms:
  lattice: {type: fcc, a: 3.615}
  cells: [4, 4, 4]
  boundary: [p, p, p]
  mass: 63.546
  SPECIES
  velocity: {temperature: 300, seed: 3}
integrator: {type: verlet, dt: 0.002, steps: 4}
output: {every: 2, thermo_every: 2, fields: [position, velocity]}
"""


def test_funcfl_element_is_the_symbol() -> None:
    assert EAMFile.from_file(potentials_dir() / "Cu_u3.eam").elements == ["Cu"]


def test_results_and_extxyz_name_copper(tmp_path: Path) -> None:
    import ase.io
    deck = tmp_path / "cu.yaml"
    deck.write_text(DECK.replace("SPECIES", ""))
    out = tmp_path / "cu.h5"
    assert CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet"]).exit_code == 0
    with h5py.File(out) as f:
        assert [n.decode() for n in f["static/atoms/type_names"][()]] == ["Cu"]
    xyz = tmp_path / "cu.extxyz"
    assert CliRunner().invoke(cli, ["export", str(out), "--format", "extxyz", "-o", str(xyz)]).exit_code == 0
    at = ase.io.read(xyz, index=-1)
    assert set(at.get_chemical_symbols()) == {"Cu"} and "type_name" not in at.arrays


def test_old_results_file_with_the_atomic_number_continues(tmp_path: Path) -> None:
    deck = tmp_path / "cu.yaml"
    deck.write_text(DECK.replace("SPECIES", ""))
    out = tmp_path / "cu.h5"
    assert CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet"]).exit_code == 0
    old = tmp_path / "old.h5"
    shutil.copy(out, old)
    with h5py.File(old, "r+") as f:             # what msim wrote before: the funcfl header's "29"
        del f["static/atoms/type_names"]
        f["static/atoms/type_names"] = np.array([b"29"], dtype=object)
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "next.h5"), "--from", str(old),
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    deck.write_text(DECK.replace("SPECIES", "species: Ag"))
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "ag.h5"), "--from", str(old),
                                   "--quiet"])
    assert res.exit_code == 2 and "species of 256 atom(s) differ" in res.output, res.output
