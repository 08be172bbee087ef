"""The cell-list half list against brute force on dense random packings (liquid-like, the case where a
row of the scratch list fills up): every pair within the list radius is listed exactly once, with the
right image, on free and periodic axes, 1 and 2 threads, the scratch-row path and the lean path.

Found by review: a row whose count reached the scratch capacity exactly kept going, and its last slot
(cap - 1, the branch-free clamp) was overwritten by every later out-of-range candidate — a pair inside the
cut-off silently replaced by a farther one (forces off by 0.13 ε/σ on one pair). The list built with the
capacity preset to the largest row count reproduces it deterministically."""

from __future__ import annotations

import numpy as np
import pytest

import multiscale.md.neighbors as NM
from multiscale.md.box import Box
from multiscale.md.neighbors import NeighborList

CUT, SKIN = 2.5, 0.3


def _brute(x: np.ndarray, L: np.ndarray, per: list[bool], rl: float) -> set:
    """{(i, j, image tuple)} with i < j and |x_j + image·L − x_i| < rl (minimum image: boxes ≥ 2 rl)."""
    out = set()
    for i in range(len(x) - 1):
        dx = x[i + 1:] - x[i]
        img = np.zeros_like(dx)
        for k in range(3):
            if per[k]:
                img[:, k] = -np.round(dx[:, k] / L[k])
        r = np.linalg.norm(dx + img * L, axis=1)
        for m in np.flatnonzero(r < rl):
            out.add((i, i + 1 + int(m), tuple(int(v) for v in img[m])))
    return out


def _listed(nl: NeighborList, x: np.ndarray, L: np.ndarray) -> set:
    i, j = nl.pairs()
    sv = nl.shift_vectors()
    r = np.linalg.norm(x[j] - x[i] + sv, axis=1)
    out = set()
    for a, b, s, rr in zip(i.tolist(), j.tolist(), sv, r):
        if rr < nl.rlist:
            img = tuple(int(v) for v in np.round(s / L))
            out.add((a, b, img) if a < b else (b, a, tuple(-v for v in img)))
    return out


@pytest.mark.parametrize("lean", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("per", [[True, True, True], [False, True, True]])
def test_half_list_has_every_pair_once(per, threads, lean, monkeypatch):
    if lean:
        monkeypatch.setattr(NM, "LEAN_SCRATCH_BYTES", 0)
    rng = np.random.default_rng(7)
    for _ in range(3):
        L = rng.uniform(6.0, 9.0, 3)
        n = int(np.prod(L))                      # one atom per unit volume: liquid-like overlaps
        x = np.ascontiguousarray(rng.uniform(0.0, L, size=(n, 3)))
        box = Box([0.0, 0.0, 0.0], L, per)
        ref = _brute(x, L, per, CUT + SKIN)
        first = NeighborList(box, CUT, SKIN, n_threads=threads)
        first.build(x)
        need = int(np.diff(first.offsets).max())
        for cap in (need - 1, need, need + 1):   # the scratch capacity at, just below and above the fullest row
            nl = NeighborList(box, CUT, SKIN, n_threads=threads)
            nl._cap = cap
            nl.build(x)
            got = _listed(nl, x, L)
            assert len(nl.pairs()[0]) >= len(got)
            assert got == ref, (cap, need, sorted(ref - got)[:3], sorted(got - ref)[:3])
