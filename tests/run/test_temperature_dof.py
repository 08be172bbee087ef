"""The `temperature` observable counts only the integrated velocity components as degrees of freedom
(rev32 F13): a `fixed` load holding one component of some atoms takes that component out of the dof
count (2K / (k_B (n_free_components − d)), the momentum convention of `md.velocities.kinetic_temperature`
kept); atoms with every component held are left out altogether."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale import Simulation
from multiscale.deck import load_deck_text
from multiscale.output.reader import ResultsReader

DECK = """\
msim: 1
units: metal
title: periodic fcc Cu at 300 K, the x component of the atoms of x < 5 held (temperature dof test)
potential: {{type: eam_zhou, element: Cu}}
atoms:
  lattice: {{type: fcc, a: 3.615}}
  region: {{type: box, lo: [0.0, 0.0, 0.0], hi: [14.46, 14.46, 14.46]}}
  boundary: [p, p, p]
  mass: 63.546
  skin: 1.0
  velocity: {{temperature: 300.0, seed: 5}}
loads:
  - {{type: fixed, label: half, region: {{type: box, lo: [-1, -1, -1], hi: [5.0, 20, 20]}},
     components: {comp}}}
integrator: {{type: verlet, dt: 0.002, steps: 20}}
output: {{every: 20, thermo_every: 5, fields: [velocity]}}
"""


@pytest.mark.parametrize("comp, held_per_atom", [("[x]", 1), ("[x, y, z]", 3)])
def test_held_components_are_no_degrees_of_freedom(tmp_path, comp, held_per_atom):
    deck = load_deck_text(DECK.format(comp=comp), "dof.yaml")
    sim = Simulation.from_deck(deck, threads=1)
    boltz = sim.model.units.boltz
    X = np.asarray(sim.model.atoms.X)
    n = len(X)
    held = int(np.count_nonzero(X[:, 0] < 5.0))
    assert 0 < held < n
    out = tmp_path / "dof.h5"
    sim.run(output=out, progress="quiet")
    with ResultsReader(out) as r:
        th, obs = r.thermo(), r.observables()
        v = np.asarray(r.field("atoms", "velocity"))
    # the held components are at rest (so they carry no kinetic energy)
    assert np.all(v[-1][X[:, 0] < 5.0][:, 0] == 0.0)
    dof = 3 * n - held_per_atom * held - 3
    T = np.asarray(obs["temperature"])
    expect = 2.0 * np.asarray(th["kinetic_atoms"]) / (dof * boltz)
    assert len(T) == 5
    np.testing.assert_allclose(T, expect, rtol=1e-12)
