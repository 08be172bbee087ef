"""The cell-scan list builder (kernels/cellscan.pyx): rows hold the entries within the cut-off first;
the scratch grows when the first estimate of entries per atom is too small (clustered atoms)."""

from __future__ import annotations

import numpy as np

from multiscale.md.box import Box
from multiscale.md.neighbors import NeighborList


def _cloud(n=60, L=10.0, seed=0):
    return Box([0, 0], [L, L], [True, True]), np.random.default_rng(seed).uniform(0, L, (n, 2))


def test_rows_hold_entries_within_the_cutoff_first():
    box, x = _cloud(200, 12.0, seed=3)
    nl = NeighborList(box, 2.0, 0.6)
    nl.build(x)
    r = np.linalg.norm(nl.separations(x), axis=1)
    inside = r < 2.0
    for i in range(len(x)):
        row = inside[nl.offsets[i]:nl.offsets[i + 1]]
        assert not np.any(row[1:] & ~row[:-1])      # no inside entry after a skin entry
    assert 0 < inside.sum() < len(r)


def test_clustered_atoms_grow_the_scratch_and_match_brute_force():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(0, 3, (300, 3)), rng.uniform(0, 60, (20, 3))])   # dense corner
    nl = NeighborList(Box([0] * 3, [60] * 3, [False] * 3), 2.0, 0.5)
    nl.build(x)
    r = np.linalg.norm(x[None] - x[:, None], axis=2)
    np.fill_diagonal(r, np.inf)
    ref = {(a, b) for a, b in zip(*np.nonzero(r < 2.5), strict=True) if a < b}
    i, j = nl.pairs()
    got = list(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist(), strict=True))
    assert len(got) == len(set(got)) and set(got) == ref
    assert nl._cap > np.max(np.diff(nl.offsets)) > 100    # far above the uniform-density estimate


def _lists(nl):
    return (nl.offsets.copy(), nl.neighbors.copy(), nl.shift_code.copy(), nl.order.copy(),
            nl.slab_start.copy())


def test_lean_two_pass_build_gives_the_same_list(monkeypatch):
    """Large systems build in two passes (count, then write; no n x cap scratch rows): the list must be
    the one-pass list entry for entry (order inside rows, shift codes, slab order), periodic and free,
    including a one-cell-wide periodic axis (minimum-image path) and clustered atoms."""
    import multiscale.md.neighbors as nbm

    rng = np.random.default_rng(7)
    cases = [
        (Box([0] * 3, [9.0] * 3, [True] * 3), rng.uniform(0, 9.0, (700, 3)), 2.0, 0.4),
        (Box([0] * 2, [30.0, 20.0], [True, False]), rng.uniform(0, 20.0, (900, 2)), 2.5, 0.3),
        (Box([0] * 3, [5.0, 30.0, 30.0], [True, True, True]), rng.uniform(0, 5.0, (400, 3)) * [1, 6, 6],
         2.0, 0.4),
        (Box([0] * 3, [60] * 3, [False] * 3),
         np.concatenate([rng.uniform(0, 3, (300, 3)), rng.uniform(0, 60, (20, 3))]), 2.0, 0.5),
    ]
    for box, x, rc, skin in cases:
        monkeypatch.setattr(nbm, "LEAN_SCRATCH_BYTES", 1 << 60)
        one = NeighborList(box, rc, skin, 2)
        one.build(x)
        monkeypatch.setattr(nbm, "LEAN_SCRATCH_BYTES", 0)
        for threads in (1, 2):
            lean = NeighborList(box, rc, skin, threads)
            lean.build(x)
            assert lean._tmp.size == 1            # no scratch rows were allocated
            for a, b in zip(_lists(one), _lists(lean), strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)
        assert one.n_entries > 0
