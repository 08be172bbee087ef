# cython: language_level=3
"""Cell-list construction of full Verlet neighbour lists (CSR), orthorhombic periodic / free axes.

Every atom i gets ALL atoms j != i with |x_j - x_i + s L| < rlist (minimum image on periodic axes), so
each atom can sum its own force: results never depend on the thread count. The order of the entries of
atom i is fixed (stencil cell order, then atom index order inside a cell), so a list is identical for any
thread count.

Per entry the kernel also stores the periodic image shift s (int8, one per axis): the separation used by
the force kernels is ``dx_k = x[j,k] - x[i,k] + s_k * L_k`` (no rounding in the per-step loop).
"""

import numpy as np
from cython.parallel cimport prange
from libc.math cimport floor


cdef long _scan(long i, const double* xw, const long* img, int d, const double* period,
                const long* nc, const long* cell_of, const long* cell_start, const long* cell_atoms,
                double rl2, int* nb_out, signed char* sh_out) noexcept nogil:
    """Count (nb_out == NULL) or write the neighbours of atom i; returns the count.

    xw: wrapped positions (n, 3) row-major; img: (n, 3) image counts with x = xw + img * L.
    """
    cdef long ci[3]
    cdef long lo[3]
    cdef long hi[3]
    cdef long off[3]
    cdef long cc[3]
    cdef double csh[3]
    cdef double half[3]
    cdef long a, b, c, cell, p, j, k
    cdef long cnt = 0
    cdef double dx0, dx1, dx2, r2, s
    cdef long cidx = cell_of[i]
    cdef bint small[3]
    ci[2] = cidx // (nc[0] * nc[1])
    ci[1] = (cidx // nc[0]) % nc[1]
    ci[0] = cidx % nc[0]
    for k in range(3):
        small[k] = period[k] != 0.0 and nc[k] == 1
        half[k] = 0.5 * period[k]
        if nc[k] == 1:
            lo[k] = 0
            hi[k] = 0
        else:
            lo[k] = -1
            hi[k] = 1
    for c in range(lo[2], hi[2] + 1):
        for b in range(lo[1], hi[1] + 1):
            for a in range(lo[0], hi[0] + 1):
                off[0] = a
                off[1] = b
                off[2] = c
                cell = 0
                for k in range(2, -1, -1):
                    cc[k] = ci[k] + off[k]
                    csh[k] = 0.0
                    if cc[k] < 0:
                        if period[k] == 0.0:
                            break
                        cc[k] = cc[k] + nc[k]
                        csh[k] = -1.0
                    elif cc[k] >= nc[k]:
                        if period[k] == 0.0:
                            break
                        cc[k] = cc[k] - nc[k]
                        csh[k] = 1.0
                    cell = cell * nc[k] + cc[k]
                else:
                    for p in range(cell_start[cell], cell_start[cell + 1]):
                        j = cell_atoms[p]
                        if j == i:
                            continue
                        dx0 = xw[3 * j] - xw[3 * i] + csh[0] * period[0]
                        dx1 = xw[3 * j + 1] - xw[3 * i + 1] + csh[1] * period[1]
                        dx2 = xw[3 * j + 2] - xw[3 * i + 2] + csh[2] * period[2]
                        if small[0]:
                            if dx0 > half[0]:
                                dx0 = dx0 - period[0]
                            elif dx0 < -half[0]:
                                dx0 = dx0 + period[0]
                        if small[1]:
                            if dx1 > half[1]:
                                dx1 = dx1 - period[1]
                            elif dx1 < -half[1]:
                                dx1 = dx1 + period[1]
                        if small[2]:
                            if dx2 > half[2]:
                                dx2 = dx2 - period[2]
                            elif dx2 < -half[2]:
                                dx2 = dx2 + period[2]
                        r2 = dx0 * dx0 + dx1 * dx1 + dx2 * dx2
                        if r2 < rl2:
                            if nb_out != NULL:
                                nb_out[cnt] = <int>j
                                for k in range(d):
                                    if period[k] != 0.0:
                                        # shift s with x_j - x_i + s L = dx (wrapped + image counts)
                                        s = (xw[3 * j + k] - xw[3 * i + k]) - (
                                            (dx0 if k == 0 else (dx1 if k == 1 else dx2)))
                                        s = floor(s / period[k] + 0.5)
                                        sh_out[cnt * d + k] = <signed char>(
                                            <long>(-s) - (img[3 * j + k] - img[3 * i + k]))
                                    else:
                                        sh_out[cnt * d + k] = 0
                            cnt = cnt + 1
    return cnt


def build_full(const double[:, ::1] xw, const long[:, ::1] img, int d, double[::1] origin,
               double[::1] cell_size, double[::1] period, long[::1] ncell, double rlist,
               int n_threads=1):
    """Full neighbour list.

    xw: (n, 3) positions wrapped into the box on periodic axes, padded with zeros to 3 columns [length];
    img: (n, 3) int64 image counts (x = xw + img * L); d: true dimension; origin, cell_size, period: (3,)
    cell-grid origin, cell edge (>= rlist, or the whole period when ncell == 1), period L (0 on free
    axes); ncell: (3,) cells per axis (periodic axes: 1 or >= 3; unused axes 1).
    Returns (offsets int64 (n+1,), neighbors int32 (m,), shifts int8 (m, d)).
    """
    cdef long n = xw.shape[0], i, k, c
    cdef long ntot = ncell[0] * ncell[1] * ncell[2]
    cdef double inv_cs[3]
    cdef double per[3]
    cdef long nc[3]
    cdef double rl2 = rlist * rlist
    for k in range(3):
        inv_cs[k] = 1.0 / cell_size[k]
        per[k] = period[k]
        nc[k] = ncell[k]
    if n > 2**31 - 1:
        raise ValueError("too many atoms for int32 neighbour indices")
    cell_of_a = np.zeros(n, dtype=np.int64)
    cell_start_a = np.zeros(ntot + 1, dtype=np.int64)
    cell_atoms_a = np.empty(max(n, 1), dtype=np.int64)
    counts_a = np.zeros(n, dtype=np.int64)
    cdef long[::1] cell_of = cell_of_a
    cdef long[::1] cell_start = cell_start_a
    cdef long[::1] cell_atoms = cell_atoms_a
    cdef long[::1] counts = counts_a
    cdef long cx
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
    if n == 0:
        return np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros((0, d), np.int8)
    cdef const double* xp = &xw[0, 0]
    cdef const long* ip = &img[0, 0]
    with nogil:
        for i in range(n):
            c = cell_of[i]
            cell_atoms[fillpos[c]] = i
            fillpos[c] += 1
        for i in prange(n, num_threads=n_threads, schedule="guided"):
            counts[i] = _scan(i, xp, ip, d, per, nc, &cell_of[0], &cell_start[0], &cell_atoms[0],
                              rl2, NULL, NULL)
    offsets_a = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts_a, out=offsets_a[1:])
    cdef long m = offsets_a[n]
    neigh_a = np.empty(max(m, 1), dtype=np.int32)
    shift_a = np.zeros((max(m, 1), d), dtype=np.int8)
    cdef long[::1] offsets = offsets_a
    cdef int[::1] neigh = neigh_a
    cdef signed char[:, ::1] shift = shift_a
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="guided"):
            if counts[i] > 0:
                _scan(i, xp, ip, d, per, nc, &cell_of[0], &cell_start[0], &cell_atoms[0], rl2,
                      &neigh[offsets[i]], &shift[offsets[i], 0])
    return offsets_a, neigh_a[:m], shift_a[:m]


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
