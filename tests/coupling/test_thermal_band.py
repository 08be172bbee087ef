"""The thermostatted damping band on a coupled 1D chain (msim issue 16): target T held over 10⁵ steps, and an
outgoing pulse still absorbed with the noise on.

Model: the chain of tests/coupling/band_chain.py (harmonic chain m = k = a = 1 on [0, 240], core [0, 200],
handshake width 32 (cubic, projected), bar2 mesh h = 4 out to 400, damping band γ0 = 1 with its bath at T).
The zero-temperature reflection figures of the band (noise off) are the ones of
tests/coupling/test_reflection.py and decks/wave1d_damped.yaml, unchanged by the bath code (the noise term is
skipped at T = 0).

The chain is the LINEAR chain only while no bond crosses the cut-off 1.5 of the truncated harmonic pair
potential. The handshake bonds carry the blend weight w_b < 1 and stretch by √(k_B T/(w_b k)): at k_B T = 0.01
they cross it and the chain heats (tests/coupling/test_band_bath_fdt.py). Here k_B T = 1e-4: no crossing
(asserted), so the result holds for the harmonic chain at any T (it scales exactly with T).
"""

from __future__ import annotations

import numpy as np
import pytest
from band_chain import chain_sim, hold_run  # same directory (pytest prepends it to sys.path)

from multiscale.diagnostics.temperature import atom_groups
from multiscale.loads.wave_packet import chain_dispersion, lattice_packet


def _chain(T: float, seed: int = 5):
    return chain_sim(T, seed=seed)


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


#: seeds of the band-hold test (independent runs: bath noise and the phases of the start)
HOLD_SEEDS = tuple(range(1, 17))


def _hold_mean(seed: int) -> tuple[float, int]:
    Ts, crossed = hold_run(1e-4, seed, start="equipartition")
    return float(Ts.mean()), crossed


@pytest.mark.slow
@pytest.mark.timeout(5400)  # 16 runs of 23-29 s CPU each (measured 2026-12-07) over min(4, cores) processes
def test_band_holds_temperature_over_1e5_steps():
    """Issue 16: target T held within 2 % over 10⁵ steps, with an error bar that resolves it. k_B T = 1e-4
    (no bond of the harmonic chain reaches the cut-off: asserted, so this is the linear chain, where the
    result scales exactly with T). Sixteen independent seeds of 10⁵ steps, each started with exactly k_B T
    in every normal mode of velocity Verlet's modified energy (random phases: band_chain.equipartition_start;
    the canonical covariance without the canonical scatter of the mode energies); per seed the core's
    kinetic temperature over all 10⁵ steps (every 10th step). Error bar: the scatter of the seeds' means
    (std/√16).

    Why 16 seeds and this start (benchmarks/band_hold_exact.py, the exact linear analysis of msim's step
    map): 31 of the chain's 273 modes are long waves that the mesh carries and the band (acting on the
    fine-scale velocity) relaxes over more than 10⁵ steps (9.5 % of the core's kinetic energy; 23 % relax
    slower than 10⁴ steps), so one run's mean scatters: exact std 0.022 (equipartition start), 0.027 (a
    canonical sample). Sixteen seeds: expected error bar 0.0055, and |mean − 1| ≤ 2 % is then a 3.6σ bound.
    From atoms and nodes at 2T with zero displacement (the first protocol) the exact expectation over steps
    5 000–10⁵ is 0.9987: the six measured 1.020 ± 0.008 were that scatter (1.9σ with the exact std), not a
    bias. There is no discretisation bias: one step of msim maps the canonical state of the modified energy
    onto itself to 3e-10 (test_band_bath_fdt.py).
    Asserted: error bar < 1 % and |mean − 1| ≤ 2 %. Measured (the same 16 runs, benchmarks/band_hold_1d.py):
    1.0010 ± 0.0053 (one run's std 0.021 against the exact 0.0221), no cut-off crossing."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = max(1, min(4, os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        results = list(pool.map(_hold_mean, HOLD_SEEDS))
    assert all(c == 0 for _, c in results), results
    m = np.asarray([r for r, _ in results])
    mean, err = float(m.mean()), float(m.std(ddof=1) / np.sqrt(len(m)))
    assert err < 0.01, (mean, err, m)
    assert abs(mean - 1.0) <= 0.02, (mean, err, m)
