"""A slit (a crack with two independent faces) along a grid line of a 2D mesh.

`slit_mesh(mesh, y, x_lo, x_hi)` cuts the mesh along the line Y = ``y`` [length] for ``x_lo`` < X <
``x_hi``: the slit is the set of element edges lying on that line whose midpoints fall in (x_lo, x_hi).
Every node of a slit edge is duplicated, except a crack-tip node (a node that is also the end of an
intact edge on the line, so the material stays joined ahead of the tip) and a node without elements on
both sides. The elements above the line (centroid Y > y) are reconnected to the duplicates, the elements
below keep the original nodes, so the two faces move independently: an opening across the slit costs no
strain energy, while rigid motions and uniform strains (one displacement field on both faces) are still
represented exactly.

The returned mesh holds the original N nodes (same indices) followed by the n_s duplicates. Node sets that
contained a duplicated node contain its duplicate too; face sets are remapped (a face of an upper element
refers to the duplicates); new sets: node sets ``slit_lower`` (the originals on the slit, lower face) and
``slit_upper`` (their duplicates, same order), face sets ``slit_lower`` / ``slit_upper`` (the bar2 faces of
the two crack faces, outward node order). The mesh must have an edge line at Y = y (the structured
generators put a grid line there with their ``slit`` option).
"""

from __future__ import annotations

import numpy as np

from .mesh import ElementBlock, Mesh


def _line_edges(mesh: Mesh, on: np.ndarray) -> np.ndarray:
    """Unique element edges (ne, 2) int64 (sorted node pairs) whose two nodes lie on the line."""
    edges = []
    for blk in mesh.blocks:
        el = blk.element
        f = blk.conn[:, el.faces].reshape(-1, el.faces.shape[1])
        edges.append(f[np.all(on[f], axis=1)])
    e = np.concatenate(edges) if edges else np.zeros((0, 2), np.int64)
    return np.unique(np.sort(e, axis=1), axis=0) if len(e) else e.reshape(0, 2)


def slit_mesh(mesh: Mesh, y: float, x_lo: float, x_hi: float, tol: float | None = None) -> Mesh:
    """The mesh cut along Y = y for x_lo < X < x_hi (see the module docstring).

    mesh : 2D `Mesh` (nodes (N, 2)); y, x_lo, x_hi [length]; tol : coordinate tolerance [length]
    (default 1e-9 × the mesh extent). Returns a new `Mesh` with N + n_s nodes; raises ValueError when no
    element edge lies on the slit.
    """
    if mesh.dim != 2:
        raise ValueError(f"slit_mesh needs a 2D mesh, got {mesh.dim}D")
    if not x_hi > x_lo:
        raise ValueError(f"slit needs x_lo < x_hi, got {x_lo} and {x_hi}")
    X = mesh.nodes
    N = mesh.n_nodes
    if tol is None:
        tol = 1e-9 * max(float(np.max(np.ptp(X, axis=0))), 1.0)
    on = np.abs(X[:, 1] - y) <= tol
    edges = _line_edges(mesh, on)
    mid = 0.5 * (X[edges[:, 0], 0] + X[edges[:, 1], 0]) if len(edges) else np.zeros(0)
    in_slit = (mid > x_lo + tol) & (mid < x_hi - tol)
    if not np.any(in_slit):
        raise ValueError(f"no element edge lies on the slit y = {y:g}, {x_lo:g} < x < {x_hi:g} "
                         "(the mesh needs a grid line there)")
    cand = np.unique(edges[in_slit])
    tips = np.unique(edges[~in_slit]) if np.any(~in_slit) else np.zeros(0, np.int64)
    cand = np.setdiff1d(cand, tips)
    # a duplicated node needs elements on both sides of the line
    above = np.zeros(N, bool)
    below = np.zeros(N, bool)
    upper_el = []
    for blk in mesh.blocks:
        cy = X[blk.conn, 1].mean(axis=1)
        up = cy > y + tol
        upper_el.append(up)
        above[blk.conn[up].ravel()] = True
        below[blk.conn[cy < y - tol].ravel()] = True
    dup = cand[above[cand] & below[cand]]
    if dup.size == 0:
        raise ValueError("slit: no node on the slit has elements on both sides")
    new_id = np.arange(N, dtype=np.int64)
    new_id[dup] = N + np.arange(dup.size)
    blocks = []
    for blk, up in zip(mesh.blocks, upper_el, strict=True):
        conn = blk.conn.copy()
        conn[up] = new_id[conn[up]]
        blocks.append(ElementBlock(blk.type, conn))
    nodes = np.vstack([X, X[dup]])
    is_dup = np.zeros(N, bool)
    is_dup[dup] = True
    node_sets = {}
    for name, idx in mesh.node_sets.items():
        idx = np.asarray(idx, np.int64)
        node_sets[name] = np.concatenate([idx, new_id[idx[is_dup[idx]]]])
    face_sets = {}
    for name, f in mesh.face_sets.items():
        f = np.asarray(f, np.int64).copy()
        if f.size:
            upper_face = X[f, 1].mean(axis=1) > y + tol
            f[upper_face] = new_id[f[upper_face]]
        face_sets[name] = f
    node_sets["slit_lower"] = dup.copy()
    node_sets["slit_upper"] = new_id[dup]
    on_new = np.concatenate([on, on[dup]])
    faces = {"slit_upper": [], "slit_lower": []}
    for blk, up in zip(blocks, upper_el, strict=True):
        el = blk.element
        f = blk.conn[:, el.faces]                                  # (ne, nfaces, nfn), outward order
        hit = np.all(on_new[f], axis=2)
        fm = nodes[f[..., 0], 0] * 0.5 + nodes[f[..., -1], 0] * 0.5
        hit &= (fm > x_lo + tol) & (fm < x_hi - tol)
        faces["slit_upper"].append(f[hit & up[:, None]])
        faces["slit_lower"].append(f[hit & ~up[:, None]])
    for name, parts in faces.items():
        face_sets[name] = np.concatenate(parts).reshape(-1, 2)
    out = Mesh(nodes, blocks, node_sets, face_sets)
    return out

