"""The per-rank neighbour lists of the distributed engine (serial, no MPI needed):

- `NeighborList.build(clip_x=...)` (kernels/cellscan clip) lists every pair with an atom inside the
  clip range, i.e. exactly the unclipped list minus some pairs of two atoms outside it;
- `neighbors.filter_local` (one pass, interior/boundary split) equals a direct NumPy statement of the rule
  (ghost-ghost dropped; newton: a cross pair on the rank owning its atom of smaller global id).
"""

from __future__ import annotations

import numpy as np
import pytest

from multiscale._kernels import load
from multiscale.md.box import Box
from multiscale.md.neighbors import NeighborList


def _atoms(seed: int = 3) -> tuple[np.ndarray, Box]:
    rng = np.random.default_rng(seed)
    box = Box([-3.0, 0.0, 0.0], [19.0, 9.0, 9.0], [False, True, True])
    x = rng.uniform(box.lo, box.hi, size=(2500, 3))
    return np.ascontiguousarray(x), box


def _pairs(nl: NeighborList) -> set[tuple[int, int, int]]:
    i, j = nl.pairs()
    s = nl.shifts
    out = set()
    for a, b, sh in zip(i.tolist(), j.tolist(), map(tuple, s.tolist()), strict=True):
        out.add((a, b, sh) if a < b else (b, a, tuple(-v for v in sh)))
    return out


def test_clip_keeps_every_pair_with_an_atom_inside() -> None:
    x, box = _atoms()
    full = NeighborList(box, 2.5, 0.3)
    full.build(x)
    clipped = NeighborList(box, 2.5, 0.3)
    lo, hi = 0.0, 16.0
    clipped.build(x, clip_x=(lo, hi))
    pf, pc = _pairs(full), _pairs(clipped)
    assert len(pc) == clipped.n_entries          # no pair twice
    assert pc <= pf
    inside = (x[:, 0] >= lo) & (x[:, 0] < hi)
    lost = pf - pc
    assert lost, "the clip removed nothing: the test would not see a broken clip"
    assert all(not inside[a] and not inside[b] for a, b, _ in lost)
    need = {p for p in pf if inside[p[0]] or inside[p[1]]}
    assert need <= pc


def _reference(nl: NeighborList, n_own: int, gid: np.ndarray, newton: bool) -> tuple[list, list]:
    """Per row, the kept entries as (neighbour, code) lists, split interior / boundary (NumPy)."""
    off, nb, code = nl.offsets, nl.neighbors, nl.shift_code
    i = np.repeat(np.arange(off.size - 1), np.diff(off))
    own_i, own_j = i < n_own, nb < n_own
    interior = own_i & own_j
    cross = own_i ^ own_j
    if newton:
        o = np.where(own_i, i, nb)
        g = np.where(own_i, nb, i)
        cross &= gid[o] < gid[g]
    def rows(mask: np.ndarray) -> list:
        return [list(zip(nb[a:b][mask[a:b]].tolist(), code[a:b][mask[a:b]].tolist(), strict=True))
                for a, b in zip(off[:-1].tolist(), off[1:].tolist(), strict=True)]

    return rows(interior), rows(cross)


def _rows(off: np.ndarray, nb: np.ndarray, code: np.ndarray) -> list:
    return [list(zip(nb[off[r]:off[r + 1]].tolist(), code[off[r]:off[r + 1]].tolist(), strict=True))
            for r in range(off.size - 1)]


@pytest.mark.parametrize("newton", [False, True])
def test_filter_local_matches_the_rule(newton: bool) -> None:
    x, box = _atoms(5)
    nl = NeighborList(box, 2.5, 0.3)
    nl.build(x)
    n_own = 1700
    gid = np.random.default_rng(1).permutation(10 * len(x))[: len(x)].astype(np.int64)
    kn = load("neighbors")
    ref_int, ref_bnd = _reference(nl, n_own, gid, newton)
    (o1, n1, c1), (o2, n2, c2) = kn.filter_local(nl.offsets, nl.neighbors, nl.shift_code, n_own, gid, newton,
                                                 True)
    assert _rows(o1, n1, c1) == ref_int
    assert _rows(o2, n2, c2) == ref_bnd
    assert sum(map(len, ref_bnd)) > 0 and sum(map(len, ref_int)) > 0
    # unsplit: every kept entry of a row, in the row's original order (interior and boundary interleaved)
    ((o, nb, c),) = kn.filter_local(nl.offsets, nl.neighbors, nl.shift_code, n_own, gid, newton, False)
    orig = _rows(nl.offsets, nl.neighbors, nl.shift_code)
    for r, row in enumerate(_rows(o, nb, c)):
        keep = set(ref_int[r]) | set(ref_bnd[r])
        assert row == [e for e in orig[r] if e in keep]
