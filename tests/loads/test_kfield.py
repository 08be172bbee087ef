"""K-field: isotropic limit = textbook plane strain; anisotropic field in equilibrium with traction-free
faces (finite differences of the displacement through C); the load's boundary/initial/stage behaviour."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from multiscale.loads import crack_field as cf
from multiscale.loads.kfield import KField


def _iso(lam, mu):  # noqa: ANN001
    return np.array([[lam + 2 * mu, lam, 0], [lam, lam + 2 * mu, 0], [0, 0, mu]], float)


def _aniso():
    """A general (triclinic-in-plane) 2D stiffness: orthotropic rotated by 25°."""
    C = np.array([[9.0, 2.0, 0.0], [2.0, 5.0, 0.0], [0.0, 0.0, 1.7]])
    t = np.deg2rad(25.0)
    Q = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return cf.rotate_stiffness(C, Q)


def _stress_from_u(X, b, C, h=1e-5):  # noqa: ANN001
    """σ = C ε(u) with ε from central differences of the displacement field (Voigt xx, yy, xy)."""
    ex = np.array([h, 0.0])
    ey = np.array([0.0, h])
    dux = (cf.mode_I_displacement(X + ex, b) - cf.mode_I_displacement(X - ex, b)) / (2 * h)
    duy = (cf.mode_I_displacement(X + ey, b) - cf.mode_I_displacement(X - ey, b)) / (2 * h)
    eps = np.stack([dux[:, 0], duy[:, 1], dux[:, 1] + duy[:, 0]], axis=1)
    return eps @ C.T


def test_isotropic_limit_is_textbook_plane_strain():
    lam, mu = 2.0, 1.3
    b = cf.reduced_compliance(_iso(lam, mu))
    X = np.random.default_rng(0).uniform(-3, 3, (300, 2))
    u = cf.mode_I_displacement(X, b, 2.5)
    ref = cf.isotropic_mode_I_displacement(X, mu, lam / (2 * (lam + mu)), 2.5)
    assert np.max(np.abs(u - ref)) < 1e-13 * np.abs(ref).max()


def test_isotropic_limit_from_3d_plane_strain_reduction():
    E, nu = 3.0, 0.3
    lam, mu = E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))
    C6 = np.zeros((6, 6))
    C6[:3, :3] = lam
    C6[np.arange(3), np.arange(3)] = lam + 2 * mu
    C6[np.arange(3, 6), np.arange(3, 6)] = mu
    b = cf.reduced_compliance(C6)
    X = np.random.default_rng(1).uniform(-2, 2, (100, 2))
    ref = cf.isotropic_mode_I_displacement(X, mu, nu, 1.0)
    assert np.max(np.abs(cf.mode_I_displacement(X, b) - ref)) < 1e-13 * np.abs(ref).max()


@pytest.mark.parametrize("C", [_aniso(), np.array([[9.0, 2.0, 0.0], [2.0, 5.0, 0.0], [0.0, 0.0, 1.7]]),
                               _iso(2.0, 1.3) * np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1.0001]])])
def test_anisotropic_field_equilibrium_traction_free_faces_and_stress(C):
    b = cf.reduced_compliance(C)
    rng = np.random.default_rng(2)
    r = rng.uniform(0.5, 2.0, 60)
    th = rng.uniform(-2.8, 2.8, 60)
    X = np.stack([r * np.cos(th), r * np.sin(th)], axis=1)
    # stress of the displacement field = the closed-form stress
    s_fd = _stress_from_u(X, b, C)
    s_an = cf.mode_I_stress(X, b)
    assert np.max(np.abs(s_fd - s_an)) < 1e-7 * np.abs(s_an).max()
    # equilibrium: ∂σxx/∂x + ∂σxy/∂y = 0, ∂σxy/∂x + ∂σyy/∂y = 0 (differences of the closed-form stress)
    h = 1e-5
    dsx = (cf.mode_I_stress(X + [h, 0], b) - cf.mode_I_stress(X - [h, 0], b)) / (2 * h)
    dsy = (cf.mode_I_stress(X + [0, h], b) - cf.mode_I_stress(X - [0, h], b)) / (2 * h)
    div = np.stack([dsx[:, 0] + dsy[:, 2], dsx[:, 2] + dsy[:, 1]], axis=1)
    assert np.max(np.abs(div)) < 1e-6 * np.abs(dsx).max()
    # traction-free crack faces θ = ±π: σ_xy = σ_yy = 0 (normal ±y)
    for sgn in (1.0, -1.0):
        F = np.stack([-r, sgn * 1e-13 * r], axis=1)
        s = cf.mode_I_stress(F, b)
        assert np.max(np.abs(s[:, 1:])) < 1e-9 * np.abs(s_an).max()
    # normalisation: σ_yy ahead of the tip = K/√(2πr)
    Y = np.stack([r, 0 * r], axis=1)
    assert np.allclose(cf.mode_I_stress(Y, b, 3.0)[:, 1], 3.0 / np.sqrt(2 * np.pi * r), rtol=1e-12)
    # the faces open: u_y(θ = π) > 0 > u_y(θ = −π)
    up = cf.mode_I_displacement(np.array([[-1.0, 1e-14]]), b)[0, 1]
    dn = cf.mode_I_displacement(np.array([[-1.0, -1e-14]]), b)[0, 1]
    assert up > 0 > dn and abs(up + dn) < 1e-12


def _model(X, nodes=None):  # noqa: ANN001
    X = np.asarray(X, float)
    atoms = SimpleNamespace(X=X, x=X.copy(), v=np.zeros_like(X), forces=np.zeros_like(X))
    cont = None
    if nodes is not None:
        cont = SimpleNamespace(nodes=nodes, U=np.zeros_like(nodes), V=np.zeros_like(nodes),
                               forces=np.zeros_like(nodes))
    return SimpleNamespace(atoms=atoms, continuum=cont)


def test_kfield_load_boundary_initial_and_stages():
    C = _iso(2.0, 1.3)
    rng = np.random.default_rng(5)
    X = rng.uniform(-10, 10, (400, 2))
    nodes = rng.uniform(-12, 12, (50, 2))
    m = _model(X, nodes)
    box = {"type": "difference", "shapes": [{"type": "box", "lo": [-99, -99], "hi": [99, 99]},
                                             {"type": "box", "lo": [-8, -8], "hi": [8, 8]}]}
    load = KField(tip=[0.5, 0.25], angle=30.0, K_values=[1.0, 1.5], elastic=C.tolist(), boundary=box)
    load.prepare(m)
    am, nm = load.fixed_dofs()
    outer = np.any(np.abs(X) > 8, axis=1)
    assert np.array_equal(am[:, 0], outer) and am.shape == (400, 2)
    load.initialize(m)
    # unit field in the rotated crack frame = the textbook field of the rotated coordinates
    t = np.deg2rad(30.0)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    ref = cf.isotropic_mode_I_displacement((X - [0.5, 0.25]) @ R, 1.3, 2.0 / (2 * 3.3)) @ R.T
    assert np.max(np.abs(m.atoms.x - X - ref)) < 1e-12
    load.set_stage(1)
    load.impose(0.0, m)
    assert np.max(np.abs(m.atoms.x - X - 1.5 * ref)) < 1e-12        # interior incremented, boundary exact
    assert load.observables()["kfield.K"] == 1.5
    with pytest.raises(ValueError):
        KField(tip=[0, 0], K=1.0, K_values=[1.0], boundary=box)
