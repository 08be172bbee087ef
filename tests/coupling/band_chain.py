"""The coupled 1D harmonic chain with the thermostatted damping band (msim issue 16), shared by
tests/coupling/test_thermal_band.py, tests/coupling/test_band_bath_fdt.py,
tests/simulation/test_keyed_noise.py and benchmarks/band_hold_*.py: ONE deck text, its builder, and the
chain's exact linear analysis.

Model: harmonic chain (m = k = a = 1, truncated at r_c = 1.5) on [0, 240], core [0, 200], handshake width 32
(cubic blend, projected coupling), bar2 mesh h = 4 on [200, 400], damping band γ0 = 1 (smoothed fine-scale
velocity) with its bath at k_B T, velocity Verlet Δt = 0.1. While no bond reaches the cut-off (k_B T ≪
w_b k (r_c − r_0)²; tests/coupling/test_band_bath_fdt.py) the chain is linear: one step of the integrator
is z' = Φ z + S ξ on z = (q, v) (stacked displacements and velocities of the free atoms and nodes), and
everything about its temperature follows from Φ and the noise covariance Q = S Sᵀ.

`linear_step_map` measures Φ by stepping msim's own integrator (band noise off) from unit states, and Q
from the band's own constrained Cayley solve. `stationary_velocity_covariance` solves the discrete
Lyapunov equation Σ = Φ Σ Φᵀ + Q on the constraint space without the translation mode (momentum is
conserved exactly: the band, the constraints and the forces all annihilate rigid translations).
`canonical_start` draws (q, v) from the Gibbs measure of velocity Verlet's modified energy (the exact
invariant of the linear step, `VelocityVerlet.verlet_correction`):

    H̃ = ½ vᵀ M v + ½ qᵀ (K − (Δt²/4) K P M⁻¹ K) q          on G q = 0, G v = 0,

v ~ N(0, k_B T P M⁻¹) (the canonical translation velocity included), q ~ N(0, k_B T K̃⁺) on the
constraint space — the canonical state the band should hold, independent of the band's coefficients.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from multiscale.deck import load_deck_text
from multiscale.simulation import Simulation

#: the chain deck; format keys: T (band bath k_B T), T0 (initial velocities' temperature), vseed (their
#: seed), seed (integrator.seed: the band's noise), extra (lines appended under ``integrator:``)
CHAIN_DECK = """\
msim: 1
units: lj
potential: {{type: harmonic, k: 1.0, r0: 1.0, cutoff: 1.5}}
atoms:
  lattice: {{type: chain, a: 1.0}}
  region: {{type: box, lo: [0.0], hi: [240.0]}}
  mass: 1.0
  skin: 4.0
  velocity: {{temperature: {T0}, seed: {vseed}}}
continuum:
  mesh: {{type: bar, lo: [200.0], hi: [400.0], size: 4.0}}
handshake:
  shape: {{type: box, lo: [-1.0], hi: [200.0]}}
  width: 32.0
  blend: {{type: cubic}}
  coupling: {{type: projected}}
  damping: {{gamma0: 1.0, temperature: {T}}}
integrator:
  type: verlet
  dt: 0.1
  steps: 10
  seed: {seed}
{extra}"""


def chain_deck_text(T: float, *, T0: float | None = None, seed: int = 5, vseed: int | None = None,
                    extra: str = "") -> str:
    """The deck text: band bath at ``T``, initial atom velocities at ``T0`` (default 2T; 0 is allowed),
    ``seed`` = integrator.seed, ``vseed`` the velocities' seed (default ``seed``), ``extra`` lines
    (indented two spaces) appended to the integrator section."""
    T0 = 2 * T if T0 is None else T0
    return CHAIN_DECK.format(T=T, T0=T0, seed=seed, vseed=seed if vseed is None else vseed, extra=extra)


def chain_sim(T: float, seed: int = 5, **kw) -> Simulation:
    """The chain built and prepared, forces of the initial state computed (``kw``: `chain_deck_text`)."""
    sim = Simulation.from_deck(load_deck_text(chain_deck_text(T, seed=seed, **kw), "chain.yaml"))
    sim.prepare()
    sim.integrator.initialize()
    return sim


# ---------------------------------------------------------------------------------------------- linear
def _set_state(s, q: np.ndarray, v: np.ndarray) -> None:  # noqa: ANN001
    qa, qn = s.split(q)
    s.atoms.x[s.free] = s.atoms.X[s.free] + qa
    s.continuum.U[...] = qn
    s.set_velocities_from_q(v)


def _state(s) -> np.ndarray:  # noqa: ANN001
    return np.concatenate([s.gather_q(), s.gather_v()])


def stiffness(sim) -> np.ndarray:  # noqa: ANN001
    """(n, n) stiffness K = −∂f/∂q of the stacked dofs about the reference (central differences of
    `CoupledSystem.compute_forces`; exact up to round-off for the linear chain)."""
    s = sim.model.system
    n = len(s.inv_mass_dof)
    K = np.empty((n, n))
    eps = 1e-4
    z = np.zeros(n)
    for j in range(n):
        cols = []
        for sg in (1.0, -1.0):
            q = z.copy()
            q[j] = sg * eps
            _set_state(s, q, z)
            s.compute_forces()
            cols.append(s.forces_q())
        K[:, j] = -(cols[0] - cols[1]) / (2 * eps)
    _set_state(s, z, z)
    return 0.5 * (K + K.T)


def constraint_basis(sim) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(Z (n, m), t (n,)): an M-orthonormal basis Z of {G q = 0} M-orthogonal to the rigid translation t
    (M-normalised), M = the integrator's masses."""
    s, integ = sim.model.system, sim.integrator
    inv = s.inv_mass_dof
    n = len(inv)
    G = integ.projector.G.toarray()
    t = np.ones(n) / np.sqrt(np.sum(1.0 / inv))
    assert np.max(np.abs(G @ t)) < 1e-12 * np.max(np.abs(G))          # translations satisfy G
    # null space of [G; tᵀM] in the M-metric: work with y = M^½ q
    sq = np.sqrt(1.0 / inv)
    A = np.vstack([G / sq[None, :], (t * sq)[None, :]])               # rows act on y
    Y = sla.null_space(A)                                              # orthonormal in y
    return Y / sq[:, None], t


def linear_step_map(sim) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """(Φ_r (2k, 2k), Q_r (2k, 2k), Z (n, k), t (n,)): one step of msim's integrator on the reduced state
    z = (y_q, y_v), q = Z y_q, v = Z y_v (Z = `constraint_basis`, translation left out), with the band's
    noise off — columns measured by stepping msim's integrator from the basis states (largest
    displacement or velocity 0.05: no bond near the cut-off) — and the covariance of the band's noise in y_v
    (the band's constrained Cayley solve applied to Bᵀ √(2 g k_B T Δt) e_j). Leaves the system at rest in
    the reference."""
    s, integ = sim.model.system, sim.integrator
    band = integ.velocity_ops[0]
    n = len(s.inv_mass_dof)
    Z, t = constraint_basis(sim)
    k = Z.shape[1]
    ZM = Z.T * (1.0 / s.inv_mass_dof)[None, :]                       # Zᵀ M: left inverse of Z
    kT, band.kT = band.kT, 0.0
    Phr = np.empty((2 * k, 2 * k))
    worst = 0.0
    for j in range(2 * k):
        amp = 0.05 / np.max(np.abs(Z[:, j % k]))      # largest displacement 0.05: linear, and well above
        #                                               the round-off of positions up to 400 (4e-14)
        q = Z[:, j] * amp if j < k else np.zeros(n)
        v = Z[:, j - k] * amp if j >= k else np.zeros(n)
        _set_state(s, q, v)
        integ.initialize()
        integ.step(1)
        z = _state(s) / amp
        Phr[:k, j], Phr[k:, j] = ZM @ z[:n], ZM @ z[n:]
        worst = max(worst, float(np.max(np.abs(Z @ Phr[:k, j] - z[:n]))) * amp,
                    float(np.max(np.abs(Z @ Phr[k:, j] - z[n:]))) * amp)
    band.kT = kT
    assert worst < 1e-8, f"the step leaves the constraint space without translation ({worst})"
    _set_state(s, np.zeros(n), np.zeros(n))
    integ.initialize()
    # noise: v_L' = (the band's KKT solve of rhs (Bᵀ √(2 g k_B T Δt) e_j)_L) on the free local dofs
    E = band._BT_f @ np.diag(np.sqrt(kT) * band._noise_scale)          # (n_free_local, n_band)
    rhs = np.vstack([E.toarray() if hasattr(E, "toarray") else E, np.zeros((band._r, E.shape[1]))])
    Sv = np.zeros((n, E.shape[1]))
    Sv[band.local[band._lf]] = band._lu.solve(rhs)[: len(band._lf)]
    Sr = ZM @ Sv
    Qr = np.zeros((2 * k, 2 * k))
    Qr[k:, k:] = Sr @ Sr.T
    return Phr, Qr, Z, t


def stationary_velocity_covariance(sim) -> tuple[np.ndarray, float]:  # noqa: ANN001
    """(C_vv (n, n), spectral radius of Φ_r): the exact stationary covariance of the velocities after a
    step of msim's linear map (`linear_step_map`, the band applied), i.e. the solution of the discrete
    Lyapunov equation Σ = Φ_r Σ Φ_rᵀ + Q_r, with the translation velocity's canonical share k_B T t tᵀ
    added (k_B T = the band's)."""
    Phr, Qr, Z, t = linear_step_map(sim)
    rho = float(np.max(np.abs(np.linalg.eigvals(Phr))))
    Sig = sla.solve_discrete_lyapunov(Phr, Qr)
    k = Z.shape[1]
    kT = sim.integrator.velocity_ops[0].kT
    return Z @ Sig[k:, k:] @ Z.T + kT * np.outer(t, t), rho


def modified_stiffness(sim, K: np.ndarray, Z: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """(k, k) K̃_r = Zᵀ (K − (Δt²/4) K P M⁻¹ K) Z: the potential part of velocity Verlet's modified energy
    on the constraint space (P M⁻¹ = Z Zᵀ + t tᵀ and K t = 0, so Zᵀ K P M⁻¹ K Z = (Zᵀ K Z)²)."""
    dt = sim.integrator.dt
    K0 = Z.T @ K @ Z
    K0 = 0.5 * (K0 + K0.T)
    Kr = K0 - 0.25 * dt * dt * K0 @ K0
    return 0.5 * (Kr + Kr.T)


def equipartition_start(sim, K: np.ndarray, rng: np.random.Generator, kT: float) -> None:  # noqa: ANN001
    """Put the system into a state with EXACTLY k_B T in every normal mode of velocity Verlet's modified
    energy (module docstring), each with a uniformly random phase: with K̃_r = U diag(ω̃²) Uᵀ, the mode
    coordinates a_j = √(2 k_B T)/ω̃_j cos φ_j, ȧ_j = −√(2 k_B T) sin φ_j, and the conserved translation
    velocity with ½ M c² = ½ k_B T (random sign). Over the random phases the state has the canonical
    covariance exactly (so every expected temperature is the canonical one at every step), without the
    mode-energy scatter of a canonical sample: the long waves, which the band (acting on the fine-scale
    velocity) relaxes over 10⁵–10⁹ steps, keep k_B T instead of a random share of it."""
    s, integ = sim.model.system, sim.integrator
    Z, t = constraint_basis(sim)
    w2, U = np.linalg.eigh(modified_stiffness(sim, K, Z))
    if np.min(w2) <= 0:
        raise ValueError("the modified stiffness on the constraint space is not positive definite")
    phi = rng.uniform(0.0, 2 * np.pi, len(w2))
    amp = np.sqrt(2.0 * kT)
    q = Z @ (U @ (amp / np.sqrt(w2) * np.cos(phi)))
    v = Z @ (U @ (-amp * np.sin(phi))) + t * np.sqrt(kT) * rng.choice([-1.0, 1.0])
    _set_state(s, q, v)
    integ.initialize()


def canonical_start(sim, K: np.ndarray, rng: np.random.Generator, kT: float) -> None:  # noqa: ANN001
    """Put the system into a sample of the canonical state of velocity Verlet's modified energy H̃ at
    k_B T (module docstring): v ~ N(0, k_B T P M⁻¹) including the translation, q ~ N(0, k_B T K̃_r⁻¹)
    on the constraint space without translation, K̃_r = Zᵀ (K − (Δt²/4) K P M⁻¹ K) Z; pads follow."""
    s, integ = sim.model.system, sim.integrator
    Z, t = constraint_basis(sim)
    Kr = modified_stiffness(sim, K, Z)
    L = np.linalg.cholesky(Kr)                                          # positive definite: asserted
    y = sla.solve_triangular(L.T, rng.standard_normal(Z.shape[1]), lower=False) * np.sqrt(kT)
    q = Z @ y
    v = Z @ rng.standard_normal(Z.shape[1]) * np.sqrt(kT) + t * rng.standard_normal() * np.sqrt(kT)
    _set_state(s, q, v)
    integ.initialize()


# ------------------------------------------------------------------------------------------ band hold
def crossings(s) -> int:  # noqa: ANN001
    """Bonds longer than r_c = 1.5 plus second-neighbour pairs closer than r_c among the non-pad atoms
    (0 = the truncated harmonic chain is the linear chain)."""
    x = np.sort(s.atoms.x[~np.asarray(s.pad, bool), 0])
    return int(np.sum(np.diff(x) > 1.5)) + int(np.sum(x[2:] - x[:-2] < 1.5))


def hold_run(T: float, seed: int, n_steps: int = 100_000, skip: int = 0, every: int = 10,
             start: str = "equipartition") -> tuple[np.ndarray, int]:
    """One band-hold run of the chain, band bath at k_B T, integrator.seed = ``seed``. ``start``:
    ``"equipartition"`` / ``"canonical"`` — atoms and nodes from `equipartition_start` / `canonical_start`
    at T (rng seed 100 + seed); ``"hot"`` — atoms
    and nodes at 2T with zero displacement (half goes into potential energy; the protocol of the first
    reports). Returns (core kinetic temperature / T sampled every ``every`` steps after ``skip``, number
    of cut-off crossings seen every 500 steps)."""
    from multiscale.diagnostics.temperature import atom_groups, kinetic_temperature

    rng = np.random.default_rng(100 + seed)
    if start in ("canonical", "equipartition"):
        sim = chain_sim(T, seed=seed, T0=0.0)
        (canonical_start if start == "canonical" else equipartition_start)(sim, stiffness(sim), rng, T)
    elif start == "hot":
        sim = chain_sim(T, seed=seed)
        s = sim.model.system
        M = s.node_mass
        s.continuum.V[...] = np.where(M[:, None] > 0, rng.standard_normal(s.continuum.V.shape)
                                      * np.sqrt(2 * T / np.where(M > 0, M, 1.0))[:, None], 0.0)
        sim.integrator.project_state()
        sim.integrator.initialize()
    else:
        raise ValueError(f"start must be 'equipartition', 'canonical' or 'hot', not {start!r}")
    s, integ = sim.model.system, sim.integrator
    core = atom_groups(s)["core"]
    Ts, crossed = [], 0
    for i in range(n_steps // every):
        integ.step(every)
        if (i + 1) * every > skip:
            Ts.append(kinetic_temperature(s.atoms.v[core], s.atoms.mass[core], 1.0) / T)
        if (i * every) % 500 == 0:
            crossed += crossings(s)
    return np.asarray(Ts), crossed
