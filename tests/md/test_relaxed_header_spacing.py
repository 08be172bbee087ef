"""``a: relaxed`` with an EAM file whose header names the deck's lattice kind (rev32 F12): Al_jnp.eam has
a spurious deep well at a = 2.498 Å (−6.02 eV/atom, LAMMPS agrees) that the search over 0.3–0.99 r_cut
took; the header's ``13 26.982 3.9860 fcc`` makes the search start near 3.986, giving the physical
zero-stress spacing 3.98756 Å. A file whose header spacing is within 10 % of the global search keeps the
global search's value bitwise (Cu_u3.eam)."""

from __future__ import annotations

import numpy as np

from multiscale.build import build_model
from multiscale.deck import load_deck_text
from multiscale.md.properties import energy_per_atom, zero_stress_lattice_constant
from multiscale.md.lattice import Lattice

DECK = """\
msim: 1
units: metal
potential: {{type: eam, file: {file}}}
atoms:
  lattice: {{type: fcc, a: relaxed}}
  cells: [6, 6, 6]
  boundary: [p, p, p]
  mass: {mass}
  skin: 1.0
integrator: {{type: verlet, dt: 0.002, steps: 10}}
"""


def _model(file, mass):
    return build_model(load_deck_text(DECK.format(file=file, mass=mass), "relaxed.yaml"))


def test_al_jnp_relaxed_takes_the_well_near_the_files_lattice_constant():
    m = _model("Al_jnp.eam", 26.982)
    pot = m.potential
    assert pot.tables.lattices == [(3.986, "fcc")]
    a = m.lattice.a
    assert a == zero_stress_lattice_constant(pot, "fcc", a_guess=3.986)
    assert abs(a - 3.98756) < 1e-4, a
    collapsed = zero_stress_lattice_constant(pot, "fcc")       # the global search's deeper, spurious well
    assert collapsed < 2.6
    assert energy_per_atom(pot, Lattice("fcc", collapsed)) < energy_per_atom(pot, Lattice("fcc", a))


def test_spacing_near_the_header_is_the_global_search_bitwise():
    m = _model("Cu_u3.eam", 63.546)
    assert m.potential.tables.lattices[0][1] == "fcc"
    assert m.lattice.a == zero_stress_lattice_constant(m.potential, "fcc")
    assert np.isclose(m.lattice.a, 3.615, rtol=1e-3)
