# cython: language_level=3
"""The sparse LU solve with a fixed factorisation, shared by kernels/trisolve.pyx (``lu_solve``) and
kernels/coupler.pyx (``block_correction``): one copy of the operations, so both give the same bits.

``P_r A P_c = L U`` (SuperLU's convention: ``(P_r b)[perm_r[i]] = b[i]``, ``x[i] = z[perm_c[i]]``), L unit
lower and U upper triangular, both row-wise (CSR, int32) WITHOUT their diagonals (``Ud`` holds U's);
b, work, x (n, m): work = P_r b; work = L⁻¹ work (rows in order); work = U⁻¹ work (rows in reverse order,
division by the pivot last); x = P_c work. m = 2 and 3 have fused loops (the factor read once for all
columns; each column gets the operations of the general loop in the same order). No checks: the callers
check the shapes.
"""

from libc.stdint cimport int32_t


cdef inline void lu_solve_nogil(const int32_t[::1] Lp, const int32_t[::1] Li, const double[::1] Lx,
                                const int32_t[::1] Up, const int32_t[::1] Ui, const double[::1] Ux,
                                const double[::1] Ud, const int32_t[::1] perm_r, const int32_t[::1] perm_c,
                                const double[:, ::1] b, double[:, ::1] work, double[:, ::1] x) noexcept nogil:
    cdef Py_ssize_t n = b.shape[0], m = b.shape[1], i, k, c, j
    cdef double l, s0, s1, s2
    for i in range(n):
        for c in range(m):
            work[perm_r[i], c] = b[i, c]
    if m == 2:
        for i in range(n):
            s0 = work[i, 0]
            s1 = work[i, 1]
            for k in range(Lp[i], Lp[i + 1]):
                j = Li[k]
                l = Lx[k]
                s0 = s0 - l * work[j, 0]
                s1 = s1 - l * work[j, 1]
            work[i, 0] = s0
            work[i, 1] = s1
        for i in range(n - 1, -1, -1):
            s0 = work[i, 0]
            s1 = work[i, 1]
            for k in range(Up[i], Up[i + 1]):
                j = Ui[k]
                l = Ux[k]
                s0 = s0 - l * work[j, 0]
                s1 = s1 - l * work[j, 1]
            work[i, 0] = s0 / Ud[i]
            work[i, 1] = s1 / Ud[i]
    elif m == 3:
        for i in range(n):
            s0 = work[i, 0]
            s1 = work[i, 1]
            s2 = work[i, 2]
            for k in range(Lp[i], Lp[i + 1]):
                j = Li[k]
                l = Lx[k]
                s0 = s0 - l * work[j, 0]
                s1 = s1 - l * work[j, 1]
                s2 = s2 - l * work[j, 2]
            work[i, 0] = s0
            work[i, 1] = s1
            work[i, 2] = s2
        for i in range(n - 1, -1, -1):
            s0 = work[i, 0]
            s1 = work[i, 1]
            s2 = work[i, 2]
            for k in range(Up[i], Up[i + 1]):
                j = Ui[k]
                l = Ux[k]
                s0 = s0 - l * work[j, 0]
                s1 = s1 - l * work[j, 1]
                s2 = s2 - l * work[j, 2]
            work[i, 0] = s0 / Ud[i]
            work[i, 1] = s1 / Ud[i]
            work[i, 2] = s2 / Ud[i]
    else:
        for i in range(n):
            for c in range(m):
                s0 = work[i, c]
                for k in range(Lp[i], Lp[i + 1]):
                    s0 = s0 - Lx[k] * work[Li[k], c]
                work[i, c] = s0
        for i in range(n - 1, -1, -1):
            for c in range(m):
                s0 = work[i, c]
                for k in range(Up[i], Up[i + 1]):
                    s0 = s0 - Ux[k] * work[Ui[k], c]
                work[i, c] = s0 / Ud[i]
    for i in range(n):
        for c in range(m):
            x[i, c] = work[perm_c[i], c]
