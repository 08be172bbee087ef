# cython: language_level=3
"""Neighbour-list helper kernels: the displacement test of the rebuild policy, the periodic images of a build.

The list itself is built by kernels/cellscan.pyx (``multiscale._kernels.cellscan.build_half``).
"""


import numpy as np

from libc.math cimport floor


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


def max_displacement_sq_nan(const double[:, ::1] x, const double[:, ::1] x0):
    """max_i |x_i - x0_i|^2 [length^2] as `max_displacement_sq`, but NaN as soon as one displacement is NaN
    (a non-finite position: `max_displacement_sq` skips it) and inf when one is inf or overflows. The
    distributed engine's rebuild check (parallel/engine.py) reduces it with the in-step blow-up flag."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, k
    cdef double m = 0.0, r2, t
    if x0.shape[0] != n or x0.shape[1] != d:
        raise ValueError("max_displacement_sq_nan: shape mismatch")
    with nogil:
        for i in range(n):
            r2 = 0.0
            for k in range(d):
                t = x[i, k] - x0[i, k]
                r2 = r2 + t * t
            if r2 != r2:
                m = r2
                break
            if r2 > m:
                m = r2
    return m


def set_images(const double[:, ::1] x, const double[::1] lo, const double[::1] period,
               const unsigned char[::1] periodic, long[:, ::1] image, double[:, ::1] shift):
    """Periodic image of every atom, in one pass: image = floor((x - lo) / L) on periodic axes, 0 on the
    others (n, d) int64; shift = image L (n, d) [length] (the same IEEE operations as the NumPy
    expressions it replaces). Returns True when some image is not 0."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, k
    cdef long im
    cdef bint nonzero = False
    if image.shape[0] != n or image.shape[1] != d or shift.shape[0] != n or shift.shape[1] != d:
        raise ValueError("set_images: shape mismatch")
    if lo.shape[0] != d or period.shape[0] != d or periodic.shape[0] != d:
        raise ValueError("set_images: lo, period, periodic must have length d")
    with nogil:
        for i in range(n):
            for k in range(d):
                if periodic[k]:
                    im = <long>floor((x[i, k] - lo[k]) / period[k])
                else:
                    im = 0
                image[i, k] = im
                shift[i, k] = <double>im * period[k]
                if im != 0:
                    nonzero = True
    return nonzero


cdef inline int _part(Py_ssize_t i, Py_ssize_t j, long n_own, const long* key, bint newton) noexcept nogil:
    """Entry (row i, neighbour j) of a local list: 1 interior (both owned), 2 boundary (kept, with a
    ghost), 0 dropped (ghost-ghost; newton: the other rank's cross pair)."""
    cdef bint own_i = i < n_own, own_j = j < n_own
    if own_i and own_j:
        return 1
    if not (own_i or own_j):
        return 0
    if not newton:
        return 2
    if own_i:
        return 2 if key[i] < key[j] else 0
    return 2 if key[j] < key[i] else 0


def filter_local(const long[::1] offsets, const int[::1] neigh, const unsigned short[::1] scode,
                 long n_own, const long[::1] key, bint newton, bint split=False):
    """The entries of a distributed rank's local half list that the rank computes (parallel/engine.py).

    Rows 0..n_own-1 are owned atoms, the rows after them ghosts (n_loc = offsets.shape[0] - 1 rows).
    Ghost-ghost entries are always dropped. ``newton`` False: every entry with an owned atom is kept
    (a cross pair is computed on both ranks). True: an owned-ghost entry is kept only when
    key[owned] < key[ghost] (key: the global ids, so exactly one of the two ranks keeps it).
    Returns [(offsets int64 (n_loc+1,), neighbors int32 (m',), shift codes uint16 (m',))]: one list of
    every kept entry, or with ``split`` two lists that partition it: the owned-owned entries (interior:
    computable before the ghosts' positions arrive) and the kept entries with a ghost (boundary).
    Entries keep their original order. Two passes (count, write), O(m), serial.
    """
    cdef Py_ssize_t nloc = offsets.shape[0] - 1, i, e, m1 = 0, m2 = 0
    cdef int p
    if key.shape[0] < nloc:
        raise ValueError("filter_local: key must have one value per local atom")
    if neigh.shape[0] != offsets[nloc] or scode.shape[0] != neigh.shape[0]:
        raise ValueError("filter_local: neighbors / shift codes do not match the offsets")
    off1_a = np.empty(nloc + 1, np.int64)
    off2_a = np.empty(nloc + 1, np.int64)
    cdef long[::1] off1 = off1_a
    cdef long[::1] off2 = off2_a
    cdef const long* K = &key[0] if key.shape[0] > 0 else NULL
    with nogil:
        off1[0] = 0
        off2[0] = 0
        for i in range(nloc):
            for e in range(offsets[i], offsets[i + 1]):
                p = _part(i, neigh[e], n_own, K, newton)
                if p == 1 or (p == 2 and not split):
                    m1 = m1 + 1
                elif p == 2:
                    m2 = m2 + 1
            off1[i + 1] = m1
            off2[i + 1] = m2
    nb1_a = np.empty(m1, np.int32)
    sc1_a = np.empty(m1, np.uint16)
    nb2_a = np.empty(m2, np.int32)
    sc2_a = np.empty(m2, np.uint16)
    cdef int[::1] nb1 = nb1_a
    cdef unsigned short[::1] sc1 = sc1_a
    cdef int[::1] nb2 = nb2_a
    cdef unsigned short[::1] sc2 = sc2_a
    m1 = 0
    m2 = 0
    with nogil:
        for i in range(nloc):
            for e in range(offsets[i], offsets[i + 1]):
                p = _part(i, neigh[e], n_own, K, newton)
                if p == 1 or (p == 2 and not split):
                    nb1[m1] = neigh[e]
                    sc1[m1] = scode[e]
                    m1 = m1 + 1
                elif p == 2:
                    nb2[m2] = neigh[e]
                    sc2[m2] = scode[e]
                    m2 = m2 + 1
    if split:
        return [(off1_a, nb1_a, sc1_a), (off2_a, nb2_a, sc2_a)]
    return [(off1_a, nb1_a, sc1_a)]


def scatter_add(double[:, ::1] a, const long[::1] idx, const double[:, ::1] buf):
    """a[idx[r], :] += buf[r, :] for r in order (idx may repeat: each row added in turn). a (n, k),
    idx (m,) int64 row indices, buf (m, k). The reverse exchange of the distributed engine (ghost forces
    and densities sent back to their owners, multiscale/parallel/engine.py): one C loop instead of
    NumPy's fancy-index read, add, write."""
    cdef Py_ssize_t m = idx.shape[0], k = a.shape[1], r, c, i
    if buf.shape[0] != m or buf.shape[1] != k:
        raise ValueError("scatter_add: buf must be (len(idx), a.shape[1])")
    for r in range(m):
        if idx[r] < 0 or idx[r] >= a.shape[0]:
            raise IndexError(f"scatter_add: row {idx[r]} outside 0..{a.shape[0] - 1}")
    with nogil:
        for r in range(m):
            i = idx[r]
            for c in range(k):
                a[i, c] = a[i, c] + buf[r, c]
    return 0


def gather_rows(const double[:, ::1] a, const long[::1] idx, const double[::1] shift, double[:, ::1] out,
                bint add_shift):
    """out[r, :] = a[idx[r], :] (+ shift when add_shift) for r in order. a (n, k), idx (m,) int64 row
    indices, shift (k,), out (m, k). The forward exchange of the distributed engine (owned boundary rows
    packed for the neighbour rank, the periodic seam's shift added; multiscale/parallel/engine.py): one C
    loop instead of NumPy's take and add (the same IEEE operations: bitwise the same rows)."""
    cdef Py_ssize_t m = idx.shape[0], k = a.shape[1], r, c, i
    if out.shape[0] != m or out.shape[1] != k or (add_shift and shift.shape[0] != k):
        raise ValueError("gather_rows: out must be (len(idx), a.shape[1]), shift (a.shape[1],)")
    for r in range(m):
        if idx[r] < 0 or idx[r] >= a.shape[0]:
            raise IndexError(f"gather_rows: row {idx[r]} outside 0..{a.shape[0] - 1}")
    with nogil:
        if add_shift:
            for r in range(m):
                i = idx[r]
                for c in range(k):
                    out[r, c] = a[i, c] + shift[c]
        else:
            for r in range(m):
                i = idx[r]
                for c in range(k):
                    out[r, c] = a[i, c]
    return 0
