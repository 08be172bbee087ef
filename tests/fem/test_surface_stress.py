"""The Gurtin–Murdoch surface term of the continuum (`multiscale.fem.surface_stress`): forces are the exact
gradient of its energy (central differences), rigid rotations cost nothing, a uniform in-plane stretch
gives the surface stress's work, faces with atoms beyond them are interfaces, not free surfaces."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.fem.surface_stress import SurfaceStress, interface_faces, outward_normals

from .helpers import mesh_for


def _term(element: str, weights: bool, seed: int = 1) -> tuple[SurfaceStress, np.ndarray]:
    mesh = mesh_for(element, n=3, distort=0.0)
    X = mesh.nodes.copy()
    rng = np.random.default_rng(seed)
    X += 0.05 * rng.uniform(-1, 1, X.shape)          # every node, the boundary too: curved, skew faces
    faces = mesh.boundary_faces()
    d = X.shape[1]
    A = rng.normal(size=(len(faces), d, d))
    tau = 0.1 * (A + np.swapaxes(A, 1, 2))             # any symmetric tensor per face (anisotropic test)
    gamma = rng.uniform(0.05, 0.1, len(faces))
    S = None
    if weights:                                        # and with surface elasticity
        B = rng.normal(size=(len(faces), d, d))
        S = 0.3 * (B + np.swapaxes(B, 1, 2))
    s = SurfaceStress(X, faces, tau, gamma, S)
    if weights:
        s.set_blend(lambda P: 0.5 + 0.5 * np.sin(P[:, 0]) * np.cos(P[:, 1]))
    return s, X


@pytest.mark.parametrize("element", ["hex8", "tet4", "quad4", "tri3"])
@pytest.mark.parametrize("weights", [False, True])
def test_forces_are_the_gradient_of_the_energy(element: str, weights: bool) -> None:
    s, X = _term(element, weights)
    rng = np.random.default_rng(2)
    U = 0.1 * rng.normal(size=X.shape)
    f = np.zeros_like(U)
    s.add_forces(U, f)
    h = 1e-6
    fd = np.zeros_like(U)
    for i in range(U.shape[0]):
        for k in range(U.shape[1]):
            Up, Um = U.copy(), U.copy()
            Up[i, k] += h
            Um[i, k] -= h
            fd[i, k] = -(s.add_forces(Up, np.zeros_like(U)) - s.add_forces(Um, np.zeros_like(U))) / (2 * h)
    assert np.max(np.abs(f - fd)) < 1e-8 * max(1.0, np.max(np.abs(f)))
    assert np.max(np.abs(f)) > 1e-3


@pytest.mark.parametrize("element", ["hex8", "quad4"])
def test_rigid_rotation_costs_nothing_and_stretch_works_against_tau(element: str) -> None:
    mesh = mesh_for(element, n=2)
    X, faces = mesh.nodes, mesh.boundary_faces()
    d = X.shape[1]
    tau0, gamma0 = 0.08, 0.11
    tau = np.broadcast_to(tau0 * np.eye(d), (len(faces), d, d)).copy()
    n = outward_normals(X, faces)
    for f in range(len(faces)):                        # in-plane: τ (I − n n)
        tau[f] = tau0 * (np.eye(d) - np.outer(n[f], n[f]))
    s = SurfaceStress(X, faces, tau, np.full(len(faces), gamma0))
    area = 2 * d * 3.0 ** (d - 1)                      # [0, 3]^d
    E0 = s.add_forces(np.zeros_like(X), np.zeros_like(X))
    assert E0 == pytest.approx(gamma0 * area, rel=1e-12)
    th = 1.1                                           # a large rotation
    R = np.eye(d)
    R[:2, :2] = [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
    U = X @ R.T - X + 0.7
    f = np.zeros_like(X)
    assert s.add_forces(U, f) == pytest.approx(E0, rel=1e-12)
    assert np.allclose(f, _f0(s, X) @ R.T, rtol=0, atol=1e-12)     # the forces rotate with the body
    # uniform stretch λ: every face's Green strain is (λ² − 1)/2 in plane → E = (γ + τ (d−1)(λ²−1)/2) A
    lam = 1.03
    E = s.add_forces((lam - 1.0) * X, np.zeros_like(X))
    assert E == pytest.approx((gamma0 + tau0 * (d - 1) * (lam ** 2 - 1) / 2) * area, rel=1e-12)


def _f0(s: SurfaceStress, X: np.ndarray) -> np.ndarray:
    f = np.zeros_like(X)
    s.add_forces(np.zeros_like(X), f)
    return f


def test_faces_with_atoms_beyond_are_interfaces() -> None:
    mesh = mesh_for("hex8", n=3)
    faces = mesh.boundary_faces()
    atoms = np.array([[1.5, 1.5, 3.4], [1.5, 1.5, 2.5]])   # one atom just above the top face's middle
    out = interface_faces(mesh.nodes, faces, atoms, spacing=0.5)
    c = mesh.nodes[faces].mean(axis=1)
    expect = (np.abs(c[:, 2] - 3.0) < 1e-9) & (np.abs(c[:, 0] - 1.5) < 0.6) & (np.abs(c[:, 1] - 1.5) < 0.6)
    assert out.sum() >= 1 and np.all(out[expect]) and not np.any(out[c[:, 2] < 2.9])
