# cython: language_level=3
"""Neighbour-list helper kernel: the displacement test of the rebuild policy.

The list itself is built by kernels/cellscan.pyx (``multiscale._kernels.cellscan.build_half``).
"""


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
