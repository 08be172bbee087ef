# cython: language_level=3
"""Matrix-free finite-element internal forces (per-step loops of multiscale.fem.continuum).

Layout (one element block): ``conn (ne, nen)`` int64; geometry is shared between elements that are
translates of each other: ``geom (ne,)`` int64 indexes ``dN (ng, nqe, nen, d)`` (reference-configuration
shape-function gradients dN/dX [1/length] at the block's ``nqe`` quadrature points) and
``Ke (ng, nen*d, nen*d)`` (linear-elastic element stiffness [energy/length^2], dof order node-major).
Per-quadrature-point arrays are flat with index ``e*nqe + q``. ``elems`` lists the elements to process.

`linear_ke`, `linear_qp` and `stress_forces` write per-element results ``fe (ne, nen, d)`` (the internal
force ∂E_e/∂U_e [energy/length]) and per-element energies ``we (ne,)``; `node_forces` then sums them per
node in a fixed order over the node's (element, local node) incidences, so every result is bitwise
identical for any thread count.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t


cdef inline void _strain_stress(const double* H, const double[:, ::1] C, Py_ssize_t d,
                                double* S, double* W) noexcept nogil:
    """Small-strain Voigt law: ε = sym(H) (engineering shears), σ = C ε, S = σ as a d×d tensor."""
    cdef double eps[6]
    cdef double sig[6]
    cdef Py_ssize_t nv, i, j
    if d == 1:
        eps[0] = H[0]
        nv = 1
    elif d == 2:
        eps[0] = H[0]; eps[1] = H[3]; eps[2] = H[1] + H[2]
        nv = 3
    else:
        eps[0] = H[0]; eps[1] = H[4]; eps[2] = H[8]
        eps[3] = H[5] + H[7]; eps[4] = H[2] + H[6]; eps[5] = H[1] + H[3]
        nv = 6
    W[0] = 0.0
    for i in range(nv):
        sig[i] = 0.0
        for j in range(nv):
            sig[i] = sig[i] + C[i, j] * eps[j]
        W[0] = W[0] + 0.5 * sig[i] * eps[i]
    if d == 1:
        S[0] = sig[0]
    elif d == 2:
        S[0] = sig[0]; S[3] = sig[1]; S[1] = sig[2]; S[2] = sig[2]
    else:
        S[0] = sig[0]; S[4] = sig[1]; S[8] = sig[2]
        S[5] = sig[3]; S[7] = sig[3]; S[2] = sig[4]; S[6] = sig[4]; S[1] = sig[5]; S[3] = sig[5]


cdef void _qp_linear_one(const double* U, const int64_t* conn, const int64_t* geom, const double* dN,
                         const double* wq, const double[:, ::1] C, double* fe, double* we,
                         Py_ssize_t nen, Py_ssize_t d, Py_ssize_t nqe, Py_ssize_t e) noexcept nogil:
    """Raw pointers (no memoryview reference counting per call). dN is (ng, nqe, nen, d) contiguous."""
    cdef double H[9]
    cdef double S[9]
    cdef double W, w, s
    cdef Py_ssize_t q, a, i, J, g = geom[e]
    cdef const double* dq
    cdef double* fa = fe + e * nen * d
    cdef double en = 0.0
    for a in range(nen * d):
        fa[a] = 0.0
    for q in range(nqe):
        w = wq[e * nqe + q]
        if w == 0.0:
            continue
        dq = dN + (g * nqe + q) * nen * d
        for i in range(d):
            for J in range(d):
                s = 0.0
                for a in range(nen):
                    s = s + U[conn[e * nen + a] * d + i] * dq[a * d + J]
                H[i * d + J] = s
        _strain_stress(H, C, d, S, &W)
        en = en + w * W
        for a in range(nen):
            for i in range(d):
                s = 0.0
                for J in range(d):
                    s = s + S[i * d + J] * dq[a * d + J]
                fa[a * d + i] = fa[a * d + i] + w * s
    we[e] = en


def linear_qp(const double[:, ::1] U, const int64_t[:, ::1] conn, const int64_t[::1] elems,
              const int64_t[::1] geom, const double[:, :, :, ::1] dN, const double[::1] wq,
              const double[:, ::1] C, double[:, :, ::1] fe, double[::1] we, int n_threads=1):
    """Linear elasticity per quadrature point with weights wq = α_q V_q (flat e*nqe+q).
    fe_e = Σ_q wq σ(ε_q)·∇N, we_e = Σ_q wq ½ ε_q:C:ε_q; C (nv, nv) Voigt [energy/length^d]."""
    cdef Py_ssize_t n = elems.shape[0], k
    if U.shape[1] != dN.shape[3] or C.shape[0] != (1 if U.shape[1] == 1 else 3 * (U.shape[1] - 1)):
        raise ValueError("linear_qp: shape mismatch")
    if n == 0:
        return 0
    with nogil:
        for k in prange(n, num_threads=n_threads, schedule="static"):
            _qp_linear_one(&U[0, 0], &conn[0, 0], &geom[0], &dN[0, 0, 0, 0], &wq[0], C, &fe[0, 0, 0], &we[0],
                           conn.shape[1], U.shape[1], dN.shape[1], elems[k])
    return 0


def gradients(const double[:, ::1] U, const int64_t[:, ::1] conn, const int64_t[::1] elems,
              const int64_t[::1] geom, const double[:, :, :, ::1] dN, double[:, :, ::1] F,
              int n_threads=1):
    """Deformation gradients F = I + Σ_a U_a ⊗ ∇N_a at every quadrature point, F (ne*nqe, d, d)."""
    cdef Py_ssize_t n = elems.shape[0], d = U.shape[1], nqe = dN.shape[1], nen = conn.shape[1]
    cdef Py_ssize_t k, e, g, q, a, i, J
    cdef double s
    with nogil:
        for k in prange(n, num_threads=n_threads, schedule="static"):
            e = elems[k]
            g = geom[e]
            for q in range(nqe):
                for i in range(d):
                    for J in range(d):
                        s = 1.0 if i == J else 0.0
                        for a in range(nen):
                            s = s + U[conn[e, a], i] * dN[g, q, a, J]
                        F[e * nqe + q, i, J] = s
    return 0


def stress_forces(const double[:, :, ::1] P, const double[::1] Wq, const double[::1] wq,
                  const int64_t[:, ::1] conn, const int64_t[::1] elems, const int64_t[::1] geom,
                  const double[:, :, :, ::1] dN, double[:, :, ::1] fe, double[::1] we, int n_threads=1):
    """fe_e[a, i] = Σ_q wq P_iJ ∂N_a/∂X_J, we_e = Σ_q wq W_q, from first Piola stresses P (ne*nqe, d, d)
    [energy/length^d] and energy densities Wq (ne*nqe,)."""
    cdef Py_ssize_t n = elems.shape[0], d = fe.shape[2], nqe = dN.shape[1], nen = conn.shape[1]
    cdef Py_ssize_t k, e, g, q, a, i, J, eq
    cdef double s, w, en
    with nogil:
        for k in prange(n, num_threads=n_threads, schedule="static"):
            e = elems[k]
            g = geom[e]
            en = 0.0
            for a in range(nen):
                for i in range(d):
                    fe[e, a, i] = 0.0
            for q in range(nqe):
                eq = e * nqe + q
                w = wq[eq]
                if w == 0.0:
                    continue
                en = en + w * Wq[eq]
                for a in range(nen):
                    for i in range(d):
                        s = 0.0
                        for J in range(d):
                            s = s + P[eq, i, J] * dN[g, q, a, J]
                        fe[e, a, i] = fe[e, a, i] + w * s
            we[e] = en
    return 0


cdef inline void _node_one(const int64_t* ptr, const int64_t* ent, const signed char* mode,
                           const double* fe_rows, double* out, Py_ssize_t nen, Py_ssize_t d,
                           int accumulate, Py_ssize_t I) noexcept nogil:
    cdef Py_ssize_t k, row, i
    cdef double f0 = 0.0, f1 = 0.0, f2 = 0.0
    for k in range(ptr[I], ptr[I + 1]):
        row = ent[k]
        if mode[row // nen] == 0:
            continue
        f0 = f0 + fe_rows[row * d]
        if d > 1:
            f1 = f1 + fe_rows[row * d + 1]
            if d > 2:
                f2 = f2 + fe_rows[row * d + 2]
    if accumulate:
        out[I * d] -= f0
        if d > 1:
            out[I * d + 1] -= f1
            if d > 2:
                out[I * d + 2] -= f2
    else:
        out[I * d] = -f0
        if d > 1:
            out[I * d + 1] = -f1
            if d > 2:
                out[I * d + 2] = -f2


def node_forces(const int64_t[::1] ptr, const int64_t[::1] ent, const signed char[::1] mode,
                const double[:, ::1] fe_rows, double[:, ::1] out, Py_ssize_t nen, int accumulate=0,
                int n_threads=1):
    """Gather of one element block's element forces: out[I] = (out[I] if accumulate else 0)
    − Σ fe_rows[row] over node I's incidences (``ptr``/``ent``: rows e*nen + a sorted by node, a fixed
    order) of elements with mode[e] != 0 (0 = α ≡ 0, skipped). Bitwise identical for any thread count."""
    cdef Py_ssize_t N = out.shape[0], d = out.shape[1], I
    if d > 3 or ptr.shape[0] != N + 1 or fe_rows.shape[1] != d or mode.shape[0] * nen != fe_rows.shape[0]:
        raise ValueError("node_forces: shape mismatch")
    if N == 0 or ent.shape[0] == 0:
        return 0
    with nogil:
        for I in prange(N, num_threads=n_threads, schedule="static"):
            _node_one(&ptr[0], &ent[0], &mode[0], &fe_rows[0, 0], &out[0, 0], nen, d, accumulate, I)
    return 0


cdef extern from *:
    """
    /* fe_e = al * Ke u_e with the column loop innermost-vectorisable and ND known at compile time,
       so the accumulators live in registers; we = 1/2 u_e . fe_e. */
    #define MSIM_KE(ND) \
    static inline void msim_ke_##ND(const double* U, const int64_t* conn, const double* K, double al, \
                                    double* fe, double* we, int nen, int d) { \
        double ue[ND]; double acc[ND]; int b, j, c, r; double en = 0.0; \
        for (b = 0; b < nen; b++) { const double* u = U + conn[b] * d; \
            for (j = 0; j < d; j++) ue[b * d + j] = u[j]; } \
        for (r = 0; r < ND; r++) acc[r] = 0.0; \
        for (c = 0; c < ND; c++) { const double uc = ue[c]; const double* Kc = K + c * ND; \
            for (r = 0; r < ND; r++) acc[r] += Kc[r] * uc; } \
        for (r = 0; r < ND; r++) { const double v = al * acc[r]; fe[r] = v; en += ue[r] * v; } \
        *we = 0.5 * en; }
    MSIM_KE(2)
    MSIM_KE(6)
    MSIM_KE(8)
    MSIM_KE(12)
    MSIM_KE(24)
    """
    void msim_ke_2(const double* U, const int64_t* conn, const double* K, double al, double* fe, double* we,
                   int nen, int d) noexcept nogil
    void msim_ke_6(const double* U, const int64_t* conn, const double* K, double al, double* fe, double* we,
                   int nen, int d) noexcept nogil
    void msim_ke_8(const double* U, const int64_t* conn, const double* K, double al, double* fe, double* we,
                   int nen, int d) noexcept nogil
    void msim_ke_12(const double* U, const int64_t* conn, const double* K, double al, double* fe, double* we,
                    int nen, int d) noexcept nogil
    void msim_ke_24(const double* U, const int64_t* conn, const double* K, double al, double* fe, double* we,
                    int nen, int d) noexcept nogil


def linear_ke(const double[:, ::1] U, const int64_t[:, ::1] conn, const int64_t[::1] elems,
              const int64_t[::1] geom, const double[:, :, ::1] Ke, const double[::1] alpha,
              double[:, :, ::1] fe, double[::1] we, int n_threads=1):
    """Linear elements of uniform weight: fe_e = α_e Ke_g U_e, we_e = ½ U_e·fe_e (Ke symmetric,
    nen*d ∈ {2, 6, 8, 12, 24}: bar2, tri3, quad4, tet4, hex8)."""
    cdef Py_ssize_t n = elems.shape[0], k, e
    cdef int nen = conn.shape[1], d = U.shape[1], nd = nen * d
    if Ke.shape[1] != nd or Ke.shape[2] != nd or fe.shape[1] != nen or fe.shape[2] != d:
        raise ValueError("linear_ke: shape mismatch")
    if nd not in (2, 6, 8, 12, 24):
        raise ValueError(f"linear_ke: unsupported element size nen*d = {nd}")
    if n == 0:
        return 0
    cdef const double* Up = &U[0, 0]
    cdef const int64_t* cp = &conn[0, 0]
    cdef const double* Kp = &Ke[0, 0, 0]
    cdef double* fp = &fe[0, 0, 0]
    cdef double* wp = &we[0]
    with nogil:
        for k in prange(n, num_threads=n_threads, schedule="static"):
            e = elems[k]
            if nd == 8:
                msim_ke_8(Up, cp + e * nen, Kp + geom[e] * 64, alpha[e], fp + e * 8, wp + e, nen, d)
            elif nd == 24:
                msim_ke_24(Up, cp + e * nen, Kp + geom[e] * 576, alpha[e], fp + e * 24, wp + e, nen, d)
            elif nd == 6:
                msim_ke_6(Up, cp + e * nen, Kp + geom[e] * 36, alpha[e], fp + e * 6, wp + e, nen, d)
            elif nd == 12:
                msim_ke_12(Up, cp + e * nen, Kp + geom[e] * 144, alpha[e], fp + e * 12, wp + e, nen, d)
            else:
                msim_ke_2(Up, cp + e * nen, Kp + geom[e] * 4, alpha[e], fp + e * 2, wp + e, nen, d)
    return 0
