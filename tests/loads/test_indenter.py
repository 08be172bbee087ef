"""Indenter: force = −∇energy (finite differences), load/power bookkeeping, stages, shapes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from multiscale.loads.indenter import Indenter
from multiscale.registry import LOADS


def _model(X):  # noqa: ANN001
    X = np.asarray(X, float)
    atoms = SimpleNamespace(X=X, x=X.copy(), v=np.zeros_like(X), forces=np.zeros_like(X),
                            mass=np.ones(len(X)))
    return SimpleNamespace(atoms=atoms, continuum=None)


def _cloud(d, n=200, seed=0):  # noqa: ANN001
    rng = np.random.default_rng(seed)
    return rng.uniform(-3.0, 3.0, (n, d))


CASES = [
    (2, dict(shape="cylinder", radius=2.0, stiffness=10.0, center=[0.1, 1.0])),
    (3, dict(shape="sphere", radius=2.0, stiffness=7.0, center=[0.1, -0.2, 1.0])),
    (3, dict(shape="cylinder", radius=2.0, stiffness=7.0, center=[0.1, -0.2, 1.0], axis=[1, 1, 0])),
    (2, dict(shape="flat", radius=1.5, stiffness=3.0, center=[0.0, 1.0])),
]


@pytest.mark.parametrize("d,kw", CASES)
def test_force_is_minus_energy_gradient(d, kw):
    ind = Indenter(**kw, depths=[0.0, 0.5])
    m = _model(_cloud(d))
    ind.prepare(m)
    ind.set_stage(1)
    c = ind.center(0.0)
    E, f, idx = ind.energy_forces(m.atoms.x, c)
    assert idx.size > 10
    F = np.zeros_like(m.atoms.x)
    F[idx] = f
    h = 1e-6
    worst = 0.0
    for a in idx[:40]:
        for k in range(d):
            xp, xm = m.atoms.x.copy(), m.atoms.x.copy()
            xp[a, k] += h
            xm[a, k] -= h
            fd = -(ind.energy_forces(xp, c)[0] - ind.energy_forces(xm, c)[0]) / (2 * h)
            worst = max(worst, abs(fd - F[a, k]))
    assert worst < 1e-7 * max(1.0, np.abs(F).max())


def test_apply_load_power_observables_and_energy_form():
    X = _cloud(2, 300, 4)
    m = _model(X)
    ind = LOADS.get("indenter")(radius=2.0, stiffness=10.0, center=[0.0, 2.5],
                                depth_steps={"start": 0.0, "stop": 1.0, "step": 0.25}, velocity=0.3,
                                label="tip")
    ind.prepare(m)
    assert ind.n_stages == 5
    ind.set_stage(3)
    t = 0.7
    E, P = ind.apply(t, m)
    obs = ind.observables()
    assert obs["tip.depth"] == pytest.approx(0.75 + 0.3 * 0.7, abs=1e-14)
    c = np.array([0.0, 2.5 - obs["tip.depth"]])
    r = np.linalg.norm(X - c, axis=1)
    inside = r < 2.0
    assert E == pytest.approx(np.sum(10.0 * (2.0 - r[inside]) ** 3 / 3), rel=1e-13)
    # load = Σ F·n with n = −y, equals −Σ F_y; force on the indenter is −Σ F
    assert obs["tip.load"] == pytest.approx(-m.atoms.forces[:, 1].sum(), rel=1e-13)
    assert obs["tip.force_y"] == pytest.approx(obs["tip.load"], rel=1e-13)
    assert obs["tip.load"] > 0 and obs["tip.contacts"] == inside.sum()
    # power = ∂E/∂t at fixed atoms (centre moving at 0.3 along −y)
    h = 1e-6
    Ep = ind.energy_forces(X, ind.center(t + h))[0]
    Em = ind.energy_forces(X, ind.center(t - h))[0]
    assert P == pytest.approx((Ep - Em) / (2 * h), rel=1e-7)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError):
        Indenter(radius=-1.0, stiffness=1.0, center=[0, 0])
    ind = Indenter(radius=1.0, stiffness=1.0, center=[0, 0, 0])
    with pytest.raises(ValueError):
        ind.prepare(_model(_cloud(2)))
    with pytest.raises(ValueError):
        Indenter(radius=1.0, stiffness=1.0, center=[0, 0], depths=[0.0], depth_steps={"stop": 1, "step": 0.1})
