"""set_blend: α per quadrature point as the tributary average, α-weighted lumped mass, the partition of
unity in the integral sense, and exact reproduction of a harmonic chain with one-spacing bar2 elements."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.fem.materials.linear import Linear
from multiscale.md.lattice import Lattice
from multiscale.registry import ELEMENTS, MESHES

from .helpers import NumpyHarmonic, mesh_for


def cubic_ramp(x0: float, x1: float):  # noqa: ANN201
    def alpha(X: np.ndarray) -> np.ndarray:
        s = np.clip((X[:, 0] - x0) / (x1 - x0), 0.0, 1.0)
        return 3 * s**2 - 2 * s**3
    return alpha


@pytest.mark.parametrize("elem", ELEMENTS.names())
def test_partition_of_unity(elem):
    """M^α + M^β = M (total mass), α_q + β_q = 1, E(α) + E(β) = E(1) for a linear law."""
    mesh = mesh_for(elem, n=4, distort=0.15)
    d = mesh.dim
    reg = ContinuumRegion(mesh, Isotropic(10.0, 0.3, d), density=1.7)
    rng = np.random.default_rng(0)
    reg.U[:] = 0.01 * rng.normal(size=reg.U.shape)
    E1 = reg.compute()
    f1 = reg.forces.copy()
    M1 = reg.lumped_mass.copy()
    alpha = cubic_ramp(0.7, 2.2)
    reg.set_blend(alpha, n_sub=4)
    Ma, aq, Ea, fa = reg.lumped_mass.copy(), reg.alpha_qp.copy(), reg.compute(), reg.forces.copy()
    reg.set_blend(lambda X: 1.0 - alpha(X), n_sub=4)
    Mb, bq, Eb, fb = reg.lumped_mass.copy(), reg.alpha_qp.copy(), reg.compute(), reg.forces.copy()
    total = 1.7 * mesh.volume()
    assert abs(Ma.sum() + Mb.sum() - total) <= 1e-13 * total
    assert np.max(np.abs(Ma + Mb - M1)) <= 1e-14 * total
    assert np.max(np.abs(aq + bq - 1.0)) <= 1e-14
    assert abs(Ea + Eb - E1) <= 1e-12 * abs(E1)
    assert np.max(np.abs(fa + fb - f1)) <= 1e-12 * np.abs(f1).max()
    # consistent mass follows the same weights
    assert np.allclose(np.asarray(reg.consistent_mass().sum(axis=1)).ravel(), Mb, rtol=1e-12, atol=1e-15)


def test_tributary_average_quad4():
    """Rectangular quad4 [0, 2]²: α = x/2 averages to 1/4 and 3/4 over the two halves (the sub-boxes of the
    Gauss points), not α at the Gauss points (0.211.., 0.788..)."""
    G = MESHES.get("rectangle")
    mesh = G.build(G.Params(lo=[0, 0], hi=[2, 2], size=2.0))
    reg = ContinuumRegion(mesh, Isotropic(1.0, 0.2, 2), density=1.0)
    reg.set_blend(lambda X: X[:, 0] / 2, n_sub=2)
    xq = reg.qp_positions[:, 0]
    assert np.allclose(reg.alpha_qp, np.where(xq < 1, 0.25, 0.75), rtol=0, atol=1e-15)


def test_chain_reproduced_exactly():
    """Harmonic chain (k, m, a) with a blended handshake, bar2 elements of one spacing on the atoms:
    FE forces (α-weighted, C = k·a from the potential) + chain forces with bond weights 1 − α_e equal the
    plain chain's forces; M^α_I + β̄_I m = m with β̄ the hat-function average of β."""
    k, m, a = 1.7, 2.3, 1.0
    pot = NumpyHarmonic(k, a, 1.5 * a)
    n = 40
    G = MESHES.get("bar")
    mesh = G.build(G.Params(lo=[0.0], hi=[n * a], size=a))
    X = mesh.nodes[:, 0]
    assert np.allclose(np.diff(X), a, rtol=0, atol=1e-14)
    alpha = cubic_ramp(10 * a, 30 * a)
    reg = ContinuumRegion(mesh, Linear.from_potential(pot, Lattice("chain", a)), density=m / a)
    reg.set_blend(alpha, n_sub=3)
    # independent averages by adaptive quadrature
    def a_of(x: float) -> float:
        return float(alpha(np.array([[x]]))[0])
    alpha_e = np.array([quad(a_of, X[i], X[i + 1])[0] / a for i in range(n)])
    assert np.allclose(reg.alpha_qp, alpha_e, rtol=0, atol=1e-14)
    bond_w = 1.0 - alpha_e
    hat = np.array([quad(lambda x, i=i: (1 - a_of(x)) * (1 - abs(x - X[i]) / a),
                         max(X[i] - a, 0), min(X[i] + a, n * a), points=[X[i]])[0] / a
                    for i in range(n + 1)])
    beta_bar = hat  # ∫ β hat / a (end atoms have half-hats)
    ends = np.array([0.5] + [1.0] * (n - 1) + [0.5])
    assert np.allclose(reg.lumped_mass + beta_bar * m, m * ends, rtol=0, atol=1e-13)
    rng = np.random.default_rng(4)
    u = 0.05 * rng.normal(size=n + 1)
    reg.U[:, 0] = u
    E_fe = reg.compute()
    stretch = np.diff(u)
    f_chain_w = np.zeros(n + 1)
    f_chain_w[:-1] += bond_w * k * stretch
    f_chain_w[1:] -= bond_w * k * stretch
    f_plain = np.zeros(n + 1)
    f_plain[:-1] += k * stretch
    f_plain[1:] -= k * stretch
    assert np.max(np.abs(reg.forces[:, 0] + f_chain_w - f_plain)) <= 1e-13 * np.abs(f_plain).max()
    E_plain = 0.5 * k * np.sum(stretch**2)
    assert abs(E_fe + 0.5 * k * np.sum(bond_w * stretch**2) - E_plain) <= 1e-13 * E_plain


def test_alpha_out_of_range_rejected():
    reg = ContinuumRegion(mesh_for("quad4", 2), Isotropic(1.0, 0.2, 2), density=1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reg.set_blend(lambda X: 2.0 * np.ones(len(X)))


def test_zero_alpha_elements_skipped():
    reg = ContinuumRegion(mesh_for("hex8", 3), Isotropic(1.0, 0.2, 3), density=1.0)
    reg.set_blend(lambda X: (X[:, 0] > 2.0).astype(float), n_sub=2)
    reg.U[:] = np.random.default_rng(1).normal(size=reg.U.shape)
    reg.compute()
    left = reg.nodes[:, 0] < 0.999
    assert np.all(reg.forces[left] == 0.0) and np.all(reg.lumped_mass[left] == 0.0)
    assert np.any(reg.forces[~left] != 0.0)
