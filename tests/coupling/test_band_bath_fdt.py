"""Root cause of the 1D heating of msim issue 16 (the band's bath on the chain of test_thermal_band.py).

Measured (2026-12-06, benchmarks/band_hold_1d.py): the chain heats at k_B T = 0.01 (k = a = m = 1) because the
chain stops being harmonic there, not because of the bath. The handshake bonds carry the blend weight w_b < 1,
so their stretch fluctuates by √(k_B T / (w_b k)); at T = 0.01 bonds in H stretch past the cut-off 1.5 and
second neighbours come inside it. The truncated (unshifted) harmonic pair force jumps by w_b k (r_c − r0) there,
and velocity Verlet's conserved quantity (total_modified + dissipated) gains 100–460 k_B T per 1 000 steps,
growing as the chain heats. At k_B T = 1e-4 no bond reaches the cut-off, the model is the linear chain, the
ledger closes to round-off with the noise on and nothing heats. The band's map itself satisfies the
fluctuation–dissipation relation of the exact (Cayley, constrained, smoothed fine-scale) update used.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from band_chain import chain_sim as _chain  # same directory (pytest prepends it to sys.path)
from band_chain import linear_step_map, modified_stiffness, stiffness

from multiscale.diagnostics.energy import ledger


def _crossings(s) -> tuple[int, int]:  # noqa: ANN001
    """(bonds longer than r_c = 1.5, second-neighbour pairs closer than r_c) among the non-pad atoms."""
    keep = ~np.asarray(s.pad, bool)
    x = np.sort(s.atoms.x[keep, 0])
    return int(np.sum(np.diff(x) > 1.5)), int(np.sum(x[2:] - x[:-2] < 1.5))


def _run_ledger(T: float, steps: int, every: int = 50):
    sim = _chain(T)
    integ = sim.integrator
    c0 = ledger(integ)["modified_plus_dissipated"]
    worst, n_cross, gross, d0 = 0.0, 0, 0.0, integ.dissipated
    for _ in range(steps // every):
        integ.step(every)
        worst = max(worst, abs(ledger(integ)["modified_plus_dissipated"] - c0))
        n_cross += sum(_crossings(sim.model.system))
        gross += abs(integ.dissipated - d0)
        d0 = integ.dissipated
    return worst, n_cross, gross


def test_ledger_closes_with_bath_in_the_harmonic_regime():
    """k_B T = 1e-4: no bond reaches the cut-off, so the forces are linear and total_modified + dissipated
    (the energy the bath put in or took out booked in ``dissipated``) is conserved to round-off over 1 500
    steps with the noise on (measured 6e-10 k_B T), while the bath moves heat in and out (Σ|Δ dissipated|
    over 50-step intervals: 177 k_B T). Booking 0.1 % less of the band's energy change fails it (0.02 k_B T,
    2·10⁴ × the threshold)."""
    T = 1e-4
    worst, n_cross, gross = _run_ledger(T, 1500)
    assert n_cross == 0
    assert gross > 5 * T, gross / T                        # the bath did exchange heat
    assert worst < 1e-6 * T, worst / T


def test_hot_chain_leaves_the_harmonic_regime():
    """k_B T = 0.01 (the old test temperature): handshake bonds cross the cut-off within 1 000 steps and the
    conserved quantity is no longer conserved (by ≫ k_B T): the source of the heating, outside the band."""
    T = 1e-2
    worst, n_cross, _ = _run_ledger(T, 1000)          # measured: 196 crossings, 124 k_B T
    assert n_cross > 10
    assert worst > 10 * T, worst / T


def test_band_map_preserves_the_constrained_gibbs_state():
    """Fluctuation–dissipation of the exact update: velocities drawn from the canonical state of the
    constrained dynamics (v = √(k_B T) P M^-½ ξ, P the M-orthogonal projection on G v = 0, as the integrator
    uses) keep their distribution under one application of the band's map (Cayley damping + noise), mode by
    mode of D: the D-weighted kinetic energy ⟨vᵀ D v⟩ before and after agree within 4 % over 3 000 independent
    samples. The map is exact for any step, so it is applied with Δt = 2 (½Δt g/M up to 2: the noise
    dominates the damped dofs): a noise amplitude 5 % off moves the ratio by ≈ 10 % (measured 1.11; 1.015 ±
    0.011 with the right one). Covers the smoothed fine-scale reference, the coupled mass and the
    constraint share."""
    T = 1e-4
    sim = _chain(T)
    s, integ = sim.model.system, sim.integrator
    band = integ.velocity_ops[0]
    dt = 2.0
    band.apply(s, integ, dt)                                # set up
    inv = s.inv_mass_dof
    D = (band.B.T @ (band.gd[:, None] * band.B.toarray()))
    rng = np.random.default_rng(11)
    before, after = [], []
    for _ in range(3000):
        v = integ.projector.project(np.sqrt(T * inv) * rng.standard_normal(len(inv)))
        s.set_velocities_from_q(v)
        band.apply(s, integ, dt)
        w = s.gather_v()
        before.append(v @ D @ v)
        after.append(w @ D @ w)
    b, a = np.mean(before), np.mean(after)
    err = np.std(np.array(after) - np.array(before)) / np.sqrt(len(after)) / b
    assert abs(a / b - 1.0) < max(0.04, 4 * err), (a / b, err)


def test_step_keeps_the_canonical_state_of_the_modified_energy_exactly():
    """No discretisation bias of the band's temperature at Δt = 0.1: one whole step of msim's integrator
    (velocity Verlet with the constraint projection, then the band's constrained Cayley map with its
    noise) maps the canonical state of velocity Verlet's modified energy H̃ = ½vᵀMv + ½qᵀ(K − (Δt²/4) K P
    M⁻¹ K)q at k_B T (on G q = 0, G v = 0; band_chain module docstring) onto itself EXACTLY: with Φ the
    step's linear map (measured by stepping msim from the basis states) and Q the covariance of the band's
    noise, Φ Σ Φᵀ + Q = Σ; every velocity keeps k_B T M⁻¹ (projected), so the core's kinetic temperature
    is T with no O(Δt²) error. Measured residual, whitened by Σ: 2.8e-10 (round-off of the positions; the
    velocity block 7e-13). The noise-free step alone conserves H̃ (whitened 2.9e-10; the plain energy:
    1.2e-3). A noise amplitude 2 % off (``√(2 g k_B T Δt)`` × 1.02 in damping.py) gives 1.1e-2."""
    T = 1e-4
    sim = _chain(T)
    K = stiffness(sim)
    Phr, Qr, Z, _ = linear_step_map(sim)
    k = Z.shape[1]
    Kr = modified_stiffness(sim, K, Z)
    L = np.linalg.cholesky(Kr)
    Sig = sla.block_diag(T * np.linalg.inv(Kr), T * np.eye(k))
    Wh = sla.block_diag(L.T, np.eye(k)) / np.sqrt(T)              # Wh Σ Whᵀ = I
    R = Wh @ (Phr @ Sig @ Phr.T + Qr - Sig) @ Wh.T
    assert np.max(np.abs(R)) < 1e-7, np.max(np.abs(R))
    # the noise-free step conserves H̃ (and not the plain energy: the test can tell them apart)
    band = sim.integrator.velocity_ops[0]
    H = sla.block_diag(Kr, np.eye(k))
    Li = sla.block_diag(np.linalg.inv(L), np.eye(k))
    band.gamma0, band._ready = 0.0, False
    P0, _, _, _ = linear_step_map(sim)
    assert np.max(np.abs(Li @ (P0.T @ H @ P0 - H) @ Li.T)) < 1e-7
    H0 = sla.block_diag(Z.T @ K @ Z, np.eye(k))
    assert np.max(np.abs(Li @ (P0.T @ H0 @ P0 - H0) @ Li.T)) > 1e-4
