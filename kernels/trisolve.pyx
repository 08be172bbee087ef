# cython: language_level=3
"""Sparse triangular solves with a fixed LU factorisation (the per-step solve of the constraint
projector, multiscale.coupling.projector).

``P_r A P_c = L U`` (SuperLU's convention: ``(P_r b)[perm_r[i]] = b[i]``, ``x[i] = z[perm_c[i]]``), L unit
lower and U upper triangular, both given row-wise (CSR, int32) WITHOUT their diagonals (``Ud`` holds U's).
Several right-hand sides at once (b (n, m), row-major: the m values of a row side by side, so the
factor is read once for all of them). Sequential; each entry is computed in a fixed order.
"""

from libc.stdint cimport int32_t

from lu_solve cimport lu_solve_nogil


def lu_solve(const int32_t[::1] Lp, const int32_t[::1] Li, const double[::1] Lx,
             const int32_t[::1] Up, const int32_t[::1] Ui, const double[::1] Ux, const double[::1] Ud,
             const int32_t[::1] perm_r, const int32_t[::1] perm_c, const double[:, ::1] b,
             double[:, ::1] work, double[:, ::1] x):
    """x = A⁻¹ b for b, work, x (n, m): work = P_r b; work = L⁻¹ work (rows in order); work = U⁻¹ work
    (rows in reverse order, division by the pivot last); x = P_c work."""
    cdef Py_ssize_t n = b.shape[0], m = b.shape[1]
    if (work.shape[0] != n or work.shape[1] != m or x.shape[0] != n or x.shape[1] != m
            or Lp.shape[0] != n + 1 or Up.shape[0] != n + 1 or Ud.shape[0] != n
            or perm_r.shape[0] != n or perm_c.shape[0] != n):
        raise ValueError("lu_solve: shape mismatch")
    with nogil:
        lu_solve_nogil(Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r, perm_c, b, work, x)
    return 0
