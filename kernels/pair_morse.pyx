# cython: language_level=3
"""Morse pair kernel: phi = D [exp(-2 alpha (r - r0)) - 2 exp(-alpha (r - r0))] - shift, for r < rc.

shift = phi(rc) when truncation is ``shift``, else 0. Units: D [energy], alpha [1/length], r0, rc [length].
Arrays: see md_pair.pxd.
"""

from libc.math cimport exp, sqrt

from md_pair cimport pair_loop


cdef int _morse(double r2, const double* p, double* phi, double* dphi_r) noexcept nogil:
    # p = [D, alpha, r0, rc^2, shift]
    cdef double r, e1
    if r2 >= p[3]:
        return 0
    r = sqrt(r2)
    e1 = exp(-p[1] * (r - p[2]))
    phi[0] = p[0] * (e1 * e1 - 2.0 * e1) - p[4]
    dphi_r[0] = -2.0 * p[0] * p[1] * (e1 * e1 - e1) / r
    return 1


def compute(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
            const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
            const double[:, ::1] stab, const double[::1] bond_w, double[:, ::1] forces,
            double[::1] energies, double[:, ::1] virial,
            double D, double alpha, double r0, double rc, double shift, bint per_atom=True, int n_threads=1):
    """Forces (n, d), per-atom energies (n,), optional per-atom virial (n, d*d) from a half list with
    its slab order (see md_pair.pxd)."""
    cdef double p[5]
    p[0] = D
    p[1] = alpha
    p[2] = r0
    p[3] = rc * rc
    p[4] = shift
    with nogil:
        pair_loop(x, offsets, neigh, scode, order, slab_start, stab, bond_w, forces, energies,
                  virial, _morse, p, per_atom, n_threads)
    return 0
