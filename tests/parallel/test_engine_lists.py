"""The per-rank neighbour lists of the distributed engine (serial, no MPI needed):

- `NeighborList.build(clip_x=...)` (kernels/cellscan clip) lists every pair with an atom inside the
  clip range, i.e. exactly the unclipped list minus some pairs of two atoms outside it;
- `neighbors.filter_local` (one pass, interior/boundary split) equals a direct NumPy statement of the rule
  (ghost-ghost dropped; newton: a cross pair on the rank owning its atom of smaller global id);
- the accumulating kernels of the overlap mode (LJ ``zero=False``, EAM densities / forces ``zero=False``):
  two halves of a list, the second added in place, equal the whole list in one call.
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


def _split(nl: NeighborList) -> tuple:
    """The list's entries in two CSR lists over the same rows (even / odd position within each row)."""
    off, nb, code = nl.offsets, nl.neighbors, nl.shift_code
    row = np.repeat(np.arange(off.size - 1), np.diff(off))
    pos = np.arange(nb.size) - off[row]
    out = []
    for part in (0, 1):
        keep = pos % 2 == part
        c = np.zeros(off.size, np.int64)
        np.cumsum(np.bincount(row[keep], minlength=off.size - 1), out=c[1:])
        out.append((c, np.ascontiguousarray(nb[keep]), np.ascontiguousarray(code[keep])))
    return out


@pytest.mark.parametrize("dim", [2, 3])
def test_lj_kernel_accumulates_with_zero_false(dim: int) -> None:
    """pair_lj.compute(zero=False) adds the entries' forces/energies to the given arrays: the two halves of
    a list computed one after the other (second with zero=False) equal the whole list in one call."""
    from multiscale.md.potentials.lj import LennardJones

    rng = np.random.default_rng(5)
    box = Box([0.0] * dim, [9.0] * dim, [True] * dim)
    x = np.ascontiguousarray(rng.uniform(0.0, 9.0, size=(700 if dim == 3 else 90, dim)))
    pot = LennardJones(1.0, 1.0, 2.5, "shift")
    nl = NeighborList(box, 2.5, 0.3)
    nl.build(x)
    f1, e1 = np.zeros_like(x), np.zeros(len(x))
    pot.compute(x, nl, None, None, f1, e1)
    f2, e2 = np.full_like(x, np.nan), np.full(len(x), np.nan)    # zero=True must overwrite the NaNs
    for k, (off, nb, code) in enumerate(_split(nl)):
        part = _view(nl, off, nb, code)
        pot.compute(x, part, None, None, f2, e2, accumulate=k == 1)
    assert np.allclose(f2, f1, rtol=1e-12, atol=1e-12 * np.abs(f1).max())
    assert np.allclose(e2, e1, rtol=1e-12, atol=1e-12 * np.abs(e1).max())
    assert abs(f1).max() > 1.0


def _view(nl: NeighborList, off, nb, code):  # noqa: ANN001, ANN202
    from multiscale.parallel.engine import _LocalList

    return _LocalList(off, nb, code, nl.order, nl.slab_start, nl.shift_table)


def test_eam_passes_accumulate_with_zero_false() -> None:
    """kernels/eam densities and forces with zero=False add to the given rho / forces (the distributed
    engine's boundary entries): two halves of the list, the second accumulated, equal the whole list."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from mpi_driver import lammps_potentials

    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.eam import EAMFile

    pot = EAMFile.from_file(lammps_potentials() / "Cu_u3.eam")
    t, ke = pot.tables, load("eam")
    L = 4 * 3.615
    rng = np.random.default_rng(8)
    x = Lattice("fcc", 3.615).sites_in_box([0, 0, 0], [L] * 3)
    x = np.ascontiguousarray(x + 0.08 * rng.standard_normal(x.shape))
    box = Box([0.0] * 3, [L] * 3, [True] * 3)
    nl = NeighborList(box, pot.cutoff, 1.0)
    nl.build(x)
    n, ty = len(x), np.zeros(len(x), np.int32)

    def args(lst):  # noqa: ANN001, ANN202
        return (lst.offsets, lst.neighbors, lst.shift_code, lst.order, lst.slab_start, lst.shift_table)

    whole = _view(nl, nl.offsets, nl.neighbors, nl.shift_code)
    halves = [_view(nl, *p) for p in _split(nl)]
    rho1, rho2 = np.zeros(n), np.full(n, np.nan)
    ke.densities(x, *args(whole), ty, t.rhor, 1.0 / t.dr, t.cutoff ** 2, rho1)
    for k, h in enumerate(halves):
        ke.densities(x, *args(h), ty, t.rhor, 1.0 / t.dr, t.cutoff ** 2, rho2, zero=k == 0)
    assert np.allclose(rho2, rho1, rtol=1e-13) and rho1.min() > 0
    fp, e = np.zeros(n), np.zeros(n)
    ke.embedding(rho1, ty, t.frho, 1.0 / t.drho, t.rhomax, fp, e, n)
    f1, e1 = np.zeros_like(x), e.copy()
    ke.forces(x, *args(whole), ty, t.rhor, t.z2r, 1.0 / t.dr, t.cutoff ** 2, fp, f1, e1)
    f2, e2 = np.full_like(x, np.nan), e.copy()
    for k, h in enumerate(halves):
        ke.forces(x, *args(h), ty, t.rhor, t.z2r, 1.0 / t.dr, t.cutoff ** 2, fp, f2, e2, zero=k == 0)
    scale = np.abs(f1).max()
    assert scale > 0.1 and np.allclose(f2, f1, rtol=1e-12, atol=1e-12 * scale)
    assert np.allclose(e2, e1, rtol=1e-13)


def test_scatter_add_matches_numpy_add_at() -> None:
    """neighbors.scatter_add (the reverse exchange's add, repeated rows included) equals np.add.at; rows
    outside the array are refused."""
    kn = load("neighbors")
    rng = np.random.default_rng(2)
    for k in (1, 3):
        a = rng.standard_normal((50, k))
        idx = rng.integers(0, 50, size=80)          # with repeats
        buf = rng.standard_normal((80, k))
        ref = a.copy()
        np.add.at(ref, idx, buf)
        kn.scatter_add(a, idx, buf)
        assert np.allclose(a, ref, rtol=1e-14, atol=1e-14)
    with pytest.raises(IndexError):
        kn.scatter_add(np.zeros((4, 1)), np.array([4]), np.ones((1, 1)))


@pytest.mark.parametrize("clip", [True, False], ids=["clip", "noclip"])
@pytest.mark.parametrize("lean", [False, True], ids=["scratch", "lean"])
@pytest.mark.parametrize("newton", [False, True], ids=["full", "newton"])
def test_owned_rule_build_lists_exactly_the_rank_entries(newton: bool, lean: bool, clip: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`NeighborList.build(clip_x=..., owned=(n_own, gid, newton))` (the distributed engine's build: grid
    aligned with the slab faces, owned-atom rule per candidate) lists exactly the pairs a NumPy statement
    of the rule keeps from the unrestricted list: no pair of two ghosts; newton: an owned-ghost pair only
    when gid[owned] < gid[ghost]. Each pair once. Both build paths (scratch rows; lean count-then-write),
    with and without the clip (the rule alone: every candidate run holds ghosts)."""
    import multiscale.md.neighbors as nbm

    x, box = _atoms(7)
    lo, hi = 0.0, 16.0
    inside = (x[:, 0] >= lo) & (x[:, 0] < hi)
    x = np.ascontiguousarray(np.concatenate([x[inside], x[~inside]]))     # owned rows first, then ghosts
    n_own = int(inside.sum())
    gid = np.random.default_rng(4).permutation(10 * len(x))[: len(x)].astype(np.int64)
    full = NeighborList(box, 2.5, 0.3)
    full.build(x)
    want = set()
    for a, b, sh in _pairs(full):
        oa, ob = a < n_own, b < n_own
        if not (oa or ob):
            continue
        if newton and oa != ob and not (gid[a if oa else b] < gid[b if oa else a]):
            continue
        want.add((a, b, sh))
    if lean:
        monkeypatch.setattr(nbm, "LEAN_SCRATCH_BYTES", 0)
    ruled = NeighborList(box, 2.5, 0.3)
    ruled.build(x, clip_x=(lo, hi) if clip else None, owned=(n_own, gid, newton))
    got = _pairs(ruled)
    assert len(got) == ruled.n_entries           # no pair twice
    assert got == want
    assert len(want) < len(_pairs(full)) and any(a >= n_own or b >= n_own for a, b, _ in got)


def test_gather_rows_matches_numpy_take_and_shift() -> None:
    """neighbors.gather_rows (the forward exchange's packing) equals x[idx] (+ shift) bitwise."""
    kn = load("neighbors")
    rng = np.random.default_rng(6)
    a = rng.standard_normal((40, 3)) * 10
    idx = rng.integers(0, 40, size=25)
    sh = np.array([-31.7, 0.0, 2.5])
    out = np.empty((25, 3))
    kn.gather_rows(a, idx, sh, out, True)
    np.testing.assert_array_equal(out, a[idx] + sh)
    kn.gather_rows(a, idx, sh, out, False)
    np.testing.assert_array_equal(out, a[idx])
    with pytest.raises(IndexError):
        kn.gather_rows(a, np.array([0, 40]), sh, np.empty((2, 3)), False)


def test_aligned_grid_puts_no_ghost_in_an_owned_cell() -> None:
    """The clipped build's grid along the free axis 0 (`NeighborList._aligned`): with the kernel's binning
    arithmetic (floor((x - origin) / size), kernels/cellscan) every atom in [lo, hi) lands in the cells of
    the clip range (also atoms exactly on the faces and one ulp off them: an owned atom outside would lose
    pairs), and every atom outside it by more than 1e-6 of the width in another cell (the cell faces lie
    1e-9 of the width outside lo and hi: atoms nearer than that may share a cell, which the build's
    owned-atom rule handles), so a clipped build scans ghost-ghost candidates only there."""
    rng = np.random.default_rng(11)
    nl = NeighborList(Box([-3.0, 0.0, 0.0], [19.0, 9.0, 9.0], [False, True, True]), 2.5, 0.3)
    for lo, hi in ((0.0, 16.0), (16.0 / 3.0, 32.0 / 3.0), (-1.2345, 13.9876)):
        x0 = np.concatenate([rng.uniform(lo - 2.8, hi + 2.8, 4000), [lo, hi, np.nextafter(lo, -np.inf),
                                                                     np.nextafter(lo, np.inf),
                                                                     np.nextafter(hi, -np.inf)]])
        origin, size, m, reach = nl._aligned(x0, lo, hi)
        assert size >= nl.rlist / 2 and reach == 2
        inv = 1.0 / size
        cell = np.clip(np.floor((x0 - origin) * inv).astype(np.int64), 0, m - 1)
        clo, chi = (int(np.floor((c - origin) * inv)) for c in (lo, hi))
        inside = (x0 >= lo) & (x0 < hi)
        assert np.all((cell[inside] >= clo) & (cell[inside] <= chi))
        far = ~inside & (np.minimum(np.abs(x0 - lo), np.abs(x0 - hi)) > 1e-6 * (hi - lo))
        assert far.sum() > 1000
        assert not np.any((cell[far] >= clo) & (cell[far] <= chi))
