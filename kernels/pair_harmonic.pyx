# cython: language_level=3
"""Harmonic spring kernel: phi = k/2 (r - r0)^2 for r < rc (rc between neighbour shells).

Units: k [energy/length^2], r0, rc [length]. Arrays: see md_pair.pxd.
"""

from libc.math cimport sqrt

from cython.parallel cimport prange

from md_pair cimport pair_loop, zero_outputs


cdef int _spring(double r2, const double* p, double* phi, double* dphi_r) noexcept nogil:
    # p = [k, r0, rc^2]
    cdef double r
    if r2 >= p[2]:
        return 0
    r = sqrt(r2)
    phi[0] = 0.5 * p[0] * (r - p[1]) * (r - p[1])
    dphi_r[0] = p[0] * (r - p[1]) / r
    return 1


cdef int _spring2(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
                  const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
                  const double[:, ::1] stab, const double[::1] bond_w, double[:, ::1] forces,
                  double[::1] energies, double k, double r0, double rc2, bint per_atom,
                  int n_threads) noexcept nogil:
    """2D fast path of md_pair.pair_loop for harmonic springs without virial (x, forces (n, 2)): same
    slab scheme and arithmetic as _spring, parameters in registers, raw pointers (see pair_lj._lj2)."""
    cdef Py_ssize_t i, e, j, pp, q, s, e0, e1
    cdef Py_ssize_t nslab = slab_start.shape[0] - 1
    cdef bint has_w = bond_w.shape[0] > 0
    cdef double xi0, xi1, dx0, dx1, f0, f1, ei, r2, phi, c, w, r, t
    cdef const double* ST = &stab[0, 0]    # image shift vector of entry e: ST[3 scode[e] + k]
    cdef double hk = 0.5 * k
    cdef int phase
    cdef const double* X = &x[0, 0]
    cdef double* F = &forces[0, 0]
    cdef double* EN = &energies[0]
    cdef const int* NB = &neigh[0]
    cdef const unsigned short* SC = &scode[0]
    cdef const long* OF = &offsets[0]
    cdef const long* OR = &order[0]
    cdef const double* BW = &bond_w[0] if has_w else NULL
    cdef const double* sh
    cdef const double* xj
    cdef double* fj
    zero_outputs(forces, energies, forces[:0, :], n_threads)
    for phase in range(2):
        for q in prange((nslab - phase + 1) // 2, num_threads=n_threads, schedule="dynamic"):
            s = phase + 2 * q
            for pp in range(slab_start[s], slab_start[s + 1]):
                i = OR[pp]
                xi0 = X[2 * i]
                xi1 = X[2 * i + 1]
                ei = 0.0
                f0 = 0.0
                f1 = 0.0
                e0 = OF[i]
                e1 = OF[i + 1]
                for e in range(e0, e1):
                    j = NB[e]
                    sh = ST + 3 * SC[e]
                    xj = X + 2 * j
                    dx0 = xj[0] - xi0 + sh[0]
                    dx1 = xj[1] - xi1 + sh[1]
                    r2 = dx0 * dx0 + dx1 * dx1
                    if r2 < rc2:
                        r = sqrt(r2)
                        t = r - r0
                        phi = hk * t * t
                        c = k * t / r
                        if has_w:
                            w = BW[e]
                            phi = w * phi
                            c = w * c
                        if per_atom:
                            phi = 0.5 * phi
                            EN[j] = EN[j] + phi
                        ei = ei + phi
                        f0 = f0 + c * dx0
                        f1 = f1 + c * dx1
                        fj = F + 2 * j
                        fj[0] = fj[0] - c * dx0
                        fj[1] = fj[1] - c * dx1
                EN[i] = EN[i] + ei
                F[2 * i] = F[2 * i] + f0
                F[2 * i + 1] = F[2 * i + 1] + f1
    return 0


def compute(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
            const unsigned short[::1] scode, const long[::1] order, const long[::1] slab_start,
            const double[:, ::1] stab, const double[::1] bond_w, double[:, ::1] forces,
            double[::1] energies, double[:, ::1] virial,
            double k, double r0, double rc, bint per_atom=True, int n_threads=1,
            bint generic=False):
    """Forces (n, d), per-atom energies (n,), optional per-atom virial (n, d*d) from a half list with
    its slab order (see md_pair.pxd). generic: always use md_pair.pair_loop (the reference for the
    specialised 2D path, used by the tests)."""
    cdef double p[3]
    p[0] = k
    p[1] = r0
    p[2] = rc * rc
    with nogil:
        if not generic and virial.shape[0] == 0 and x.shape[0] > 0 and x.shape[1] == 2:
            _spring2(x, offsets, neigh, scode, order, slab_start, stab, bond_w, forces, energies, k, r0,
                     p[2], per_atom, n_threads)
        else:
            pair_loop(x, offsets, neigh, scode, order, slab_start, stab, bond_w, forces, energies,
                      virial, _spring, p, per_atom, n_threads)
    return 0
