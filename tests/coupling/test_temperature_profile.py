"""Temperature diagnostics (multiscale/diagnostics/temperature.py) and the damping band's Langevin bath.

The bath test checks the fluctuation–dissipation balance of the band's Cayley map with noise on a real
coupled 2D system (projected coupling, constraints active) against the exact linear stochastic map: in
mass-weighted coordinates z = M^½ v restricted to the constraint space (orthonormal basis Q), one band step
must be z' = A z + ξ with A = (I + C̃)⁻¹(I − C̃), C̃ = ½Δt Qᵀ M^-½ D M^-½ Q and E ξξᵀ = 4 k_B T C̃ (I + C̃)⁻²;
then A (k_B T I) Aᵀ + E ξξᵀ = k_B T I on range(C̃): exactly k_B T per damped mode in the stationary state.
The reference uses only D (the band's matrix Bᵀ g B), M and G, by dense linear algebra, not the band's
sparse saddle-point solver.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

from multiscale.deck import load_deck_text
from multiscale.diagnostics.temperature import (
    TemperatureProfile,
    atom_distance,
    atom_groups,
    constrained_share,
    equipartition_mass,
    group_temperatures,
    kinetic_temperature,
)
from multiscale.simulation import Simulation

DECK = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [-12.0, -12.0], hi: [12.0, 12.0]}}
  mass: 1.0
  skin: {skin}
  velocity: {{temperature: {T0}, seed: 3}}
continuum:
  mesh: {{type: rectangle, element: tri3, lo: [-20.0, -20.0], hi: [20.0, 20.0], size: 2.0,
          hole: {{lo: [-4.0, -4.0], hi: [4.0, 4.0]}}}}
handshake:
  shape: {{type: box, lo: [-6.0, -6.0], hi: [6.0, 6.0]}}
  width: 4.0
  blend: {{type: cubic}}
  coupling: {coupling}
  damping: {{gamma0: {gamma0}, temperature: {T}}}
integrator: {{type: verlet, dt: 0.01, steps: 1, seed: 9}}
"""


def _sim(T=0.05, gamma0=1.0, T0=0.0, skin=0.3, extra="", coupling="{type: projected, slave_below: 0.01}"):
    text = DECK.format(T=T, gamma0=gamma0, T0=T0, skin=skin, coupling=coupling) + extra
    sim = Simulation.from_deck(load_deck_text(text, "bath.yaml"))
    sim.prepare()
    return sim


def _reduced(band, system, G, dt):
    """Q (free dofs x m), M^½ (free dofs), C̃ = ½Δt Qᵀ M^-½ D M^-½ Q (module docstring), by dense algebra."""
    inv = system.inv_mass_dof
    free = np.flatnonzero(inv > 0)
    Mh = 1.0 / np.sqrt(inv[free])                      # M^½ on the free dofs
    D = (band.B.T @ (band.gd[:, None] * band.B.toarray()))[np.ix_(free, free)]
    Dt = D / Mh[:, None] / Mh[None, :]
    Gf = G.toarray()[:, free] / Mh[None, :]
    Q = sla.null_space(Gf)
    return free, Mh, Q, 0.5 * dt * Q.T @ Dt @ Q


@pytest.mark.slow
def test_band_bath_fluctuation_dissipation():
    """One band step = the exact constrained Cayley map (deterministic part, to round-off) plus noise of
    covariance 4 k_B T C̃ (I + C̃)⁻² in z (second moment, statistically): together these make
    k_B T per damped mode the stationary state exactly (Lyapunov identity, module docstring)."""
    kT = 0.05
    sim = _sim(T=kT, gamma0=3.0)
    s, integ, band = sim.model.system, sim.integrator, sim.model.damping
    dt = integ.dt
    band.apply(s, integ, dt)                           # set-up
    G = integ.projector.G
    assert G.shape[0] > 0                              # the constraints are part of the test
    free, Mh, Q, Ct = _reduced(band, s, G, dt)
    mu = np.linalg.eigvalsh(Ct)
    assert mu.min() > -1e-12 and np.sum(mu > 1e-12) > 100
    A = np.linalg.solve(np.eye(len(Ct)) + Ct, np.eye(len(Ct)) - Ct)
    n_dof = len(s.inv_mass_dof)

    def put(z):
        v = np.zeros(n_dof)
        v[free] = (Q @ z) / Mh
        s.set_velocities_from_q(v)

    def get():
        return Q.T @ (Mh * s.gather_v()[free])

    # deterministic part
    rng = np.random.default_rng(0)
    z = rng.normal(size=Q.shape[1])
    band.kT = 0.0
    put(z)
    band.apply(s, integ, dt)
    assert np.max(np.abs(get() - A @ z)) <= 1e-12 * np.max(np.abs(z))
    assert np.max(np.abs(G @ s.gather_v())) < 1e-10
    # noise: E|z'|² from z = 0 equals k_B T Σ 4μ/(1+μ)² (= k_B T Σ (1 − λ²))
    band.kT = kT
    n_s, acc = 2000, 0.0
    for _ in range(n_s):
        put(np.zeros(Q.shape[1]))
        band.apply(s, integ, dt)
        zz = get()
        acc += zz @ zz
    want = kT * np.sum(4 * mu / (1 + mu) ** 2)
    # measured 1.003 (seeded); statistical std ≈ 0.3 %; a 5 % error of the noise amplitude² fails
    assert acc / n_s == pytest.approx(want, rel=0.015)


def test_profile_bins_and_flatness():
    rng = np.random.default_rng(0)
    n, d, kT = 4000, 2, 0.3
    dist = rng.uniform(-1.0, 9.0, n)
    dist[dist < 0] = 0.0
    mass = rng.uniform(0.5, 2.0, n)
    edges = np.array([-1.0, 1e-9, 3.0, 6.0, 9.0])
    prof = TemperatureProfile(dist, mass, edges, 1.0, d)
    hot = dist > 6.0
    for _ in range(200):
        v = rng.normal(size=(n, d)) * np.sqrt(kT / mass)[:, None]
        v[hot] *= np.sqrt(1.2)                         # last bin 20 % hotter
        prof.sample(v)
    T = prof.temperature()
    assert prof.count.sum() == n
    assert np.allclose(T[:3], kT, rtol=0.02) and T[3] == pytest.approx(1.2 * kT, rel=0.02)
    Tm = prof.mean()
    assert prof.flatness() == pytest.approx(np.max(np.abs(T - Tm)) / Tm, rel=1e-12)
    assert 0.1 < prof.flatness() < 0.2
    assert kinetic_temperature(np.ones((3, 2)), np.array([1.0, 2.0, 0.0]), 0.5) == pytest.approx(3.0)


def test_group_temperatures_of_a_coupled_system():
    sim = _sim()
    s = sim.model.system
    groups = atom_groups(s)
    assert sum(len(g) for g in groups.values()) == s.n_atoms
    assert len(groups["core"]) and len(groups["handshake"]) and len(groups["pad"])
    rng = np.random.default_rng(1)
    s.atoms.v[...] = rng.normal(size=s.atoms.v.shape)
    T = group_temperatures(s, 1.0)
    c = groups["core"]
    assert T["temperature_core"] == pytest.approx(np.sum(s.atoms.mass[c] * np.sum(s.atoms.v[c] ** 2, 1))
                                                  / (2 * len(c)), rel=1e-12)
    assert set(T) == {"temperature_core", "temperature_handshake", "temperature_pad", "temperature_continuum"}


def _core_temperature(bath: bool, T: float, n_eq: int, n_avg: int) -> tuple[float, float]:
    """Atoms started at 2T (half of it goes to potential energy), band bath at T (or 0): time-averaged
    kinetic temperature (dynamical masses) of the core atoms and of the weighted handshake atoms."""
    sim = _sim(T=T if bath else 0.0, gamma0=0.5, T0=2 * T, skin=1.0)
    s, integ = sim.model.system, sim.integrator
    integ.initialize()
    g = atom_groups(s)
    integ.step(n_eq)
    tc = th = 0.0
    n = n_avg // 10
    for _ in range(n):
        integ.step(10)
        tc += kinetic_temperature(s.atoms.v[g["core"]], s.atom_mass[g["core"]], 1.0) / n
        th += kinetic_temperature(s.atoms.v[g["handshake"]], s.atom_mass[g["handshake"]], 1.0) / n
    return tc, th


@pytest.mark.slow
def test_band_bath_holds_core_temperature():
    """Projected coupling, bath at T = 0.02 in the band: after 3000 steps (30 τ) the core's time-averaged
    temperature over the next 3000 steps is T within 8 % (measured 0.943 T, deterministic seeds: the cold
    mesh still draws heat); with the band at temperature 0 (damping only) the core is drained (measured
    0.009 T), so the bath is what holds it. The issue's 2 % over 10⁵ steps is not afforded here (~80 s).
    ``kinetic_temperature`` uses the dynamical masses (= the atoms' masses in the core)."""
    T = 0.02
    tc, _ = _core_temperature(True, T, 3000, 3000)
    tc0, _ = _core_temperature(False, T, 3000, 3000)
    assert tc == pytest.approx(T, rel=0.08), tc / T
    assert tc0 < 0.1 * T, tc0 / T


def test_hardy_node_fields_of_a_homogeneous_strain():
    """Coupled 2D model, atoms and mesh under the same homogeneous F: ``hardy_displacement`` = (F − I) X at
    every node (Hardy where the kernel is covered, the mesh's U elsewhere: one continuous field), and
    ``hardy_stress`` at the covered nodes (40) = the Cauchy–Born Cauchy stress within 5e-3 (measured 1.3e-4)."""
    from multiscale.fem.materials.cauchy_born import CauchyBorn
    from multiscale.output.hardy import MIN_COVERAGE  # noqa: F401 - the rule the test relies on
    sim = _sim(extra="output: {fields: [hardy_displacement, hardy_stress, hardy_temperature, stress]}\n")
    m = sim.model
    a, c = m.atoms, m.continuum
    F = np.array([[1.01, 0.0], [0.0, 0.995]])
    a.x[...] = a.X @ F.T
    c.U[...] = c.nodes @ (F - np.eye(2)).T
    a.compute()
    _, nodes = sim._frame()
    U = c.nodes @ (F - np.eye(2)).T
    assert np.max(np.abs(nodes["hardy_displacement"] - U)) < 1e-3 * np.max(np.abs(U))
    P, _ = CauchyBorn(m.potential, m.lattice).evaluate(F[None])
    sig = (P[0] @ F.T / np.linalg.det(F)).ravel()
    hs = nodes["hardy_stress"]
    covered = np.flatnonzero(np.max(np.abs(hs - nodes["stress"]), axis=1) > 0)
    assert len(covered) >= 8
    err = np.max(np.abs(hs[covered] - sig)) / np.max(np.abs(sig))
    assert err < 5e-3, err
    assert np.all(nodes["hardy_temperature"] == 0.0)
    # a uniform expansion (1.2 %, as a hot crystal's) keeps the same nodes covered, with T from the atoms'
    # velocities there (the coverage once dropped below its threshold and every node took the mesh's 0)
    # (a fresh model, whose first frame is the expanded one: coverage is computed once per model)
    sim = _sim(extra="output: {fields: [hardy_displacement, hardy_stress, hardy_temperature, stress]}\n")
    a, c = sim.model.atoms, sim.model.continuum
    rng = np.random.default_rng(3)
    a.x[...] = a.X * 1.012
    c.U[...] = c.nodes * 0.012
    a.v[...] = rng.normal(0.0, 0.1, a.v.shape)
    a.compute()
    _, hot = sim._frame()
    cov_hot = np.flatnonzero(hot["hardy_temperature"] > 0)
    assert np.array_equal(cov_hot, covered), (len(cov_hot), len(covered))
    assert np.all(hot["hardy_temperature"][covered] > 0.003)


def _dense_share(system, projector):
    """Reference P_ii = diag(M^-½ Gᵀ (G M⁻¹ Gᵀ)⁺ G M^-½) by dense linear algebra (pseudo-inverse: any
    dependent rows count once), over all stacked dofs."""
    inv = projector.inv_mass
    G = projector.G.toarray()
    A = G @ (inv[:, None] * G.T)
    Z = np.linalg.pinv(A, rcond=1e-12, hermitian=True) @ G
    return inv * np.sum(G * Z, axis=0)


@pytest.mark.parametrize("coupling", ["{type: projected, slave_below: 0.01}", "{type: strong}"])
def test_constraint_share_and_equipartition_temperature(coupling):
    """P_ii of `constrained_share` = the dense projector diagonal (1e-7); velocities drawn from the exact
    canonical distribution of the constrained dynamics (mass-weighted Gaussian, M-orthogonally projected
    on G v = 0 by the integrator's projector) show the equipartition temperature T in every bin, while the
    dynamical-mass temperature of H is cooled by the constraints' share (the constraint cooling)."""
    sim = _sim(coupling=coupling)
    s, integ = sim.model.system, sim.integrator
    proj = integ.projector
    dofs = np.arange(s.n_free * s.d)
    share = constrained_share(proj, dofs)
    ref = _dense_share(s, proj)[: s.n_free * s.d]
    assert np.max(np.abs(share - np.clip(ref, 0, 1))) < 1e-7      # measured 4e-9 (pinv conditioning)
    assert share.max() > 0.5                            # the constraints remove real shares in H
    kT, n_s = 0.02, 400
    rng = np.random.default_rng(5)
    inv = s.inv_mass_dof
    dist = atom_distance(s)
    w = s.handshake.width
    edges = np.array([-1.0, 1e-9, w / 3, 2 * w / 3, w + 1e-9])
    m_eq = equipartition_mass(s, proj)
    prof_e = TemperatureProfile(dist, m_eq, edges, 1.0, s.d)
    prof_d = TemperatureProfile(dist, s.atom_mass, edges, 1.0, s.d)
    for _ in range(n_s):
        v = proj.project(np.sqrt(kT * inv) * rng.standard_normal(len(inv)))
        s.set_velocities_from_q(v)
        prof_e.sample(s.atoms.v)
        prof_d.sample(s.atoms.v)
    Te, Td = prof_e.temperature() / kT, prof_d.temperature() / kT
    # statistical error per bin ≤ √(2/(d n n_s)) ≈ 0.4 %
    assert np.all(np.abs(Te - 1.0) < 0.02), Te
    assert Td[-1] < 0.9, Td                            # dynamical temperature of H's outer third is cooled


def _profiles(coupling: str, T: float, n_eq: int, n_avg: int):
    """Atoms at 2T, band bath at T: time-averaged binned temperature (core | H thirds) with the
    equipartition masses and with the atoms' own masses."""
    sim = _sim(T=T, gamma0=0.5, T0=2 * T, skin=1.0, coupling=coupling)
    s, integ = sim.model.system, sim.integrator
    integ.initialize()
    dist = atom_distance(s)
    w = s.handshake.width
    edges = np.array([-1.0, 1e-9, w / 3, 2 * w / 3, w + 1e-9])
    prof_e = TemperatureProfile(dist, equipartition_mass(s, integ.projector), edges, 1.0, s.d)
    prof_p = TemperatureProfile(dist, np.where(s.pad, 0.0, s.atoms.mass), edges, 1.0, s.d)
    integ.step(n_eq)
    for _ in range(n_avg // 10):
        integ.step(10)
        prof_e.sample(s.atoms.v)
        prof_p.sample(s.atoms.v)
    return prof_e, prof_p


@pytest.mark.slow
def test_projected_bath_flat_equipartition_profile():
    """Projected coupling with the band's bath at T: the time-averaged equipartition
    temperature (dynamical masses, the constraints' share P_ii counted out) of core | H thirds is flat within
    5 % of its mean (issue 16), and the mean is T within 10 % (the cold mesh still draws heat). The atoms'
    own-mass temperature is NOT flat: the blended energy makes H's light atoms hot (∝ 1/β̄)."""
    T = 0.02
    pe, pp = _profiles("{type: projected, slave_below: 0.01}", T, 4000, 4000)
    Te = pe.temperature()
    assert np.all(pe.count > 50)
    assert pe.flatness() < 0.05, Te / T
    assert pe.mean() == pytest.approx(T, rel=0.10), pe.mean() / T
    assert pp.flatness() > 0.5, pp.temperature() / T
