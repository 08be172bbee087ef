# cython: language_level=3
"""Shared velocity-Verlet kernels: the same kick and drift code for atoms and finite-element nodes.

All arrays are C-contiguous float64. Shapes: ``(n, d)`` for positions/velocities/forces, ``(n,)`` for
inverse masses (internal force-mass units, see multiscale.units). Element-wise, so results do not depend
on the thread count.
"""

from cython.parallel cimport prange

cdef extern from *:
    """
    #ifdef _OPENMP
    #define MSIM_OPENMP 1
    #else
    #define MSIM_OPENMP 0
    #endif
    """
    int MSIM_OPENMP


def openmp_enabled():
    """1 if compiled with OpenMP, else 0."""
    return MSIM_OPENMP


def kick(double[:, ::1] v, const double[:, ::1] f, const double[::1] inv_m, double dt_half,
         int n_threads=1):
    """v[i] += dt_half * f[i] * inv_m[i]   (v, f: (n, d); inv_m: (n,); 0 for massless/fixed)."""
    cdef Py_ssize_t n = v.shape[0], d = v.shape[1], i, k
    if f.shape[0] != n or f.shape[1] != d or inv_m.shape[0] != n:
        raise ValueError("kick: shape mismatch")
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            for k in range(d):
                v[i, k] = v[i, k] + dt_half * f[i, k] * inv_m[i]
    return 0


def kick_acc(double[:, ::1] v, const double[:, ::1] a, double dt_half, int n_threads=1):
    """v += dt_half * a   (accelerations already include the constraint projection)."""
    cdef Py_ssize_t n = v.shape[0], d = v.shape[1], i, k
    if a.shape[0] != n or a.shape[1] != d:
        raise ValueError("kick_acc: shape mismatch")
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            for k in range(d):
                v[i, k] = v[i, k] + dt_half * a[i, k]
    return 0


def drift(double[:, ::1] x, const double[:, ::1] v, double dt, int n_threads=1):
    """x += dt * v   (x, v: (n, d))."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], i, k
    if v.shape[0] != n or v.shape[1] != d:
        raise ValueError("drift: shape mismatch")
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            for k in range(d):
                x[i, k] = x[i, k] + dt * v[i, k]
    return 0


def kick_drift(double[:, ::1] v, double[:, ::1] x, const double[:, ::1] a, double dt_half, double dt,
               int n_threads=1):
    """v += dt_half * a, then x += dt * v, in one pass (x, v, a: (n, d)): bitwise `kick_acc` followed by
    `drift` (the same two roundings per component), one read of v instead of two."""
    cdef Py_ssize_t n = v.shape[0], d = v.shape[1], i, k
    cdef double vi
    if a.shape[0] != n or a.shape[1] != d or x.shape[0] != n or x.shape[1] != d:
        raise ValueError("kick_drift: shape mismatch")
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            for k in range(d):
                vi = v[i, k] + dt_half * a[i, k]
                v[i, k] = vi
                x[i, k] = x[i, k] + dt * vi
    return 0


def acc_kick(double[:, ::1] v, double[:, ::1] a, const double[:, ::1] f, const double[:, ::1] inv_m,
             double dt_half, int n_threads=1):
    """a = f * inv_m (per component, 0 for fixed dofs), then v += dt_half * a, in one pass (all (n, d)):
    bitwise ``numpy.multiply(f, inv_m, out=a)`` followed by `kick_acc`."""
    cdef Py_ssize_t n = v.shape[0], d = v.shape[1], i, k
    cdef double ai
    if (a.shape[0] != n or a.shape[1] != d or f.shape[0] != n or f.shape[1] != d or inv_m.shape[0] != n
            or inv_m.shape[1] != d):
        raise ValueError("acc_kick: shape mismatch")
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule="static"):
            for k in range(d):
                ai = f[i, k] * inv_m[i, k]
                a[i, k] = ai
                v[i, k] = v[i, k] + dt_half * ai
    return 0
