"""The node stencils' compiled set-up (kernels/fem_setup.pyx, issue 13): `build_stencils` gives bitwise the
arrays of the NumPy code it replaced (``np.add.at`` of the α_e K_e blocks in (type, incidence, b) order;
the neighbour table by fancy assignment), copied here as the reference, on graded meshes with a blend."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.fem import ContinuumRegion
from multiscale.fem._blockdata import BlockData, unique_rows
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.fem.stencil import build_stencils
from multiscale.registry import MESHES


def _numpy_build_stencils(bd: BlockData, n_nodes: int, max_types: int, max_bytes: int = 0) -> tuple | None:
    """The NumPy `build_stencils` before kernels/fem_setup.pyx (main 17a623e), verbatim."""
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
    S = np.zeros((nt, nslots, d, d))
    on = np.repeat(mode[pk] == 1, nen)
    bf = np.tile(np.arange(nen), tk.size)
    ef, af = np.repeat(ek, nen)[on], np.repeat(ak, nen)[on]
    Kb = bd.Ke.reshape(-1, nen, d, nen, d)
    blocks = bd.alpha_e[ef][:, None, None] * Kb[bd.geom[ef], af, :, bf[on], :]
    np.add.at(S, (tf[on], slot[on]), blocks)
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
    keep = np.ones(nc, bool)
    for b in range(nen):
        J = bd.conn[ec, b].astype(np.int64)
        sb = smap[types[cc], kc, b]
        nbr[cc, sb] = J
    for b in range(nen):
        J = bd.conn[ec, b].astype(np.int64)
        sb = smap[types[cc], kc, b]
        keep[cc[nbr[cc, sb] != J]] = False  # topology differs from the representative: element path
    nbr = np.where(nbr < 0, cand[:, None], nbr)  # padding slots (zero blocks) point at the node itself
    return (cand[keep].astype(np.int32), types[keep].astype(np.int32),
            np.ascontiguousarray(nbr[keep].astype(np.int32)), S)



def _region(elem: str, blend: bool = True) -> ContinuumRegion:
    d = 3 if elem in ("hex8", "tet4") else 2
    G = MESHES.get("rectangle" if d == 2 else "box")
    L = 12.0 if d == 3 else 40.0
    core = {"lo": [L / 3] * d, "hi": [2 * L / 3] * d}
    hole = {"lo": [L / 3 + 1] * d, "hi": [2 * L / 3 - 1] * d}
    mesh = G.build(G.Params(lo=[0.0] * d, hi=[L] * d, size=3.0, core=core, core_size=1.0, growth=1.5,
                            element=elem, hole=hole))
    reg = ContinuumRegion(mesh, Isotropic(10.0, 0.3, d), density=1.0)
    if blend:
        reg.set_blend(lambda X: np.clip((np.max(np.abs(X - L / 2), axis=1) - (L / 6 - 1)) / 2.5, 0, 1),
                      n_sub=3)
    return reg


@pytest.mark.parametrize("elem", ["quad4", "tri3", "hex8", "tet4"])
@pytest.mark.parametrize("blend", [True, False])
def test_compiled_stencils_are_bitwise_the_numpy_ones(elem, blend):
    reg = _region(elem, blend)
    bd, N = reg._blocks[0], reg.mesh.n_nodes
    new = build_stencils(bd, N, max_types=10**6)
    ref = _numpy_build_stencils(bd, N, max_types=10**6)
    assert new is not None and ref is not None
    assert new[0].size > 0 and (new[3] != 0).any()
    for a, b in zip(new, ref, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)
        assert np.array_equal(np.signbit(a), np.signbit(b)) if a.dtype.kind == "f" else True


def test_compiled_stencils_drop_nodes_whose_topology_differs_from_their_type():
    """Two nodes of one type (the same incidences (geometry, local node, α)) whose neighbours differ: the
    one that is not its type's representative takes the element path, as in the NumPy code. Unit quad4
    squares A, B sharing an edge (node 1 between them), and C, D side by side with a slit between them
    (the shared edge's upper node doubled): node 7 has node 1's incidences but one neighbour more."""
    from multiscale.fem.mesh import ElementBlock, Mesh
    X = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1],
                  [4, 0], [5, 0], [6, 0], [4, 1], [5, 1], [5, 1], [6, 1]], float)
    conn = np.array([[0, 1, 4, 3], [1, 2, 5, 4], [6, 7, 10, 9], [7, 8, 12, 11]])
    reg = ContinuumRegion(Mesh(X, [ElementBlock("quad4", conn)]), Isotropic(10.0, 0.3, 2), density=1.0)
    bd, N = reg._blocks[0], reg.mesh.n_nodes
    new = build_stencils(bd, N, max_types=10**6)
    ref = _numpy_build_stencils(bd, N, max_types=10**6)
    for a, b in zip(new, ref, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert 1 in new[0] and 7 not in new[0] and 6 in new[0]
