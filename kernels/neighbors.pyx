# cython: language_level=3
"""Neighbour-list helper kernels: the displacement test of the rebuild policy, the periodic images of a build.

The list itself is built by kernels/cellscan.pyx (``multiscale._kernels.cellscan.build_half``).
"""


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
