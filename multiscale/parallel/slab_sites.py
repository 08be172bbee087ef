"""Lattice sites of one rank's slab with their SERIAL global ids (the first piece of a per-rank build of a
coupled model; docs/parallel.md "Per-rank memory of the spatial path").

The serial build enumerates the atoms' sites with `md.lattice.Lattice.sites_in_box(lo, hi)`: every site
with lo ≤ x < hi (tolerance ``tol·a``), sorted row by row (lexicographically by the rounded coordinates,
last axis first), then keeps some of them (the handshake's classification); an atom's global id is its
index among the kept sites. `slab_sites` gives a rank the kept sites whose coordinate along ``axis`` (the
engine's cut axis, 0) lies in its slab [s0, s1) — generated from the slab's box only, not from all sites —
and their global ids, bitwise the serial sites and indices:

* a site's coordinates depend only on its integer cell and motif (not on the box asked for), and the
  box filter and the sort key are pointwise, so the slab's sites are the serial ones, in the serial order
  restricted to the slab; adjacent slabs [s0, s1), [s1, s2) share the filter's bound s1 − tol·a, so every
  site belongs to exactly one slab;
* the serial order is row by row (a row: the sites with the same rounded coordinates along the other
  axes) and, within a row, by the coordinate along axis 0; with slabs along axis 0 each rank holds one
  contiguous piece of each row, the pieces in rank order. So a site's global id is the number of kept
  sites in the rows before its row, plus those of its row on lower ranks, plus its place in its piece:
  ONE allgather of each rank's (row keys, kept counts per row) — O(rows) per rank, rows ~ n^((d−1)/d) —
  gives every rank the offsets.

Memory per rank: the slab's candidate grid (the serial build's grid over the whole box / P) and the
per-row counts of all ranks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["serial_ids", "slab_sites"]


def slab_sites(lattice, lo: np.ndarray, hi: np.ndarray, slab: tuple[float, float], comm,  # noqa: ANN001
               keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None, tol: float = 1e-9,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (m, d) [length], sub (m,) int64 sublattice, gid (m,) int64) of this rank's kept sites.

    lattice : `md.lattice.Lattice`; lo, hi (d,) : the box of `Lattice.sites_in_box` [length];
    slab : (s0, s1) this rank's interval along axis 0 [length] (the ranks' slabs in rank order, adjacent,
        covering [lo[0], hi[0]); ±inf at the ends is allowed); comm : `parallel.comm` communicator
        (collective: one allgather); keep : ``keep(X, sub) -> (m,) bool`` the kept sites (pointwise: a
        site's verdict may not depend on the other sites), None: all; tol : `sites_in_box`'s tolerance.
    gid is the index of the site in ``sites_in_box(lo, hi, tol)[keep]`` of the serial build.
    """
    lo, hi = np.asarray(lo, float).copy(), np.asarray(hi, float).copy()
    s0, s1 = float(slab[0]), float(slab[1])
    sub_lo, sub_hi = lo.copy(), hi.copy()
    sub_lo[0] = max(lo[0], s0)
    sub_hi[0] = min(hi[0], s1)
    d = lo.size
    if sub_lo[0] < sub_hi[0]:
        X, sub = lattice.sites_in_box(sub_lo, sub_hi, tol=tol, sublattice=True)
    else:
        X, sub = np.zeros((0, d)), np.zeros(0, np.int64)
    if keep is not None and len(X):
        k = np.asarray(keep(X, sub), bool)
        X, sub = X[k], sub[k]
    return X, sub, serial_ids(X, comm)[0]


def serial_ids(X: np.ndarray, comm, subsets: tuple[np.ndarray, ...] = ()  # noqa: ANN001
               ) -> tuple[np.ndarray, list[np.ndarray]]:
    """(gid (m,) int64, [sid (m,) int64 per subset]) of this rank's kept sites X (m, d) [length].

    X : this rank's kept sites in the serial order restricted to the rank (row by row as
        `Lattice.sites_in_box` sorts them), every site of a row owned by the ranks in the order of its
        coordinate along axis 0 (slabs along axis 0 in rank order); comm : `parallel.comm` communicator
        (collective: ONE allgather of (row keys, per-row counts), O(rows) per rank);
    subsets : bool (m,) masks of sub-sequences of the kept sites (e.g. the non-pad atoms), each numbered
        in the serial order too: sid = index of the site among the masked sites of all ranks, -1 for the
        sites outside the mask.
    gid is the index of the site among the kept sites of all ranks in the serial order.
    """
    d = X.shape[1]
    k = len(subsets)
    # rows: the rounded coordinates of the other axes (the serial sort key without axis 0)
    key = np.round(X, 9)[:, 1:]           # (sites_in_box snapped the round-off to 0 already)
    if len(X):
        rows, first, counts = np.unique(key[:, ::-1], axis=0, return_index=True, return_counts=True)
        rows = rows[:, ::-1]            # unique sorts by the last axis first: the serial row order
    else:
        rows, first, counts = np.zeros((0, d - 1)), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(X) and not np.array_equal(np.sort(first), first):
        raise RuntimeError("slab_sites: the slab's sites are not in row order")
    row_of_site = np.repeat(np.arange(rows.shape[0]), counts)
    # per row: the kept sites, then the sites of each subset (columns 1..k)
    cols = np.zeros((rows.shape[0], 1 + k), np.int64)
    cols[:, 0] = counts
    for c, mask in enumerate(subsets):
        cols[:, 1 + c] = np.bincount(row_of_site, weights=np.asarray(mask, bool), minlength=rows.shape[0])
    parts = comm.allgather((rows, cols)) if comm.size > 1 else [(rows, cols)]
    allrows = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, d - 1))
    if allrows.shape[0] == 0:
        return np.zeros(0, np.int64), [np.zeros(0, np.int64) for _ in subsets]
    urows, inv = np.unique(allrows[:, ::-1], axis=0, return_inverse=True)
    inv = inv.ravel()
    nr = urows.shape[0]
    me = comm.rank if comm.size > 1 else 0
    o = sum(p[0].shape[0] for p in parts[:me])
    my_rows = inv[o:o + rows.shape[0]]
    out = []
    for c in range(1 + k):
        table = np.zeros((len(parts), nr), np.int64)      # sites per (rank, row) of column c
        o = 0
        for r, (rw, ct) in enumerate(parts):
            table[r, inv[o:o + rw.shape[0]]] = ct[:, c]
            o += rw.shape[0]
        row_start = np.concatenate([[0], np.cumsum(table.sum(axis=0))[:-1]])       # rows before
        below = np.cumsum(table, axis=0) - table                                    # lower ranks, same row
        if c == 0:
            sel = np.ones(len(X), bool)
        else:
            sel = np.asarray(subsets[c - 1], bool)
        # the sites are sorted row by row already (sites_in_box's order): place within the piece
        rs = row_of_site[sel]
        cnt = np.bincount(rs, minlength=rows.shape[0])
        start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        place = np.arange(rs.size) - start[rs]
        ids = np.full(len(X), -1, np.int64)
        ids[sel] = row_start[my_rows][rs] + below[me, my_rows][rs] + place
        out.append(ids)
    return out[0], out[1:]
