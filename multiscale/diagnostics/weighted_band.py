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

__all__ = ["band_ratio", "bond_ratio", "fd_stiffness"]


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


def band_ratio(system, potential) -> np.ndarray | None:  # noqa: ANN001
    """(n,) the bond ratio of every atom of ``system.atoms`` (module docstring) from the band's list, or
    None when the band does not apply (no convex core with a signed distance, a periodic atom box, or
    ``certain_unit`` missing): the caller then uses the list of all atoms."""
    from ..md.neighbors import NeighborList
    from ..parallel.weights import entry_weights
    atoms, hs = system.atoms, system.handshake
    fn_all = atoms.bond_weight_fn
    if (hs is None or fn_all is None or getattr(fn_all, "certain_unit", None) is None or hs._sd is None
            or not hs._convex or np.any(atoms.box.periodic)):
        return None
    X = np.asarray(atoms.X, float)
    n = X.shape[0]
    rc = float(potential.cutoff)
    big = float(np.max(np.abs(X))) if n else 0.0
    # `Handshake.bond_weight_fn`'s certain_unit margin (deep: sd < −margin), plus a slack for the computed
    # signed distance's round-off
    margin = 1e-9 * hs.width + 2e-12 * (1.0 + big)
    slack = 1e-9 * (1.0 + big + rc)
    sd = np.asarray(hs._sd(X), float)
    halo = np.flatnonzero(sd >= -(margin + 2.0 * rc + 2.0 * slack))      # the band and its neighbours
    band = sd[halo] >= -(margin + rc + slack)                            # rows whose bonds are all listed
    del sd
    ratio = np.ones(n)
    if halo.size == 0:
        return ratio
    Xs = np.ascontiguousarray(X[halo])
    nl = NeighborList(atoms.box, rc, 0.0, atoms.nlist.n_threads)
    nl.build(Xs)
    i, j = nl.pairs()
    dX = nl.separations(Xs)
    r = np.sqrt(np.sum(dX * dX, axis=1))
    inside = r < rc
    m = halo.size
    zero = np.zeros((m, X.shape[1]), np.int64)
    w = entry_weights(lambda: hs.bond_weight_fn(Xs), nl, Xs, zero, zero, np.zeros(X.shape[1]),
                      np.zeros(X.shape[1]))
    del nl, dX
    i, j, r, w = i[inside], j[inside], r[inside], w[inside]
    sub = bond_ratio(m, i, j, fd_stiffness(potential, r), w, halo)
    ratio[halo[band]] = sub[band]
    return ratio
