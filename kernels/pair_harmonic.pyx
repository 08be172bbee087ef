# cython: language_level=3
"""Harmonic spring kernel: phi = k/2 (r - r0)^2 for r < rc (rc between neighbour shells).

Units: k [energy/length^2], r0, rc [length]. Arrays: see md_pair.pxd.
"""

from libc.math cimport sqrt

from md_pair cimport pair_loop


cdef int _spring(double r2, const double* p, double* phi, double* dphi_r) noexcept nogil:
    # p = [k, r0, rc^2]
    cdef double r
    if r2 >= p[2]:
        return 0
    r = sqrt(r2)
    phi[0] = 0.5 * p[0] * (r - p[1]) * (r - p[1])
    dphi_r[0] = p[0] * (r - p[1]) / r
    return 1


def compute(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
            const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
            const double[:, ::1] stab, const double[::1] bond_w, double[:, ::1] forces,
            double[::1] energies, double[:, ::1] virial,
            double k, double r0, double rc, bint per_atom=True, int n_threads=1):
    """Forces (n, d), per-atom energies (n,), optional per-atom virial (n, d*d) from a half list with
    its slab order (see md_pair.pxd)."""
    cdef double p[3]
    p[0] = k
    p[1] = r0
    p[2] = rc * rc
    with nogil:
        pair_loop(x, offsets, neigh, scode, order, slab_start, stab, bond_w, forces, energies,
                  virial, _spring, p, per_atom, n_threads)
    return 0
