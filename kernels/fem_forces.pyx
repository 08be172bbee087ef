# cython: language_level=3
"""Matrix-free finite-element internal forces (per-step loops of multiscale.fem.continuum).

Layout (one element block): ``conn (ne, nen)`` int64; geometry is shared between elements that are
translates of each other: ``geom (ne,)`` int64 indexes ``dN (ng, nqe, nen, d)`` (reference-configuration
shape-function gradients dN/dX [1/length] at the block's ``nqe`` quadrature points) and
``Ke (ng, nen*d, nen*d)`` (linear-elastic element stiffness [energy/length^2], dof order node-major).
Per-quadrature-point arrays are flat with index ``e*nqe + q``. ``elems`` lists the elements to process.

`linear_qp` and `stress_forces` write per-element results ``fe (ne, nen, d)`` (the internal force
∂E_e/∂U_e [energy/length]) and per-element energies ``we (ne,)``. `node_forces` computes every node's
force in a fixed order over the node's (element, local node) incidences: from the stored ``Ke`` for linear
elements of uniform weight (no element array written), from ``fe`` otherwise. Every result is bitwise
identical for any thread count.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t


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


cdef void _qp_linear_hex8(const double* U, const int64_t* conn, const int64_t* geom, const double* dN,
                          const double* wq, const double* C, double* fe, double* we,
                          Py_ssize_t e) noexcept nogil:
    """`_qp_linear_one` for (nen, d, nqe) = (8, 3, 8) (hex8): the element's 24 displacements and C (6×6,
    contiguous) read once into locals, the loops of fixed length; every sum in `_qp_linear_one`'s order
    (and `_strain_stress`'s), so the same bits."""
    cdef double u[24]
    cdef double H[9]
    cdef double S[9]
    cdef double eps[6]
    cdef double sig[6]
    cdef double W, w, s
    cdef Py_ssize_t q, a, i, j, J, g = geom[e]
    cdef const double* dq
    cdef const int64_t* ce = conn + e * 8
    cdef double* fa = fe + e * 24
    cdef double en = 0.0
    for a in range(8):
        for i in range(3):
            u[a * 3 + i] = U[ce[a] * 3 + i]
    for a in range(24):
        fa[a] = 0.0
    for q in range(8):
        w = wq[e * 8 + q]
        if w == 0.0:
            continue
        dq = dN + (g * 8 + q) * 24
        for i in range(3):
            for J in range(3):
                s = 0.0
                for a in range(8):
                    s = s + u[a * 3 + i] * dq[a * 3 + J]
                H[i * 3 + J] = s
        eps[0] = H[0]; eps[1] = H[4]; eps[2] = H[8]
        eps[3] = H[5] + H[7]; eps[4] = H[2] + H[6]; eps[5] = H[1] + H[3]
        W = 0.0
        for i in range(6):
            s = 0.0
            for j in range(6):
                s = s + C[i * 6 + j] * eps[j]
            sig[i] = s
            W = W + 0.5 * s * eps[i]
        S[0] = sig[0]; S[4] = sig[1]; S[8] = sig[2]
        S[5] = sig[3]; S[7] = sig[3]; S[2] = sig[4]; S[6] = sig[4]; S[1] = sig[5]; S[3] = sig[5]
        en = en + w * W
        for a in range(8):
            for i in range(3):
                s = 0.0
                for J in range(3):
                    s = s + S[i * 3 + J] * dq[a * 3 + J]
                fa[a * 3 + i] = fa[a * 3 + i] + w * s
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
    if (conn.shape[1], U.shape[1], dN.shape[1], C.shape[1]) == (8, 3, 8, 6):
        with nogil:
            for k in prange(n, num_threads=n_threads, schedule="static"):
                _qp_linear_hex8(&U[0, 0], &conn[0, 0], &geom[0], &dN[0, 0, 0, 0], &wq[0], &C[0, 0],
                                &fe[0, 0, 0], &we[0], elems[k])
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


cdef extern from *:
    """
    #include <stdint.h>
    #if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
    #define MSIM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define MSIM_CLONES
    #endif
    /* Node-centred internal forces of nodes [I0, I1) of one block. For each incidence (e, a) of node I in
       ent[ptr[I]:ptr[I+1]] (rows e*NEN + a, fixed order): mode 1 -> rows a*D..a*D+D-1 of al_e Ke_g U_e
       computed here from the symmetric Ke (columns = rows); mode 2 -> the precomputed fe_rows[row];
       mode 0 -> nothing. out[I] = (accumulate ? out[I] : 0) - sum; *en_chunk = sum over the nodes of
       1/2 U_I . (mode-1 part of the sum). Index arrays are int32 (less memory traffic).
       NEN and D are compile-time so the accumulators stay in registers; compiled for AVX2/FMA and
       baseline x86-64, one chosen at load time. Each node's sum has a fixed order: results do not depend
       on the number of threads. */
    #define MSIM_NODE(NEN, D) \
    MSIM_CLONES static void msim_node_##NEN##_##D(const double* U, const int32_t* conn, const int32_t* ptr, \
            const int32_t* ent, const signed char* mode, const int32_t* geom, const double* Ke, \
            const double* alpha, const double* fe_rows, double* out, double* en_chunk, int accumulate, \
            const int32_t* nodes, int64_t I0, int64_t I1) { \
        enum { ND = NEN * D }; \
        double en = 0.0; \
        for (int64_t p = I0; p < I1; p++) { \
            const int64_t I = nodes[p]; \
            double f[D], g[D]; int i; \
            for (i = 0; i < D; i++) { f[i] = 0.0; g[i] = 0.0; } \
            for (int64_t k = ptr[I]; k < ptr[I + 1]; k++) { \
                const int64_t row = ent[k], e = row / NEN, a = row - e * NEN; \
                const signed char m = mode[e]; \
                if (m == 1) { \
                    const double* K = Ke + (int64_t)geom[e] * (ND * ND) + a * D; \
                    const int32_t* ce = conn + e * NEN; \
                    double s[4][D]; int q; \
                    for (q = 0; q < 4; q++) for (i = 0; i < D; i++) s[q][i] = 0.0; \
                    for (int b = 0; b < NEN; b++) { \
                        const double* u = U + (int64_t)ce[b] * D; \
                        for (int j = 0; j < D; j++) { \
                            const double uc = u[j]; const double* Kc = K + (b * D + j) * ND; \
                            q = (b * D + j) & 3; \
                            for (i = 0; i < D; i++) s[q][i] += Kc[i] * uc; } } \
                    const double al = alpha[e]; \
                    for (i = 0; i < D; i++) g[i] += al * ((s[0][i] + s[1][i]) + (s[2][i] + s[3][i])); \
                } else if (m == 2) { \
                    for (i = 0; i < D; i++) f[i] += fe_rows[row * D + i]; } } \
            double eI = 0.0; \
            for (i = 0; i < D; i++) { \
                eI += U[I * D + i] * g[i]; \
                out[I * D + i] = (accumulate ? out[I * D + i] : 0.0) - (g[i] + f[i]); } \
            en += 0.5 * eI; } \
        *en_chunk = en; }
    MSIM_NODE(2, 1)
    MSIM_NODE(3, 2)
    MSIM_NODE(4, 2)
    MSIM_NODE(4, 3)
    MSIM_NODE(8, 3)
    /* Stencil nodes: out[I] = -sum_s S[type][s] U[J_s] (d x d blocks stored transposed, column j of block
       s at S[type][s][j][:], for contiguous vector loads), *en_chunk = sum 1/2 U_I . f_I, with
       J_s = nbr[p][s] (rel = 0) or J_s = I + nbr[type][s] (rel = 1: one offset row per type). */
    #define MSIM_STENCIL(D) \
    MSIM_CLONES static void msim_stencil_##D(const double* U, const int32_t* nodes, const int32_t* types, \
            const int32_t* nbr, int rel, int NS, const double* S, double* out, double* en_chunk, int64_t p0, \
            int64_t p1) { \
        double en = 0.0; \
        for (int64_t p = p0; p < p1; p++) { \
            const int64_t I = nodes[p]; const double* St = S + (int64_t)types[p] * NS * D * D; \
            const int32_t* nb = rel ? nbr + (int64_t)types[p] * NS : nbr + p * NS; \
            const int64_t base = rel ? I : 0; \
            double f[2][D]; int i, j, s; \
            for (i = 0; i < D; i++) { f[0][i] = 0.0; f[1][i] = 0.0; } \
            for (s = 0; s < NS; s++) { const double* u = U + (base + nb[s]) * D; \
                const double* B = St + s * D * D; \
                for (j = 0; j < D; j++) for (i = 0; i < D; i++) f[s & 1][i] += B[j * D + i] * u[j]; } \
            double eI = 0.0; \
            for (i = 0; i < D; i++) { const double fi = f[0][i] + f[1][i]; \
                eI += U[I * D + i] * fi; out[I * D + i] = -fi; } \
            en += 0.5 * eI; } \
        *en_chunk = en; }
    MSIM_STENCIL(1)
    MSIM_STENCIL(2)
    MSIM_STENCIL(3)
    /* Relative stencils (rel = 1) with runs of 4 consecutive nodes of one type: the four nodes' sums are
       interleaved (4 independent chains of multiply-adds instead of one latency-bound chain), each node's
       sum in exactly the order of msim_stencil_D, so the results are bitwise those of msim_stencil_D;
       other nodes go one at a time through the same code. */
    #define MSIM_STENCIL4(D) \
    MSIM_CLONES static void msim_stencil4_##D(const double* U, const int32_t* nodes, const int32_t* types, \
            const int32_t* nbr, int NS, const double* S, double* out, double* en_chunk, int64_t p0, \
            int64_t p1) { \
        double en = 0.0; \
        int64_t p = p0; \
        while (p < p1) { \
            const int64_t I = nodes[p]; const int32_t t = types[p]; \
            const double* St = S + (int64_t)t * NS * D * D; const int32_t* nb = nbr + (int64_t)t * NS; \
            int i, j, s, c; \
            if (p + 4 <= p1 && nodes[p + 1] == I + 1 && nodes[p + 2] == I + 2 && nodes[p + 3] == I + 3 && \
                    types[p + 1] == t && types[p + 2] == t && types[p + 3] == t) { \
                double f[2][D][4]; \
                for (i = 0; i < D; i++) for (c = 0; c < 4; c++) { f[0][i][c] = 0.0; f[1][i][c] = 0.0; } \
                for (s = 0; s < NS; s++) { const double* u = U + (I + nb[s]) * D; \
                    const double* B = St + s * D * D; \
                    for (j = 0; j < D; j++) for (i = 0; i < D; i++) { const double b = B[j * D + i]; \
                        for (c = 0; c < 4; c++) f[s & 1][i][c] += b * u[c * D + j]; } } \
                for (c = 0; c < 4; c++) { double eI = 0.0; \
                    for (i = 0; i < D; i++) { const double fi = f[0][i][c] + f[1][i][c]; \
                        eI += U[(I + c) * D + i] * fi; out[(I + c) * D + i] = -fi; } \
                    en += 0.5 * eI; } \
                p += 4; \
            } else { \
                double f[2][D]; \
                for (i = 0; i < D; i++) { f[0][i] = 0.0; f[1][i] = 0.0; } \
                for (s = 0; s < NS; s++) { const double* u = U + (I + nb[s]) * D; \
                    const double* B = St + s * D * D; \
                    for (j = 0; j < D; j++) for (i = 0; i < D; i++) f[s & 1][i] += B[j * D + i] * u[j]; } \
                double eI = 0.0; \
                for (i = 0; i < D; i++) { const double fi = f[0][i] + f[1][i]; \
                    eI += U[I * D + i] * fi; out[I * D + i] = -fi; } \
                en += 0.5 * eI; \
                p += 1; } } \
        *en_chunk = en; }
    MSIM_STENCIL4(1)
    MSIM_STENCIL4(2)
    /* d = 2, two single stencil nodes at once: node I (blocks S0, neighbours b0 + n0[s]) and node J (S1,
       b1 + n1[s]); each node's multiply-adds in exactly the order of msim_stencil_2 (the two nodes' sums are
       independent chains, interleaved to overlap their latency): bitwise msim_stencil_2 node by node, the
       energy added node I first. */
    static inline __attribute__((always_inline)) void msim_pair_2(const double* U, int64_t I,
            const double* S0, const int32_t* n0, int64_t b0, int64_t J, const double* S1, const int32_t* n1,
            int64_t b1, int NS, double* out, double* en) {
        double f[2][2], g[2][2]; int i, j, s;
        for (i = 0; i < 2; i++) { f[0][i] = 0.0; f[1][i] = 0.0; g[0][i] = 0.0; g[1][i] = 0.0; }
        for (s = 0; s < NS; s++) {
            const double* u = U + (b0 + n0[s]) * 2; const double* v = U + (b1 + n1[s]) * 2;
            const double* A = S0 + s * 4; const double* B = S1 + s * 4;
            for (j = 0; j < 2; j++) for (i = 0; i < 2; i++) {
                f[s & 1][i] += A[j * 2 + i] * u[j];
                g[s & 1][i] += B[j * 2 + i] * v[j]; } }
        double eI = 0.0, eJ = 0.0;
        for (i = 0; i < 2; i++) { const double fi = f[0][i] + f[1][i];
            eI += U[I * 2 + i] * fi; out[I * 2 + i] = -fi; }
        *en += 0.5 * eI;
        for (i = 0; i < 2; i++) { const double gi = g[0][i] + g[1][i];
            eJ += U[J * 2 + i] * gi; out[J * 2 + i] = -gi; }
        *en += 0.5 * eJ; }
    /* msim_stencil_2 (indexed or relative), two nodes at a time through msim_pair_2: bitwise the same. */
    MSIM_CLONES static void msim_stencil2p(const double* U, const int32_t* nodes, const int32_t* types,
            const int32_t* nbr, int rel, int NS, const double* S, double* out, double* en_chunk, int64_t p0,
            int64_t p1) {
        double en = 0.0;
        int64_t p = p0;
        for (; p + 1 < p1; p += 2) {
            const int64_t I = nodes[p], J = nodes[p + 1];
            msim_pair_2(U, I, S + (int64_t)types[p] * NS * 4, rel ? nbr + (int64_t)types[p] * NS : nbr + p * NS,
                        rel ? I : 0, J, S + (int64_t)types[p + 1] * NS * 4,
                        rel ? nbr + (int64_t)types[p + 1] * NS : nbr + (p + 1) * NS, rel ? J : 0, NS, out, &en); }
        if (p < p1) {
            const int64_t I = nodes[p]; const double* St = S + (int64_t)types[p] * NS * 4;
            const int32_t* nb = rel ? nbr + (int64_t)types[p] * NS : nbr + p * NS;
            const int64_t base = rel ? I : 0;
            double f[2][2]; int i, j, s;
            for (i = 0; i < 2; i++) { f[0][i] = 0.0; f[1][i] = 0.0; }
            for (s = 0; s < NS; s++) { const double* u = U + (base + nb[s]) * 2;
                const double* B = St + s * 4;
                for (j = 0; j < 2; j++) for (i = 0; i < 2; i++) f[s & 1][i] += B[j * 2 + i] * u[j]; }
            double eI = 0.0;
            for (i = 0; i < 2; i++) { const double fi = f[0][i] + f[1][i];
                eI += U[I * 2 + i] * fi; out[I * 2 + i] = -fi; }
            en += 0.5 * eI; }
        *en_chunk = en; }
    /* a run of 4 consecutive nodes of one type starts at p (msim_stencil4v_2's test) */
    static inline int msim_run4(const int32_t* nodes, const int32_t* types, int64_t p, int64_t p1) {
        const int64_t I = nodes[p]; const int32_t t = types[p];
        return p + 4 <= p1 && nodes[p + 3] == I + 3 && types[p + 1] == t && types[p + 2] == t &&
               types[p + 3] == t && nodes[p + 1] == I + 1 && nodes[p + 2] == I + 2; }
    /* d = 3: runs of 4 listed nodes of one type, wherever they are (a list sorted by type: the nodes of a
       graded 3D grid's types are far apart), each with its own U rows; the type's blocks are read once
       for the four. Each node's sum in exactly the order of msim_stencil_3 (bitwise its results). */
    MSIM_CLONES static void msim_stencil4_3(const double* U, const int32_t* nodes, const int32_t* types,
            const int32_t* nbr, int NS, const double* S, double* out, double* en_chunk, int64_t p0,
            int64_t p1) {
        double en = 0.0;
        int64_t p = p0;
        while (p < p1) {
            const int64_t I = nodes[p]; const int32_t t = types[p];
            const double* St = S + (int64_t)t * NS * 9; const int32_t* nb = nbr + (int64_t)t * NS;
            int i, j, s, c;
            if (p + 4 <= p1 && types[p + 1] == t && types[p + 2] == t && types[p + 3] == t) {
                const int64_t Ic[4] = {I, nodes[p + 1], nodes[p + 2], nodes[p + 3]};
                double f[2][3][4];
                for (i = 0; i < 3; i++) for (c = 0; c < 4; c++) { f[0][i][c] = 0.0; f[1][i][c] = 0.0; }
                for (s = 0; s < NS; s++) {
                    const double* B = St + s * 9;
                    const double* u0 = U + (Ic[0] + nb[s]) * 3; const double* u1 = U + (Ic[1] + nb[s]) * 3;
                    const double* u2 = U + (Ic[2] + nb[s]) * 3; const double* u3 = U + (Ic[3] + nb[s]) * 3;
                    for (j = 0; j < 3; j++) for (i = 0; i < 3; i++) { const double b = B[j * 3 + i];
                        f[s & 1][i][0] += b * u0[j]; f[s & 1][i][1] += b * u1[j];
                        f[s & 1][i][2] += b * u2[j]; f[s & 1][i][3] += b * u3[j]; } }
                for (c = 0; c < 4; c++) { double eI = 0.0;
                    for (i = 0; i < 3; i++) { const double fi = f[0][i][c] + f[1][i][c];
                        eI += U[Ic[c] * 3 + i] * fi; out[Ic[c] * 3 + i] = -fi; }
                    en += 0.5 * eI; }
                p += 4;
            } else {
                double f[2][3];
                for (i = 0; i < 3; i++) { f[0][i] = 0.0; f[1][i] = 0.0; }
                for (s = 0; s < NS; s++) { const double* u = U + (I + nb[s]) * 3;
                    const double* B = St + s * 9;
                    for (j = 0; j < 3; j++) for (i = 0; i < 3; i++) f[s & 1][i] += B[j * 3 + i] * u[j]; }
                double eI = 0.0;
                for (i = 0; i < 3; i++) { const double fi = f[0][i] + f[1][i];
                    eI += U[I * 3 + i] * fi; out[I * 3 + i] = -fi; }
                en += 0.5 * eI;
                p += 1; } }
        *en_chunk = en; }
    /* d = 2 with explicit 4-wide vectors (GCC vector extensions): the 4 nodes' (x, y) pairs are 8
       contiguous doubles, so lanes = (node c, component i) and the j-th column of a block multiplies
       u_j broadcast per node: the same multiply-adds in the same order per (node, component) as
       msim_stencil4_2 (bitwise its results, also under FMA contraction in the AVX2 clone), without
       strided loads. */
    typedef double msim_v4 __attribute__((vector_size(32), aligned(8)));
    typedef long long msim_m4 __attribute__((vector_size(32)));
    MSIM_CLONES static void msim_stencil4v_2(const double* U, const int32_t* nodes, const int32_t* types,
            const int32_t* nbr, int NS, const double* S, double* out, double* en_chunk, int64_t p0,
            int64_t p1) {
        const msim_m4 m0 = {0, 0, 2, 2}, m1 = {1, 1, 3, 3}, mb = {0, 1, 0, 1};
        double en = 0.0;
        int64_t p = p0;
        while (p < p1) {
            const int64_t I = nodes[p]; const int32_t t = types[p];
            const double* St = S + (int64_t)t * NS * 4; const int32_t* nb = nbr + (int64_t)t * NS;
            int i, s, c;
            int nr = 0;     /* 8 or 4 consecutive nodes of type t from p (in the chunk), else 0 */
            if (p + 4 <= p1 && nodes[p + 3] == I + 3 && types[p + 1] == t && types[p + 2] == t &&
                    types[p + 3] == t && nodes[p + 1] == I + 1 && nodes[p + 2] == I + 2) {
                nr = 4;
                if (p + 8 <= p1 && nodes[p + 7] == I + 7 && types[p + 4] == t && types[p + 5] == t &&
                        types[p + 6] == t && types[p + 7] == t && nodes[p + 4] == I + 4 &&
                        nodes[p + 5] == I + 5 && nodes[p + 6] == I + 6)
                    nr = 8; }
            if (nr == 8) {
                /* two groups of 4 at once: 8 independent chains (latency of the multiply-adds hidden) */
                msim_v4 f0[2], f1[2], f2[2], f3[2];
                f0[0] = f0[1] = f1[0] = f1[1] = f2[0] = f2[1] = f3[0] = f3[1] = (msim_v4){0.0, 0.0, 0.0, 0.0};
                for (s = 0; s < NS; s++) {
                    const double* u = U + (I + nb[s]) * 2;
                    const msim_v4 u0 = *(const msim_v4*)u, u1 = *(const msim_v4*)(u + 4);
                    const msim_v4 u2 = *(const msim_v4*)(u + 8), u3 = *(const msim_v4*)(u + 12);
                    const msim_v4 B = *(const msim_v4*)(St + s * 4);
                    const msim_v4 b0 = __builtin_shuffle(B, mb), b1 = __builtin_shuffle(B, mb + 2);
                    f0[s & 1] += b0 * __builtin_shuffle(u0, m0);
                    f1[s & 1] += b0 * __builtin_shuffle(u1, m0);
                    f2[s & 1] += b0 * __builtin_shuffle(u2, m0);
                    f3[s & 1] += b0 * __builtin_shuffle(u3, m0);
                    f0[s & 1] += b1 * __builtin_shuffle(u0, m1);
                    f1[s & 1] += b1 * __builtin_shuffle(u1, m1);
                    f2[s & 1] += b1 * __builtin_shuffle(u2, m1);
                    f3[s & 1] += b1 * __builtin_shuffle(u3, m1); }
                const msim_v4 g0 = f0[0] + f0[1], g1 = f1[0] + f1[1], g2 = f2[0] + f2[1], g3 = f3[0] + f3[1];
                double fr[16];
                for (i = 0; i < 4; i++) { fr[i] = g0[i]; fr[4 + i] = g1[i]; fr[8 + i] = g2[i]; fr[12 + i] = g3[i]; }
                for (c = 0; c < 8; c++) { double eI = 0.0;
                    for (i = 0; i < 2; i++) { const double fi = fr[c * 2 + i];
                        eI += U[(I + c) * 2 + i] * fi; out[(I + c) * 2 + i] = -fi; }
                    en += 0.5 * eI; }
                p += 8;
            } else if (nr == 4) {
                msim_v4 fa[2], fb[2];
                fa[0] = fa[1] = fb[0] = fb[1] = (msim_v4){0.0, 0.0, 0.0, 0.0};
                for (s = 0; s < NS; s++) {
                    const double* u = U + (I + nb[s]) * 2;
                    const msim_v4 ua = *(const msim_v4*)u, ub = *(const msim_v4*)(u + 4);
                    const msim_v4 B = *(const msim_v4*)(St + s * 4);
                    const msim_v4 b0 = __builtin_shuffle(B, mb), b1 = __builtin_shuffle(B, mb + 2);
                    fa[s & 1] += b0 * __builtin_shuffle(ua, m0);
                    fb[s & 1] += b0 * __builtin_shuffle(ub, m0);
                    fa[s & 1] += b1 * __builtin_shuffle(ua, m1);
                    fb[s & 1] += b1 * __builtin_shuffle(ub, m1); }
                const msim_v4 ga = fa[0] + fa[1], gb = fb[0] + fb[1];
                double fr[8];
                for (i = 0; i < 4; i++) { fr[i] = ga[i]; fr[4 + i] = gb[i]; }
                for (c = 0; c < 4; c++) { double eI = 0.0;
                    for (i = 0; i < 2; i++) { const double fi = fr[c * 2 + i];
                        eI += U[(I + c) * 2 + i] * fi; out[(I + c) * 2 + i] = -fi; }
                    en += 0.5 * eI; }
                p += 4;
            } else if (p + 1 < p1 && !msim_run4(nodes, types, p + 1, p1)) {
                /* two single nodes (the next one starts no run): interleaved, bitwise one at a time */
                const int64_t J = nodes[p + 1]; const int32_t tj = types[p + 1];
                msim_pair_2(U, I, St, nb, I, J, S + (int64_t)tj * NS * 4, nbr + (int64_t)tj * NS, J, NS, out,
                            &en);
                p += 2;
            } else {
                double f[2][2]; int j;
                for (i = 0; i < 2; i++) { f[0][i] = 0.0; f[1][i] = 0.0; }
                for (s = 0; s < NS; s++) { const double* u = U + (I + nb[s]) * 2;
                    const double* B = St + s * 4;
                    for (j = 0; j < 2; j++) for (i = 0; i < 2; i++) f[s & 1][i] += B[j * 2 + i] * u[j]; }
                double eI = 0.0;
                for (i = 0; i < 2; i++) { const double fi = f[0][i] + f[1][i];
                    eI += U[I * 2 + i] * fi; out[I * 2 + i] = -fi; }
                en += 0.5 * eI;
                p += 1; } }
        *en_chunk = en; }
    """
    void msim_stencil4v_2(const double*, const int32_t*, const int32_t*, const int32_t*, int, const double*,
                          double*, double*, int64_t, int64_t) noexcept nogil
    void msim_stencil4_1(const double*, const int32_t*, const int32_t*, const int32_t*, int, const double*,
                         double*, double*, int64_t, int64_t) noexcept nogil
    void msim_stencil4_2(const double*, const int32_t*, const int32_t*, const int32_t*, int, const double*,
                         double*, double*, int64_t, int64_t) noexcept nogil
    void msim_stencil4_3(const double*, const int32_t*, const int32_t*, const int32_t*, int, const double*,
                         double*, double*, int64_t, int64_t) noexcept nogil
    void msim_stencil_1(const double*, const int32_t*, const int32_t*, const int32_t*, int, int, const double*,
                        double*, double*, int64_t, int64_t) noexcept nogil
    void msim_stencil2p(const double*, const int32_t*, const int32_t*, const int32_t*, int, int, const double*,
                        double*, double*, int64_t, int64_t) noexcept nogil
    void msim_stencil_2(const double*, const int32_t*, const int32_t*, const int32_t*, int, int, const double*,
                        double*, double*, int64_t, int64_t) noexcept nogil
    void msim_stencil_3(const double*, const int32_t*, const int32_t*, const int32_t*, int, int, const double*,
                        double*, double*, int64_t, int64_t) noexcept nogil
    void msim_node_2_1(const double*, const int32_t*, const int32_t*, const int32_t*, const signed char*,
                       const int32_t*, const double*, const double*, const double*, double*, double*, int,
                       const int32_t*, int64_t, int64_t) noexcept nogil
    void msim_node_3_2(const double*, const int32_t*, const int32_t*, const int32_t*, const signed char*,
                       const int32_t*, const double*, const double*, const double*, double*, double*, int,
                       const int32_t*, int64_t, int64_t) noexcept nogil
    void msim_node_4_2(const double*, const int32_t*, const int32_t*, const int32_t*, const signed char*,
                       const int32_t*, const double*, const double*, const double*, double*, double*, int,
                       const int32_t*, int64_t, int64_t) noexcept nogil
    void msim_node_4_3(const double*, const int32_t*, const int32_t*, const int32_t*, const signed char*,
                       const int32_t*, const double*, const double*, const double*, double*, double*, int,
                       const int32_t*, int64_t, int64_t) noexcept nogil
    void msim_node_8_3(const double*, const int32_t*, const int32_t*, const int32_t*, const signed char*,
                       const int32_t*, const double*, const double*, const double*, double*, double*, int,
                       const int32_t*, int64_t, int64_t) noexcept nogil


ctypedef void (*node_fn)(const double*, const int32_t*, const int32_t*, const int32_t*,
                         const signed char*, const int32_t*, const double*, const double*,
                         const double*, double*, double*, int, const int32_t*, int64_t, int64_t) noexcept nogil


def node_forces(const double[:, ::1] U, const int32_t[:, ::1] conn, const int32_t[::1] ptr,
                const int32_t[::1] ent, const signed char[::1] mode, const int32_t[::1] geom,
                const double[:, :, ::1] Ke, const double[::1] alpha_e, const double[:, ::1] fe_rows,
                double[:, ::1] out, double[::1] en_chunk, const int32_t[::1] nodes, int accumulate=0,
                int n_threads=1):
    """Internal forces of one element block, node by node (see the C comment above): mode[e] = 1 for
    linear elements of uniform weight α_e (rows of α_e Ke_g U_e, Ke symmetric (ng, nd, nd)), 2 for
    elements whose forces `linear_qp` / `stress_forces` wrote into fe_rows (ne*nen, d), 0 for α ≡ 0.
    Only the nodes listed in ``nodes`` (int32) are computed. out (N, d) gets −(internal force) (added when
    ``accumulate``); en_chunk (⌈len(nodes)/256⌉,) the mode-1 energy of each chunk of 256 listed nodes.
    Index arrays int32."""
    cdef Py_ssize_t N = out.shape[0], d = out.shape[1], nen = conn.shape[1], nd = nen * d
    cdef Py_ssize_t nch, ch, I0, I1, chunk = 256
    cdef node_fn fn
    if (nen, d) == (2, 1):
        fn = msim_node_2_1
    elif (nen, d) == (3, 2):
        fn = msim_node_3_2
    elif (nen, d) == (4, 2):
        fn = msim_node_4_2
    elif (nen, d) == (4, 3):
        fn = msim_node_4_3
    elif (nen, d) == (8, 3):
        fn = msim_node_8_3
    else:
        raise ValueError(f"node_forces: unsupported element (nen, d) = ({nen}, {d})")
    cdef Py_ssize_t M = nodes.shape[0]
    if (U.shape[0] != N or U.shape[1] != d or ptr.shape[0] != N + 1 or en_chunk.shape[0] < (M + 255) // 256
            or mode.shape[0] != conn.shape[0] or fe_rows.shape[0] != conn.shape[0] * nen
            or fe_rows.shape[1] != d or ent.shape[0] != conn.shape[0] * nen):
        raise ValueError("node_forces: shape mismatch")
    if Ke.shape[1] != nd and np_any_mode1(mode):
        raise ValueError("node_forces: Ke does not match the element")
    if M == 0 or conn.shape[0] == 0:
        return 0
    nch = (M + chunk - 1) // chunk
    with nogil:
        for ch in prange(nch, num_threads=n_threads, schedule="static"):
            I0 = ch * chunk
            I1 = I0 + chunk if I0 + chunk < M else M
            fn(&U[0, 0], &conn[0, 0], &ptr[0], &ent[0], &mode[0], &geom[0], &Ke[0, 0, 0], &alpha_e[0],
               &fe_rows[0, 0], &out[0, 0], &en_chunk[ch], accumulate, &nodes[0], I0, I1)
    return 0


ctypedef void (*stencil_fn)(const double*, const int32_t*, const int32_t*, const int32_t*, int, int,
                            const double*, double*, double*, int64_t, int64_t) noexcept nogil


ctypedef void (*stencil4_fn)(const double*, const int32_t*, const int32_t*, const int32_t*, int,
                             const double*, double*, double*, int64_t, int64_t) noexcept nogil


def stencil_forces(const double[:, ::1] U, const int32_t[::1] nodes, const int32_t[::1] types,
                   const int32_t[:, ::1] nbr, const double[:, :, :, ::1] S, double[:, ::1] out,
                   double[::1] en_chunk, int relative=0, int n_threads=1):
    """Stencil nodes (see `multiscale.fem.stencil`): out[I] = −Σ_s S[t][s] U[J_s] for I = nodes[p],
    t = types[p], J_s = nbr[p, s] (nbr (len(nodes), NS)) or, when ``relative``, J_s = I + nbr[t, s]
    (nbr (nt, NS): one offset row per type); S (nt, NS, d, d) holds the TRANSPOSED blocks; en_chunk (⌈len(nodes)/256⌉,) = Σ ½ U_I·f_I
    per chunk of 256 nodes. Overwrites out[I] of the listed nodes only. Fixed order per node: results are
    independent of the thread count."""
    cdef Py_ssize_t M = nodes.shape[0], d = U.shape[1], NS = nbr.shape[1], nch, ch, p0, p1, chunk = 256
    cdef stencil_fn fn
    cdef stencil4_fn fn4
    if d == 1:
        fn = msim_stencil_1
    elif d == 2:
        fn = msim_stencil2p
    elif d == 3:
        fn = msim_stencil_3
    else:
        raise ValueError("stencil_forces: d must be 1, 2 or 3")
    if (types.shape[0] != M or nbr.shape[0] != (S.shape[0] if relative else M) or S.shape[1] != NS
            or S.shape[2] != d or S.shape[3] != d
            or out.shape[1] != d or en_chunk.shape[0] < (M + 255) // 256):
        raise ValueError("stencil_forces: shape mismatch")
    if M == 0:
        return 0
    nch = (M + chunk - 1) // chunk
    if relative:
        fn4 = msim_stencil4_1 if d == 1 else (msim_stencil4v_2 if d == 2 else msim_stencil4_3)
        with nogil:
            for ch in prange(nch, num_threads=n_threads, schedule="static"):
                p0 = ch * chunk
                p1 = p0 + chunk if p0 + chunk < M else M
                fn4(&U[0, 0], &nodes[0], &types[0], &nbr[0, 0], <int>NS, &S[0, 0, 0, 0], &out[0, 0],
                    &en_chunk[ch], p0, p1)
        return 0
    with nogil:
        for ch in prange(nch, num_threads=n_threads, schedule="static"):
            p0 = ch * chunk
            p1 = p0 + chunk if p0 + chunk < M else M
            fn(&U[0, 0], &nodes[0], &types[0], &nbr[0, 0], relative, <int>NS, &S[0, 0, 0, 0], &out[0, 0],
               &en_chunk[ch], p0, p1)
    return 0


cdef bint np_any_mode1(const signed char[::1] mode) noexcept:
    cdef Py_ssize_t i
    for i in range(mode.shape[0]):
        if mode[i] == 1:
            return True
    return False


cdef void _kick_drift_rows(double* V, double* U, const double* A, double h, double dt, Py_ssize_t k0,
                           Py_ssize_t k1) noexcept nogil:
    """Flat entries [k0, k1): V += h A, then U += dt V (the arithmetic of verlet.kick_drift)."""
    cdef Py_ssize_t k
    cdef double vi
    for k in range(k0, k1):
        vi = V[k] + h * A[k]
        V[k] = vi
        U[k] = U[k] + dt * vi


cdef void _acc_kick_rows(double* V, double* A, const double* F, const double* inv, double h, Py_ssize_t k0,
                         Py_ssize_t k1) noexcept nogil:
    """Flat entries [k0, k1): A = F inv, then V += h A (the arithmetic of verlet.acc_kick)."""
    cdef Py_ssize_t k
    cdef double ai
    for k in range(k0, k1):
        ai = F[k] * inv[k]
        A[k] = ai
        V[k] = V[k] + h * ai


def stencil_verlet_step(double[:, ::1] U, double[:, ::1] V, double[:, ::1] A, const double[:, ::1] inv_m,
                        const int32_t[::1] nodes, const int32_t[::1] types, const int32_t[:, ::1] offsets,
                        const double[:, :, :, ::1] S, double[:, ::1] out, double[::1] en_chunk, double dt_half,
                        double dt):
    """One whole velocity-Verlet step of a region whose nodes are ALL relative stencil nodes in index
    order (``nodes`` = 0..N−1; `stencil_forces` with ``relative``), in ONE pass over the arrays
    (U, V, A = accelerations, inv_m = inverse masses per component, out = forces: all (N, d)):

        V += dt_half A;  U += dt V;          (nodes ahead of the force loop by the largest offset)
        out = −Σ_s S U_J  (chunks of 256 nodes: exactly `stencil_forces`' code and order);
        A = out · inv_m;  V += dt_half A     (each chunk right after its forces)

    Bitwise the same numbers as `verlet.kick_drift`, `stencil_forces` and `verlet.acc_kick` called one
    after the other (each entry gets the same operations in the same order; a node's forces read only
    nodes already drifted). Sequential (one thread): the caller uses the three kernels with threads.
    en_chunk (⌈N/256⌉,) as in `stencil_forces`. Returns 0."""
    cdef Py_ssize_t N = U.shape[0], d = U.shape[1], NS = offsets.shape[1], nch, ch, p0, p1, chunk = 256
    cdef Py_ssize_t dr = 0, need, maxoff = 0, t, s
    cdef stencil4_fn fn4
    if d == 1:
        fn4 = msim_stencil4_1
    elif d == 2:
        fn4 = msim_stencil4v_2
    elif d == 3:
        fn4 = msim_stencil4_3
    else:
        raise ValueError("stencil_verlet_step: d must be 1, 2 or 3")
    if (nodes.shape[0] != N or types.shape[0] != N or V.shape[0] != N or V.shape[1] != d or A.shape[0] != N
            or A.shape[1] != d or inv_m.shape[0] != N or inv_m.shape[1] != d or out.shape[0] != N
            or out.shape[1] != d or S.shape[1] != NS or S.shape[2] != d or S.shape[3] != d
            or offsets.shape[0] != S.shape[0] or en_chunk.shape[0] < (N + 255) // 256):
        raise ValueError("stencil_verlet_step: shape mismatch")
    if N == 0:
        return 0
    if nodes[0] != 0 or nodes[N - 1] != N - 1:
        raise ValueError("stencil_verlet_step: nodes must be 0..N-1 in order")
    for t in range(offsets.shape[0]):
        for s in range(NS):
            if offsets[t, s] > maxoff:
                maxoff = offsets[t, s]
    nch = (N + chunk - 1) // chunk
    with nogil:
        for ch in range(nch):
            p0 = ch * chunk
            p1 = p0 + chunk if p0 + chunk < N else N
            need = p1 + maxoff
            if need > N:
                need = N
            if need > dr:
                _kick_drift_rows(&V[0, 0], &U[0, 0], &A[0, 0], dt_half, dt, dr * d, need * d)
                dr = need
            fn4(&U[0, 0], &nodes[0], &types[0], &offsets[0, 0], <int>NS, &S[0, 0, 0, 0], &out[0, 0],
                &en_chunk[ch], p0, p1)
            _acc_kick_rows(&V[0, 0], &A[0, 0], &out[0, 0], &inv_m[0, 0], dt_half, p0 * d, p1 * d)
    return 0
