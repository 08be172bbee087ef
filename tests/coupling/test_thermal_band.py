"""The thermostatted damping band on a coupled 1D chain (msim issue 16): target T held over 10⁵ steps, and an
outgoing pulse still absorbed with the noise on.

Model: harmonic chain (m = k = a = 1) on [0, 240], core [0, 200], handshake width 32 (cubic, projected),
bar2 mesh h = 4 out to 400, damping band γ0 = 1 with its bath at T. The zero-temperature reflection figures of
the band (noise off) are the ones of tests/coupling/test_reflection.py and decks/wave1d_damped.yaml,
unchanged by the bath code (the noise term and the optional ``gamma_coarse`` rows are skipped at their
defaults / at T = 0).

The chain is the LINEAR chain only while no bond crosses the cut-off 1.5 of the truncated harmonic pair
potential. The handshake bonds carry the blend weight w_b < 1 and stretch by √(k_B T/(w_b k)): at k_B T = 0.01
(the temperature this file used before) they cross it, the force jumps, velocity Verlet's conserved quantity
gains 10²–10³ k_B T per 1 000 steps and the chain heated to 3.3 T in 8 000 steps (the "band does not hold T"
of the first report; root cause and ledger: tests/coupling/test_band_bath_fdt.py). Here k_B T = 1e-4: no
crossing (asserted), so the result holds for the harmonic chain at any T (it scales exactly with T).
"""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.deck import load_deck_text
from multiscale.diagnostics.temperature import atom_groups, kinetic_temperature
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


@pytest.mark.slow
def test_band_holds_temperature_over_1e5_steps():
    """k_B T = 1e-4, atoms AND mesh nodes started at 2T (zero displacement: half of it goes into potential
    energy): the core's kinetic temperature averaged over steps 5 000–100 000 is T within 5 %, and no bond
    of the chain reaches the cut-off (so this is the harmonic chain). The core of a harmonic chain exchanges
    energy only through the band at its end (round trip ≈ 3 400 steps) and its 1 000-step means wander by up
    to ≈ 20 %, so the 10⁵-step mean of one run carries a few % statistical error: 2 % is not a resolvable
    threshold for one run of this size. Measured (benchmarks/band_hold_1d.py): 0.976 (this seed), 1.003
    (seed 6); with the noise amplitude 5 % too large it fails. At k_B T = 0.01 (cut-off crossings in H) the
    chain heats to ≈ 3 T within 8 000 steps."""
    T = 1e-4
    sim = _chain(T)
    s, integ = sim.model.system, sim.integrator
    M = s.node_mass
    rng = np.random.default_rng(105)
    s.continuum.V[...] = np.where(M[:, None] > 0, rng.standard_normal(s.continuum.V.shape)
                                  * np.sqrt(2 * T / np.where(M > 0, M, 1.0))[:, None], 0.0)
    integ.project_state()
    integ.initialize()
    core = atom_groups(s)["core"]
    real = ~np.asarray(s.pad, bool)
    Ts, crossed = [], 0
    for i in range(10_000):
        integ.step(10)
        if i >= 500:
            Ts.append(kinetic_temperature(s.atoms.v[core], s.atoms.mass[core], 1.0) / T)
        if i % 50 == 0:
            x = np.sort(s.atoms.x[real, 0])
            crossed += int(np.sum(np.diff(x) > 1.5)) + int(np.sum(x[2:] - x[:-2] < 1.5))
    assert crossed == 0
    mean = float(np.mean(Ts))
    assert abs(mean - 1.0) < 0.05, mean
