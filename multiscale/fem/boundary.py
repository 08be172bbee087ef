"""Boundary and volume loads turned into nodal forces: face tractions and body forces.

``traction_forces(mesh, faces, t)``: F_I = ∫_Γ t(X) N_I dS over the faces (nf, nfn) (face node order
irrelevant); ``t`` is a constant vector (d,) [energy/length^(d+1)] (force per area; in 1D a force) or a
callable ``t(X (m, d)) -> (m, d)``. ``body_forces(mesh, b)``: F_I = ∫ b N_I dV.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..registry import ELEMENTS
from .mesh import Mesh

_FACE_BY_NODES = {(1, 1): "point", (2, 2): "bar2", (3, 3): "tri3", (3, 4): "quad4"}


def _values(t, X: np.ndarray) -> np.ndarray:  # noqa: ANN001
    if callable(t):
        v = np.asarray(t(X), float)
    else:
        v = np.broadcast_to(np.asarray(t, float), X.shape)
    if v.shape != X.shape:
        raise ValueError(f"load must have shape {X.shape}, got {v.shape}")
    return v


def traction_forces(mesh: Mesh, faces: np.ndarray, t: np.ndarray | Callable, n_sub: int = 3) -> np.ndarray:
    """Nodal forces (N, d) [force] of traction t on the faces (nf, nfn) of the mesh."""
    faces = np.atleast_2d(np.asarray(faces, dtype=np.int64))
    d = mesh.dim
    out = np.zeros((mesh.n_nodes, d))
    if faces.size == 0:
        return out
    kind = _FACE_BY_NODES.get((d, faces.shape[1]))
    if kind is None:
        raise ValueError(f"faces of {faces.shape[1]} nodes are not faces of a {d}D mesh")
    if kind == "point":
        v = _values(t, mesh.nodes[faces[:, 0]])
        for k in range(d):
            out[:, k] = np.bincount(faces[:, 0], weights=v[:, k], minlength=mesh.n_nodes)
        return out
    el = ELEMENTS.get(kind)
    xs, ws = el.tributary(n_sub)
    xs, ws = xs.reshape(-1, el.dim), ws.reshape(-1)
    N = el.shape(xs)                                   # (ns, nfn)
    Xf = mesh.nodes[faces]                             # (nf, nfn, d)
    J = np.einsum("fad,sak->fsdk", Xf, el.dshape(xs))  # (nf, ns, d, d-1)
    dS = np.sqrt(np.linalg.det(np.einsum("fsdk,fsdl->fskl", J, J))) * ws
    Xs = np.einsum("sa,fad->fsd", N, Xf)
    v = _values(t, Xs.reshape(-1, d)).reshape(Xs.shape)
    contrib = np.einsum("fs,sa,fsd->fad", dS, N, v)
    for k in range(d):
        out[:, k] = np.bincount(faces.ravel(), weights=contrib[:, :, k].ravel(), minlength=mesh.n_nodes)
    return out


def body_forces(mesh: Mesh, b: np.ndarray | Callable, alpha_fn: Callable | None = None,
                n_sub: int = 3) -> np.ndarray:
    """Nodal forces (N, d) [force] of a body force density b [force/length^d], F_I = ∫ α b N_I dV
    (α ≡ 1 when alpha_fn is None)."""
    d = mesh.dim
    out = np.zeros((mesh.n_nodes, d))
    for blk in mesh.blocks:
        el = blk.element
        xs, ws = el.tributary(n_sub)
        xs, ws = xs.reshape(-1, el.dim), ws.reshape(-1)
        N = el.shape(xs)
        Xe = mesh.nodes[blk.conn]
        dV = np.linalg.det(np.einsum("ead,sak->esdk", Xe, el.dshape(xs))) * ws
        Xs = np.einsum("sa,ead->esd", N, Xe)
        v = _values(b, Xs.reshape(-1, d)).reshape(Xs.shape)
        if alpha_fn is not None:
            dV = dV * np.asarray(alpha_fn(Xs.reshape(-1, d)), float).reshape(dV.shape)
        contrib = np.einsum("es,sa,esd->ead", dV, N, v)
        for k in range(d):
            out[:, k] += np.bincount(blk.conn.ravel(), weights=contrib[:, :, k].ravel(),
                                     minlength=mesh.n_nodes)
    return out
