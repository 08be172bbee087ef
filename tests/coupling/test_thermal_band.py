"""The thermostatted damping band on a coupled 1D chain (msim issue 16): an outgoing pulse still absorbed with
the noise on. (The issue's "T held within 2 % over 10⁵ steps" is NOT met on this chain: the core heats,
0.91 → 3.3 T within 8 000 steps and ≈ 16 T after 10⁵, whatever ``slave_below`` (0.001–0.2) or skin;
``benchmarks/band_hold_1d.py`` reproduces it. The 2D LJ model holds T: tests/coupling/
test_temperature_profile.py.)

Model: harmonic chain (m = k = a = 1) on [0, 240], core [0, 200], handshake width 32 (cubic, projected),
bar2 mesh h = 4 out to 400, damping band γ0 = 1 with its bath at T. The zero-temperature reflection figures of
the band (noise off) are the ones of
tests/coupling/test_reflection.py and decks/wave1d_damped.yaml, unchanged by the bath code (the noise term
is the only addition to the band's map and is skipped at T = 0).
"""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.deck import load_deck_text
from multiscale.diagnostics.temperature import atom_groups
from multiscale.loads.wave_packet import chain_dispersion, lattice_packet
from multiscale.simulation import Simulation

DECK = """\
msim: 1
units: lj
potential: {{type: harmonic, k: 1.0, r0: 1.0, cutoff: 1.5}}
atoms:
  lattice: {{type: chain, a: 1.0}}
  region: {{type: box, lo: [0.0], hi: [240.0]}}
  mass: 1.0
  skin: 4.0
  velocity: {{temperature: {T0}, seed: {seed}}}
continuum:
  mesh: {{type: bar, lo: [200.0], hi: [400.0], size: 4.0}}
handshake:
  shape: {{type: box, lo: [-1.0], hi: [200.0]}}
  width: 32.0
  blend: {{type: cubic}}
  coupling: {{type: projected}}
  damping: {{gamma0: 1.0, temperature: {T}}}
integrator: {{type: verlet, dt: 0.1, steps: 10, seed: {seed}}}
"""


def _chain(T: float, seed: int = 5):
    sim = Simulation.from_deck(load_deck_text(DECK.format(T=T, T0=2 * T, seed=seed), "chain.yaml"))
    sim.prepare()
    sim.integrator.initialize()
    return sim


def _core_energy(s, core) -> float:  # noqa: ANN001
    a = s.atoms
    return float(np.sum(a.energies[core]) + 0.5 * np.sum(a.mass[core] * np.sum(a.v[core] ** 2, axis=1)))


@pytest.mark.slow
def test_pulse_absorbed_with_noise_on():
    """Chain at T = 0.001 with the band's bath on: a packet of λ = h = 4 (which the mesh cannot carry) put
    into the core on top of the thermal motion leaves the core and is absorbed in the band. The thermal level
    is a twin run with the same seed and no packet (the core of a harmonic chain relaxes slowly, so a level
    measured before the packet would still drift): over 1 000 steps after the packet has left, the core
    energy of the two runs differs by < 3 % of the packet's energy (≈ 50 × the core's thermal energy
    fluctuation); at T = 0 the band leaves 3e-5 of it (docs/physics.md §6). The difference is not zero by
    construction: the core energy is quadratic, the cross term of thermal and packet motion is noise."""
    T = 0.001
    runs = [_chain(T, seed=7), _chain(T, seed=7)]
    core = atom_groups(runs[0].model.system)["core"]
    for r in runs:
        r.integrator.step(3000)
    before = []
    for _ in range(100):
        runs[0].integrator.step(10)
        before.append(_core_energy(runs[0].model.system, core))
    runs[1].integrator.step(1000)
    s, integ = runs[0].model.system, runs[0].integrator
    assert np.array_equal(s.atoms.v, runs[1].model.system.atoms.v)        # twins
    # the packet (one-directional, towards +x, centred 100a in the core) added to the thermal state
    X = s.atoms.X[core, 0]
    order = np.argsort(X)
    omega = chain_dispersion(1.0, 1.0, [1.0])
    u0, v0, _ = lattice_packet(X[order], 1.0, 2 * np.pi / 4.0, 20.0, 100.0, 0.1, integ.dt, omega, +1)
    s.atoms.x[core[order], 0] += u0                     # amplitude 0.1: 2nd neighbours stay beyond r_cut
    s.atoms.v[core[order], 0] += v0
    integ.initialize()
    e_pulse = _core_energy(s, core) - before[-1]
    assert e_pulse > 50 * np.std(before), (e_pulse, np.std(before))
    for r in runs:
        r.integrator.step(3500)                         # group velocity 0.71: the packet is in the band
    diff = []
    for _ in range(100):
        e = []
        for r in runs:
            r.integrator.step(10)
            e.append(_core_energy(r.model.system, core))
        diff.append(e[0] - e[1])
    left = float(np.mean(diff)) / e_pulse
    assert abs(left) < 0.03, (left, e_pulse)
    absorbed = (runs[0].integrator.dissipated - runs[1].integrator.dissipated) / e_pulse
    assert absorbed > 0.9, absorbed                     # the band took the packet
