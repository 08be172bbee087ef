# cython: language_level=3
"""Matrix-free finite-element internal forces (per-step loops of multiscale.fem.continuum).

Layout (one element block): ``conn (ne, nen)`` int64; geometry is shared between elements that are
translates of each other: ``geom (ne,)`` int64 indexes ``dN (ng, nqe, nen, d)`` (reference-configuration
shape-function gradients dN/dX [1/length] at the block's ``nqe`` quadrature points) and
``Ke (ng, nen*d, nen*d)`` (linear-elastic element stiffness [energy/length^2], dof order node-major).
Per-quadrature-point arrays are flat with index ``e*nqe + q``. ``elems`` lists the elements to process.

`linear_qp` and `stress_forces` write per-element results ``fe (ne, nen, d)`` (the internal force
∂E_e/∂U_e [energy/length]) and per-element energies ``we (ne,)``; `node_forces` then computes each node's
force in a fixed order over its (element, local node) incidences — from ``Ke`` directly for linear elements
of uniform weight, from ``fe`` otherwise — so every result is bitwise identical for any thread count.
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


cdef void _qp_linear_one(const double[:, ::1] U, const int64_t[:, ::1] conn, const int64_t[::1] geom,
                         const double[:, :, :, ::1] dN, const double[::1] wq, const double[:, ::1] C,
                         double[:, :, ::1] fe, double[::1] we, Py_ssize_t e) noexcept nogil:
    cdef double H[9]
    cdef double S[9]
    cdef double W, w, s
    cdef Py_ssize_t nen = conn.shape[1], d = U.shape[1], nqe = dN.shape[1], g = geom[e]
    cdef Py_ssize_t q, a, i, J, nd
    cdef double en = 0.0
    for a in range(nen):
        for i in range(d):
            fe[e, a, i] = 0.0
    for q in range(nqe):
        w = wq[e * nqe + q]
        if w == 0.0:
            continue
        for i in range(d):
            for J in range(d):
                s = 0.0
                for a in range(nen):
                    s = s + U[conn[e, a], i] * dN[g, q, a, J]
                H[i * d + J] = s
        _strain_stress(H, C, d, S, &W)
        en = en + w * W
        for a in range(nen):
            for i in range(d):
                s = 0.0
                for J in range(d):
                    s = s + S[i * d + J] * dN[g, q, a, J]
                fe[e, a, i] = fe[e, a, i] + w * s
    we[e] = en


def linear_qp(const double[:, ::1] U, const int64_t[:, ::1] conn, const int64_t[::1] elems,
              const int64_t[::1] geom, const double[:, :, :, ::1] dN, const double[::1] wq,
              const double[:, ::1] C, double[:, :, ::1] fe, double[::1] we, int n_threads=1):
    """Linear elasticity per quadrature point with weights wq = α_q V_q (flat e*nqe+q).
    fe_e = Σ_q wq σ(ε_q)·∇N, we_e = Σ_q wq ½ ε_q:C:ε_q; C (nv, nv) Voigt [energy/length^d]."""
    cdef Py_ssize_t n = elems.shape[0], k
    if U.shape[1] != dN.shape[3] or C.shape[0] != (1 if U.shape[1] == 1 else 3 * (U.shape[1] - 1)):
        raise ValueError("linear_qp: shape mismatch")
    with nogil:
        for k in prange(n, num_threads=n_threads, schedule="static"):
            _qp_linear_one(U, conn, geom, dN, wq, C, fe, we, elems[k])
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


cdef inline void _node_one(const double[:, ::1] U, const int64_t[:, ::1] conn, const int64_t[::1] ptr,
                           const int64_t[::1] ent, const signed char[::1] mode, const int64_t[::1] geom,
                           const double[:, :, ::1] Ke, const double[::1] alpha_e,
                           const double[:, ::1] fe_rows, double[:, ::1] out, double[::1] en_node,
                           int accumulate, Py_ssize_t I) noexcept nogil:
    cdef Py_ssize_t nen = conn.shape[1], d = U.shape[1], nd = nen * d
    cdef Py_ssize_t k, row, e, a, b, i, j, c, g
    cdef double f[3]
    cdef double s[3]
    cdef double en = 0.0, al, ub
    cdef signed char m
    for i in range(d):
        f[i] = 0.0
    for k in range(ptr[I], ptr[I + 1]):
        row = ent[k]
        e = row // nen
        a = row - e * nen
        m = mode[e]
        if m == 1:
            g = geom[e]
            al = alpha_e[e]
            for i in range(d):
                s[i] = 0.0
            for b in range(nen):
                for j in range(d):
                    ub = U[conn[e, b], j]
                    c = b * d + j
                    for i in range(d):
                        s[i] = s[i] + Ke[g, c, a * d + i] * ub
            for i in range(d):
                s[i] = al * s[i]
                f[i] = f[i] + s[i]
                en = en + 0.5 * U[I, i] * s[i]
        elif m == 2:
            for i in range(d):
                f[i] = f[i] + fe_rows[row, i]
    for i in range(d):
        if accumulate:
            out[I, i] = out[I, i] - f[i]
        else:
            out[I, i] = -f[i]
    en_node[I] = en


def node_forces(const double[:, ::1] U, const int64_t[:, ::1] conn, const int64_t[::1] ptr,
                const int64_t[::1] ent, const signed char[::1] mode, const int64_t[::1] geom,
                const double[:, :, ::1] Ke, const double[::1] alpha_e, const double[:, ::1] fe_rows,
                double[:, ::1] out, double[::1] en_node, int accumulate=0, int n_threads=1):
    """Node-centred forces of one element block: out[I] (−)= Σ over the (element, local node) incidences
    of node I (``ptr``/``ent``: rows e*nen + a, in a fixed order) of
      mode[e] == 1: rows a of α_e Ke_g U_e (linear elements of uniform weight; Ke symmetric),
      mode[e] == 2: fe_rows[e*nen + a] (element forces computed by `linear_qp` / `stress_forces`),
      mode[e] == 0: nothing (α ≡ 0).
    en_node[I] = ½ U_I · (mode-1 part of node I's internal force): Σ en_node = the mode-1 energy.
    Each element row is computed once; no element-force array is written for mode 1. Fixed order per
    node, so results are bitwise identical for any thread count."""
    cdef Py_ssize_t N = out.shape[0], I
    if U.shape[1] > 3 or ptr.shape[0] != N + 1 or en_node.shape[0] != N:
        raise ValueError("node_forces: shape mismatch")
    with nogil:
        for I in prange(N, num_threads=n_threads, schedule="static"):
            _node_one(U, conn, ptr, ent, mode, geom, Ke, alpha_e, fe_rows, out, en_node, accumulate, I)
    return 0
