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


def hold_run(T: float, seed: int, n_steps: int = 100_000, skip: int = 5_000, every: int = 10):
    """One band-hold run: atoms AND mesh nodes started at 2T (zero displacement: half goes into potential
    energy), the band's bath at T. Returns (T_core / T sampled every ``every`` steps after ``skip``,
    number of cut-off crossings seen every 500 steps: bonds longer than r_c = 1.5 or second neighbours
    closer than r_c)."""
    sim = _chain(T, seed=seed)
    s, integ = sim.model.system, sim.integrator
    M = s.node_mass
    rng = np.random.default_rng(100 + seed)
    s.continuum.V[...] = np.where(M[:, None] > 0, rng.standard_normal(s.continuum.V.shape)
                                  * np.sqrt(2 * T / np.where(M > 0, M, 1.0))[:, None], 0.0)
    integ.project_state()
    integ.initialize()
    core = atom_groups(s)["core"]
    real = ~np.asarray(s.pad, bool)
    Ts, crossed = [], 0
    for i in range(n_steps // every):
        integ.step(every)
        if (i + 1) * every > skip:
            Ts.append(kinetic_temperature(s.atoms.v[core], s.atoms.mass[core], 1.0) / T)
        if (i * every) % 500 == 0:
            x = np.sort(s.atoms.x[real, 0])
            crossed += int(np.sum(np.diff(x) > 1.5)) + int(np.sum(x[2:] - x[:-2] < 1.5))
    return np.asarray(Ts), crossed


def block_means(samples: np.ndarray, n_blocks: int) -> np.ndarray:
    """Means of ``n_blocks`` consecutive equal blocks of a time series (the tail that does not fill a
    block is dropped)."""
    n = len(samples) // n_blocks
    return np.asarray(samples[: n * n_blocks], float).reshape(n_blocks, n).mean(axis=1)


#: seeds of the band-hold test (independent runs: bath noise, initial atom and node velocities)
HOLD_SEEDS = (5, 6, 7, 8, 9, 10)


@pytest.mark.slow
@pytest.mark.timeout(3600)      # ≈ 2 min of CPU per seed; the default 900 s is for hangs
def test_band_holds_temperature_over_1e5_steps():
    """Issue 16: target T held over 10⁵ steps, with an error bar. k_B T = 1e-4 (no bond of the harmonic
    chain reaches the cut-off: asserted, so this is the linear chain, where the result scales exactly with
    T); six independent seeds of 10⁵ steps; per seed the core's kinetic temperature over steps
    5 000–100 000. Error bar: the scatter of the seeds' means (std/√6). Blocks within one run are not
    independent enough for an error bar: the harmonic chain's long waves pass into the mesh, which the band
    (acting on the fine-scale velocity only) barely damps, so a run keeps its initial share of them for
    most of 10⁵ steps — block errors of one run (≈ 1–2 %) are smaller than the seed-to-seed scatter
    (≈ 1.5–2.5 %). Asserted: |mean − 1| < 4 % and the error bar < 1.5 %; the issue's 2 % is not
    resolved. Measured (benchmarks/band_hold_1d.py docstring): 1.026, 1.018, 1.019, 1.052, 1.006, 0.997
    → 1.020 ± 0.008; with the band's bath at 1.1 T seed 5 alone gives 1.117."""
    T = 1e-4
    means = []
    for seed in HOLD_SEEDS:
        Ts, crossed = hold_run(T, seed)
        assert crossed == 0, seed
        means.append(float(Ts.mean()))
    m = np.asarray(means)
    mean, err = float(m.mean()), float(m.std(ddof=1) / np.sqrt(len(m)))
    assert err < 0.015, (mean, err, m)
    assert abs(mean - 1.0) < 0.04, (mean, err, m)
