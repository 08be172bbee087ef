# cython: language_level=3
"""Lennard-Jones pair kernel: phi = 4 eps ((s/r)^12 - (s/r)^6), truncated at rc.

mode 0 ``cut``: plain truncation; mode 1 ``shift``: phi - phi(rc); mode 2 ``smooth``: force-shifted
(LAMMPS lj/smooth/linear) phi - phi(rc) - (r - rc) phi'(rc), continuous energy and force at rc.
Arrays: see md_pair.pxd. Units: eps [energy], sigma, rc [length].
"""

from libc.math cimport sqrt

from md_pair cimport pair_loop


cdef int _lj(double r2, const double* p, double* phi, double* dphi_r) noexcept nogil:
    # p = [eps, sigma^2, rc^2, mode, phi(rc), phi'(rc), rc]
    cdef double s2, s6, s12, r
    if r2 >= p[2]:
        return 0
    s2 = p[1] / r2
    s6 = s2 * s2 * s2
    s12 = s6 * s6
    phi[0] = 4.0 * p[0] * (s12 - s6) - p[4]
    dphi_r[0] = -p[0] * (48.0 * s12 - 24.0 * s6) / r2
    if p[3] == 2.0:
        r = sqrt(r2)
        phi[0] = phi[0] - (r - p[6]) * p[5]
        dphi_r[0] = dphi_r[0] - p[5] / r
    return 1


def compute(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
            const signed char[:, ::1] shifts, const long[::1] rev_offsets, const int[::1] rev_owner,
            const int[::1] rev_entry, const double[::1] period, const double[::1] bond_w,
            double[::1] fe, double[::1] pe, double[:, ::1] forces, double[::1] energies,
            double[:, ::1] virial,
            double eps, double sigma, double rc, int mode, int n_threads=1):
    """Forces (n, d), per-atom energies (n,), optional per-atom virial (n, d*d); half list + transpose,
    fe/pe (m,) scratch (see md_pair.pxd)."""
    cdef double p[7]
    cdef double s6 = (sigma / rc) ** 6
    p[0] = eps
    p[1] = sigma * sigma
    p[2] = rc * rc
    p[3] = mode
    p[4] = 4.0 * eps * (s6 * s6 - s6) if mode >= 1 else 0.0
    p[5] = -eps * (48.0 * s6 * s6 - 24.0 * s6) / rc if mode == 2 else 0.0
    p[6] = rc
    with nogil:
        pair_loop(x, offsets, neigh, shifts, rev_offsets, rev_owner, rev_entry, period, bond_w, fe, pe,
                  forces, energies, virial, _lj, p, n_threads)
    return 0
