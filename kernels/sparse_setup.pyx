# cython: language_level=3
"""Set-up helpers of the constraint projector (multiscale.coupling.projector): the factor of the
multiplier solve turned into the row-wise strict triangles the per-step solve reads (kernels/trisolve.pyx).

``csc_strict_csr``: a square CSC matrix (SuperLU's ``L`` or ``U``) -> its strictly lower or upper part in
CSR with int32 indices, column indices ascending in every row, explicit entries (zeros too) kept, and its
diagonal: the arrays of ``tril(M, -1)`` / ``triu(M, 1)`` in CSR with sorted indices and of ``M.diagonal()``
(no arithmetic: a counting-sort transposition, the same values in the same places). One pass to count,
one to place; it replaces a CSC -> CSR conversion of the whole factor, a row-index expansion and masks.
"""

from libc.stdint cimport int32_t, int64_t

import numpy as np

cimport cython


@cython.boundscheck(False)
@cython.wraparound(False)
def csc_strict_csr(const int64_t[::1] indptr, const int32_t[::1] indices, const double[::1] data,
                   int lower):
    """(indptr (n+1,) int32, indices (k,) int32, data (k,) float64, diag (n,) float64) of the strictly
    lower (``lower`` = 1) or upper (0) part, in CSR, of the square n x n CSC matrix (indptr, indices,
    data); diag: the sum of the diagonal entries of each column (0.0 where none), as ``M.diagonal()``."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, j, p, i, q, k = 0
    if n < 0 or indices.shape[0] != data.shape[0] or indptr[n] > indices.shape[0]:
        raise ValueError("csc_strict_csr: shape mismatch")
    cnt_a = np.zeros(n + 1, np.int64)
    diag_a = np.zeros(n, np.float64)
    cdef int64_t[::1] cnt = cnt_a
    cdef double[::1] diag = diag_a
    with nogil:
        for j in range(n):
            for p in range(indptr[j], indptr[j + 1]):
                i = indices[p]
                if (i > j) if lower else (i < j):
                    cnt[i + 1] += 1
                    k += 1
    if k >= 2 ** 31 or n >= 2 ** 31:
        raise ValueError("csc_strict_csr: more than 2^31 - 1 entries")
    rp_a = np.empty(n + 1, np.int32)
    ri_a = np.empty(k, np.int32)
    rx_a = np.empty(k, np.float64)
    cdef int32_t[::1] rp = rp_a
    cdef int32_t[::1] ri = ri_a
    cdef double[::1] rx = rx_a
    with nogil:
        for j in range(n):
            cnt[j + 1] += cnt[j]
        for j in range(n + 1):
            rp[j] = <int32_t>cnt[j]
        for j in range(n):
            for p in range(indptr[j], indptr[j + 1]):
                i = indices[p]
                if i == j:
                    diag[j] += data[p]
                elif (i > j) if lower else (i < j):
                    q = cnt[i]
                    ri[q] = <int32_t>j
                    rx[q] = data[p]
                    cnt[i] = q + 1
    return rp_a, ri_a, rx_a, diag_a
