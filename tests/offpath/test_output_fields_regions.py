"""``output.fields`` off the gallery.

- Fields that no region of the deck has (``strain`` or ``hardy_stress`` in a pure MD deck, ``stress_atom``
  in a pure continuum deck) validated and ran, and were left out of the results file without a word. Now a
  deck error at ``output.fields[i]``. The default list (which holds ``energy``) is not checked.
- ``weight`` among the fields: ``msim export --format extxyz`` died with "internal error: RuntimeError:
  Array weight already present" (the static ``weight`` column has the same name). Now the frame's column
  is written once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from multiscale.cli import cli

MD = """\
msim: 1
units: lj
potential: {type: morse, D: 1.0, alpha: 3.0, r0: 1.0, cutoff: 2.2}
atoms:
  lattice: {type: hex, a: relaxed}
  cells: [8, 5]
  boundary: [p, p]
  mass: 1.0
  velocity: {temperature: 0.05}
integrator: {type: verlet, dt: 0.002, steps: 10}
output: {every: 5, thermo_every: 5, fields: FIELDS}
"""

FE = """\
msim: 1
units: lj
continuum:
  mesh: {type: rectangle, lo: [0.0, 0.0], hi: [10.0, 6.0], size: 1.0, element: quad4}
  material: {type: isotropic, E: 60.0, nu: 0.25}
  density: 1.0
integrator: {type: verlet, dt: 0.01, steps: 2}
output: {fields: FIELDS}
"""

CASES = {  # deck, fields, index and words of the refusal
    "md_strain": (MD, "[position, strain]", 1, "`strain` is a field of the continuum"),
    "md_stress": (MD, "[stress]", 0, "`stress_atom` is the atoms' stress"),
    "md_hardy": (MD, "[velocity, energy, hardy_stress]", 2, "this deck has no continuum"),
    "fe_stress_atom": (FE, "[displacement, stress_atom]", 1, "`stress_atom` is a field of the atoms"),
    "fe_energy": (FE, "[energy]", 0, "this deck has no atoms"),
    "fe_hardy": (FE, "[hardy_temperature]", 0, "this deck has no atoms"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_field_without_its_region_is_refused(tmp_path: Path, case: str) -> None:
    text, fields, i, words = CASES[case]
    deck = tmp_path / "deck.yaml"
    deck.write_text(text.replace("FIELDS", fields))
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 2, res.output
    assert f"{deck}:" in res.output and f"output.fields[{i}]: " in res.output and words in res.output
    assert "would not be written" in res.output and "Traceback" not in res.output


def test_default_fields_of_a_continuum_deck_pass(tmp_path: Path) -> None:
    deck = tmp_path / "deck.yaml"
    deck.write_text(FE.replace("output: {fields: FIELDS}\n", ""))
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 0, res.output


def test_extxyz_export_with_the_weight_field(tmp_path: Path) -> None:
    import ase.io
    deck = tmp_path / "md.yaml"
    deck.write_text(MD.replace("FIELDS", "[position, velocity, weight, stress_atom]"))
    out = tmp_path / "md.h5"
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    xyz = tmp_path / "md.extxyz"
    res = CliRunner().invoke(cli, ["export", str(out), "--format", "extxyz", "-o", str(xyz)])
    assert res.exit_code == 0, res.output
    images = ase.io.read(xyz, index=":")
    assert len(images) == 3
    for at in images:
        assert np.array_equal(at.arrays["weight"], np.ones(len(at)))
        assert at.arrays["stress_atom"].shape == (len(at), 4)
