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


def test_coupled_temperature_takes_physical_masses():
    """Review rev33 R3: in a coupled deck the `temperature` observable took the integrated masses β̄·m (tiny
    in the handshake) with a full degree of freedom per component: decks/thermal2d.yaml, held at k_B T = 0.1
    by its bath, read 0.062 while its core read 0.096. Now physical masses, as the group temperatures: with
    every integrated atom at the same equipartition speed the observable is that temperature."""
    from pathlib import Path

    from multiscale.deck import load_deck
    deck = load_deck(Path(__file__).resolve().parents[2] / "decks" / "wave2d.yaml")
    sim = Simulation.from_deck(deck, threads=1)
    sim.prepare()
    m, s = sim.model, sim.model.system
    boltz, kT = m.units.boltz, 0.1
    mass = np.asarray(m.atoms.mass, float)
    beta = np.asarray(s.atom_mass, float)[s.free] / mass[s.free]
    assert beta.min() < 0.1 < 0.99 < beta.max()             # the deck has weighted handshake atoms
    rng = np.random.default_rng(3)
    v = np.zeros_like(m.atoms.v)
    v[s.free] = rng.standard_normal((len(s.free), m.dim)) * np.sqrt(kT / mass[s.free])[:, None]
    m.atoms.v[...] = v
    T = sim.reduce.observables(m)["temperature"]
    K = 0.5 * float(np.sum(mass[s.free] * np.sum(v[s.free] ** 2, axis=1)))
    dof = m.dim * len(s.free) - m.dim
    assert T == pytest.approx(2 * K / (dof * boltz), rel=1e-12)
    assert T == pytest.approx(kT, rel=0.05)
