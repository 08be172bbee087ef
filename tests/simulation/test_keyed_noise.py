"""Random forces keyed by (seed, step, global atom id) (msim issues 14 and 16): the Langevin thermostat's and
the damping band bath's noise do not depend on the order in which the atoms are stored, which is what a run
split over MPI ranks needs (each rank holds its atoms in its own order).

Model: the coupled harmonic chain of tests/coupling/band_chain.py (its one deck text; k = m = a = 1,
core [0, 200], handshake width 32, bar mesh h = 4 to 400) at k_B T = 1e-4, where the chain is linear (no
bond reaches the cut-off). The same deck is built twice; in the second build the atomistic region is
rebuilt with its atoms in a random permutation (positions, masses, initial velocities and global ids
permuted together); both run.
Per global id the trajectories agree to round-off after 300 steps (measured max |Δx|, |Δv|: Langevin 0 and
8e-17; band bath 1.4e-13 and 1.3e-13, the sparse LU of the band's update in another dof order). With the noise
drawn in array order (the previous Philox / PCG64 streams) they differed by the thermal amplitude: Langevin
|Δx| 0.098, |Δv| 0.070; band 0.038, 0.051.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from multiscale.coupling.coupled import CoupledSystem
from multiscale.deck import load_deck_text
from multiscale.md.system import AtomisticRegion
from multiscale.simulation import Simulation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "coupling"))
from band_chain import chain_deck_text  # noqa: E402

LANGEVIN = "  thermostat: {type: langevin, temperature: 1.0e-4, damp: 1.0}\n"


def _deck(band_T: float, thermostat: str) -> str:
    """The chain at k_B T = 1e-4: atoms started at 2e-4 (velocity seed 3), integrator.seed 11, the band's
    bath at ``band_T``, ``thermostat`` lines under ``integrator:``."""
    return chain_deck_text(band_T, T0=2.0e-4, vseed=3, seed=11, extra=thermostat)


def _run(text: str, perm_seed: int | None, steps: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(global ids, x, v) sorted by global id after ``steps`` steps; atoms stored permuted if perm_seed."""
    sim = Simulation.from_deck(load_deck_text(text, "keyed.yaml"))
    m = sim.model
    if perm_seed is not None:
        a, s = m.atoms, m.system
        p = np.random.default_rng(perm_seed).permutation(a.n)
        assert not np.array_equal(p, np.arange(a.n))
        b = AtomisticRegion(a.X[p], a.mass[p], a.potential, a.box, sim.deck.config.atoms.skin,
                            types=None if a.types is None else a.types[p])
        b.v[...] = a.v[p]
        s2 = CoupledSystem(b, m.continuum, m.handshake, m.method, cell=m.lattice.primitive_vectors)
        s2.potential, s2.lattice = s.potential, s.lattice
        m.atoms, m.system, m.site_ids = b, s2, np.asarray(m.site_ids)[p]
        if m.atom_types is not None:
            m.atom_types = m.atom_types[p]
        for noisy in (m.thermostat, m.damping):   # the builder handed them the unpermuted ids
            if noisy is not None:
                noisy.ids = m.site_ids
    sim.prepare()
    sim.integrator.initialize()
    sim.integrator.step(steps)
    o = np.argsort(m.site_ids)
    return np.asarray(m.site_ids)[o], m.atoms.x[o].copy(), m.atoms.v[o].copy()


@pytest.mark.parametrize("noise", ["langevin", "band"])
def test_noise_does_not_depend_on_atom_order(noise):
    """Langevin thermostat alone (band without bath), or the band's bath alone (no thermostat): the run with
    the atoms stored in a random order gives the same trajectory per global id to round-off, and a different
    seed does not (the noise matters at this level)."""
    text = _deck(1.0e-4 if noise == "band" else 0.0, LANGEVIN if noise == "langevin" else "")
    ids0, x0, v0 = _run(text, None)
    ids1, x1, v1 = _run(text, 2026)
    assert np.array_equal(ids0, ids1)
    dx, dv = float(np.max(np.abs(x1 - x0))), float(np.max(np.abs(v1 - v0)))
    assert dx < 1e-11 and dv < 1e-11, (dx, dv)
    # the noise is not negligible: another integrator.seed moves the atoms by much more than round-off
    _, x2, v2 = _run(text.replace("seed: 11", "seed: 12"), None)
    assert float(np.max(np.abs(v2 - v0))) > 1e-4, float(np.max(np.abs(v2 - v0)))


def test_band_bath_checkpoint_continuation_is_bitwise():
    """The band's noise state is its step counter (in the integrator's checkpoint as ``op0.step``): 100 steps,
    the state restored into a fresh build, 100 more steps = 200 uninterrupted steps, bitwise."""
    text = _deck(1.0e-4, "")

    def fresh():  # noqa: ANN202
        sim = Simulation.from_deck(load_deck_text(text, "keyed.yaml"))
        sim.prepare()
        sim.integrator.initialize()
        return sim

    ref, first = fresh(), fresh()
    ref.integrator.step(200)
    first.integrator.step(100)
    st = first.integrator.get_state()
    assert int(st["op0.step"]) == 100
    second = fresh()
    second.integrator.set_state(st)
    second.integrator.step(100)
    for name in ("x", "v"):
        assert getattr(second.model.atoms, name).tobytes() == getattr(ref.model.atoms, name).tobytes(), name
    assert second.model.continuum.V.tobytes() == ref.model.continuum.V.tobytes()
