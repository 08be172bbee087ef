"""The bond-stiffness ratio of the weighted-atoms time-step estimate from the handshake band's atoms only.

`diagnostics.stability.weighted_atoms_stable_dt` needs, per free atom a, the ratio
ρ_a = Σ_b k_ab w_ab / Σ_b k_ab over a's bonds at the reference (k = max(φ''(r), 0), w the bond weight).
An atom all of whose bonds have weight exactly 1.0 has ρ_a = 1 exactly (both sums are the same terms in
the same order). For a convex core (`Handshake.bond_weight_fn`'s ``certain_unit``: a pair of atoms both
deeper inside the core than a margin has weight exactly 1.0) such atoms are known from the core's signed
distance alone: the signed distance is 1-Lipschitz, so an atom with a bond that is not certainly 1.0 lies
within ``margin + r_cut`` (+ a round-off slack) of the core's surface or outside it — the BAND. The ratio
of the band's atoms needs their bonds only: a neighbour list of the band and its halo (one more r_cut),
built at the reference positions, with the bond weights of the serial function (pointwise in the pair's
reference positions: the same bits as the serial region's, `parallel.weights`), and no list of all atoms.

Each atom's two sums run over its bonds in the order of the neighbour's index in the region
(`bond_ratio`): the ratio does not depend on which list holds the bonds, so the band's ratios are bitwise
those the list of all atoms gives (tests/coupling/test_weighted_band_dt.py).
"""

from __future__ import annotations

import numpy as np

__all__ = ["band_list", "band_ratio", "bond_ratio", "fd_stiffness"]


def fd_stiffness(potential, r: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """(m,) max(φ''(r), 0) [energy/length²] of the pair term at distances r (m,) [length]: central
    difference of φ' with the step h = 1e-6·max(r_cut, 1) (a function of the potential only, so a bond's
    value does not depend on the other bonds of the list)."""
    h = 1e-6 * max(float(potential.cutoff), 1.0)
    return np.clip((potential.pair(r + h)[1] - potential.pair(r - h)[1]) / (2 * h), 0.0, None)


def bond_ratio(n: int, i: np.ndarray, j: np.ndarray, k: np.ndarray, w: np.ndarray,
               gid: np.ndarray) -> np.ndarray:
    """(n,) Σ_b k w / Σ_b k per row (1 where Σ_b k = 0) of the half-list bonds (i, j) (m,) with stiffness
    k (m,) and weight w (m,); each row's bonds summed in the order of the neighbour's global id ``gid``
    (n,) int64 (canonical: the same bits from any list holding the row's bonds)."""
    rows = np.concatenate([i, j])
    nb = np.concatenate([gid[j], gid[i]])
    o = np.lexsort((nb, rows))
    rows = rows[o]
    kk = np.concatenate([k, k])[o]
    kw = np.bincount(rows, kk * np.concatenate([w, w])[o], n)      # sequential in the sorted order
    k1 = np.bincount(rows, kk, n)
    return np.divide(kw, k1, out=np.ones(n), where=k1 > 0)


def band_list(system, rc: float, hops: int, site_w: np.ndarray | None = None):  # noqa: ANN001, ANN201
    """The handshake band's own neighbour list at the reference positions, or None when the band does not
    apply (no convex core with a signed distance, a periodic atom box, or ``certain_unit`` missing).

    S: the atoms that are not deep inside the core (sd ≥ −margin: they have bonds whose weight is not
    certainly 1.0) and, with ``site_w`` (n,), every atom whose site weight is not exactly 1.0 (S then
    reaches as deep as the deepest of them). ROWS: every atom within ``rc`` of S (sd 1-Lipschitz: sd ≥
    −(depth(S) + rc), plus a round-off slack); the list holds the rows and ``hops``·rc more, so that a row's
    neighbours (hops = 1) or its neighbours' neighbours (hops = 2) are all listed.

    Returns (sel (m,) int64 the listed atoms in the region's numbering (ascending), ring (m,) int8 (0: a
    row; k: an atom within k·rc of a row, its own bonds listed for k < hops), Xs (m, d) their
    reference positions, i (e,), j (e,) the entries inside ``rc`` [length] (indices into sel), dX (e, d)
    Xs[j] − Xs[i], r (e,) their lengths, w (e,) their bond weights: the serial function's, pointwise in
    the pair's reference positions, the same bits as the region's list gives)."""
    from ..md.neighbors import NeighborList
    from ..parallel.weights import entry_weights
    atoms, hs = system.atoms, system.handshake
    fn_all = atoms.bond_weight_fn
    if (hs is None or fn_all is None or getattr(fn_all, "certain_unit", None) is None or hs._sd is None
            or not hs._convex or np.any(atoms.box.periodic)):
        return None
    X = np.asarray(atoms.X, float)
    n, d = X.shape
    big = float(np.max(np.abs(X))) if n else 0.0
    # `Handshake.bond_weight_fn`'s certain_unit margin (deep: sd < −margin), plus a slack for the computed
    # signed distance's round-off
    margin = 1e-9 * hs.width + 2e-12 * (1.0 + big)
    slack = 1e-9 * (1.0 + big + rc)
    sd = np.asarray(hs._sd(X), float)
    depth = margin
    if site_w is not None:
        off = np.asarray(site_w) != 1.0
        if np.any(off):
            depth = max(depth, float(np.max(-sd[off])))
    sel = np.flatnonzero(sd >= -(depth + (1 + hops) * (rc + slack)))      # the rows and their halo
    ring = np.zeros(sel.size, np.int8)
    for k in range(1, hops + 1):
        ring += sd[sel] < -(depth + k * (rc + slack))
    del sd
    m = sel.size
    Xs = np.ascontiguousarray(X[sel])
    if m == 0:
        e = np.zeros(0, np.int64)
        return sel, ring, Xs, e, e.copy(), np.zeros((0, d)), np.zeros(0), np.zeros(0)
    # a skin of 1e-6 rc: the list cannot miss a pair whose computed length is below rc
    nl = NeighborList(atoms.box, rc, 1e-6 * rc, atoms.nlist.n_threads)
    nl.build(Xs)
    i, j = nl.pairs()
    dX = nl.separations(Xs)
    r = np.sqrt(np.sum(dX * dX, axis=1))
    inside = r < rc
    zero = np.zeros((m, d), np.int64)
    w = entry_weights(lambda: hs.bond_weight_fn(Xs), nl, Xs, zero, zero, np.zeros(d), np.zeros(d))
    del nl
    return sel, ring, Xs, i[inside], j[inside], dX[inside], r[inside], w[inside]


def band_ratio(system, potential) -> np.ndarray | None:  # noqa: ANN001
    """(n,) the bond ratio of every atom of ``system.atoms`` (module docstring) from the band's list
    (`band_list`, hops = 1), or None when the band does not apply: the caller then uses the list of all
    atoms."""
    band = band_list(system, float(potential.cutoff), 1)
    if band is None:
        return None
    halo, ring, _, i, j, _, r, w = band
    rows = ring == 0
    ratio = np.ones(system.atoms.n)
    if halo.size == 0:
        return ratio
    sub = bond_ratio(halo.size, i, j, fd_stiffness(potential, r), w, halo)
    ratio[halo[rows]] = sub[rows]
    return ratio
