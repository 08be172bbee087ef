# cython: language_level=3
"""Morse pair kernel: phi = D [exp(-2 alpha (r - r0)) - 2 exp(-alpha (r - r0))] - shift, for r < rc.

shift = phi(rc) when truncation is ``shift``, else 0. Units: D [energy], alpha [1/length], r0, rc [length].
Arrays: see md_pair.pxd.
"""

from libc.math cimport exp, sqrt

from cython.parallel cimport prange

from md_pair cimport pair_loop, zero_outputs


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


cdef extern from "md_pair2d.h" nogil:
    void msim_morse2_slab(const double* X, const long* OF, const int* NB, const unsigned short* SC,
                          const long* OR, long p0, long p1, const double* ST, const double* BW,
                       const unsigned char* RW, double* F,
                          double* EN, int per_atom, double rc2, double D, double alpha, double r0,
                          double shift, double m2da)


cdef int _morse2(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
                 const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
                 const double[:, ::1] stab, const double[::1] bond_w,
              const unsigned char* RW, double[:, ::1] forces,
                 double[::1] energies, double D, double alpha, double r0, double rc2, double shift,
                 bint per_atom, int n_threads) noexcept nogil:
    """2D fast path of md_pair.pair_loop for Morse without virial (x, forces (n, 2)): the slab scheme of
    md_pair.pxd, each slab by kernels/md_pair2d.h (same arithmetic as _morse; see pair_lj._lj2)."""
    cdef Py_ssize_t q, s
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1
    cdef const double* BW = &bond_w[0] if bond_w.shape[0] > 0 else NULL
    cdef int phase
    zero_outputs(forces, energies, forces[:0, :], n_threads)
    for phase in range(2):
        for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
            s = phase + 2 * q
            msim_morse2_slab(&x[0, 0], &offsets[0], &neigh[0], &scode[0], &order[0], slab_start[s],
                             slab_start[s + 1], &stab[0, 0], BW, RW, &forces[0, 0], &energies[0], per_atom, rc2,
                             D, alpha, r0, shift, -2.0 * D * alpha)
    return 0


def compute(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
            const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
            const double[:, ::1] stab, const double[::1] bond_w, double[:, ::1] forces,
            double[::1] energies, double[:, ::1] virial,
            double D, double alpha, double r0, double rc, double shift, bint per_atom=True, int n_threads=1,
            bint generic=False, const unsigned char[::1] row_w=None):
    """Forces (n, d), per-atom energies (n,), optional per-atom virial (n, d*d) from a half list with
    its slab order (see md_pair.pxd). generic: always use md_pair.pair_loop (the reference for the
    specialised 2D path, used by the tests)."""
    cdef double p[5]
    p[0] = D
    p[1] = alpha
    p[2] = r0
    p[3] = rc * rc
    p[4] = shift
    cdef const unsigned char* RW = NULL
    if row_w is not None and row_w.shape[0] > 0:
        if row_w.shape[0] != x.shape[0]:
            raise ValueError("row_w must have one flag per atom")
        RW = &row_w[0]
    with nogil:
        if not generic and virial.shape[0] == 0 and x.shape[0] > 0 and x.shape[1] == 2:
            _morse2(x, offsets, neigh, scode, order, slab_start, stab, bond_w, RW, forces, energies, D, alpha,
                    r0, p[3], shift, per_atom, n_threads)
        else:
            pair_loop(x, offsets, neigh, scode, order, slab_start, stab, bond_w, forces, energies,
                      virial, _morse, p, per_atom, n_threads)
    return 0
