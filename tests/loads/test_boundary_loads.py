"""fixed, prescribed, body_force and traction on a real mesh/continuum and a small set of atoms."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from multiscale.registry import LOADS


def _continuum():
    from multiscale.fem.continuum import ContinuumRegion
    from multiscale.fem.generators.rectangle import RectangleMesh
    from multiscale.fem.materials.isotropic import Isotropic
    mesh = RectangleMesh.build(RectangleMesh.Params(lo=[0.0, 0.0], hi=[8.0, 4.0], size=1.0, element="quad4"))
    c = ContinuumRegion(mesh, Isotropic(1.0, 0.25, 2), density=2.0)
    c.set_blend(None)
    return c


def _atoms():
    X = np.stack(np.meshgrid(np.arange(5.0), np.arange(3.0), indexing="ij"), -1).reshape(-1, 2)
    return SimpleNamespace(X=X, x=X.copy(), v=np.zeros_like(X), forces=np.zeros_like(X),
                           mass=np.full(len(X), 2.0), site_w=None)


def test_fixed_masks_and_reaction():
    m = SimpleNamespace(atoms=_atoms(), continuum=_continuum())
    load = LOADS.get("fixed")(region={"type": "box", "lo": [-1, -1], "hi": [100, 0.5]}, components=["y"])
    load.prepare(m)
    am, nm = load.fixed_dofs()
    assert am.shape == m.atoms.X.shape and nm.shape == m.continuum.nodes.shape
    assert not am[:, 0].any() and np.array_equal(am[:, 1], m.atoms.X[:, 1] < 0.5)
    assert np.array_equal(nm[:, 1], m.continuum.nodes[:, 1] < 0.5)
    m.atoms.forces[:] = 1.0
    load.apply(0.0, m)
    assert load.observables() == {"fixed.reaction_y": float(am[:, 1].sum())}
    with pytest.raises(ValueError):
        LOADS.get("fixed")(region={"type": "box", "lo": [0, 0], "hi": [1, 1]}, components=["q"])


def test_prescribed_ramp_and_velocity():
    m = SimpleNamespace(atoms=_atoms(), continuum=_continuum())
    load = LOADS.get("prescribed")(region={"type": "box", "lo": [3.5, -1], "hi": [100, 100]},
                                   velocity=[0.1, 0.0], displacement=[0.0, -0.4], ramp_time=2.0,
                                   label="grip")
    load.prepare(m)
    load.impose(1.0, m)
    sel = m.atoms.X[:, 0] > 3.5
    assert np.allclose(m.atoms.x[sel] - m.atoms.X[sel], [0.1, -0.2], atol=1e-15)
    assert np.allclose(m.atoms.v[sel], [0.1, -0.2], atol=1e-15)
    assert np.all(m.atoms.x[~sel] == m.atoms.X[~sel])
    nsel = m.continuum.nodes[:, 0] > 3.5
    assert np.allclose(m.continuum.U[nsel], [0.1, -0.2]) and np.all(m.continuum.U[~nsel] == 0)
    m.atoms.forces[:] = [0.0, 1.0]
    E, P = load.apply(1.0, m)
    assert E == 0.0 and P == pytest.approx(-sel.sum() * 1.0 * -0.2)
    assert load.observables()["grip.displacement_y"] == pytest.approx(-0.2)


def test_body_force_total_equals_total_mass_times_g():
    m = SimpleNamespace(atoms=_atoms(), continuum=_continuum())
    load = LOADS.get("body_force")(acceleration=[0.0, -0.5])
    load.prepare(m)
    rng = np.random.default_rng(0)
    m.atoms.x += rng.normal(0, 0.1, m.atoms.x.shape)
    m.continuum.U += rng.normal(0, 0.1, m.continuum.U.shape)
    E, P = load.apply(3.0, m)
    total = m.atoms.forces.sum(axis=0) + m.continuum.forces.sum(axis=0)
    mass = m.atoms.mass.sum() + m.continuum.lumped_mass.sum()
    assert np.allclose(total, [0.0, -0.5 * mass], rtol=1e-13)
    assert m.continuum.lumped_mass.sum() == pytest.approx(2.0 * 32.0, rel=1e-12)
    fu = (m.atoms.forces * (m.atoms.x - m.atoms.X)).sum() + (m.continuum.forces * m.continuum.U).sum()
    assert E == pytest.approx(-fu, rel=1e-13) and P == 0.0


def test_traction_resultant_energy_and_power():
    c = _continuum()
    m = SimpleNamespace(atoms=None, continuum=c)
    load = LOADS.get("traction")(face_set="xhi", traction=[0.3, -0.1], ramp_time=4.0, factors=[1.0, 2.0])
    load.prepare(m)
    load.set_stage(1)
    c.U[:] = np.random.default_rng(1).normal(0, 0.1, c.U.shape)
    E, P = load.apply(1.0, m)
    # resultant = factor · ramp · t · edge length (4.0)
    assert np.allclose(c.forces.sum(axis=0), 2.0 * 0.25 * 4.0 * np.array([0.3, -0.1]), rtol=1e-13)
    on_edge = np.isclose(c.nodes[:, 0], 8.0)
    assert np.all(c.forces[~on_edge] == 0)
    assert E == pytest.approx(-(c.forces * c.U).sum(), rel=1e-13)
    assert P == pytest.approx(E / 1.0, rel=1e-13)            # linear ramp: ∂E/∂t = E / t
    by_region = LOADS.get("traction")(region={"type": "box", "lo": [7.9, -1], "hi": [9, 9]},
                                      traction=[0.3, -0.1])
    by_region.prepare(m)
    assert np.allclose(by_region._f, load._f)
