# cython: language_level=3
"""The sparse LU solve with a fixed factorisation, shared by kernels/trisolve.pyx (``lu_solve``) and
kernels/coupler.pyx (``block_correction``): one copy of the operations, so both give the same bits.

``P_r A P_c = L U`` (SuperLU's convention: ``(P_r b)[perm_r[i]] = b[i]``, ``x[i] = z[perm_c[i]]``), L unit
lower and U upper triangular, both row-wise (CSR, int32) WITHOUT their diagonals (``Ud`` holds U's);
b, work, x (n, m): work = P_r b; work = L⁻¹ work (rows in order); work = U⁻¹ work (rows in reverse order,
division by the pivot last); x = P_c work. m = 2 and 3 have fused loops (the factor read once for all
columns; each column gets the operations of the general loop in the same order). Each row's sum runs in
two partial sums (the row's even and odd entries, added at the end): a row's adds are one dependent
chain, so two chains halve the latency per entry that bounds the solve (about 2x faster on
bench_coupled's 2D multipliers; round-off change against the one-chain sum and SuperLU's solve).
No checks: the callers check the shapes.
"""

from libc.stdint cimport int32_t


# One row of a triangular solve: work[i, c] = (work[i, c] − Σ_k T_ik work[j_k, c]) / piv, the sum in two
# partial sums (even entries into s, odd ones into t, then s + t) and divided only when piv != 1 (L's
# unit diagonal: the same bits as no division). _row2 / _row3 do exactly _row1's operations per column.
cdef inline void _row1(const int32_t[::1] Tp, const int32_t[::1] Ti, const double[::1] Tx,
                       double[:, ::1] work, Py_ssize_t i, Py_ssize_t c, double piv) noexcept nogil:
    cdef Py_ssize_t k = Tp[i], ke = Tp[i + 1]
    cdef double s = work[i, c], t = 0.0
    while k + 1 < ke:
        s = s - Tx[k] * work[Ti[k], c]
        t = t - Tx[k + 1] * work[Ti[k + 1], c]
        k = k + 2
    if k < ke:
        s = s - Tx[k] * work[Ti[k], c]
    s = s + t
    work[i, c] = s / piv if piv != 1.0 else s


cdef inline void _row2(const int32_t[::1] Tp, const int32_t[::1] Ti, const double[::1] Tx,
                       double[:, ::1] work, Py_ssize_t i, double piv) noexcept nogil:
    cdef Py_ssize_t k = Tp[i], ke = Tp[i + 1], j, j2
    cdef double s0 = work[i, 0], s1 = work[i, 1], t0 = 0.0, t1 = 0.0, l, l2
    while k + 1 < ke:
        j = Ti[k]
        l = Tx[k]
        j2 = Ti[k + 1]
        l2 = Tx[k + 1]
        s0 = s0 - l * work[j, 0]
        s1 = s1 - l * work[j, 1]
        t0 = t0 - l2 * work[j2, 0]
        t1 = t1 - l2 * work[j2, 1]
        k = k + 2
    if k < ke:
        j = Ti[k]
        l = Tx[k]
        s0 = s0 - l * work[j, 0]
        s1 = s1 - l * work[j, 1]
    s0 = s0 + t0
    s1 = s1 + t1
    if piv != 1.0:
        s0 = s0 / piv
        s1 = s1 / piv
    work[i, 0] = s0
    work[i, 1] = s1


cdef inline void _row3(const int32_t[::1] Tp, const int32_t[::1] Ti, const double[::1] Tx,
                       double[:, ::1] work, Py_ssize_t i, double piv) noexcept nogil:
    cdef Py_ssize_t k = Tp[i], ke = Tp[i + 1], j, j2
    cdef double s0 = work[i, 0], s1 = work[i, 1], s2 = work[i, 2], t0 = 0.0, t1 = 0.0, t2 = 0.0, l, l2
    while k + 1 < ke:
        j = Ti[k]
        l = Tx[k]
        j2 = Ti[k + 1]
        l2 = Tx[k + 1]
        s0 = s0 - l * work[j, 0]
        s1 = s1 - l * work[j, 1]
        s2 = s2 - l * work[j, 2]
        t0 = t0 - l2 * work[j2, 0]
        t1 = t1 - l2 * work[j2, 1]
        t2 = t2 - l2 * work[j2, 2]
        k = k + 2
    if k < ke:
        j = Ti[k]
        l = Tx[k]
        s0 = s0 - l * work[j, 0]
        s1 = s1 - l * work[j, 1]
        s2 = s2 - l * work[j, 2]
    s0 = s0 + t0
    s1 = s1 + t1
    s2 = s2 + t2
    if piv != 1.0:
        s0 = s0 / piv
        s1 = s1 / piv
        s2 = s2 / piv
    work[i, 0] = s0
    work[i, 1] = s1
    work[i, 2] = s2


cdef inline void lu_solve_nogil(const int32_t[::1] Lp, const int32_t[::1] Li, const double[::1] Lx,
                                const int32_t[::1] Up, const int32_t[::1] Ui, const double[::1] Ux,
                                const double[::1] Ud, const int32_t[::1] perm_r, const int32_t[::1] perm_c,
                                const double[:, ::1] b, double[:, ::1] work, double[:, ::1] x) noexcept nogil:
    cdef Py_ssize_t n = b.shape[0], m = b.shape[1], i, c
    for i in range(n):
        for c in range(m):
            work[perm_r[i], c] = b[i, c]
    if m == 2:
        for i in range(n):
            _row2(Lp, Li, Lx, work, i, 1.0)
        for i in range(n - 1, -1, -1):
            _row2(Up, Ui, Ux, work, i, Ud[i])
    elif m == 3:
        for i in range(n):
            _row3(Lp, Li, Lx, work, i, 1.0)
        for i in range(n - 1, -1, -1):
            _row3(Up, Ui, Ux, work, i, Ud[i])
    else:
        for i in range(n):
            for c in range(m):
                _row1(Lp, Li, Lx, work, i, c, 1.0)
        for i in range(n - 1, -1, -1):
            for c in range(m):
                _row1(Up, Ui, Ux, work, i, c, Ud[i])
    for i in range(n):
        for c in range(m):
            x[i, c] = work[perm_c[i], c]
