# cython: language_level=3
"""Cell-list construction of HALF Verlet neighbour lists (CSR), orthorhombic periodic / free axes.

Whole build in one kernel call, O(N), nogil: wrap into the box (image counts), bin by a counting sort
(atoms sorted by cell, last axis slowest), scan a half stencil of cells, copy the per-atom rows into CSR.

Half stencil: cell offsets whose (o_last, ..., o_0) is lexicographically >= 0, so the neighbour's cell is
never below the owner's along the LAST axis (slabs of cells along that axis let the force kernels apply
Newton's third law without races, md_pair.pxd). The stencil is given as ROWS along axis 0: for fixed
(o1, o2) the offsets o0 in [lo, hi] are consecutive cells, whose atoms are CONSECUTIVE in the sorted
order, so each row is scanned as one run of candidates (up to 3 runs where it wraps around a periodic
axis 0) instead of one short loop per cell. Entry order inside an atom's row: the entries within the
potential's cut-off first, in stencil row order then sorted position, then the skin entries in the
reverse of that order (so that the force kernels' cut-off branch is well predicted); identical for any
thread count.

Per entry the code of the integer periodic image shift s (|s_k| <= B) is stored:
code = sum_k (s_k + B) (2B+1)^k, with dx = x[j] - x[i] + s L (the force kernels read s L from a table).
"""

import numpy as np
from cython.parallel cimport prange
from libc.math cimport floor

cdef enum:
    MAXSEG = 96   # runs of candidates per home cell (<= 3 per stencil row)


cdef inline bint _keep(long i, long j, long nown, const long* key, bint newton) noexcept nogil:
    """Pair (i, j) of a distributed rank's local atoms (>= nown: ghosts) is listed: not two ghosts; with
    newton an owned-ghost pair only when key[owned] < key[ghost] (the rule of neighbors.filter_local)."""
    cdef bint oi = i < nown, oj = j < nown
    if oi and oj:
        return True
    if not (oi or oj):
        return False
    if not newton:
        return True
    if oi:
        return key[i] < key[j]
    return key[j] < key[i]


cdef void _scan_cell(long hc, const double* xs, const long* jw, const long* iws, const double* period,
                     const long* nc, const long* rows, long nrows, const long* cell_start,
                     const long* cell_atoms, const long* digit, long bcode, double rl2, double rc2,
                     long cap, long* tmp, long* counts, int mode, const long* offs, int* NBR,
                     unsigned short* CODE, bint dim2, long clo, long chi, long nown, const long* key,
                     bint newton, const long* gcnt) noexcept nogil:
    """Neighbours of every atom of home cell hc, written to the atoms' scratch rows tmp[i * cap + t]
    (t < cap; counts[i] gets the full count, which may exceed cap; a row is intact only if its count is
    below cap: slot cap - 1 takes every write once the row is full) as one word per entry:
    (j << 20) + (1 << 19 if r >= rcut) + shift code (< 2^16).

    xs: (n, 3) wrapped positions in cell order; iws: (n,) image word of each sorted atom
    (sum_k img_k digit_k); jw: (n,) (atom << 20) - iws of each sorted atom; digit: (3,) (2B+1)^k on
    periodic axes, 0 on free axes; bcode: code of s = 0. Branch-free inner loop (one load of jw, one
    store per candidate): every candidate is written, the count advances only when it is in range.

    mode 0: as above (scratch rows); mode 1: counts only (no scratch); mode 2: write the final CSR
    directly, row i at offs[i]: entries within rc forward from offs[i], skin entries backward from
    offs[i+1] - 1 (the same layout as the copy out of the scratch rows in build_half).
    dim2: 2D positions (xs[:, 2] = 0 and one cell along z): the distance skips the third component (the
    same r2 bitwise: dx2 = 0 adds +0 to a non-negative sum).
    clo, chi: cells along axis 0 (free) holding the atoms whose pairs are wanted; a home cell outside
    [clo, chi] scans only candidates inside it (pairs of two atoms outside are not listed: the ghost-ghost
    pairs of a distributed rank). clo = 0, chi = nc0 - 1: every pair.
    nown, key, newton, gcnt: the owned-atom rule of a distributed rank (atoms >= nown are ghosts; gcnt
    (ncells,) ghosts per cell, NULL: no rule): a pair of two ghosts is never listed; with ``newton`` an
    owned-ghost pair only when key[owned] < key[ghost] (key: global ids). Tested per candidate (`_keep`)
    only in the runs that need it: runs holding ghosts (ghost home atom; newton: any home atom), and with
    newton every run of a ghost home atom.
    """
    cdef long nc0 = nc[0], nc1 = nc[1], nc2 = nc[2]
    cdef double per0 = period[0], per1 = period[1], per2 = period[2]
    cdef double half0 = 0.5 * per0, half1 = 0.5 * per1, half2 = 0.5 * per2
    cdef bint small0 = per0 != 0.0 and nc0 == 1
    cdef bint small1 = per1 != 0.0 and nc1 == 1
    cdef bint small2 = per2 != 0.0 and nc2 == 1
    cdef bint anysmall = small0 or small1 or small2
    cdef bint flat = dim2 and not anysmall
    cdef long h0 = cell_start[hc], h1 = cell_start[hc + 1]
    cdef long ci0, ci1, ci2, cc1, cc2, sk0, sk1, sk2, r, a0, b0, lo, hi, seg, nseg, cb, wlo, whi
    cdef long a, p, i, cnt, slot, start, code, ibase, w, u, t
    cdef long sbeg[MAXSEG]
    cdef long send[MAXSEG]
    cdef long scode[MAXSEG]
    cdef double ssh[3 * MAXSEG]
    cdef bint shome[MAXSEG]
    cdef double xi0, xi1, xi2, dx0, dx1, dx2, r2
    cdef long* row
    if h1 == h0:
        return
    ci2 = hc // (nc0 * nc1)
    ci1 = (hc // nc0) % nc1
    ci0 = hc % nc0
    cdef bint outside = ci0 < clo or ci0 > chi
    cdef bint masked, ghost_home, fl, ns
    cdef long j, cc
    cdef bint sghost[MAXSEG]
    # ---- runs of candidate atoms (sorted positions [sbeg, send)) with their image shift
    nseg = 0
    for r in range(nrows):
        cc1 = ci1 + rows[4 * r]
        cc2 = ci2 + rows[4 * r + 1]
        lo = ci0 + rows[4 * r + 2]
        hi = ci0 + rows[4 * r + 3]
        sk1 = 0
        sk2 = 0
        if cc1 < 0 or cc1 >= nc1:
            if per1 == 0.0:
                continue
            sk1 = -1 if cc1 < 0 else 1
            cc1 = cc1 - sk1 * nc1
        if cc2 < 0 or cc2 >= nc2:
            if per2 == 0.0:
                continue
            sk2 = -1 if cc2 < 0 else 1
            cc2 = cc2 - sk2 * nc2
        cb = nc0 * (cc1 + nc1 * cc2)
        for sk0 in range(-1, 2):
            # part of [lo, hi] in image sk0 along axis 0, as cells [a0, b0] of the box
            if sk0 == -1:
                wlo, whi = lo, (hi if hi < -1 else -1)
            elif sk0 == 0:
                wlo, whi = (lo if lo > 0 else 0), (hi if hi < nc0 - 1 else nc0 - 1)
            else:
                wlo, whi = (lo if lo > nc0 else nc0), hi
            if wlo > whi:
                continue
            if sk0 != 0 and per0 == 0.0:
                continue
            if outside:     # (axis 0 free: sk0 == 0 here)
                wlo = wlo if wlo > clo else clo
                whi = whi if whi < chi else chi
                if wlo > whi:
                    continue
            a0 = wlo - sk0 * nc0
            b0 = whi - sk0 * nc0
            sbeg[nseg] = cell_start[cb + a0]
            send[nseg] = cell_start[cb + b0 + 1]
            shome[nseg] = sk0 == 0 and sk1 == 0 and sk2 == 0 and rows[4 * r] == 0 and \
                rows[4 * r + 1] == 0 and rows[4 * r + 2] == 0 and a0 == ci0
            sghost[nseg] = False
            if gcnt != NULL:        # does the run hold a ghost?
                for cc in range(a0, b0 + 1):
                    if gcnt[cb + cc] > 0:
                        sghost[nseg] = True
            scode[nseg] = bcode + sk0 * digit[0] + sk1 * digit[1] + sk2 * digit[2]
            ssh[3 * nseg] = sk0 * per0
            ssh[3 * nseg + 1] = sk1 * per1
            ssh[3 * nseg + 2] = sk2 * per2
            nseg = nseg + 1
    # ---- every atom of the home cell against every run
    for a in range(h0, h1):
        i = cell_atoms[a]
        cnt = 0
        row = tmp + i * cap
        ibase = iws[a]
        if mode == 2:
            u = offs[i]
            t = offs[i + 1] - 1
        ghost_home = i >= nown
        for seg in range(nseg):
            xi0 = xs[3 * a] - ssh[3 * seg]
            xi1 = xs[3 * a + 1] - ssh[3 * seg + 1]
            xi2 = xs[3 * a + 2] - ssh[3 * seg + 2]
            start = a + 1 if shome[seg] else sbeg[seg]
            code = scode[seg] + ibase
            # the owned-atom rule decides per candidate only where it can drop one: a ghost home atom and a
            # run with ghosts (ghost-ghost), newton: a run with ghosts or a ghost home atom (cross pairs)
            masked = (ghost_home or newton) if sghost[seg] else (ghost_home and newton)
            # masked runs take the general loop (any mode, small axes), which applies the rule per candidate
            fl = flat and not masked
            ns = not anysmall and not masked
            if fl and mode == 0:      # 2D (z = 0 for every atom): two components
                for p in range(start, send[seg]):
                    dx0 = xs[3 * p] - xi0
                    dx1 = xs[3 * p + 1] - xi1
                    r2 = dx0 * dx0 + dx1 * dx1
                    row[cnt if cnt < cap else cap - 1] = jw[p] + code + (<long>(r2 >= rc2) << 19)
                    cnt = cnt + (r2 < rl2)
            elif fl and mode == 1:
                for p in range(start, send[seg]):
                    dx0 = xs[3 * p] - xi0
                    dx1 = xs[3 * p + 1] - xi1
                    r2 = dx0 * dx0 + dx1 * dx1
                    cnt = cnt + (r2 < rl2)
            elif ns and mode == 0:
                for p in range(start, send[seg]):
                    dx0 = xs[3 * p] - xi0
                    dx1 = xs[3 * p + 1] - xi1
                    dx2 = xs[3 * p + 2] - xi2
                    r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                    row[cnt if cnt < cap else cap - 1] = jw[p] + code + (<long>(r2 >= rc2) << 19)
                    cnt = cnt + (r2 < rl2)
            elif ns and mode == 1:
                for p in range(start, send[seg]):
                    dx0 = xs[3 * p] - xi0
                    dx1 = xs[3 * p + 1] - xi1
                    dx2 = xs[3 * p + 2] - xi2
                    r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                    cnt = cnt + (r2 < rl2)
            elif ns:
                for p in range(start, send[seg]):
                    dx0 = xs[3 * p] - xi0
                    dx1 = xs[3 * p + 1] - xi1
                    dx2 = xs[3 * p + 2] - xi2
                    r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                    if r2 < rl2:
                        w = jw[p] + code
                        if r2 < rc2:
                            NBR[u] = <int>(w >> 20)
                            CODE[u] = <unsigned short>(w & 0xFFFF)
                            u = u + 1
                        else:
                            NBR[t] = <int>(w >> 20)
                            CODE[t] = <unsigned short>(w & 0xFFFF)
                            t = t - 1
                        cnt = cnt + 1
            else:
                for p in range(start, send[seg]):
                    if masked and not _keep(i, cell_atoms[p], nown, key, newton):
                        continue
                    dx0 = xs[3 * p] - xi0
                    dx1 = xs[3 * p + 1] - xi1
                    dx2 = xs[3 * p + 2] - xi2
                    slot = code - iws[p]
                    if small0:   # minimum image on a periodic axis one cell wide
                        if dx0 > half0:
                            dx0 = dx0 - per0
                            slot = slot - digit[0]
                        elif dx0 < -half0:
                            dx0 = dx0 + per0
                            slot = slot + digit[0]
                    if small1:
                        if dx1 > half1:
                            dx1 = dx1 - per1
                            slot = slot - digit[1]
                        elif dx1 < -half1:
                            dx1 = dx1 + per1
                            slot = slot + digit[1]
                    if small2:
                        if dx2 > half2:
                            dx2 = dx2 - per2
                            slot = slot - digit[2]
                        elif dx2 < -half2:
                            dx2 = dx2 + per2
                            slot = slot + digit[2]
                    r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                    if mode == 0:
                        row[cnt if cnt < cap else cap - 1] = (cell_atoms[p] << 20) + slot + \
                            (<long>(r2 >= rc2) << 19)
                    elif mode == 2 and r2 < rl2:
                        w = (cell_atoms[p] << 20) + slot
                        if r2 < rc2:
                            NBR[u] = <int>(w >> 20)
                            CODE[u] = <unsigned short>(w & 0xFFFF)
                            u = u + 1
                        else:
                            NBR[t] = <int>(w >> 20)
                            CODE[t] = <unsigned short>(w & 0xFFFF)
                            t = t - 1
                    cnt = cnt + (r2 < rl2)
        counts[i] = cnt


def work_arrays(Py_ssize_t n, Py_ssize_t ntot):
    """Scratch of build_half for n atoms and ntot cells, reusable from build to build (no fresh pages,
    no page faults): xs (n, 3), img (n, 3) int64, cell_of, iws, jw, counts (n,) int64, cell_start
    (ntot+1,) int64, fill (ntot,) int64."""
    return (np.zeros((n, 3)), np.zeros((n, 3), np.int64), np.empty(n, np.int64), np.empty(n, np.int64),
            np.empty(n, np.int64), np.zeros(n, np.int64), np.zeros(ntot + 1, np.int64), np.empty(ntot, np.int64))


def build_half(const double[:, ::1] x, double[::1] origin, double[::1] cell_size, double[::1] period,
               long[::1] ncell, const long[:, ::1] rows, double rlist, double rcut, long cap,
               long[::1] tmp, int n_threads=1, bint lean=False, work=None, clip=None, owned=None):
    """Half neighbour list (each pair within rlist once) of positions x (n, d) [length], d <= 3.

    Inside each atom's row the entries within rcut (the potential's cut-off) come first, then the skin
    entries (reversed): the force kernels' cut-off test is then a well-predicted branch.

    origin, cell_size, period: (3,) cell-grid origin, cell edge, period L (0 on free axes and on the
    unused axes k >= d); ncell: (3,) cells per axis (1 on unused axes; a periodic axis has 1 or
    >= 2 reach + 1 cells); rows: (nrows, 4) half stencil as rows (o1, o2, o0_lo, o0_hi) along axis 0;
    cap: entries per atom of the scratch tmp (int64, >= n * cap).
    Returns (out, need, B): out is None when cap < need (call again with a larger scratch), else
    (offsets int64 (n+1,), neighbors int32 (m,), shift codes uint16 (m,), order int64 (n,) atoms sorted
    by cell (last axis slowest), cell_start int64 (ncells+1,) first position of each cell in order);
    B bounds the integer image shifts (code base 2B+1).
    lean: no scratch rows (tmp and cap are not used): the stencil is scanned twice, once to count, once
    to write the final arrays; the same list, in less memory (n * cap int64 words fewer) and more time.
    work: the scratch of `work_arrays(n, ntot)` (kept by the caller between builds) or None (fresh).
    clip: None (every pair) or (clo, chi) cells along a FREE axis 0: home cells outside [clo, chi] scan
    only candidate cells inside it, so pairs of two atoms outside those cells are not listed (a
    distributed rank's ghost-ghost pairs; parallel/engine.py).
    owned: None, or (n_own, key int64 (n,) or None, newton) the owned-atom rule of a distributed rank
    (atoms n_own.. are ghosts): no pair of two ghosts is listed, and with newton an owned-ghost pair only
    when key[owned] < key[ghost]; the list is then exactly the one `neighbors.filter_local` keeps from the
    unrestricted list, in the same order.
    """
    cdef long n = x.shape[0], d = x.shape[1], i, k, c, t, m, need, bb, base
    cdef long ntot = ncell[0] * ncell[1] * ncell[2]
    cdef long nrows = rows.shape[0]
    cdef double inv_cs[3]
    cdef double per[3]
    cdef double org[3]
    cdef long nc[3]
    cdef long digit[3]
    cdef long imin[3]
    cdef long imax[3]
    cdef long cx, im, bcode
    cdef double rl2 = rlist * rlist, rc2 = rcut * rcut, xk
    cdef long u, jj
    cdef long clo = 0, chi = ncell[0] - 1
    if clip is not None:
        if period[0] != 0.0:
            raise ValueError("build_half: clip needs a free axis 0")
        clo = max(0, <long>clip[0])
        chi = min(ncell[0] - 1, <long>clip[1])
    cdef long nown = x.shape[0]
    cdef const long* KEY = NULL
    cdef const long* GC = NULL
    cdef bint newton = False
    cdef const long[::1] key_v
    cdef long[::1] gcnt
    if owned is not None:
        nown = min(max(<long>owned[0], 0), x.shape[0])
        newton = bool(owned[2]) and nown < x.shape[0]
        if newton:
            key_v = owned[1]
            if key_v.shape[0] < x.shape[0]:
                raise ValueError("build_half: owned key must have one value per atom")
            KEY = &key_v[0]
    if d < 1 or d > 3:
        raise ValueError("positions must have 1 to 3 columns")
    if n > 2**31 - 1 or n * cap > 2**40:   # (atom << 20) must fit in int64: n < 2^43
        raise ValueError("too many atoms for the neighbour list")
    if 3 * nrows > MAXSEG:
        raise ValueError("stencil has too many rows")
    if not lean and tmp.shape[0] < n * cap:
        raise ValueError("build_half: scratch too small")
    for k in range(3):
        inv_cs[k] = 1.0 / cell_size[k]
        per[k] = period[k] if k < d else 0.0
        org[k] = origin[k]
        nc[k] = ncell[k]
        imin[k] = 0
        imax[k] = 0
    if n == 0:
        return (np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint16),
                np.zeros(0, np.int64), np.zeros(ntot + 1, np.int64)), 0, 1
    if work is None:
        work = work_arrays(n, ntot)
    xs_a, img_a, cell_of_a, iws_a, jw_a, counts_a, cell_start_a, fill_a = work
    if xs_a.shape[0] != n or cell_start_a.shape[0] != ntot + 1:
        raise ValueError("build_half: work arrays of the wrong size")
    cell_atoms_a = np.empty(n, dtype=np.int64)      # returned (the list's `order`): fresh
    cdef bint dim2 = d == 2
    cdef double[:, ::1] xs = xs_a
    cdef long[:, ::1] img = img_a
    cdef long[::1] cell_of = cell_of_a
    cdef long[::1] cell_start = cell_start_a
    cdef long[::1] cell_atoms = cell_atoms_a
    cdef long[::1] iws = iws_a
    cdef long[::1] jw = jw_a
    cdef long[::1] counts = counts_a
    cdef long[::1] fill = fill_a
    cdef long* GW = NULL
    if nown < n:        # the owned-atom rule: ghosts per cell (which candidate runs hold ghosts)
        gcnt_a = np.zeros(ntot, np.int64)
        gcnt = gcnt_a
        GW = &gcnt[0]
        GC = GW
    with nogil:
        for c in range(ntot + 1):
            cell_start[c] = 0
        # wrap into [origin, origin + L) on periodic axes (x = xw + img L), bin (last axis slowest)
        for i in range(n):
            c = 0
            for k in range(2, -1, -1):
                img[i, k] = 0
                if k < d:
                    xk = x[i, k]
                    if per[k] != 0.0:
                        im = <long>floor((xk - org[k]) / per[k])
                        xk = xk - im * per[k]
                        img[i, k] = im
                        if im < imin[k]:
                            imin[k] = im
                        if im > imax[k]:
                            imax[k] = im
                    cx = <long>floor((xk - org[k]) * inv_cs[k])
                    if cx < 0:
                        cx = 0
                    elif cx >= nc[k]:
                        cx = nc[k] - 1
                    c = c * nc[k] + cx
            cell_of[i] = c
            cell_start[c + 1] += 1
            if i >= nown:
                GW[c] += 1
        for c in range(ntot):
            cell_start[c + 1] += cell_start[c]
    bb = 0
    for k in range(d):
        bb = max(bb, imax[k] - imin[k])
    bb = bb + 1
    base = 2 * bb + 1
    if base ** d > 65536:
        raise ValueError("atoms are spread over too many periodic images (unwrapped positions); "
                         "wrap them into the box")
    bcode = 0
    t = 1
    for k in range(3):
        digit[k] = t if (k < d and per[k] != 0.0) else 0
        if k < d:
            bcode = bcode + bb * t
            t = t * base
    with nogil:
        for c in range(ntot):
            fill[c] = cell_start[c]
        for i in range(n):   # counting sort (serial: keeps atom order inside each cell)
            c = cell_of[i]
            t = fill[c]
            fill[c] = t + 1
            cell_atoms[t] = i
            for k in range(d):
                xs[t, k] = x[i, k] - img[i, k] * per[k] if per[k] != 0.0 else x[i, k]
            iws[t] = img[i, 0] * digit[0] + img[i, 1] * digit[1] + img[i, 2] * digit[2]
            jw[t] = (i << 20) - iws[t]
        for c in prange(ntot, num_threads=n_threads, schedule="guided"):
            _scan_cell(c, &xs[0, 0], &jw[0], &iws[0], per, nc, &rows[0, 0], nrows, &cell_start[0],
                       &cell_atoms[0], digit, bcode, rl2, rc2, cap, &tmp[0] if not lean else NULL,
                       &counts[0], 1 if lean else 0, NULL, NULL, NULL, dim2, clo, chi, nown, KEY, newton,
                       GC)
    need = 0
    for i in range(n):
        if counts[i] > need:
            need = counts[i]
    if need >= cap and not lean:     # a full row: its last slot (cap - 1) takes every later candidate's
        return None, need, bb        # write (the branch-free clamp), so the row needs one spare slot
    offsets_a = np.empty(n + 1, dtype=np.int64)
    cdef long[::1] offsets = offsets_a
    offsets[0] = 0
    for i in range(n):
        offsets[i + 1] = offsets[i] + counts[i]
    m = offsets[n]
    if m > 2**31 - 1:
        raise ValueError("too many neighbour entries for int32 indices")
    neigh_a = np.empty(m, dtype=np.int32)
    code_a = np.empty(m, dtype=np.uint16)
    cdef int[::1] neigh = neigh_a
    cdef unsigned short[::1] code = code_a
    if lean:
        if m == 0:
            return (offsets_a, neigh_a, code_a, cell_atoms_a, cell_start_a), need, bb
        with nogil:
            for c in prange(ntot, num_threads=n_threads, schedule="guided"):
                _scan_cell(c, &xs[0, 0], &jw[0], &iws[0], per, nc, &rows[0, 0], nrows, &cell_start[0],
                           &cell_atoms[0], digit, bcode, rl2, rc2, cap, NULL, &counts[0], 2,
                           &offsets[0], &neigh[0], &code[0], dim2, clo, chi, nown, KEY, newton, GC)
        return (offsets_a, neigh_a, code_a, cell_atoms_a, cell_start_a), need, bb
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            u = offsets[i]
            t = offsets[i + 1] - 1
            for c in range(counts[i]):      # one pass: entries within rcut forward, skin entries backward
                jj = tmp[i * cap + c]
                if not (jj >> 19) & 1:
                    neigh[u] = <int>(jj >> 20)
                    code[u] = <unsigned short>(jj & 0xFFFF)
                    u = u + 1
                else:
                    neigh[t] = <int>(jj >> 20)
                    code[t] = <unsigned short>(jj & 0xFFFF)
                    t = t - 1
    return (offsets_a, neigh_a, code_a, cell_atoms_a, cell_start_a), need, bb
