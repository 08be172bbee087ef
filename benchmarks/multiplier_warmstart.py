"""Would a warm-started iterative solve of the per-step multipliers beat the direct one? (issue 13, 3D)

The 3D bench's multiplier correction (residual r = G a, λ = (G W Gᵀ)⁻¹ r, correction W Gᵀ λ) is a direct
solve through the factor of the augmented system (`projector._AugSolve`, ~12 ms of a ~77 ms step). The
alternative: conjugate gradients on A = G W Gᵀ (Jacobi-preconditioned, i.e. on the unit-diagonal
Â = D^-½ A D^-½), started from the previous step's λ, run until |A λ − r| / |r| is as small as the
direct solve's. This script records the residuals r of consecutive steps of the bench deck (the
acceleration projection's, `ConstraintProjector.correction_into`), solves each with the direct solve and
with warm-started PCG, and reports the iterations, the CPU time of one CG iteration (two sparse passes
over G_active for the d = 3 right-hand sides together, SciPy) against the direct correction's, and the
condition number estimate of Â (Lanczos: the extreme eigenvalues).

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/multiplier_warmstart.py [--L 25] [--steps 6]

Measured 2026-12-07 (branch step4, load 7-12, CPU): L = 25 (47 304 multipliers): Â's eigenvalues
0.0232 … 5.14 (condition ≈ 221); λ changes by 1.6-1.8 % per step, yet CG needs 150 iterations from the
previous λ (163-167 from zero) to reach the direct solve's residual (|Aλ − r| / |r| ≈ 2e-16), at 5.3 ms
per operator application: ≥ 800 ms against 14.6 ms for the direct correction. L = 12: condition 292,
182 (warm) vs 195 (cold) iterations, ≥ 129 ms vs 3.4 ms. A warm start saves < 10 % of the iterations
because the residual must still fall by ~14 orders of magnitude; not pursued.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pcg(matvec, b: np.ndarray, x0: np.ndarray, tol_abs: float,  # noqa: ANN001
        max_iter: int = 5000) -> tuple[np.ndarray, int]:
    """CG on the SPD unit-diagonal operator (b, x0 (n,)); stops at |b − Â x| ≤ tol_abs. (x, iterations)."""
    x = x0.copy()
    r = b - matvec(x)
    p = r.copy()
    rr = float(r @ r)
    it = 0
    while np.sqrt(rr) > tol_abs and it < max_iter:
        q = matvec(p)
        alpha = rr / float(p @ q)
        x += alpha * p
        r -= alpha * q
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
        it += 1
    return x, it


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--L", type=float, default=25.0)
    ap.add_argument("--steps", type=int, default=6)
    a = ap.parse_args()
    from bench_coupled import deck, setup

    from multiscale.plugins import load_all
    load_all()
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    ts, sim = setup(deck(3, a.L, True))
    integ = sim.integrator
    integ.step(2)
    p = integ.projector if hasattr(integ, "projector") else integ._projector
    rec = []
    orig = p.correction_into

    def spy(r, corr):  # noqa: ANN001, ANN202
        t0 = time.process_time()
        out = orig(r, corr)
        rec.append((r.copy(), p._lam.copy(), time.process_time() - t0))
        return out

    p.correction_into = spy
    integ.step(a.steps)
    p.correction_into = orig
    Ga = p.G[:, p.active].tocsr()
    GaT = Ga.T.tocsr()
    wa = p._wa
    A = (Ga @ sp.diags(wa) @ GaT).tocsr()
    sc = 1.0 / np.sqrt(A.diagonal())
    n = A.shape[0]
    print(f"3D bench L = {a.L:g}: {n} multipliers, G_active {Ga.shape} with {Ga.nnz} entries; "
          f"{len(rec)} corrections recorded in {a.steps} steps; set-up {ts:.1f} s", flush=True)

    def mv(x):  # Â x = D^-½ G W Gᵀ D^-½ x, the product through G (no Gram matrix needed per step)
        return sc * (Ga @ (wa * (GaT @ (sc * x))))

    lo = spla.eigsh(spla.LinearOperator((n, n), matvec=mv, dtype=float), k=1, which="SA", tol=1e-3,
                    return_eigenvectors=False)[0] if n < 200000 else float("nan")
    hi = spla.eigsh(spla.LinearOperator((n, n), matvec=mv, dtype=float), k=1, which="LA", tol=1e-3,
                    return_eigenvectors=False)[0]
    print(f"   Jacobi-scaled Gram matrix: eigenvalues {lo:.3e} … {hi:.3e}, condition ≈ {hi / lo:.3g}",
          flush=True)
    # time of one operator application (one CG iteration is one of these plus O(n) vector work)
    reps = 20
    x = np.random.default_rng(0).standard_normal(n)
    t0 = time.process_time()
    for _ in range(reps):
        mv(x)
    t_mv = (time.process_time() - t0) / reps
    direct = sorted(t for _, _, t in rec)[len(rec) // 2]
    print(f"   direct correction (solve + W Gᵀ λ), median of {len(rec)}: {direct * 1e3:.2f} ms;  one Â x: "
          f"{t_mv * 1e3:.2f} ms (the whole λ vector)", flush=True)
    for k in range(1, len(rec)):
        r, lam, _ = rec[k]
        r_prev, lam_prev, _ = rec[k - 1]
        res_direct = float(np.linalg.norm(A @ lam - r))
        b = sc * r
        tol = float(np.linalg.norm(sc * (A @ lam - r)))          # the direct solve's scaled residual
        y0 = lam_prev / sc
        y, it = pcg(mv, b, y0, tol)
        cold, it0 = pcg(mv, b, np.zeros(n), tol)
        lam_cg = sc * y
        print(f"   step {k}: |r| {np.linalg.norm(r):.3e}, |λ − λ_prev| / |λ| "
              f"{np.linalg.norm(lam - lam_prev) / np.linalg.norm(lam):.2e}, direct |Aλ − r| / |r| "
              f"{res_direct / np.linalg.norm(r):.1e}; CG to the same scaled residual: warm {it} iterations, "
              f"cold {it0}; |λ_cg − λ| / |λ| {np.linalg.norm(lam_cg - lam) / np.linalg.norm(lam):.1e}; "
              f"warm CG ≥ {it * t_mv * 1e3:.0f} ms vs direct {direct * 1e3:.1f} ms", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
