"""Mesh, generators (graded, with holes), gmsh import, point location and the interpolation matrix."""

from __future__ import annotations

import meshio
import numpy as np
import pytest

from multiscale.errors import DeckError
from multiscale.fem import ContinuumRegion, ElementBlock, Mesh
from multiscale.fem.generators import graded_axis
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.registry import ELEMENTS, MESHES

from .helpers import mesh_for


@pytest.mark.parametrize("elem", ELEMENTS.names())
def test_element_reference_data(elem):
    el = ELEMENTS.get(elem)
    xi, w = el.quadrature()
    assert abs(w.sum() - el.ref_volume) < 1e-15
    assert np.allclose(el.shape(el.ref_nodes), np.eye(el.nen))
    pts = np.random.default_rng(0).uniform(0, 0.3, (5, el.dim))
    assert np.allclose(el.shape(pts).sum(axis=1), 1.0) and np.allclose(el.dshape(pts).sum(axis=1), 0.0)
    h = 1e-6
    for k in range(el.dim):
        e = np.eye(el.dim)[k] * h
        fd = (el.shape(pts + e) - el.shape(pts - e)) / (2 * h)
        assert np.allclose(fd, el.dshape(pts)[:, :, k], atol=1e-9)
    xs, ws = el.tributary(3)
    assert abs(ws.sum() - el.ref_volume) < 1e-14 and np.allclose(ws.sum(axis=1), w)
    # the tributary parts are around their own Gauss points
    for q in range(xi.shape[0]):
        c = np.einsum("s,sk->k", ws[q], xs[q]) / ws[q].sum()
        assert np.allclose(c, xi[q] if el.simplex else np.sign(xi[q]) * 0.5 if el.dim and xi.shape[0] > 1
                           else xi[q])


@pytest.mark.parametrize("elem", ELEMENTS.names())
def test_faces_outward_and_closed(elem):
    """Each element's faces have outward normals and their vector areas sum to zero (closed surface)."""
    mesh = mesh_for(elem, n=1)
    el = ELEMENTS.get(elem)
    Xe = mesh.nodes[mesh.blocks[0].conn[0]]
    c = Xe.mean(axis=0)
    total = np.zeros(mesh.dim)
    for f in el.faces:
        P = Xe[f]
        if mesh.dim == 1:
            n = np.sign(P[0] - c)
        elif mesh.dim == 2:
            t = P[1] - P[0]
            n = np.array([t[1], -t[0]])
        else:
            n = 0.5 * sum(np.cross(P[i] - P.mean(0), P[(i + 1) % len(f)] - P.mean(0)) for i in range(len(f)))
        assert np.dot(n, P.mean(axis=0) - c) > 0
        total += n
    if mesh.dim > 1:
        assert np.allclose(total, 0.0, atol=1e-12)


@pytest.mark.parametrize(("gen", "element"), [("bar", None), ("rectangle", "quad4"), ("rectangle", "tri3"),
                                              ("box", "hex8"), ("box", "tet4")])
def test_graded_generator_with_hole(gen, element):
    d = {"bar": 1, "rectangle": 2, "box": 3}[gen]
    lo, hi = [0.0] * d, [40.0] * d
    core = {"lo": [14.0] * d, "hi": [26.0] * d}
    hole = {"lo": [16.0] * d, "hi": [24.0] * d}
    G = MESHES.get(gen)
    kw = dict(lo=lo, hi=hi, size=8.0, core=core, core_size=1.0, growth=1.5, hole=hole)
    if element:
        kw["element"] = element
    mesh = G.build(G.Params(**kw))
    assert abs(mesh.volume() - (40.0**d - 8.0**d)) <= 1e-9 * 40.0**d
    # conforming: interior faces shared by exactly two elements, boundary = outer + hole surface
    bf = mesh.boundary_faces()
    named = sum(len(mesh.face_sets[k]) for k in mesh.face_sets)
    assert named == len(bf)
    # no element inside the hole, nodes on the hole boundary kept
    c = mesh.nodes[mesh.blocks[0].conn].mean(axis=1)
    assert not np.any(np.all((c > 16) & (c < 24), axis=1))
    assert np.all(np.all((mesh.nodes[mesh.node_sets["hole"]] >= 16 - 1e-9)
                         & (mesh.nodes[mesh.node_sets["hole"]] <= 24 + 1e-9), axis=1))
    # graded: fine (1.0) in the core, coarse far away, neighbours grow by at most ~growth
    x = np.unique(np.round(mesh.nodes[:, 0], 9))
    h = np.diff(x)
    keep = ~((x[:-1] >= 16) & (x[1:] <= 24) & (h > 1.5))  # the gap of the hole (1D)
    x0, x1, h = x[:-1][keep], x[1:][keep], h[keep]
    assert np.allclose(h[(x0 >= 14) & (x1 <= 26)], 1.0)
    assert h.max() > 5.0 and np.max(h[1:] / h[:-1]) < 1.5 * 1.1 and np.max(h[:-1] / h[1:]) < 1.5 * 1.1


def test_graded_axis_hits_breakpoints():
    x = graded_axis(0.0, 100.0, 10.0, core=(40.0, 60.0), core_size=1.0, growth=1.2, breaks=(45.0, 55.5))
    for b in (0.0, 40.0, 45.0, 55.5, 60.0, 100.0):
        assert np.min(np.abs(x - b)) == 0.0
    assert np.all(np.diff(x) > 0) and np.diff(x).max() <= 10.0 + 1e-9


def _write_gmsh(tmp_path, pts, cells, phys, field):  # noqa: ANN001, ANN202
    m = meshio.Mesh(pts, cells, cell_data={"gmsh:physical": phys, "gmsh:geometrical": phys},
                    field_data=field)
    path = tmp_path / "m.msh"
    m.write(str(path), file_format="gmsh22", binary=False)
    return path


def test_gmsh_file_with_physical_groups(tmp_path):
    G = MESHES.get("rectangle")
    ref = G.build(G.Params(lo=[0, 0], hi=[3, 2], size=0.5, element="tri3"))
    # clockwise triangles in the file must be reoriented; add unused node and 3D zero coordinates
    tri = ref.blocks[0].conn[:, [0, 2, 1]]
    pts = np.vstack([np.pad(ref.nodes, ((0, 0), (0, 1))), [[9.0, 9.0, 0.0]]])
    left, right = ref.face_sets["xlo"], ref.face_sets["xhi"]
    path = _write_gmsh(tmp_path, pts, [("triangle", tri), ("line", np.vstack([left, right]))],
                       [np.full(len(tri), 1), np.r_[np.full(len(left), 2), np.full(len(right), 3)]],
                       {"plate": np.array([1, 2]), "left": np.array([2, 1]), "right": np.array([3, 1])})
    F = MESHES.get("file")
    mesh = F.build(F.Params(path=path.name), deck_dir=str(tmp_path))
    assert mesh.dim == 2 and mesh.n_nodes == ref.n_nodes and abs(mesh.volume() - 6.0) < 1e-12
    assert set(mesh.face_sets) == {"left", "right"}
    assert np.allclose(mesh.nodes[mesh.node_sets["left"], 0], 0.0)
    assert len(mesh.node_sets["right"]) == len(ref.node_sets["xhi"])
    assert len(mesh.node_sets["plate"]) == mesh.n_nodes
    with pytest.raises(DeckError, match="not found"):
        F.build(F.Params(path="nope.msh"), deck_dir=str(tmp_path))


def test_gmsh_hex_file(tmp_path):
    ref = mesh_for("hex8", n=2, distort=0.1)
    zhi = ref.face_sets["zhi"]
    path = _write_gmsh(tmp_path, ref.nodes, [("hexahedron", ref.blocks[0].conn), ("quad", zhi)],
                       [np.full(len(ref.blocks[0]), 1), np.full(len(zhi), 5)],
                       {"solid": np.array([1, 3]), "top": np.array([5, 2])})
    F = MESHES.get("file")
    mesh = F.build(F.Params(path=str(path), scale=2.0))
    assert abs(mesh.volume() - 8 * ref.volume()) < 1e-10
    assert mesh.face_sets["top"].shape == zhi.shape


def test_mesh_validation():
    with pytest.raises(ValueError, match="inverted"):
        Mesh(np.array([[0.0, 0], [1, 0], [0, 1]]), [ElementBlock("tri3", [[0, 2, 1]])])
    with pytest.raises(ValueError, match="outside"):
        Mesh(np.array([[0.0, 0], [1, 0], [0, 1]]), [ElementBlock("tri3", [[0, 1, 3]])])
    with pytest.raises(ValueError, match="dim"):
        Mesh(np.array([[0.0, 0], [1, 0], [0, 1]]), [ElementBlock("bar2", [[0, 1]])])


@pytest.mark.parametrize("elem", ELEMENTS.names())
def test_interpolation_matrix(elem):
    """Rows sum to 1, reproduce linear fields exactly at arbitrary points; points outside are named."""
    mesh = mesh_for(elem, n=4, distort=0.2)
    d = mesh.dim
    reg = ContinuumRegion(mesh, Isotropic(1.0, 0.25, d), density=1.0)
    rng = np.random.default_rng(1)
    P = np.vstack([rng.uniform(0, 3, (500, d)), mesh.nodes[:5], np.full((1, d), 3.0)])
    A = reg.interpolation_matrix(P)
    assert A.shape == (P.shape[0], mesh.n_nodes)
    assert np.allclose(np.asarray(A.sum(axis=1)).ravel(), 1.0, atol=1e-13)
    G = rng.normal(size=(d, d))
    assert np.allclose(A @ (mesh.nodes @ G.T), P @ G.T, atol=1e-12)
    bad = np.vstack([P[:3], np.full((1, d), 3.5), np.full((1, d), -0.1)])
    with pytest.raises(ValueError, match=r"2 point\(s\) outside the mesh: #3"):
        reg.interpolation_matrix(bad)


def test_interpolation_in_graded_mesh_with_hole():
    G = MESHES.get("rectangle")
    mesh = G.build(G.Params(lo=[0, 0], hi=[100, 100], size=10, core={"lo": [40, 40], "hi": [60, 60]},
                            core_size=0.5, growth=1.3, hole={"lo": [45, 45], "hi": [55, 55]}))
    reg = ContinuumRegion(mesh, Isotropic(1.0, 0.25, 2), density=1.0)
    rng = np.random.default_rng(2)
    P = rng.uniform(0, 100, (20000, 2))
    P = P[~np.all((P > 45) & (P < 55), axis=1)]
    A = reg.interpolation_matrix(P)
    assert np.allclose(A @ mesh.nodes, P, atol=1e-10)
    with pytest.raises(ValueError, match="outside"):
        reg.interpolation_matrix(np.array([[50.0, 50.0]]))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_orientation_determinant_is_lapack_det_to_round_off(k):
    """The cofactor det of `Mesh.check_orientation` against ``np.linalg.det``; inverted hex8 and quad4
    elements are still refused."""
    from multiscale.fem.mesh import _det
    rng = np.random.default_rng(k)
    J = rng.normal(size=(500, 4, k, k))
    ref = np.linalg.det(J)
    assert np.allclose(_det(J), ref, rtol=0, atol=1e-13 * np.max(np.abs(J)) ** k)
    assert np.array_equal(np.sign(_det(J)), np.sign(ref))
    sq = np.array([[0.0, 0], [1, 0], [1, 1], [0, 1]])
    Mesh(sq, [ElementBlock("quad4", [[0, 1, 2, 3]])])
    with pytest.raises(ValueError, match="inverted"):
        Mesh(sq, [ElementBlock("quad4", [[0, 3, 2, 1]])])
    cube = np.array([[x, y, z] for z in (0.0, 1.0) for y in (0.0, 1.0) for x in (0.0, 1.0)])
    hexc = [0, 1, 3, 2, 4, 5, 7, 6]
    Mesh(cube, [ElementBlock("hex8", [hexc])])
    with pytest.raises(ValueError, match="inverted"):
        Mesh(cube, [ElementBlock("hex8", [hexc[4:] + hexc[:4]])])


@pytest.mark.parametrize("name", ["tri3", "quad4", "tet4", "hex8"])
def test_orientation_jacobians_are_the_elements_to_round_off(name):
    from multiscale.fem.mesh import _det, _jacobians
    el = ELEMENTS.get(name)
    rng = np.random.default_rng(5)
    Xe = el.ref_nodes[None] + 0.1 * rng.normal(size=(300, *el.ref_nodes.shape))
    xi, _ = el.quadrature()
    J = _jacobians(el, Xe, xi)
    assert J.shape == el._J(Xe, xi).shape
    assert np.allclose(J, el._J(Xe, xi), rtol=0, atol=1e-14)
    assert np.allclose(_det(J), el.det_jacobian(Xe, xi), rtol=0, atol=1e-13)
