"""Frame fields of the continuum: nodal stress and strain are exact for a homogeneous deformation."""

from __future__ import annotations

import numpy as np

from multiscale.deck import load_deck_text
from multiscale.simulation import Simulation

DECK = """\
msim: 1
units: lj
continuum:
  mesh: {type: rectangle, lo: [0.0, 0.0], hi: [10.0, 6.0], size: 1.0, element: %s}
  material: {type: isotropic, E: 60.0, nu: 0.25}
  density: 1.0
integrator: {type: verlet, dt: 0.01, steps: 1}
output: {fields: [displacement, stress, strain]}
"""


def _uniform(element: str):
    sim = Simulation.from_deck(load_deck_text(DECK % element, "fields.yaml"))
    c = sim.model.continuum
    F = np.array([[1.01, 0.004], [-0.002, 0.995]])
    c.U[...] = c.nodes @ (F - np.eye(2)).T
    return sim, c, F


def test_nodal_strain_and_stress_of_a_uniform_deformation() -> None:
    for element in ("quad4", "tri3"):
        sim, c, F = _uniform(element)
        _, nodes = sim._frame()
        E = 0.5 * (F.T @ F - np.eye(2))
        assert np.allclose(nodes["strain"], E.ravel(), rtol=0, atol=1e-13)
        eps = 0.5 * (F + F.T) - np.eye(2)                  # linear material: σ = C:ε
        C = c.material.C
        sig_v = C @ np.array([eps[0, 0], eps[1, 1], 2 * eps[0, 1]])
        sigma = np.array([[sig_v[0], sig_v[2]], [sig_v[2], sig_v[1]]])
        assert np.allclose(nodes["stress"], sigma.ravel(), rtol=1e-12, atol=1e-12)
        s = nodes["stress"].reshape(-1, 2, 2)
        assert np.max(np.abs(s - s.transpose(0, 2, 1))) < 1e-10


def test_stress_field_written_to_the_results(tmp_path) -> None:
    from multiscale.output.reader import ResultsReader
    sim, _, _ = _uniform("quad4")
    out = sim.run(output=tmp_path / "f.h5", steps=1, progress="quiet")
    with ResultsReader(out) as r:
        assert set(r.fields("nodes")) >= {"stress", "strain", "displacement"}
        assert r.field("nodes", "stress").shape[-1] == 4
