"""ContinuumRegion invariants, parametrised over the ELEMENTS and MATERIALS registries: patch test,
rigid motions, energy/force consistency, mass sums, traction equilibrium."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.cauchy_born import CauchyBorn
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.fem.materials.linear import Linear
from multiscale.md.lattice import Lattice
from multiscale.registry import ELEMENTS, MATERIALS

from .helpers import NumpyHarmonic, NumpyLJ, ToyEAM, mesh_for

_LATTICE = {1: (Lattice("chain", 1.1), NumpyLJ(cutoff=2.5)),
            2: (Lattice("hex", 1.1), NumpyLJ(cutoff=2.5)),
            3: (Lattice("fcc", 1.14), ToyEAM(1.0, 1.6, 0.3, 2.0))}


def make_material(name: str, dim: int):  # noqa: ANN201
    lat, pot = _LATTICE[dim]
    required = {"isotropic": {"E": 50.0, "nu": 0.3}, "thermal_strain": {"strain": 0.01}}
    params = MATERIALS.get(name).Params(**required.get(name, {}))
    return MATERIALS.get(name).from_params(params, dim=dim, potential=pot, lattice=lat)


ELEMS = ELEMENTS.names()
MATS = MATERIALS.names()


def boundary_nodes(mesh) -> np.ndarray:  # noqa: ANN001
    return np.unique(mesh.boundary_faces())


@pytest.mark.parametrize("mat_name", MATS)
@pytest.mark.parametrize("elem", ELEMS)
def test_patch_test(elem, mat_name):
    """Uniform F on a distorted mesh: every quadrature point has the same stress, interior nodal
    forces vanish, and the boundary forces equal the tractions P·n of that stress."""
    mesh = mesh_for(elem, n=3, distort=0.2)
    d = mesh.dim
    mat = make_material(mat_name, d)
    reg = ContinuumRegion(mesh, mat, density=1.3)
    rng = np.random.default_rng(5)
    F = np.eye(d) + 0.01 * rng.normal(size=(d, d))
    reg.U[:] = mesh.nodes @ (F - np.eye(d)).T
    reg.compute()
    P = reg.stresses()
    P0, _ = mat.evaluate(F[None])
    scale = np.abs(P0).max()
    assert np.max(np.abs(P - P0[0])) <= 1e-11 * scale
    inner = np.setdiff1d(np.arange(mesh.n_nodes), boundary_nodes(mesh))
    assert inner.size
    assert np.max(np.abs(reg.forces[inner])) <= 1e-11 * scale
    # boundary: −forces = ∮ P n N_I dS over the six (four, two) outer faces
    expected = np.zeros_like(reg.forces)
    for k in range(d):
        for side, sign in (("lo", -1.0), ("hi", 1.0)):
            n = np.zeros(d)
            n[k] = sign
            expected += reg.traction_forces(f"{'xyz'[k]}{side}", P0[0] @ n)
    assert np.max(np.abs(-reg.forces - expected)) <= 1e-11 * scale


@pytest.mark.parametrize("mat_name", MATS)
@pytest.mark.parametrize("elem", ELEMS)
def test_rigid_motions_give_no_force(elem, mat_name):
    """Translation: zero force for every law. Finite rotation: zero force for cauchy_born (objective);
    for the small-strain laws the infinitesimal rotation."""
    mesh = mesh_for(elem, n=2, distort=0.15)
    d = mesh.dim
    mat = make_material(mat_name, d)
    reg = ContinuumRegion(mesh, mat, density=1.0)
    scale = np.abs(mat.C).max()
    E0 = reg.compute()
    f0 = reg.forces.copy()
    reg.U[:] = np.arange(1, d + 1) * 0.37
    E1 = reg.compute()
    assert np.max(np.abs(reg.forces - f0)) <= 1e-12 * scale
    assert abs(E1 - E0) <= 1e-12 * max(abs(E0), scale)
    if mat.is_linear:
        assert np.max(np.abs(f0)) == 0.0 and E0 == 0.0
    if d == 1:
        return
    rng = np.random.default_rng(3)
    A = rng.normal(size=(d, d))
    W = 0.5 * (A - A.T)
    if mat.is_linear:
        reg.U[:] = mesh.nodes @ (1e-3 * W).T  # infinitesimal rotation
        reg.compute()
        assert np.max(np.abs(reg.forces)) <= 1e-14 * scale
    else:
        from scipy.linalg import expm
        Q = expm(0.7 * W)
        reg.U[:] = mesh.nodes @ (Q - np.eye(d)).T
        E = reg.compute()
        assert np.max(np.abs(reg.forces - f0 @ Q.T)) <= 1e-10 * scale  # rotated reference forces
        assert abs(E - E0) <= 1e-12 * abs(E0)


@pytest.mark.parametrize("mat_name", MATS)
@pytest.mark.parametrize("elem", ELEMS)
def test_forces_are_energy_gradient(elem, mat_name):
    mesh = mesh_for(elem, n=2, distort=0.2, seed=7)
    d = mesh.dim
    reg = ContinuumRegion(mesh, make_material(mat_name, d), density=1.0)
    rng = np.random.default_rng(11)
    U0 = 0.02 * rng.normal(size=reg.U.shape)
    reg.U[:] = U0
    reg.compute()
    f = reg.forces.copy()
    h = 1e-6
    for I, k in [(0, 0), (mesh.n_nodes // 2, d - 1), (mesh.n_nodes - 1, 0)]:
        reg.U[:] = U0
        reg.U[I, k] += h
        Ep = reg.compute()
        reg.U[I, k] -= 2 * h
        Em = reg.compute()
        assert abs(-(Ep - Em) / (2 * h) - f[I, k]) <= 1e-6 * max(np.abs(f).max(), 1e-3)


@pytest.mark.parametrize("elem", ELEMS)
def test_lumped_and_consistent_mass_totals(elem):
    mesh = mesh_for(elem, n=3, distort=0.2)
    reg = ContinuumRegion(mesh, Isotropic(1.0, 0.25, mesh.dim), density=2.5)
    total = 2.5 * mesh.volume()
    assert abs(reg.lumped_mass.sum() - total) <= 1e-13 * total
    assert np.all(reg.lumped_mass > 0)
    M = reg.consistent_mass()
    assert np.allclose(np.asarray(M.sum(axis=1)).ravel(), reg.lumped_mass, rtol=1e-13, atol=0)
    assert abs((M - M.T).max()) <= 1e-15 * total


def test_registered_lj_potential_material():
    """With the MD engineer's registered LJ, the linear material comes from the same potential object."""
    from multiscale.registry import POTENTIALS
    lj = POTENTIALS.get("lj").from_params(POTENTIALS.get("lj").Params(cutoff=2.5, truncation="shift"))
    lat = Lattice("hex", 1.1)
    C_reg = Linear.from_potential(lj, lat).C
    C_np = Linear.from_potential(NumpyLJ(cutoff=2.5), lat).C
    assert np.allclose(C_reg, C_np, rtol=1e-9)


def test_chain_linear_material_from_harmonic():
    mat = Linear.from_potential(NumpyHarmonic(2.0, 1.0, 1.5), Lattice("chain", 1.0))
    cb = CauchyBorn(NumpyHarmonic(2.0, 1.0, 1.5), Lattice("chain", 1.0))
    assert cb.C[0, 0] == pytest.approx(2.0, rel=1e-12)
    assert mat.C[0, 0] == pytest.approx(2.0, rel=1e-12)
