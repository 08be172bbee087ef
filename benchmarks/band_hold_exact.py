"""Exact linear analysis of the band-hold estimator on the coupled 1D chain (msim issue 16; the chain of
tests/coupling/band_chain.py at k_B T = 1e-4, where it is linear):

    PYTHONPATH=. python benchmarks/band_hold_exact.py

One step of msim's integrator (velocity Verlet with the constraint projection, then the band's constrained
Cayley map with its noise) is z' = Φ z + S ξ on the reduced state z = (y_q, y_v) (q = Z y_q, v = Z y_v, Z an
M-orthonormal basis of the constraint space without the rigid translation, which is conserved). Φ is
measured by stepping msim from the basis states, Q = S Sᵀ from the band's own solve (band_chain.py). From
them, with no sampling:

1. the canonical state Σ of velocity Verlet's modified energy is invariant: max |Φ Σ Φᵀ + Q − Σ| (whitened);
2. the decay rates of Φ's eigenvalues and the share of the core's kinetic energy in the slow ones;
3. the exact expectation of the core temperature estimators (hot start: atoms Maxwell–Boltzmann at 2T
   with zero momentum, nodes N(0, 2T/M), projected, zero displacement; canonical start);
4. the exact standard deviation of one run's mean (samples every 10 steps over 10⁵ steps) for a canonical
   start (stationary Gaussian process: Var = (2/N²) Σ_{n,m} tr(W C_{n−m} W C_{n−m}ᵀ), C_τ = Φ^τ Σ, summed in
   closed form over Φ's eigenvalues) and for the equipartition start (the same, less the scatter of the
   mode energies and phases, which that start does not have: per normal mode j of the modified energy the
   2×2 block (a, b; b, c) of A = (1/N) Σ_n Φ^{nᵀ} W Φ^n removes k_B²T² [(a + c)² + ½(a − c)² + 2b²]).

Measured 2026-12-06: see the numbers printed (quoted in tests/coupling/test_thermal_band.py).
"""
import sys
import time

import numpy as np
import scipy.linalg as sla

sys.path.insert(0, "tests/coupling")
import band_chain as bc  # noqa: E402

from multiscale.diagnostics.temperature import atom_groups  # noqa: E402

T, EVERY, STEPS = 1e-4, 10, 100_000


def mean_power(mu: np.ndarray, n0: int, n1: int, every: int) -> np.ndarray:
    """Mean of mu**n over the samples n = n0 + every, n0 + 2 every, ..., n1 (elementwise, complex)."""
    N = (n1 - n0) // every
    r = mu ** every
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = np.where(np.abs(1 - r) > 1e-12, r * (1 - r ** N) / (1 - r), N)
    return mu ** n0 * geo / N


def lag_sum(mu: np.ndarray, N: int) -> np.ndarray:
    """Σ_{τ=1}^{N−1} (N − τ) mu^τ, stable for mu near 1."""
    s = np.log(mu.astype(complex))
    out = np.empty(mu.shape, complex)
    small = np.abs(N * s) < 1e-3
    Nf = float(N)
    out[small] = Nf * (Nf - 1) / 2 + s[small] * (Nf - 1) * Nf * (Nf + 1) / 6
    sl = s[~small]
    one_m, one_mN = -np.expm1(sl), -np.expm1(Nf * sl)
    out[~small] = np.exp(sl) * (Nf * one_m - one_mN) / one_m ** 2
    return out


def main() -> None:
    t0 = time.time()
    sim = bc.chain_sim(T)
    s, integ = sim.model.system, sim.integrator
    inv = s.inv_mass_dof
    m = 1.0 / inv
    n = len(m)
    K = bc.stiffness(sim)
    Phr, Qr, Z, t = bc.linear_step_map(sim)
    k = Z.shape[1]
    Kr = bc.modified_stiffness(sim, K, Z)
    Sc = sla.block_diag(T * np.linalg.inv(Kr), T * np.eye(k))
    Wh = sla.block_diag(np.linalg.cholesky(Kr).T, np.eye(k)) / np.sqrt(T)
    res = np.max(np.abs(Wh @ (Phr @ Sc @ Phr.T + Qr - Sc) @ Wh.T))
    print(f"dofs {n}, constraint space without translation k = {k}; set-up {time.time() - t0:.0f} s")
    print(f"1. canonical state of the modified energy after one msim step: max whitened residual {res:.1e}")

    lam, V = np.linalg.eig(Phr)
    Vi = np.linalg.inv(V)
    rate = -np.log(np.abs(lam))
    core = np.searchsorted(s.free, atom_groups(s)["core"])
    ncore = len(core)
    wc = np.zeros(n)
    wc[core] = m[core]
    W2 = np.zeros((2 * k, 2 * k))
    W2[k:, k:] = Z.T @ (wc[:, None] * Z)                   # Q(z) = Σ_core m v² (translation apart)
    A = V.T @ W2 @ V
    X = Vi @ Sc @ Vi.T
    terms = (A * X).real
    for thr in (1e4, 1e5):
        slow = rate < 1.0 / thr
        print(f"2. eigenvalues relaxing slower than {thr:.0e} steps: {slow.sum()} of {2 * k}; share of the "
              f"core's kinetic energy: {terms[np.ix_(slow, slow)].sum() / terms.sum():.3f}")
    Mtot, Mcore = m.sum(), m[core].sum()

    def expected(S0: np.ndarray, tr_var: float, n0: int, n1: int) -> float:
        D0 = Vi @ (S0 - Sc) @ Vi.T
        dev = np.sum(A.T * D0 * mean_power(lam[:, None] * lam[None, :], n0, n1, EVERY)).real
        return 1 + (dev + (tr_var - T) * Mcore / Mtot) / (ncore * T)

    na = s.n_free
    Cv0 = np.zeros((n, n))
    ma = m[:na]
    Cv0[:na, :na] = 2 * T * (np.diag(1 / ma) - np.ones((na, na)) / ma.sum())
    Cv0[na:, na:] = 2 * T * np.diag(1 / m[na:])
    G = integ.projector.G.toarray()
    P = np.eye(n) - (inv[:, None] * G.T) @ np.linalg.solve(G @ (inv[:, None] * G.T), G)
    Cv0 = P @ Cv0 @ P.T
    ZM = Z.T * m[None, :]
    S0 = np.zeros((2 * k, 2 * k))
    S0[k:, k:] = ZM @ Cv0 @ ZM.T
    tr_var = float((t * m) @ Cv0 @ (t * m))
    print(f"3. exact E[core T / T]: hot start, steps 5 000–10⁵: {expected(S0, tr_var, 5000, STEPS):.4f}; "
          f"hot start, steps 0–5 000: {expected(S0, tr_var, 0, 5000):.4f}; canonical start, steps 0–10⁵: "
          f"{expected(Sc, T, 0, STEPS):.4f} (core: {ncore} atoms)")

    N = STEPS // EVERY
    U = Vi @ Sc
    F = A.T * (U @ W2 @ U.T)
    mu = (lam[:, None] * lam[None, :]) ** EVERY
    var_gauss = 2 * (N * F.sum() + 2 * np.sum(F * lag_sum(mu, N))).real / N**2
    sd_tr = np.sqrt(2) * (Mcore / Mtot) / ncore              # conserved translation of a canonical sample
    # equipartition start: A = (1/N) Σ_n Φ^{nᵀ} W Φ^n in the normal-mode coordinates of the modified energy
    Aeq = (Vi.T @ (A * mean_power(lam[:, None] * lam[None, :], 0, STEPS, EVERY)) @ Vi).real
    w2, Um = np.linalg.eigh(Kr)
    Tm = sla.block_diag(Um / np.sqrt(w2)[None, :], Um)
    Ax = Tm.T @ Aeq @ Tm
    a, c, b = np.diag(Ax)[:k], np.diag(Ax)[k:], np.diag(Ax[:k, k:])
    red = T**2 * np.sum((a + c) ** 2 + 0.5 * (a - c) ** 2 + 2 * b**2)
    sd_can = np.hypot(np.sqrt(var_gauss) / (ncore * T), sd_tr)
    sd_eq = np.sqrt(max(var_gauss - red, 0.0)) / (ncore * T)
    print(f"4. exact std of one run's mean core T / T (10⁵ steps, every {EVERY}): canonical start "
          f"{sd_can:.4f} (translation part {sd_tr:.4f}); equipartition start {sd_eq:.4f}")
    print(f"   seeds for an error bar < 1 %: canonical {int(np.ceil((sd_can / 0.01) ** 2))}, equipartition "
          f"{int(np.ceil((sd_eq / 0.01) ** 2))}; total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
