"""FIRE and L-BFGS under fixed dofs and linear constraints on harmonic problems with known minimisers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from multiscale.integrate.minimize import FIRE, LBFGS, ConstraintProjector, PreconLBFGS
from multiscale.registry import MINIMIZERS


def _problem(n=40, m=7, seed=3):
    """Π = ½ qᵀ A q − bᵀ q with SPD A; constraints G q = c; fixed dofs. Exact minimiser by the KKT system."""
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n))
    A = Q @ Q.T / n + np.eye(n)
    b = rng.standard_normal(n)
    G = sp.random(m, n, density=0.2, random_state=seed, format="csr") + sp.eye(m, n, format="csr")
    G = sp.vstack([G, G[:2] * 2.0]).tocsr()          # two redundant rows
    fixed = np.zeros(n, bool)
    fixed[[0, 5, 11]] = True
    q0 = rng.standard_normal(n)
    c = G @ q0 + 0.1          # q0 is infeasible; c consistent (redundant rows scaled)
    c[-2:] = 2.0 * c[:2]
    # exact minimiser: free dofs with q_fixed = q0_fixed
    fr = ~fixed
    Af, Gf = A[np.ix_(fr, fr)], G[:, fr].toarray()
    rhs_b = b[fr] - A[np.ix_(fr, fixed)] @ q0[fixed]
    rhs_c = c - G[:, fixed].toarray() @ q0[fixed]
    Gi = Gf[:-2]
    K = np.block([[Af, Gi.T], [Gi, np.zeros((Gi.shape[0], Gi.shape[0]))]])
    sol = np.linalg.solve(K, np.concatenate([rhs_b, rhs_c[:-2]]))
    q_star = q0.copy()
    q_star[fr] = sol[: fr.sum()]

    def fun(q):
        return 0.5 * q @ A @ q - b @ q, A @ q - b

    return fun, q0, fixed, G, c, q_star


@pytest.mark.parametrize("name", ["fire", "lbfgs", "precon_lbfgs"])
def test_constrained_harmonic_minimum(name):
    fun, q0, fixed, G, c, q_star = _problem()
    res = MINIMIZERS.get(name)(ftol=1e-12).minimize(fun, q0, fixed=fixed, G=G, c=c)
    assert res.converged, res
    assert np.max(np.abs(res.q - q_star)) < 1e-10
    assert res.constraint_residual < 1e-13
    assert np.array_equal(res.q[fixed], q0[fixed])
    assert res.max_force <= 1e-12


@pytest.mark.parametrize("cls", [FIRE, LBFGS, PreconLBFGS])
def test_unconstrained_and_fixed_only(cls):
    rng = np.random.default_rng(0)
    n = 30
    k = rng.uniform(0.5, 3.0, n)
    x0 = rng.standard_normal(n)

    def fun(q):
        return 0.5 * np.sum(k * (q - x0) ** 2), k * (q - x0)

    fixed = np.zeros(n, bool)
    fixed[:3] = True
    q_init = np.zeros(n)
    res = cls(ftol=1e-11).minimize(fun, q_init, fixed=fixed)
    expect = x0.copy()
    expect[:3] = 0.0
    assert res.converged and np.max(np.abs(res.q - expect)) < 1e-10


def test_projector_is_orthogonal_projection():
    fun, q0, fixed, G, c, _ = _problem(n=25, m=5, seed=9)
    P = ConstraintProjector.euclidean(25, fixed, G, c)
    rng = np.random.default_rng(1)
    v, w = rng.standard_normal(25), rng.standard_normal(25)
    pv = P.project(v)
    assert np.max(np.abs(G @ pv)) < 1e-13 and np.all(pv[fixed] == 0)
    assert np.max(np.abs(P.project(pv) - pv)) < 1e-13          # idempotent
    assert abs(P.project(v) @ w - v @ P.project(w)) < 1e-12     # symmetric
    assert P.residual(P.restore(q0)) < 1e-13
