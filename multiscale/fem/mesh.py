"""The finite-element mesh: nodes, element blocks, named node and face sets.

Shapes: ``N`` nodes, ``d`` dimension (1, 2 or 3), ``ne`` elements of a block with ``nen`` nodes each,
``nf`` faces of ``nfn`` nodes. Coordinates in the deck's length unit. Connectivities are int64, local
node order as the element classes define (VTK/gmsh order for quad4/hex8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..registry import ELEMENTS
from . import elements as _elements  # noqa: F401  (registration)


@dataclass
class ElementBlock:
    """One element type and its connectivity ``conn (ne, nen)`` int64 (indices into ``Mesh.nodes``)."""

    type: str
    conn: np.ndarray

    def __post_init__(self) -> None:
        self.conn = np.ascontiguousarray(np.asarray(self.conn, dtype=np.int64))
        el = ELEMENTS.get(self.type)
        if self.conn.ndim != 2 or self.conn.shape[1] != el.nen:
            raise ValueError(f"{self.type} block: conn must have shape (ne, {el.nen}), got {self.conn.shape}")

    @property
    def element(self):  # noqa: ANN201 - an Element class
        return ELEMENTS.get(self.type)

    def __len__(self) -> int:
        return int(self.conn.shape[0])


def _jacobians(el, Xe: np.ndarray, xi: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """J = dX/dξ (ne, nq, d, dim) at points ξ (nq, dim) of elements Xe (ne, nen, d) as one matrix product
    (ne·d, nen) @ (nen, nq·dim) (``Element._J``'s values to round-off, several times faster than its
    batched product of small matrices)."""
    dN = el.dshape(xi)                                                     # (nq, nen, dim)
    ne, nen, d = Xe.shape
    nq, _, dim = dN.shape
    A = np.ascontiguousarray(np.swapaxes(Xe, 1, 2)).reshape(ne * d, nen)
    B = np.ascontiguousarray(np.swapaxes(dN, 0, 1)).reshape(nen, nq * dim)
    return (A @ B).reshape(ne, d, nq, dim).transpose(0, 2, 1, 3)


def _det(J: np.ndarray) -> np.ndarray:
    """det of the (..., k, k) matrices J: the cofactor formula for k = 1, 2, 3, ``np.linalg.det`` else."""
    k = J.shape[-1]
    if J.shape[-2] != k or k > 3:
        return np.linalg.det(J)
    if k == 1:
        return J[..., 0, 0].copy()
    if k == 2:
        return J[..., 0, 0] * J[..., 1, 1] - J[..., 0, 1] * J[..., 1, 0]
    a, b, c = J[..., 0, 0], J[..., 0, 1], J[..., 0, 2]
    d, e, f = J[..., 1, 0], J[..., 1, 1], J[..., 1, 2]
    g, h, i = J[..., 2, 0], J[..., 2, 1], J[..., 2, 2]
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


@dataclass
class Mesh:
    """Nodes (N, d), element blocks of one dimension d, node sets (name -> int64 indices) and face sets
    (name -> (nf, nfn) int64 node indices, one face type per set, outward node order)."""

    nodes: np.ndarray
    blocks: list[ElementBlock]
    node_sets: dict[str, np.ndarray] = field(default_factory=dict)
    face_sets: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.nodes = np.ascontiguousarray(np.asarray(self.nodes, dtype=float))
        if self.nodes.ndim == 1:
            self.nodes = self.nodes[:, None].copy()
        if self.nodes.ndim != 2 or self.nodes.shape[1] not in (1, 2, 3):
            raise ValueError(f"mesh nodes must have shape (N, d) with d in 1..3, got {self.nodes.shape}")
        self.blocks = [b if isinstance(b, ElementBlock) else ElementBlock(*b) for b in self.blocks]
        if not self.blocks:
            raise ValueError("mesh has no element blocks")
        n = self.n_nodes
        for b in self.blocks:
            if b.element.dim != self.dim:
                raise ValueError(f"{b.type} elements (dim {b.element.dim}) in a {self.dim}D mesh")
            if len(b) and (b.conn.min() < 0 or b.conn.max() >= n):
                raise ValueError(f"{b.type} block refers to nodes outside 0..{n - 1}")
        self.node_sets = {k: np.unique(np.asarray(v, dtype=np.int64)) for k, v in self.node_sets.items()}
        self.face_sets = {k: np.ascontiguousarray(np.asarray(v, dtype=np.int64)) for k, v in
                          self.face_sets.items()}
        self.check_orientation()

    # ---------------------------------------------------------------- basic properties
    @property
    def dim(self) -> int:
        return int(self.nodes.shape[1])

    @property
    def n_nodes(self) -> int:
        return int(self.nodes.shape[0])

    @property
    def n_elements(self) -> int:
        return sum(len(b) for b in self.blocks)

    @property
    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo (d,), hi (d,)) of the nodes [length]."""
        return self.nodes.min(axis=0), self.nodes.max(axis=0)

    def element_volumes(self) -> list[np.ndarray]:
        """Per block, the (ne,) element volumes (length, area or volume)."""
        out = []
        for b in self.blocks:
            el = b.element
            xi, w = el.quadrature()
            _, detJ, _ = el.jacobian(self.nodes[b.conn], xi)
            out.append(detJ @ w)
        return out

    def volume(self) -> float:
        """Total measure of the mesh [length^d]."""
        return float(sum(v.sum() for v in self.element_volumes()))

    def check_orientation(self) -> None:
        """Raise ValueError when an element has a non-positive Jacobian at a quadrature point.

        J by one matrix product and det J by the cofactor formula (2×2, 3×3), several times faster than
        ``Element.det_jacobian`` (batched small products, ``np.linalg.det``'s batched LU); the two differ
        by round-off, which matters only for elements degenerate to round-off, rejected by either."""
        for b in self.blocks:
            if not len(b):
                continue
            el = b.element
            xi, _ = el.quadrature()
            detJ = np.concatenate([_det(_jacobians(el, self.nodes[b.conn[s:s + 100000]], xi))
                                   for s in range(0, len(b), 100000)])
            bad = np.nonzero(np.min(detJ, axis=1) <= 0)[0]
            if bad.size:
                raise ValueError(f"{b.type} block: {bad.size} element(s) inverted or degenerate "
                                 f"(first: element {bad[0]}, nodes {b.conn[bad[0]].tolist()})")

    # ---------------------------------------------------------------- selections
    def nodes_in(self, predicate: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Indices (int64) of the nodes X (N, d) for which ``predicate(X) -> (N,) bool`` is true."""
        mask = np.asarray(predicate(self.nodes), dtype=bool)
        if mask.shape != (self.n_nodes,):
            raise ValueError(f"node predicate must return shape ({self.n_nodes},), got {mask.shape}")
        return np.nonzero(mask)[0].astype(np.int64)

    def boundary_faces(self) -> np.ndarray:
        """All faces that belong to exactly one element, (nf, nfn) int64, outward node order (cached).

        Mixed-type meshes whose faces differ in node count (e.g. hex8 + tet4) are not supported here."""
        cached = self.__dict__.get("_bfaces")
        if cached is not None:
            return cached
        faces = []
        for b in self.blocks:
            el = b.element
            faces.append(b.conn[:, el.faces].reshape(-1, el.faces.shape[1]))
        f = np.concatenate(faces)
        key = np.sort(f, axis=1)
        order = np.lexsort(key.T[::-1])
        ks = key[order]
        new = np.concatenate([[True], np.any(ks[1:] != ks[:-1], axis=1), [True]])
        starts = np.nonzero(new)[0]
        single = starts[:-1][np.diff(starts) == 1]
        out = np.ascontiguousarray(f[np.sort(order[single])])
        self.__dict__["_bfaces"] = out
        return out

    def faces_in(self, predicate: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Boundary faces all of whose nodes satisfy ``predicate(X (m, d)) -> (m,) bool``."""
        f = self.boundary_faces()
        ok = np.asarray(predicate(self.nodes), dtype=bool)
        return f[np.all(ok[f], axis=1)]

    def face_type(self) -> str:
        """Element name of the faces (``point``, ``bar2``, ``tri3`` or ``quad4``) of the first block."""
        return self.blocks[0].element.face_type

    def to_meshio(self):  # noqa: ANN201
        """A ``meshio.Mesh`` of this mesh (node sets and face sets are not exported)."""
        import meshio

        names = {"bar2": "line", "tri3": "triangle", "quad4": "quad", "tet4": "tetra", "hex8": "hexahedron"}
        pts = self.nodes if self.dim == 3 else np.pad(self.nodes, ((0, 0), (0, 3 - self.dim)))
        return meshio.Mesh(pts, [(names[b.type], b.conn) for b in self.blocks])

    def __repr__(self) -> str:
        blocks = ", ".join(f"{b.type}×{len(b)}" for b in self.blocks)
        return (f"Mesh({self.n_nodes} nodes, {self.dim}D, [{blocks}], node_sets={sorted(self.node_sets)}, "
                f"face_sets={sorted(self.face_sets)})")
