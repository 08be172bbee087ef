# cython: language_level=3
"""Shared full-list loop of the pair-potential kernels (cimported by kernels/pair_*.pyx).

Energy ``E = sum_{a<b} w_ab phi(r_ab)``; with full lists every atom i sums its own entries:
``e_i = 1/2 sum_j w_ij phi(r_ij)``, ``f_i = sum_j w_ij phi'(r_ij)/r_ij (x_j - x_i)``,
per-atom virial ``W_i = -1/2 sum_j w_ij phi'(r)/r dx (x) dx``. Bond weights must be symmetric.
Each atom writes only its own rows, so the result is the same for any thread count.
"""

from cython.parallel cimport prange

# pair function: given r^2, parameters p, returns phi and phi'(r)/r through the pointers;
# returns 0 beyond the cut-off (then nothing is added)
ctypedef int (*pairfn_t)(double r2, const double* p, double* phi, double* dphi_r) noexcept nogil


cdef inline void store_virial(double[:, ::1] virial, Py_ssize_t i, Py_ssize_t d, double v00, double v01,
                              double v02, double v11, double v12, double v22) noexcept nogil:
    """Write the symmetric per-atom virial (d x d, row-major) of atom i."""
    if d == 1:
        virial[i, 0] = v00
    elif d == 2:
        virial[i, 0] = v00
        virial[i, 1] = v01
        virial[i, 2] = v01
        virial[i, 3] = v11
    else:
        virial[i, 0] = v00
        virial[i, 1] = v01
        virial[i, 2] = v02
        virial[i, 3] = v01
        virial[i, 4] = v11
        virial[i, 5] = v12
        virial[i, 6] = v02
        virial[i, 7] = v12
        virial[i, 8] = v22


cdef inline int pair_loop(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
                          const signed char[:, ::1] shifts, const double[::1] period,
                          const double[::1] bond_w, double[:, ::1] forces, double[::1] energies,
                          double[:, ::1] virial, pairfn_t fn, const double* p,
                          int n_threads) noexcept nogil:
    """bond_w / virial may have length 0 (= all weights 1 / no virial). virial: (n, d*d).

    Thread-private state is kept in scalars only (C arrays would be shared by the prange threads).
    """
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j
    cdef bint has_w = bond_w.shape[0] > 0
    cdef bint has_v = virial.shape[0] > 0
    cdef double dx0, dx1, dx2, f0, f1, f2, ei, phi, dphi_r, w, c
    cdef double v00, v01, v02, v11, v12, v22
    cdef double per0 = period[0]
    cdef double per1 = period[1] if d > 1 else 0.0
    cdef double per2 = period[2] if d > 2 else 0.0
    for i in prange(n, num_threads=n_threads, schedule="guided"):
        ei = 0.0
        phi = 0.0      # assigned here so that prange makes them thread-private
        dphi_r = 0.0
        f0 = 0.0
        f1 = 0.0
        f2 = 0.0
        v00 = 0.0
        v01 = 0.0
        v02 = 0.0
        v11 = 0.0
        v12 = 0.0
        v22 = 0.0
        for e in range(offsets[i], offsets[i + 1]):
            j = neigh[e]
            dx0 = x[j, 0] - x[i, 0] + shifts[e, 0] * per0
            dx1 = 0.0
            dx2 = 0.0
            if d > 1:
                dx1 = x[j, 1] - x[i, 1] + shifts[e, 1] * per1
            if d > 2:
                dx2 = x[j, 2] - x[i, 2] + shifts[e, 2] * per2
            if fn(dx0 * dx0 + dx1 * dx1 + dx2 * dx2, p, &phi, &dphi_r):
                w = bond_w[e] if has_w else 1.0
                ei = ei + w * phi
                c = w * dphi_r
                f0 = f0 + c * dx0
                f1 = f1 + c * dx1
                f2 = f2 + c * dx2
                if has_v:
                    c = -0.5 * c
                    v00 = v00 + c * dx0 * dx0
                    v01 = v01 + c * dx0 * dx1
                    v02 = v02 + c * dx0 * dx2
                    v11 = v11 + c * dx1 * dx1
                    v12 = v12 + c * dx1 * dx2
                    v22 = v22 + c * dx2 * dx2
        energies[i] = 0.5 * ei
        forces[i, 0] = f0
        if d > 1:
            forces[i, 1] = f1
        if d > 2:
            forces[i, 2] = f2
        if has_v:
            store_virial(virial, i, d, v00, v01, v02, v11, v12, v22)
    return 0


