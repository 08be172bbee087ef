"""Convergence under refinement: a manufactured static solution on the unit square / cube; the L2 error
falls as h² and the H1-seminorm error as h for the linear elements (theory for P1/Q1)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.registry import MESHES

LAM_MU = (1.0, 0.7)


def exact(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """u = (φ, φ) with φ = Π_k sin(π x_k) (zero on the boundary), and ∇u (m, d, d)."""
    d = X.shape[1]
    s, c = np.sin(np.pi * X), np.cos(np.pi * X)
    phi = np.prod(s, axis=1)
    grad = np.stack([np.pi * c[:, k] * np.prod(np.delete(s, k, axis=1), axis=1) for k in range(d)], axis=1)
    u = np.repeat(phi[:, None], d, axis=1)
    return u, np.repeat(grad[:, None, :], d, axis=1)


def body_force(X: np.ndarray) -> np.ndarray:
    """b = −div σ(u) for isotropic λ, μ: −[(λ+μ) ∇(div u) + μ Δu]."""
    lam, mu = LAM_MU
    d = X.shape[1]
    s, c = np.sin(np.pi * X), np.cos(np.pi * X)
    phi = np.prod(s, axis=1)
    H = np.empty((X.shape[0], d, d))  # Hessian of φ
    for i in range(d):
        for j in range(d):
            if i == j:
                H[:, i, j] = -np.pi**2 * phi
            else:
                rest = np.prod(np.delete(s, [i, j], axis=1), axis=1) if d > 2 else 1.0
                H[:, i, j] = np.pi**2 * c[:, i] * c[:, j] * rest
    grad_div = H.sum(axis=2)          # ∂_i Σ_j ∂_j φ
    lap = np.trace(H, axis1=1, axis2=2)
    return -((lam + mu) * grad_div + mu * lap[:, None])


def errors(elem: str, n: int) -> tuple[float, float]:
    d = 3 if elem in ("hex8", "tet4") else 2
    G = MESHES.get("rectangle" if d == 2 else "box")
    mesh = G.build(G.Params(lo=[0.0] * d, hi=[1.0] * d, size=1.0 / n, element=elem))
    lam, mu = LAM_MU
    E, nu = mu * (3 * lam + 2 * mu) / (lam + mu), lam / (2 * (lam + mu))
    reg = ContinuumRegion(mesh, Isotropic(E, nu, d), density=1.0)
    K = reg.stiffness_matrix()
    f = reg.body_forces(body_force).ravel()
    free = np.ones((mesh.n_nodes, d), bool)
    free[np.unique(mesh.boundary_faces())] = False
    free = free.ravel()
    u = np.zeros(mesh.n_nodes * d)
    u[free] = spla.spsolve(K[free][:, free].tocsc(), f[free])
    U = u.reshape(-1, d)
    blk = mesh.blocks[0]
    el = blk.element
    xs, ws = el.tributary(3)
    xs, ws = xs.reshape(-1, d), ws.reshape(-1)
    Xe = mesh.nodes[blk.conn]
    _, detJ, dN = el.jacobian(Xe, xs)
    Xs = np.einsum("sa,ead->esd", el.shape(xs), Xe).reshape(-1, d)
    uh = np.einsum("sa,eai->esi", el.shape(xs), U[blk.conn]).reshape(-1, d)
    gh = np.einsum("eai,esaj->esij", U[blk.conn], dN).reshape(-1, d, d)
    ue, ge = exact(Xs)
    dV = (detJ * ws).ravel()
    return (float(np.sqrt(np.sum(dV * np.sum((uh - ue) ** 2, axis=1)))),
            float(np.sqrt(np.sum(dV * np.sum((gh - ge) ** 2, axis=(1, 2))))))


@pytest.mark.parametrize(("elem", "ns"), [("quad4", (8, 16, 32)), ("tri3", (8, 16, 32)),
                                          ("hex8", (4, 8)), ("tet4", (4, 8))])
def test_convergence_rates(elem, ns):
    e = np.array([errors(elem, n) for n in ns])
    rates = np.log2(e[:-1] / e[1:])
    assert np.all(np.abs(rates[-1] - np.array([2.0, 1.0])) < np.array([0.2, 0.15])), rates
