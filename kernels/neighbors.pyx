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


cdef inline bint _kept(Py_ssize_t i, Py_ssize_t j, long n_own, const long[::1] key, bint newton,
                       int part) noexcept nogil:
    """Entry (row i, neighbour j) of a local list kept by `filter_local`."""
    cdef bint own_i = i < n_own, own_j = j < n_own
    if own_i and own_j:
        return part != 2
    if part == 1 or not (own_i or own_j):
        return False
    if not newton:
        return True
    return key[i] < key[j] if own_i else key[j] < key[i]


def filter_local(const long[::1] offsets, const int[::1] neigh, const unsigned short[::1] scode,
                 long n_own, const long[::1] key, bint newton, int part=0):
    """The entries of a distributed rank's local half list that the rank computes (parallel/engine.py).

    Rows 0..n_own-1 are owned atoms, the rows after them ghosts (n_loc = offsets.shape[0] - 1 rows).
    Ghost-ghost entries are always dropped. ``newton`` False: every entry with an owned atom is kept
    (a cross pair is computed on both ranks). True: an owned-ghost entry is kept only when
    key[owned] < key[ghost] (key: the global ids, so exactly one of the two ranks keeps it).
    part: 0 every kept entry; 1 only the owned-owned ones (interior: computable before the ghosts'
    positions arrive); 2 only the kept entries with a ghost (boundary). Parts 1 and 2 partition part 0.
    Returns (offsets int64 (n_loc+1,), neighbors int32 (m',), shift codes uint16 (m',)), entries in
    their original order. Two passes (count, write), O(m), serial.
    """
    cdef Py_ssize_t nloc = offsets.shape[0] - 1, i, e, m = 0
    if key.shape[0] < nloc:
        raise ValueError("filter_local: key must have one value per local atom")
    if neigh.shape[0] != offsets[nloc] or scode.shape[0] != neigh.shape[0]:
        raise ValueError("filter_local: neighbors / shift codes do not match the offsets")
    if part < 0 or part > 2:
        raise ValueError("filter_local: part must be 0, 1 or 2")
    off_a = np.empty(nloc + 1, np.int64)
    cdef long[::1] off = off_a
    with nogil:
        off[0] = 0
        for i in range(nloc):
            for e in range(offsets[i], offsets[i + 1]):
                if _kept(i, neigh[e], n_own, key, newton, part):
                    m = m + 1
            off[i + 1] = m
    nb_a = np.empty(m, np.int32)
    sc_a = np.empty(m, np.uint16)
    cdef int[::1] nb = nb_a
    cdef unsigned short[::1] sc = sc_a
    m = 0
    with nogil:
        for i in range(nloc):
            for e in range(offsets[i], offsets[i + 1]):
                if _kept(i, neigh[e], n_own, key, newton, part):
                    nb[m] = neigh[e]
                    sc[m] = scode[e]
                    m = m + 1
    return off_a, nb_a, sc_a
