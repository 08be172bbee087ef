# cython: language_level=3
"""Shared half-list loops of the pair-potential kernels (cimported by kernels/pair_*.pyx).

Energy ``E = sum_{a<b} w_ab phi(r_ab)``, each pair once in the half list (entry e: owner i, neighbour j,
dx = x_j - x_i + s_e L). Phase 1 (each owner i): c_e = w_e phi'(r)/r, f_i += c_e dx, e_i += w_e phi / 2,
stored per entry. Phase 2 (each atom j over the transpose, fixed entry order): f_j -= c_e dx,
e_j += w_e phi / 2. Per-atom virial W_a = -1/2 sum_b c dx (x) dx. Each atom's rows are written by one
thread per phase, in a fixed order: the result is the same for any thread count.
"""

from cython.parallel cimport prange

# pair function: given r^2, parameters p, returns phi and phi'(r)/r through the pointers;
# returns 0 beyond the cut-off (then nothing is added)
ctypedef int (*pairfn_t)(double r2, const double* p, double* phi, double* dphi_r) noexcept nogil


cdef inline void add_virial(double[:, ::1] virial, Py_ssize_t i, Py_ssize_t d, double c, double dx0,
                            double dx1, double dx2) noexcept nogil:
    """virial[i] += c * dx (x) dx (d x d, row-major)."""
    if d == 1:
        virial[i, 0] += c * dx0 * dx0
    elif d == 2:
        virial[i, 0] += c * dx0 * dx0
        virial[i, 1] += c * dx0 * dx1
        virial[i, 2] += c * dx1 * dx0
        virial[i, 3] += c * dx1 * dx1
    else:
        virial[i, 0] += c * dx0 * dx0
        virial[i, 1] += c * dx0 * dx1
        virial[i, 2] += c * dx0 * dx2
        virial[i, 3] += c * dx1 * dx0
        virial[i, 4] += c * dx1 * dx1
        virial[i, 5] += c * dx1 * dx2
        virial[i, 6] += c * dx2 * dx0
        virial[i, 7] += c * dx2 * dx1
        virial[i, 8] += c * dx2 * dx2


cdef inline int gather_reverse(const double[:, ::1] x, const signed char[:, ::1] shifts,
                               const long[::1] rev_offsets, const int[::1] rev_owner,
                               const int[::1] rev_entry, const double[::1] period, const double[::1] fe,
                               const double[::1] pe, double[:, ::1] forces, double[::1] energies,
                               double[:, ::1] virial, int n_threads) noexcept nogil:
    """Phase 2: every atom j adds -fe[e] dx_e to its force and pe[e] to its energy over its reverse
    entries (virial: -fe/2 dx dx when virial has rows)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], j, t, e, i
    cdef bint has_v = virial.shape[0] > 0
    cdef double dx0, dx1, dx2, c, f0, f1, f2, ej
    cdef double per0 = period[0]
    cdef double per1 = period[1] if d > 1 else 0.0
    cdef double per2 = period[2] if d > 2 else 0.0
    for j in prange(n, num_threads=n_threads, schedule="guided"):
        f0 = 0.0
        f1 = 0.0
        f2 = 0.0
        ej = 0.0
        for t in range(rev_offsets[j], rev_offsets[j + 1]):
            e = rev_entry[t]
            c = fe[e]
            ej = ej + pe[e]
            if c != 0.0:
                i = rev_owner[t]
                dx0 = x[j, 0] - x[i, 0] + shifts[e, 0] * per0
                dx1 = 0.0
                dx2 = 0.0
                if d > 1:
                    dx1 = x[j, 1] - x[i, 1] + shifts[e, 1] * per1
                if d > 2:
                    dx2 = x[j, 2] - x[i, 2] + shifts[e, 2] * per2
                f0 = f0 - c * dx0
                f1 = f1 - c * dx1
                f2 = f2 - c * dx2
                if has_v:
                    add_virial(virial, j, d, -0.5 * c, dx0, dx1, dx2)
        energies[j] += ej
        forces[j, 0] += f0
        if d > 1:
            forces[j, 1] += f1
        if d > 2:
            forces[j, 2] += f2
    return 0


cdef inline int pair_loop(const double[:, ::1] x, const long[::1] offsets, const int[::1] neigh,
                          const signed char[:, ::1] shifts, const long[::1] rev_offsets,
                          const int[::1] rev_owner, const int[::1] rev_entry, const double[::1] period,
                          const double[::1] bond_w, double[::1] fe, double[::1] pe,
                          double[:, ::1] forces, double[::1] energies, double[:, ::1] virial,
                          pairfn_t fn, const double* p, int n_threads) noexcept nogil:
    """bond_w / virial may have length 0 (= all weights 1 / no virial). virial: (n, d*d), zeroed here.
    fe, pe: (m,) per-entry scratch."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, e, j, k
    cdef bint has_w = bond_w.shape[0] > 0
    cdef bint has_v = virial.shape[0] > 0
    cdef double dx0, dx1, dx2, f0, f1, f2, ei, phi, dphi_r, w, c
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
        if has_v:
            for k in range(d * d):
                virial[i, k] = 0.0
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
                c = w * dphi_r
                fe[e] = c
                pe[e] = 0.5 * w * phi
                ei = ei + 0.5 * w * phi
                f0 = f0 + c * dx0
                f1 = f1 + c * dx1
                f2 = f2 + c * dx2
                if has_v:
                    add_virial(virial, i, d, -0.5 * c, dx0, dx1, dx2)
            else:
                fe[e] = 0.0
                pe[e] = 0.0
        energies[i] = ei
        forces[i, 0] = f0
        if d > 1:
            forces[i, 1] = f1
        if d > 2:
            forces[i, 2] = f2
    gather_reverse(x, shifts, rev_offsets, rev_owner, rev_entry, period, fe, pe, forces, energies, virial,
                   n_threads)
    return 0
