"""Static linear elasticity (fixed edge, body force, traction) against scikit-fem on the same meshes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import skfem
from skfem.helpers import ddot, dot, sym_grad
from skfem.io.meshio import from_meshio

from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.base import voigt_to_tensor
from multiscale.fem.materials.linear import Linear
from multiscale.md.lattice import Lattice

from .helpers import NumpyLJ, ToyEAM, mesh_for


def skfem_solution(mesh, C: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:  # noqa: ANN001
    sm = from_meshio(mesh.to_meshio())
    d = mesh.dim
    elem = {"quad4": skfem.ElementQuad1, "tri3": skfem.ElementTriP1, "hex8": skfem.ElementHex1,
            "tet4": skfem.ElementTetP1}[mesh.blocks[0].type]()
    order = 2  # 2-point Gauss per direction, the rule of quad4/hex8 (exact for the simplices)
    ib = skfem.Basis(sm, skfem.ElementVector(elem, d), intorder=order)
    C4 = voigt_to_tensor(C)

    @skfem.BilinearForm
    def stiffness(u, v, w):  # noqa: ANN001, ANN202
        return ddot(np.einsum("ijkl,kl...->ij...", C4, sym_grad(u)), sym_grad(v))

    @skfem.LinearForm
    def body(v, w):  # noqa: ANN001, ANN202
        return dot(b.reshape((d,) + (1,) * (v.ndim - 1)), v)

    right = sm.facets_satisfying(lambda x: x[0] > 3.0 - 1e-9)
    fb = skfem.FacetBasis(sm, ib.elem, facets=right, intorder=order)

    @skfem.LinearForm
    def traction(v, w):  # noqa: ANN001, ANN202
        return dot(t.reshape((d,) + (1,) * (v.ndim - 1)), v)

    K = stiffness.assemble(ib)
    f = body.assemble(ib) + traction.assemble(fb)
    fixed = ib.get_dofs(lambda x: x[0] < 1e-9).all()
    u = skfem.solve(*skfem.condense(K, f, D=fixed))
    return u[ib.nodal_dofs].T  # (N, d)


@pytest.mark.parametrize("elem", ["quad4", "tri3", "hex8", "tet4"])
def test_static_against_skfem(elem):
    mesh = mesh_for(elem, n=4 if elem in ("quad4", "tri3") else 3, distort=0.2, seed=3)
    d = mesh.dim
    lat, pot = ((Lattice("hex", 1.1), NumpyLJ(cutoff=2.5)) if d == 2 else
                (Lattice("fcc", 1.14, orient=[[1, 1, 0], [-1, 1, 0], [0, 0, 1]]), ToyEAM(1.0, 1.6, 0.3, 2.0)))
    mat = Linear.from_potential(pot, lat)
    reg = ContinuumRegion(mesh, mat, density=1.0)
    b = np.array([0.3, -0.2, 0.1][:d])
    t = np.array([1.0, 0.4, -0.3][:d])
    f = reg.body_forces(b) + reg.traction_forces("xhi", t)
    K = reg.stiffness_matrix()
    free = np.ones((mesh.n_nodes, d), bool)
    free[mesh.node_sets["xlo"]] = False
    free = free.ravel()
    u = np.zeros(mesh.n_nodes * d)
    u[free] = spla.spsolve(K[free][:, free].tocsc(), f.ravel()[free])
    ref = skfem_solution(mesh, mat.C, b, t)
    U = u.reshape(-1, d)
    assert np.max(np.abs(U - ref)) <= 2e-14 * np.abs(ref).max()  # measured <= 2.2e-15 (README, ~10x)
    # the matrix-free forces are in equilibrium with the loads at that solution
    reg.U[:] = U
    reg.compute()
    resid = (reg.forces + f).ravel()[free]
    assert np.max(np.abs(resid)) <= 5e-14 * np.abs(f).max()  # measured <= 6.9e-15 (~7x)
