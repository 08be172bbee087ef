"""`mpiexec -n 2 msim run` of a plain-MD deck refused for its potential alone (a LAMMPS engine): the
message said "runs plain molecular dynamics only (atoms, no continuum or handshake, no loads ...)" — true
of the deck, so it read as if the deck were not plain MD. Now it names the potential as the reason.
`check_distributable` is what every rank runs before the run (no MPI needed to call it).

A multi-element eam/fs deck was the example of this refusal until the distributed engine computed it
(the density pass's element count): it is now accepted (its 2-rank run against the serial one:
tests/parallel/test_mpi_md_eam_fs.py)."""

from __future__ import annotations

import pytest

from multiscale.deck import load_deck
from multiscale.errors import DeckError
from multiscale.run.distributed import check_distributable
from multiscale.simulation import Simulation

DECK = """\
msim: 1
units: metal
potential: {type: lammps, pair_style: tersoff, pair_coeff: ["* * Si.tersoff Si"], elements: [Si]}
atoms:
  lattice: {type: diamond, a: 5.432}
  region: {type: box, lo: [0.0, 0.0, 0.0], hi: [16.296, 16.296, 16.296]}
  boundary: [p, p, p]
  mass: 28.0855
integrator: {type: verlet, dt: 0.001, steps: 2}
"""

FS_DECK = """\
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


def test_plain_md_refused_for_its_potential_says_so(tmp_path) -> None:
    path = tmp_path / "si.yaml"
    path.write_text(DECK)
    deck = load_deck(path)
    sim = Simulation.from_deck(deck)
    with pytest.raises(DeckError) as info:
        check_distributable(sim.model, deck, False, 2)
    msg = info.value.format()
    assert "potential" in msg and "potential type 'lammps' is not distributed" in msg
    assert "plain molecular dynamics only" not in msg
    assert "runs on one rank only" in msg


def test_multi_element_eam_fs_plain_md_is_distributable(tmp_path) -> None:
    path = tmp_path / "cuzr.yaml"
    path.write_text(FS_DECK)
    deck = load_deck(path)
    sim = Simulation.from_deck(deck)
    assert sim.model.potential.tables.rhor.shape[0] == 4      # eam/fs: one density per element pair
    check_distributable(sim.model, deck, False, 2)            # no refusal
