"""`mpiexec -n 2 msim run` of a plain-MD deck refused for its potential alone (multi-element eam/fs, an
engine): the message said "runs plain molecular dynamics only (atoms, no continuum or handshake, no
loads ...)" — true of the deck, so it read as if the deck were not plain MD. Now it names the potential
as the reason. `check_distributable` is what every rank runs before the run (no MPI needed to call it)."""

from __future__ import annotations

import pytest

from multiscale.deck import load_deck
from multiscale.errors import DeckError
from multiscale.run.distributed import check_distributable
from multiscale.simulation import Simulation

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


def test_plain_md_refused_for_its_potential_says_so(tmp_path) -> None:
    path = tmp_path / "cuzr.yaml"
    path.write_text(DECK)
    deck = load_deck(path)
    sim = Simulation.from_deck(deck)
    with pytest.raises(DeckError) as info:
        check_distributable(sim.model, deck, False, 2)
    msg = info.value.format()
    assert "potential" in msg and "eam/fs tables with several elements" in msg
    assert "plain molecular dynamics only" not in msg
    assert "runs on one rank only" in msg
