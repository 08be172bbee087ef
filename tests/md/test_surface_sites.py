"""The relaxed surface for the atoms of a coupled model (``continuum.surface_stress.relax_atoms``):
`SurfaceProperties.relaxation` (the slab's per-plane normal relaxation) and
`multiscale.md.surface_sites.relaxed_surface_shift` (which atoms move, by how much)."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.md.lattice import Lattice
from multiscale.md.potentials import make_potential
from multiscale.md.properties import zero_stress_lattice_constant
from multiscale.md.surface_sites import relaxed_surface_shift
from multiscale.md.surface_slab import _Slab, surface_properties


@pytest.fixture(scope="module")
def eam():
    pot = make_potential({"type": "eam", "file": "Cu_u3.eam"})
    return pot, Lattice("fcc", float(zero_stress_lattice_constant(pot, "fcc")))


def test_the_profile_is_the_relaxed_slab(eam) -> None:
    """A slab THICKER than the one the profile came from, its planes moved by the profile from both faces
    (plane k from the top outward by relaxation[k], from the bottom likewise), is relaxed: the largest normal
    force drops from the unrelaxed surface's (0.100 eV/Å) to < 1e-5 eV/Å (measured 4.4e-7). Cu (001): the
    top plane moves in by about 0.03 Å (a contraction), the second by a few mÅ."""
    pot, lat = eam
    p = surface_properties(pot, lat, 2)
    rel, h = p.relaxation, p.plane_spacing
    assert h == pytest.approx(lat.a / 2, rel=1e-8)
    assert -0.035 < rel[0] < -0.025 and abs(rel[1]) < 0.01 and np.all(np.abs(rel[3:]) < 1e-3)
    slab = _Slab(pot, lat, 2, p.n_z + 4)
    z = slab.X[:, 2].copy()
    k_bot = np.rint((z - z.min()) / h).astype(int)
    k_top = np.rint((z.max() - z) / h).astype(int)
    K = len(rel)
    shift = np.where(k_top < K, rel[np.minimum(k_top, K - 1)], 0.0) \
        - np.where(k_bot < K, rel[np.minimum(k_bot, K - 1)], 0.0)
    r = slab._region(np.eye(3), False)
    r.compute()
    f0 = np.max(np.abs(r.forces[:, 2]))
    r.x[:, 2] = z + shift
    r.compute()
    f1 = np.max(np.abs(r.forces[:, 2]))
    assert f0 > 0.05 and f1 < 1e-5, (f0, f1)


def _block(h: float, n: int = 6, nz: int = 8) -> np.ndarray:
    g = np.stack(np.meshgrid(np.arange(n), np.arange(n), np.arange(nz), indexing="ij"), -1).reshape(-1, 3)
    return g * h


def test_which_atoms_move_and_by_how_much() -> None:
    """A simple-cubic block of planes h apart, top plane at z = 7h; one free face half a spacing above it
    covering x, y ≤ 2.5h: the atoms under it move by the profile of their plane counted from the top (K = 3
    planes), the others and the held ones stay; a face more than a spacing above the atoms moves nothing;
    a bottom face (outward −z) moves the bottom planes by −rel."""
    h = 1.5
    X = _block(h)
    rel = np.array([-0.03, 0.02, -0.001])
    nodes = np.array([[0, 0, 7.5 * h], [2.5 * h, 0, 7.5 * h], [2.5 * h, 2.5 * h, 7.5 * h],
                      [0, 2.5 * h, 7.5 * h]])
    faces = np.array([[0, 1, 2, 3]])
    up = np.array([[0.0, 0.0, 1.0]])
    held = (X[:, 0] == 0) & (X[:, 1] == 0)
    s = relaxed_surface_shift(X, nodes, faces, up, {2: (rel, h)}, held)
    under = (X[:, 0] <= 2.5 * h) & (X[:, 1] <= 2.5 * h)
    k = np.rint((7 * h - X[:, 2]) / h).astype(int)
    expect = np.where(under & ~held & (k < 3), rel[np.minimum(k, 2)], 0.0)
    assert np.array_equal(s[:, 2], expect) and not s[:, :2].any()
    assert np.count_nonzero(s) == 3 * (9 - 1)          # 3 × 3 columns, one held, three planes
    far = nodes + [0, 0, 1.2 * h]
    assert not relaxed_surface_shift(X, far, faces, up, {2: (rel, h)}, held).any()
    bottom = nodes.copy()
    bottom[:, 2] = -0.5 * h
    s = relaxed_surface_shift(X, bottom, faces[:, ::-1], -up, {2: (rel, h)}, np.zeros(len(X), bool))
    kb = np.rint(X[:, 2] / h).astype(int)
    assert np.array_equal(s[:, 2], np.where(under & (kb < 3), -rel[np.minimum(kb, 2)], 0.0))
