"""A periodic box that is not a whole number of lattice periods is refused with the nearest valid lengths.
Found off the gallery: the suggestion did not know the potential's reach, so it could name lengths shorter
than 2 (cut-off + skin) — a Cu EAM box 13 Å long (cut-off 5.507 + skin 2 -> at least 15.01 Å) was told
"10.845 (3 periods) or 14.46 (4)", both then refused as too short for the minimum-image neighbour list.
Now only lengths of at least 2 (cut-off + skin) are named, and `box_fit: snap` to a too-short length is
refused at `atoms.box_fit` (it used to fail later at `atoms.region` with a length the deck never wrote)."""

from __future__ import annotations

import re

from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.md.engines.lammps_lib import potentials_dir

DECK = """\
msim: 1
units: metal
potential: {{type: eam, file: {pot}}}
atoms:
  lattice: {{type: fcc, a: 3.615}}
  region: {{type: box, lo: [0.0, 0.0, 0.0], hi: [{L}, 18.075, 18.075]}}
  boundary: [p, p, p]
  mass: 63.546
{extra}integrator: {{type: verlet, dt: 0.001, steps: 2}}
"""


def _validate(tmp_path, L: str, extra: str = ""):  # noqa: ANN202
    deck = tmp_path / "cu.yaml"
    deck.write_text(DECK.format(pot=potentials_dir() / "Cu_mishin1.eam.alloy", L=L, extra=extra))
    return deck, CliRunner().invoke(cli, ["validate", str(deck)])


def test_suggested_length_is_long_enough_for_the_neighbour_list(tmp_path) -> None:
    deck, r = _validate(tmp_path, "13.0")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert f"{deck}:6:" in r.stderr and "atoms.region.hi" in r.stderr
    m = re.search(r"Nearest valid length: ([0-9.]+) \((\d+) periods", r.stderr)
    assert m, r.stderr
    assert m.group(2) == "5" and abs(float(m.group(1)) - 5 * 3.615) < 1e-9    # 2 (5.50679 + 2) / 3.615 = 4.15
    assert "10.845" not in r.stderr and "14.46" not in r.stderr
    # following the suggestion: the deck validates
    _, r = _validate(tmp_path, m.group(1))
    assert r.exit_code == 0, r.output


def test_long_box_still_gets_both_neighbours(tmp_path) -> None:
    _, r = _validate(tmp_path, "20.0")                                # 5.53 periods: 5 and 6 both valid
    assert r.exit_code == 2, r.output
    assert "Nearest valid lengths: 18.075 (5 periods) or 21.69 (6)" in r.stderr


def test_snap_to_a_too_short_length_is_refused_at_box_fit(tmp_path) -> None:
    deck, r = _validate(tmp_path, "13.0", "  box_fit: snap\n")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert f"{deck}:9:" in r.stderr and "atoms.box_fit" in r.stderr
    assert "13 -> 14.46 (4 periods" in r.stderr and "18.075 (5 periods)" in r.stderr
    _, r = _validate(tmp_path, "17.0", "  box_fit: snap\n")           # snaps to 5 periods: fine
    assert r.exit_code == 0, r.output


def test_short_cell_of_a_structure_file_names_the_replication(tmp_path) -> None:
    """An extxyz Cu crystal of 3 x 3 x 3 cubic cells (10.845 Å) is too short for cut-off + skin 6.507 Å:
    the refusal says how many times to replicate the file's cell (it used to say only "make the box
    longer", though a file deck has no box of its own)."""
    from ase.build import bulk

    bulk("Cu", "fcc", a=3.615, cubic=True).repeat((3, 3, 3)).write(tmp_path / "cu.extxyz", format="extxyz")
    deck = tmp_path / "file.yaml"
    deck.write_text(f"msim: 1\nunits: metal\npotential: {{type: eam, file: "
                    f"{potentials_dir() / 'Cu_mishin1.eam.alloy'}}}\natoms:\n  file: cu.extxyz\n  skin: 1.0\n"
                    "integrator: {type: verlet, dt: 0.002, steps: 2}\n")
    r = CliRunner().invoke(cli, ["validate", str(deck)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert f"{deck}:5:" in r.stderr and "atoms.file" in r.stderr
    assert "replicate the file's cell at least 2 times along x" in r.stderr
