"""Compiled force kernels against NumPy references, and bitwise identical for 1 and 2 threads."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.cauchy_born import CauchyBorn
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.md.lattice import Lattice
from multiscale.registry import ELEMENTS, MESHES

from .helpers import NumpyLJ, ToyEAM, mesh_for


def numpy_forces(reg: ContinuumRegion) -> tuple[np.ndarray, float]:
    """Reference: F_q = I + Σ U_a ⊗ ∇N_a, P = material(F), f_I = −Σ_q α_q V_q P ∇N_I (plain NumPy)."""
    mesh, d = reg.mesh, reg.mesh.dim
    f = np.zeros_like(reg.U)
    E = 0.0
    q0 = 0
    for blk in mesh.blocks:
        el = blk.element
        xi, w = el.quadrature()
        _, detJ, dN = el.jacobian(mesh.nodes[blk.conn], xi)  # (ne, nq, nen, d)
        Ue = reg.U[blk.conn]
        F = np.eye(d) + np.einsum("eai,eqaj->eqij", Ue, dN)
        P, W = reg.material.evaluate(F.reshape(-1, d, d))
        nq = F.shape[0] * F.shape[1]
        wq = (reg.alpha_qp[q0:q0 + nq] * (detJ * w).ravel()).reshape(detJ.shape)
        q0 += nq
        fe = np.einsum("eq,eqij,eqaj->eai", wq, P.reshape(F.shape), dN)
        E += float(np.sum(wq.ravel() * W))
        for k in range(d):
            f[:, k] -= np.bincount(blk.conn.ravel(), weights=fe[:, :, k].ravel(), minlength=mesh.n_nodes)
    return f, E


def _material(kind: str, d: int):  # noqa: ANN202
    if kind == "isotropic":
        return Isotropic(30.0, 0.27, d)
    lat = {1: Lattice("chain", 1.1), 2: Lattice("hex", 1.1), 3: Lattice("fcc", 1.14)}[d]
    return CauchyBorn(NumpyLJ(cutoff=2.5) if d < 3 else ToyEAM(1.0, 1.6, 0.3, 2.0), lat)


@pytest.mark.threads
@pytest.mark.parametrize("kind", ["isotropic", "cauchy_born"])
@pytest.mark.parametrize("elem", ELEMENTS.names())
def test_kernels_vs_numpy_and_threads(elem, kind):
    mesh = mesh_for(elem, n=4, distort=0.2)
    d = mesh.dim
    out = []
    for nt in (1, 2):
        reg = ContinuumRegion(mesh, _material(kind, d), density=1.0, n_threads=nt)
        # a blend that leaves some elements uniform (fast path) and some not (per-qp path)
        reg.set_blend(lambda X: np.clip(X[:, 0] - 0.8, 0.0, 1.0), n_sub=3)
        reg.U[:] = 0.02 * np.random.default_rng(9).normal(size=reg.U.shape)
        E = reg.compute()
        out.append((reg.forces.copy(), E))
        f_ref, E_ref = numpy_forces(reg)
        scale = np.abs(f_ref).max()
        assert np.max(np.abs(reg.forces - f_ref)) <= 1e-12 * scale
        assert abs(E - E_ref) <= 1e-12 * max(abs(E_ref), 1e-300)
    assert np.array_equal(out[0][0], out[1][0]) and out[0][1] == out[1][1]


@pytest.mark.threads
def test_threads_bitwise_large_graded_mesh():
    """A graded quad4 mesh large enough for both threads to work: identical bits for 1 and 2 threads."""
    G = MESHES.get("rectangle")
    mesh = G.build(G.Params(lo=[0, 0], hi=[200, 100], size=4.0, core={"lo": [80, 30], "hi": [120, 70]},
                            core_size=0.5, growth=1.2, hole={"lo": [90, 40], "hi": [110, 60]}))
    res = []
    for nt in (1, 2):
        reg = ContinuumRegion(mesh, Isotropic(10.0, 0.3, 2), density=1.0, n_threads=nt)
        reg.set_blend(lambda X: np.clip((np.abs(X[:, 0] - 100) - 10) / 5, 0, 1), n_sub=2)
        reg.U[:] = np.sin(reg.nodes[:, [1, 0]] * 0.1)
        E = reg.compute()
        res.append((reg.forces.copy(), E))
    assert np.array_equal(res[0][0], res[1][0]) and res[0][1] == res[1][1]


def test_assembled_stiffness_matches_matrix_free():
    mesh = mesh_for("hex8", n=3, distort=0.2)
    reg = ContinuumRegion(mesh, Isotropic(5.0, 0.3, 3), density=1.0)
    reg.set_blend(lambda X: np.clip(X[:, 1] / 3, 0, 1), n_sub=2)
    K = reg.stiffness_matrix()
    reg.U[:] = np.random.default_rng(2).normal(size=reg.U.shape)
    reg.compute()
    assert np.allclose(-K @ reg.U.ravel(), reg.forces.ravel(), rtol=0, atol=1e-12 * np.abs(reg.forces).max())
    assert abs(K - K.T).max() <= 1e-13 * abs(K).max()


@pytest.mark.parametrize("elem", ["quad4", "tri3", "hex8", "tet4"])
def test_stencil_and_element_paths_agree_with_assembled(elem):
    """Graded mesh with a hole and a blend: stencil nodes (deduplicated assembled rows), element-path nodes
    (handshake) and the energy all match the assembled stiffness; 1 and 2 threads bitwise equal."""
    d = 3 if elem in ("hex8", "tet4") else 2
    G = MESHES.get("rectangle" if d == 2 else "box")
    L = 12.0 if d == 3 else 40.0
    core = {"lo": [L / 3] * d, "hi": [2 * L / 3] * d}
    hole = {"lo": [L / 3 + 1] * d, "hi": [2 * L / 3 - 1] * d}
    mesh = G.build(G.Params(lo=[0.0] * d, hi=[L] * d, size=3.0, core=core, core_size=1.0, growth=1.5,
                            element=elem, hole=hole))
    out = []
    for nt in (1, 2):
        reg = ContinuumRegion(mesh, Isotropic(10.0, 0.3, d), density=1.0, n_threads=nt)
        reg.set_blend(lambda X: np.clip((np.max(np.abs(X - L / 2), axis=1) - (L / 6 - 1)) / 2.5, 0, 1),
                      n_sub=3)
        assert reg._stencil is not None and reg._stencil[0].size > 0
        # one-point elements always have a uniform α (all on the stencil path); 2×2(×2) rules do not
        assert (reg._general.size > 0) == (elem in ("quad4", "hex8"))
        reg.U[:] = 0.1 * np.sin(reg.nodes @ np.arange(1, d + 1) * 0.3)[:, None] * np.arange(1, d + 1)
        E = reg.compute()
        K = reg.stiffness_matrix()
        u = reg.U.ravel()
        assert np.max(np.abs(K @ u + reg.forces.ravel())) <= 1e-12 * np.abs(reg.forces).max()
        assert abs(E - 0.5 * u @ (K @ u)) <= 1e-12 * E
        out.append((reg.forces.copy(), E))
    assert np.array_equal(out[0][0], out[1][0]) and out[0][1] == out[1][1]


@pytest.mark.parametrize("elem", ["tri3", "tet4"])
def test_irregular_mesh_takes_per_node_stencils(elem):
    """A distorted mesh (every element its own geometry: about one stencil type per node, more than the
    deduplication limit) gets per-node stencils when their blocks take less memory than the element
    stiffness (one-point elements: every node on the stored-stiffness path);
    forces and energy match the assembled stiffness, 1 and 2 threads bitwise equal."""
    from multiscale.fem.stencil import build_stencils

    d = 3 if elem == "tet4" else 2
    mesh = mesh_for(elem, n=12 if d == 3 else 40, distort=0.25)
    out = []
    for nt in (1, 2):
        reg = ContinuumRegion(mesh, Isotropic(10.0, 0.3, d), density=1.0, n_threads=nt)
        reg.set_blend(lambda X: np.clip(X[:, 0] - 0.5, 0.0, 1.0), n_sub=2)
        bd, N = reg._blocks[0], mesh.n_nodes
        limit = min(20000, max(1024, N // 4))
        assert N > limit and build_stencils(bd, N, limit) is None   # too many types to deduplicate
        st = reg._stencil
        assert st is not None and st[3].shape[0] > limit and st[3].nbytes <= bd.Ke.nbytes
        assert st[0].size + reg._general.size == N
        reg.U[:] = 0.1 * np.sin(reg.nodes @ np.arange(1, d + 1) * 0.7)[:, None] * np.arange(1, d + 1)
        E = reg.compute()
        K = reg.stiffness_matrix()
        u = reg.U.ravel()
        assert np.max(np.abs(K @ u + reg.forces.ravel())) <= 1e-12 * np.abs(reg.forces).max()
        assert abs(E - 0.5 * u @ (K @ u)) <= 1e-12 * E
        out.append((reg.forces.copy(), E))
    assert np.array_equal(out[0][0], out[1][0]) and out[0][1] == out[1][1]


def test_stencils_visited_by_type_bitwise(monkeypatch):
    """Stencils larger than the cache (here forced: threshold 0) are visited type by type, four nodes of a
    type at once in 3D (`continuum._by_type`, `msim_stencil4_3`): forces bitwise those of the index-order
    visit, equal to the assembled stiffness's, 1 and 2 threads bitwise; the energy to round-off."""
    from multiscale.fem import continuum

    G = MESHES.get("box")
    L = 12.0
    mesh = G.build(G.Params(lo=[0.0] * 3, hi=[L] * 3, size=3.0, core={"lo": [4.0] * 3, "hi": [8.0] * 3},
                            core_size=1.0, growth=1.5, element="hex8",
                            hole={"lo": [5.0] * 3, "hi": [7.0] * 3}))

    def region(sort: bool, nt: int = 1) -> ContinuumRegion:
        monkeypatch.setattr(continuum, "_STENCIL_SORT_BYTES", 0 if sort else 1 << 62)
        reg = ContinuumRegion(mesh, Isotropic(10.0, 0.3, 3), density=1.0, n_threads=nt)
        reg.set_blend(lambda X: np.clip((np.max(np.abs(X - L / 2), axis=1) - 1.0) / 2.5, 0, 1), n_sub=3)
        reg.U[:] = 0.1 * np.sin(reg.nodes @ np.arange(1.0, 4.0) * 0.3)[:, None] * np.arange(1.0, 4.0)
        reg.compute()
        return reg

    ref = region(False)
    assert not ref._stencil_sorted
    for nt in (1, 2):
        reg = region(True, nt)
        assert reg._stencil_sorted
        nodes, types, _ = reg._stencil_parts[0]
        assert np.all(np.diff(types) >= 0) and np.any(np.diff(nodes) < 0)     # by type, not by index
        assert np.max(np.bincount(types)) >= 4                                # the 4-node runs are used
        assert np.array_equal(reg.forces, ref.forces)
        E = reg.compute()
        K = reg.stiffness_matrix()
        u = reg.U.ravel()
        assert np.max(np.abs(K @ u + reg.forces.ravel())) <= 1e-12 * np.abs(reg.forces).max()
        assert abs(E - 0.5 * u @ (K @ u)) <= 1e-12 * E


@pytest.mark.parametrize("factor, built", [(1, False), (4, True)])
def test_many_stencil_types_kept_within_the_element_stiffness_budget(monkeypatch, factor: int, built: bool):
    """More node-stencil types than the cap (forced: 8) keep the stencils when their blocks take at most
    `_STENCIL_KE_FACTOR` × the element stiffness's bytes (session 24: the L = 35 3D bench grid, 24 325 types,
    47 MB against 22.6 MB, fell back to the element path, 2.3× slower); the forces are the same either way."""
    from multiscale.fem import continuum

    G = MESHES.get("box")
    L = 12.0
    mesh = G.build(G.Params(lo=[0.0] * 3, hi=[L] * 3, size=3.0, core={"lo": [4.0] * 3, "hi": [8.0] * 3},
                            core_size=1.0, growth=1.5, element="hex8"))
    monkeypatch.setattr(continuum, "_STENCIL_MAX_TYPES", 8)
    monkeypatch.setattr(continuum, "_STENCIL_KE_FACTOR", factor)
    reg = ContinuumRegion(mesh, Isotropic(10.0, 0.3, 3), density=1.0)
    reg.set_blend(lambda X: np.clip((np.max(np.abs(X - L / 2), axis=1) - 1.0) / 2.5, 0, 1), n_sub=3)
    reg.U[:] = 0.1 * np.sin(reg.nodes @ np.arange(1.0, 4.0) * 0.3)[:, None] * np.arange(1.0, 4.0)
    reg.compute()
    st = reg._stencil
    S_bytes, Ke_bytes = (st[3].nbytes if st is not None else 0), reg._blocks[0].Ke.nbytes
    assert (st is not None) == built
    if built:
        assert len(np.unique(st[1])) > 8 and Ke_bytes < S_bytes <= 4 * Ke_bytes
    K = reg.stiffness_matrix()
    assert np.max(np.abs(K @ reg.U.ravel() + reg.forces.ravel())) <= 1e-12 * np.abs(reg.forces).max()
