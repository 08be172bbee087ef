"""The one velocity-Verlet: constraints to round-off, energy, momentum, damping ledger, checkpoints."""

import sys
from pathlib import Path

import numpy as np
import pytest

from multiscale.coupling.damping import DampingBand
from multiscale.diagnostics.energy import EnergyLedger
from multiscale.diagnostics.reflection import build_chain_system
from multiscale.integrate.verlet import VelocityVerlet

sys.path.insert(0, str(Path(__file__).parent))
from models1d import Bar1D, Chain1D  # noqa: E402

STANDIN = {"make_atoms": lambda X, m, k, a, reach: Chain1D(X, m, k, a),
           "make_continuum": lambda nodes, EA, rho: Bar1D(nodes, EA, rho)}
ENGINE = {}


def _excited(regions, method="projected", seed=0, amp=0.01, **kw):
    s = build_chain_system(h=4.0, width=32.0, blend="cubic", method=method, left=60.0, right=60.0,
                           reach=2.0, **regions, **kw)
    rng = np.random.default_rng(seed)
    s.atoms.x[s.free] += amp * rng.standard_normal((s.n_free, 1))
    s.atoms.v[s.free] = amp * rng.standard_normal((s.n_free, 1))
    s.continuum.U[...] = amp * rng.standard_normal(s.continuum.U.shape)
    s.continuum.V[...] = amp * rng.standard_normal(s.continuum.V.shape)
    return s


def _roundoff(s):
    """Round-off level of G q: displacements are x − X with |X| up to max|X| [length]."""
    return 50 * np.finfo(float).eps * float(np.abs(s.atoms.X).max())


def _run(s, n_steps, dt=0.2, ops=(), n_rec=50):
    integ = VelocityVerlet(s, dt, velocity_ops=ops)
    integ.project_state()
    led = EnergyLedger()
    led.record(integ)
    for _ in range(n_rec):
        integ.step(n_steps // n_rec)
        led.record(integ)
    return integ, led


def _energy_case(regions, method, n_steps, mom_tol=1e-12, e_tol=3e-11):
    # harmonic springs are linear only while no bond crosses the cut-off: the floppy edge atoms of the
    # projected method (β̄ → 0) reach large thermal amplitudes, so they are slaved (slave_below)
    params = {"slave_below": 0.01} if method in ("projected", "ghost_corrected") else {}
    if method == "penalty":         # springs κ c_a on the atoms of H, strong rows below slave_below
        params = {"kappa": 0.5, "slave_below": 0.01}
    s = _excited(regions, method, method_params=params)
    integ, led = _run(s, n_steps)
    sm = led.summary()
    assert abs(sm["modified_net_relative_change"]) < e_tol, sm
    assert sm["modified_peak_to_peak_relative"] < e_tol, sm
    assert sm["peak_to_peak_relative"] < 0.05  # K + Π itself: bounded O((ωΔt)²) oscillation
    assert sm["max_constraint_residual"] < _roundoff(s), sm
    p0 = np.abs(led.records[0]["momentum"]).max()
    assert sm["momentum_change"] <= mom_tol * max(p0, 1e-3), sm
    return sm


@pytest.mark.parametrize("regions", [STANDIN, ENGINE], ids=["numpy-models", "engine"])
@pytest.mark.parametrize("method", ["strong", "projected", "ghost_corrected", "penalty"])
def test_energy_momentum_constraints(regions, method):
    """10⁴ steps, random state of amplitude 0.01: Verlet's modified energy (exact discrete invariant) constant
    to round-off: measured net change and peak-to-peak ≤ 2.8e-12 (engine and NumPy stand-ins, strong /
    projected / ghost-corrected), asserted ≤ 3e-11 (README, ~10x); momentum 1e-12, G q at round-off.
    Penalty (κ = 0.5, its strong rows on the atoms of β̄ < 0.01 and springs on the others): measured modified
    energy net change ≤ 1.8e-12, peak-to-peak ≤ 1.9e-12, momentum change ≤ 2e-14, same bounds."""
    sm = _energy_case(regions, method, 10000)
    if method == "penalty":
        s = _excited(regions, method, method_params={"kappa": 0.5, "slave_below": 0.01})
        assert s.G is not None and 0 < s.G.shape[0] < len(s.constrained)     # both kinds of tie present
        print("penalty", sm["modified_net_relative_change"], sm["modified_peak_to_peak_relative"],
              sm["momentum_change"], sm["max_constraint_residual"])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["strong", "projected"])
def test_energy_1e5_steps(method):
    """10⁵ steps with the engine's regions: modified energy asserted ≤ 1e-9 (a slow test; round-off
    accumulates with the step count, so the 10⁴-step bound is not used); momentum drifts by ~5e-11 relative
    (interpolation weights sum to one only to round-off, so the constraint forces carry a tiny net
    force), still at the 1e-12 level per 10⁴ steps."""
    sm = _energy_case(ENGINE, method, 100000, mom_tol=1e-10, e_tol=1e-9)
    print(sm)


@pytest.mark.parametrize("fine_scale", ["smoothed", "mesh"])
def test_damped_total_plus_dissipated_and_momentum(fine_scale):
    s = _excited(ENGINE, "projected", seed=3, method_params={"slave_below": 0.01})
    band = DampingBand(0.5, 2.0, fine_scale=fine_scale)
    integ, led = _run(s, 10000, ops=[band])
    sm = led.summary()
    assert sm["dissipated"] > 0.5 * abs(led.records[0]["total"])
    assert abs(sm["modified_net_relative_change"]) < 1e-9, sm
    assert sm["max_constraint_residual"] < _roundoff(s)
    p0 = np.abs(led.records[0]["momentum"]).max()
    assert sm["momentum_change"] <= 1e-12 * max(p0, 1e-3), sm


def test_langevin_band_keeps_constraints_and_is_seeded():
    def run(seed):
        s = _excited(ENGINE, "projected", seed=1, amp=0.0)
        integ, _ = _run(s, 400, ops=[DampingBand(1.0, 2.0, kT=1e-4, seed=seed)], n_rec=4)
        return s, integ

    s1, i1 = run(7)
    s2, _ = run(7)
    s3, _ = run(8)
    assert np.array_equal(s1.atoms.x, s2.atoms.x) and not np.array_equal(s1.atoms.x, s3.atoms.x)
    assert i1.constraint_residual() < _roundoff(s1)
    assert i1.dissipated < 0  # the bath heated a system that started at rest


@pytest.mark.parametrize("with_bath", [False, True])
def test_checkpoint_restart_is_bitwise(with_bath):
    s = _excited(ENGINE, "projected", seed=2)
    ops = [DampingBand(0.5, 2.0, kT=1e-5 if with_bath else 0.0, seed=5)]
    integ = VelocityVerlet(s, 0.2, velocity_ops=ops)
    integ.project_state()
    integ.step(137)
    st = integ.get_state()
    integ.step(211)
    x_a, U_a, v_a = s.atoms.x.copy(), s.continuum.U.copy(), s.atoms.v.copy()
    diss_a = integ.dissipated
    integ.set_state(st)
    integ.step(211)
    assert np.array_equal(x_a, s.atoms.x) and np.array_equal(U_a, s.continuum.U)
    assert np.array_equal(v_a, s.atoms.v) and diss_a == integ.dissipated


def test_pure_md_and_pure_fe_use_the_same_integrator():
    from multiscale.coupling.coupled import CoupledSystem

    atoms = Chain1D(np.arange(100.0)[:, None])
    atoms.v[:, 0] = 0.01 * np.sin(np.arange(100) * 0.3)
    bar = Bar1D(np.arange(0.0, 101.0, 4.0)[:, None])
    bar.V[:, 0] = 0.01 * np.cos(np.arange(len(bar.V)) * 0.5)
    for sysm in (CoupledSystem(atoms=atoms), CoupledSystem(continuum=bar)):
        integ, led = _run(sysm, 5000, dt=0.3)
        sm = led.summary()
        assert sysm.G is None and integ.projector is None
        assert abs(sm["modified_net_relative_change"]) < 1e-12
        assert sm["momentum_change"] < 1e-14


def test_fixed_dofs_stay_put():
    s = _excited(ENGINE, "projected", seed=4)
    node_mask = np.zeros(s.continuum.U.shape, bool)
    node_mask[-1] = True
    s.fix_dofs(node_mask=node_mask)
    s.continuum.V[-1] = 0.0
    u_end = s.continuum.U[-1].copy()
    integ = VelocityVerlet(s, 0.2)
    integ.project_state()
    integ.step(300)
    assert np.array_equal(s.continuum.U[-1], u_end)


class _DeadLoad:
    """Constant force on the last node (a test hook)."""

    def forces(self, system, t, f_atoms, f_nodes):
        f_nodes[-1, 0] += 1e-3


class _PullEnd:
    """Prescribed constant velocity of the last node (kinematic hook)."""

    def impose(self, t, system):
        system.continuum.U[-1, 0] = 1e-4 * t
        system.continuum.V[-1, 0] = 1e-4


@pytest.mark.parametrize("regions", [STANDIN, ENGINE], ids=["numpy-models", "engine"])
def test_external_work_of_dead_load_and_prescribed_motion(regions):
    s = _excited(regions, "strong", seed=5, amp=0.0)
    integ = VelocityVerlet(s, 0.2, force_hooks=[_DeadLoad()])
    led = EnergyLedger()
    led.record(integ)
    for _ in range(20):
        integ.step(200)
        led.record(integ)
    assert integ.external_work > 1e-6
    cm = led.series("modified_plus_dissipated")  # starts at 0: compare with the work done
    assert np.max(np.abs(cm - cm[0])) < 1e-9 * integ.external_work

    s = _excited(regions, "strong", seed=5, amp=0.0)
    mask = np.zeros(s.continuum.U.shape, bool)
    mask[-1] = True
    s.fix_dofs(node_mask=mask)
    integ = VelocityVerlet(s, 0.2, impose_hooks=[_PullEnd()])
    led = EnergyLedger()
    led.record(integ)
    for _ in range(20):
        integ.step(200)
        led.record(integ)
    tot = led.series("total")
    W = integ.external_work
    assert W > 0
    # energy put in by the agent matches the energy stored, to the Verlet discretisation error
    assert abs(tot[-1] - tot[0]) < 1e-3 * W


def test_max_frequency_of_the_coupled_chain():
    """ω_max of the chain is 2√(k/m) = 2; the coupled system (projected, β̄-weighted edge atoms) stays
    within a few per cent of it, so Δt < 2/ω_max is the lattice's own bound."""
    from multiscale.diagnostics.energy import run_with_ledger

    s = _excited(STANDIN, "projected", amp=0.0)
    integ = VelocityVerlet(s, 0.2)
    w = integ.max_frequency(300)
    assert 1.9 < w < 2.2
    assert np.all(s.atoms.x == s.atoms.X)  # state restored
    led = run_with_ledger(integ, 100, 10)
    assert len(led.records) == 11
