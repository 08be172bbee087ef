"""Node stencils: the assembled linear operator of elements on the stored-stiffness path, deduplicated.

A node whose incident elements are all on the linear stored-stiffness path (uniform α per element) gets
its force as ``f_I = −Σ_s S_t[s] U_{nbr[I, s]}`` with a d×d block stencil ``S_t`` shared by every node of
the same *type* t: same incident (geometry, local node, α) list, same neighbour arrangement. On structured
and graded meshes there are few types, so a step reads one index per neighbour instead of a matrix row
(≈ 2–4× less memory traffic than CSR and half the multiply-adds of element-by-element products).
Nodes that touch other elements (the per-quadrature-point path of the handshake) and meshes with too
many types use the element path. Built once per `ContinuumRegion.set_blend`.
"""

from __future__ import annotations

import numpy as np

from .._kernels import load
from ._blockdata import BlockData, unique_rows


def build_stencils(bd: BlockData, n_nodes: int, max_types: int, max_bytes: int = 0) -> tuple | None:
    """(nodes (ns,) int32, type (ns,) int32, nbr (ns, NS) int32, S (nt, NS, d, d)) for the stencil nodes
    of a single-block mesh, or None when there are more than ``max_types`` types whose blocks S would
    also take more than ``max_bytes`` bytes (an irregular mesh, one type per node: its stencils are an
    assembled block matrix, worth it when smaller than the element stiffness it replaces), or no
    candidate node."""
    if bd.Ke is None:
        return None
    nen = bd.conn.shape[1]
    d = bd.dN.shape[3]
    ptr, ent = bd.ptr.astype(np.int64), bd.ent.astype(np.int64)
    val = np.diff(ptr)
    e_of, a_of = ent // nen, ent % nen
    mode = bd.mode[e_of]
    node_of = np.repeat(np.arange(n_nodes), val)
    bad = np.zeros(n_nodes, bool)
    bad[node_of[mode == 2]] = True
    ok = (~bad) & (np.bincount(node_of[mode == 1], minlength=n_nodes) > 0)
    cand = np.nonzero(ok)[0]
    if not cand.size:
        return None
    vmax = int(val.max())
    # key per node: (g, a, α) of each incidence in order (mode-0 incidences count as α = 0), padded
    slot = np.arange(ent.size) - np.repeat(ptr[:-1], val)
    key = np.full((n_nodes, vmax, 3), -1.0)
    alpha = np.where(mode == 1, bd.alpha_e[e_of], 0.0)
    key[node_of, slot] = np.stack([bd.geom[e_of].astype(float), a_of.astype(float), alpha], axis=1)
    key = key.reshape(n_nodes, -1)[cand]
    first, types = unique_rows(key)
    if first.size > max_types and not max_bytes:
        return None
    nt = first.size
    # the incidences of every type's representative, in the order (type, incidence, local node b):
    # neighbour slots are numbered by first appearance of the neighbour J within the type
    rep = cand[first]
    nk = val[rep]                                           # (nt,) incidences per type
    tk = np.repeat(np.arange(nt), nk)                      # (sum nk,) type of each incidence
    kk = np.arange(tk.size) - np.repeat(np.cumsum(nk) - nk, nk)   # incidence index within its type
    pk = ptr[rep][tk] + kk                                 # position in ent
    ek, ak = e_of[pk], a_of[pk]
    Jf = bd.conn[ek].astype(np.int64).ravel()              # (sum nk * nen,) in (type, k, b) order
    tf = np.repeat(tk, nen)
    _, ufirst, uinv = np.unique(tf * np.int64(n_nodes) + Jf, return_index=True, return_inverse=True)
    order = np.argsort(ufirst, kind="stable")              # first appearances, type-major
    ut = tf[ufirst[order]]
    ustart = np.searchsorted(ut, np.arange(nt))
    uslot = np.empty(ufirst.size, np.int64)
    uslot[order] = np.arange(ufirst.size) - ustart[ut]
    slot = uslot[uinv.ravel()]                             # (sum nk * nen,)
    nslots = int(slot.max()) + 1
    if nt > max_types and nt * nslots * d * d * 8 > max_bytes:
        return None
    # stencil blocks: Σ over the (type, k, b) of mode 1 of α_e K_e[a, b], accumulated in that order
    # (kernels/fem_setup.pyx: the arithmetic and order of np.add.at over those blocks, the same bits)
    kern = load("fem_setup")
    S = np.zeros((nt, nslots, d, d))
    kern.stencil_blocks(S, tk, np.ascontiguousarray(ek), np.ascontiguousarray(ak), np.ascontiguousarray(slot),
                        np.ascontiguousarray(bd.mode, dtype=np.int8), np.ascontiguousarray(bd.geom, np.int64),
                        np.ascontiguousarray(bd.alpha_e, float), np.ascontiguousarray(bd.Ke, float))
    bf = np.tile(np.arange(nen), tk.size)
    smap = np.zeros((nt, vmax, nen), np.int64)
    smap[tf, np.repeat(kk, nen), bf] = slot
    # every candidate node: its neighbours in its type's slots; a node whose topology differs from its
    # representative's (two different J in one slot) takes the element path
    nc = cand.size
    ncand = val[cand]
    cc = np.repeat(np.arange(nc), ncand)
    kc = np.arange(cc.size) - np.repeat(np.cumsum(ncand) - ncand, ncand)
    ec = e_of[ptr[cand][cc] + kc]
    nbr = np.full((nc, nslots), -1, np.int64)
    keep = np.ones(nc, np.uint8)
    kern.stencil_neighbours(nbr, keep, cc, kc, ec, np.ascontiguousarray(types[cc], np.int64), smap,
                            np.ascontiguousarray(bd.conn, np.int64))
    keep = keep.view(bool)
    nbr = np.where(nbr < 0, cand[:, None], nbr)  # padding slots (zero blocks) point at the node itself
    return (cand[keep].astype(np.int32), types[keep].astype(np.int32),
            np.ascontiguousarray(nbr[keep].astype(np.int32)), S)


def split_relative(nodes: np.ndarray, types: np.ndarray, nbr: np.ndarray) -> tuple:
    """Split stencil nodes into those whose neighbour offsets J − I are the same for every node of their
    type (structured regions: no per-node index list needed) and the rest.

    Returns ((nodes_r, types_r, offsets (nt, NS) int32), (nodes_x, types_x, nbr_x))."""
    nt = int(types.max()) + 1 if types.size else 0
    off = nbr.astype(np.int64) - nodes[:, None]
    first, _ = unique_rows(np.column_stack([types, off]))
    combos = np.bincount(types[first], minlength=nt)
    table = np.zeros((nt, nbr.shape[1]), np.int64)
    table[types[first]] = off[first]
    rel = (combos == 1)[types]
    if np.any(np.abs(table) >= 2**31 - 1):
        rel[:] = False
    return ((nodes[rel], types[rel], np.ascontiguousarray(table.astype(np.int32))),
            (nodes[~rel], types[~rel], np.ascontiguousarray(nbr[~rel])))
