"""Maxwell–Boltzmann initial velocities (`atoms.velocity`) and a `fixed` load: the fixed atoms start at rest
and stay where they are (a fixed dof keeps its velocity, so a thermal velocity on it would carry the atom
away at constant speed: the dynamic indentation film blew up at step 150 that way)."""

import numpy as np
import pytest

from multiscale.deck import load_deck_text
from multiscale.simulation import Simulation

DECK = """\
msim: 1
units: lj
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: hex, a: relaxed}
  region: {type: box, lo: [-0.3, -0.3], hi: [11.0, 8.0]}
  mass: 1.0
  skin: 0.3
  velocity: {temperature: 0.05}
loads:
  - {type: fixed, label: bottom, region: {type: box, lo: [-10, -10], hi: [20, 1.5]}}
integrator: {type: verlet, dt: 0.005, steps: 200, seed: 2}
output: {every: 1000, thermo_every: 1000}
"""


def test_fixed_atoms_start_at_rest_and_stay():
    sim = Simulation.from_deck(load_deck_text(DECK, "fixed_rest.yaml"))
    sim.prepare()
    a = sim.model.atoms
    fixed = a.X[:, 1] < 1.5
    assert 5 < fixed.sum() < len(fixed) - 5
    assert np.all(a.v[fixed] == 0.0)
    assert np.any(a.v[~fixed] != 0.0)
    it = sim.integrator
    if not getattr(it, "_initialized", False):
        it.initialize()
    it.step(200)
    assert np.max(np.abs(a.x[fixed] - a.X[fixed])) == 0.0
    assert np.max(np.abs(a.x[~fixed] - a.X[~fixed])) > 1e-3


def test_temperature_observable_leaves_fixed_atoms_out(tmp_path):
    """The `temperature` observable is 2K/(dof k_B) of the atoms that move: the fixed rows (at rest) do
    not dilute it (they made a thermalised film with 10 % fixed atoms read 0.9 T)."""
    from multiscale.md.velocities import kinetic_temperature
    from multiscale.output.reader import ResultsReader
    sim = Simulation.from_deck(load_deck_text(DECK.replace("steps: 200", "steps: 20"), "fixed_rest.yaml"))
    out = sim.run(output=tmp_path / "r.h5", progress="quiet")
    a = sim.model.atoms
    moving = a.X[:, 1] >= 1.5
    with ResultsReader(out) as r:
        T = r.observables()["temperature"][-1]
    T_ref = kinetic_temperature(a.v[moving], a.mass[moving], 1.0)
    T_all = kinetic_temperature(a.v, a.mass, 1.0)
    assert T == pytest.approx(T_ref, rel=1e-12)
    assert T_all < 0.9 * T_ref
