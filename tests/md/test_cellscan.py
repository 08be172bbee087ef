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
