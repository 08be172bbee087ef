# cython: language_level=3
"""Cell-list construction of HALF Verlet neighbour lists (CSR), orthorhombic periodic / free axes.

Each pair (i, j) with |x_j - x_i + s L| < rlist (minimum image on periodic axes) appears once, under one
of its two atoms: the half stencil only visits cells whose offset along the LAST axis is >= 0, so the
neighbour's cell is never below the owner's along that axis. Slabs of cells along the last axis then let
the force kernels apply Newton's third law without races (md_pair.pxd). Entry order inside an atom:
stencil order, then atom index inside a cell; identical for any thread count.

Per entry the kernel stores the code of the periodic image shift s (integers per axis, |s_k| <= B):
code = sum_k (s_k + B) (2B+1)^k. The force kernels read the shift vector from a table,
``dx = x[j] - x[i] + stab[code]`` with stab[code, k] = s_k L_k (no rounding in the per-step loops).
"""

import numpy as np
from cython.parallel cimport prange
from libc.math cimport floor


cdef void _scan_cell(long hc, const double* xs, const double* period, const long* nc,
                     const long* stencil, long ns, const long* cell_start, const long* cell_atoms,
                     double rl2, long cap, int* tmp_nb, int* tmp_q, long* counts) noexcept nogil:
    """Neighbours of every atom of home cell hc (half stencil: each pair once), written to the atoms'
    scratch rows tmp_nb/tmp_q[i * cap + ...] (up to cap entries; counts[i] gets the full count).

    For atom i the entries come in stencil order, then by position inside the neighbour cell; q_out
    holds the code of the wrapped-image offset q (dx = xw_j - xw_i + q L, q_k in {-1, 0, 1}):
    code = (q0 + 1) + 3 (q1 + 1) + 9 (q2 + 1). Branch-free inner loop: every candidate is written,
    the count advances only when it is in range. xs: positions sorted by cell (xs[p] = xw[cell_atoms[p]]).
    """
    cdef long ci0, ci1, ci2, cc0, cc1, cc2, sk0, sk1, sk2
    cdef long s, cell, p, a, i, start, slot, end, cnt
    cdef long nc0 = nc[0], nc1 = nc[1], nc2 = nc[2]
    cdef double per0 = period[0], per1 = period[1], per2 = period[2]
    cdef double half0 = 0.5 * per0, half1 = 0.5 * per1, half2 = 0.5 * per2
    cdef bint small0 = per0 != 0.0 and nc0 == 1
    cdef bint small1 = per1 != 0.0 and nc1 == 1
    cdef bint small2 = per2 != 0.0 and nc2 == 1
    cdef bint anysmall = small0 or small1 or small2
    cdef bint home
    cdef double dx0, dx1, dx2, r2, xi0, xi1, xi2, sh0, sh1, sh2
    cdef int code, base
    cdef int* nb
    cdef int* qq
    cdef long h0 = cell_start[hc], h1 = cell_start[hc + 1]
    if h1 == h0:
        return
    ci2 = hc // (nc0 * nc1)
    ci1 = (hc // nc0) % nc1
    ci0 = hc % nc0
    for a in range(h0, h1):
        counts[cell_atoms[a]] = 0
    for s in range(ns):
        cc0 = ci0 + stencil[3 * s]
        cc1 = ci1 + stencil[3 * s + 1]
        cc2 = ci2 + stencil[3 * s + 2]
        sk0 = 0
        sk1 = 0
        sk2 = 0
        if cc0 < 0 or cc0 >= nc0:
            if per0 == 0.0:
                continue
            sk0 = -1 if cc0 < 0 else 1
            cc0 = cc0 - sk0 * nc0
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
        cell = cc0 + nc0 * (cc1 + nc1 * cc2)
        home = stencil[3 * s] == 0 and stencil[3 * s + 1] == 0 and stencil[3 * s + 2] == 0
        end = cell_start[cell + 1]
        sh0 = sk0 * per0
        sh1 = sk1 * per1
        sh2 = sk2 * per2
        base = <int>((sk0 + 1) + 3 * (sk1 + 1) + 9 * (sk2 + 1))
        for a in range(h0, h1):
            i = cell_atoms[a]
            xi0 = xs[3 * a] - sh0
            xi1 = xs[3 * a + 1] - sh1
            xi2 = xs[3 * a + 2] - sh2
            start = a + 1 if home else cell_start[cell]
            cnt = counts[i]
            nb = tmp_nb + i * cap
            qq = tmp_q + i * cap
            for p in range(start, end):
                dx0 = xs[3 * p] - xi0
                dx1 = xs[3 * p + 1] - xi1
                dx2 = xs[3 * p + 2] - xi2
                code = base
                if anysmall:
                    if small0:
                        if dx0 > half0:
                            dx0 = dx0 - per0
                            code = code - 1
                        elif dx0 < -half0:
                            dx0 = dx0 + per0
                            code = code + 1
                    if small1:
                        if dx1 > half1:
                            dx1 = dx1 - per1
                            code = code - 3
                        elif dx1 < -half1:
                            dx1 = dx1 + per1
                            code = code + 3
                    if small2:
                        if dx2 > half2:
                            dx2 = dx2 - per2
                            code = code - 9
                        elif dx2 < -half2:
                            dx2 = dx2 + per2
                            code = code + 9
                r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                slot = cnt if cnt < cap else cap - 1
                nb[slot] = <int>cell_atoms[p]
                qq[slot] = code
                cnt = cnt + (r2 < rl2)
            counts[i] = cnt


def build_half(const double[:, ::1] xw, img_a, int d, double[::1] origin,
               double[::1] cell_size, double[::1] period, long[::1] ncell, const long[:, ::1] stencil,
               double rlist, long cap, int[::1] tmp_nb, int[::1] tmp_q, long B, int n_threads=1):
    """Half neighbour list (each pair once) by cell lists.

    xw: (n, 3) positions wrapped into [origin, origin + L) on periodic axes, zero-padded to 3 columns;
    img: (n, 3) int64 image counts (x = xw + img * L); d: true dimension; origin, cell_size, period: (3,)
    cell-grid origin, cell edge, period L (0 on free axes); ncell: (3,) cells per axis; stencil: (ns, 3)
    cell offsets of a HALF stencil (the home cell first-class plus the offsets lexicographically > 0);
    cap: entries per atom of the scratch tmp_nb and tmp_q (>= n*cap int32 each). B: bound on the
    integer image shifts |s_k| (the code of an entry is sum_k (s_k + B) (2B+1)^k, k < d).
    Returns (None, needed cap) when cap was too small, else ((offsets int64 (n+1,), neighbors int32 (m,),
    shift codes uint16 (m,), order int64 (n,) atoms sorted by cell (last axis slowest), cell_start int64
    (ncells+1,) first position of each cell in order), needed cap).
    """
    cdef const long[:, ::1] img = img_a
    cdef long n = xw.shape[0], i, k, c, e, t
    cdef long ntot = ncell[0] * ncell[1] * ncell[2]
    cdef long ns = stencil.shape[0]
    cdef double inv_cs[3]
    cdef double per[3]
    cdef long nc[3]
    cdef double rl2 = rlist * rlist
    for k in range(3):
        inv_cs[k] = 1.0 / cell_size[k]
        per[k] = period[k]
        nc[k] = ncell[k]
    if n > 2**31 - 1 or n * cap > 2**40:
        raise ValueError("too many atoms for the neighbour list")
    if n == 0:
        z = np.zeros(1, np.int64)
        return (z, np.zeros(0, np.int32), np.zeros(0, np.uint16), np.zeros(0, np.int64),
                np.zeros(ntot + 1, np.int64)), 0
    cell_of_a = np.zeros(n, dtype=np.int64)
    cell_start_a = np.zeros(ntot + 1, dtype=np.int64)
    cell_atoms_a = np.empty(n, dtype=np.int64)
    counts_a = np.zeros(n, dtype=np.int64)
    if tmp_nb.shape[0] < n * cap or tmp_q.shape[0] < n * cap:
        raise ValueError("build_half: scratch too small")
    cdef long[::1] cell_of = cell_of_a
    cdef long[::1] cell_start = cell_start_a
    cdef long[::1] cell_atoms = cell_atoms_a
    cdef long[::1] counts = counts_a
    cdef long cx
    cdef const long* sp = &stencil[0, 0]
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            c = 0
            for k in range(2, -1, -1):
                cx = <long>floor((xw[i, k] - origin[k]) * inv_cs[k])
                if cx < 0:
                    cx = 0
                elif cx >= nc[k]:
                    cx = nc[k] - 1
                c = c * nc[k] + cx
            cell_of[i] = c
        for i in range(n):  # counting sort (serial: keeps atom order inside each cell)
            cell_start[cell_of[i] + 1] += 1
        for c in range(ntot):
            cell_start[c + 1] += cell_start[c]
    fillpos_a = cell_start_a[:ntot].copy()
    cdef long[::1] fillpos = fillpos_a
    xs_a = np.empty((n, 3))
    cdef double[:, ::1] xs = xs_a
    with nogil:
        for i in range(n):
            c = cell_of[i]
            cell_atoms[fillpos[c]] = i
            xs[fillpos[c], 0] = xw[i, 0]
            xs[fillpos[c], 1] = xw[i, 1]
            xs[fillpos[c], 2] = xw[i, 2]
            fillpos[c] += 1
        for c in prange(ntot, num_threads=n_threads, schedule="guided"):
            _scan_cell(c, &xs[0, 0], per, nc, sp, ns, &cell_start[0], &cell_atoms[0], rl2, cap,
                       &tmp_nb[0], &tmp_q[0], &counts[0])
    cdef long need = int(counts_a.max())
    if need > cap:
        return None, need
    offsets_a = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts_a, out=offsets_a[1:])
    cdef long m = offsets_a[n]
    neigh_a = np.empty(max(m, 1), dtype=np.int32)
    shift_a = np.zeros(max(m, 1), dtype=np.uint16)
    cdef long[::1] offsets = offsets_a
    cdef int[::1] neigh = neigh_a
    cdef unsigned short[::1] shift = shift_a
    cdef long base = 2 * B + 1, code, pw
    if m > 2**31 - 1:
        raise ValueError("too many neighbour entries for int32 indices")
    cdef signed char dec[81]   # code -> (q0, q1, q2), read-only in the loop below
    for c in range(27):
        dec[3 * c] = <signed char>(c % 3 - 1)
        dec[3 * c + 1] = <signed char>((c // 3) % 3 - 1)
        dec[3 * c + 2] = <signed char>(c // 9 - 1)
    cdef bint any_img = bool(np.any(img_a))
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            for t in range(counts[i]):
                e = tmp_nb[i * cap + t]
                neigh[offsets[i] + t] = <int>e
                c = tmp_q[i * cap + t]
                code = 0
                pw = 1
                for k in range(d):
                    if per[k] != 0.0:
                        if any_img:
                            code = code + (dec[3 * c + k] - (img[e, k] - img[i, k]) + B) * pw
                        else:
                            code = code + (dec[3 * c + k] + B) * pw
                    else:
                        code = code + B * pw
                    pw = pw * base
                shift[offsets[i] + t] = <unsigned short>code
    # atoms in cell order (last axis slowest) and the first atom of each cell: slabs are cell ranges
    return (offsets_a, neigh_a[:m], shift_a[:m], cell_atoms_a, cell_start_a), need


def max_displacement_sq(const double[:, ::1] x, const double[:, ::1] x0):
    """max_i |x_i - x0_i|^2 [length^2] (serial, exact)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, k
    cdef double m = 0.0, r2, t
    if x0.shape[0] != n or x0.shape[1] != d:
        raise ValueError("max_displacement_sq: shape mismatch")
    with nogil:
        for i in range(n):
            r2 = 0.0
            for k in range(d):
                t = x[i, k] - x0[i, k]
                r2 = r2 + t * t
            if r2 > m:
                m = r2
    return m
