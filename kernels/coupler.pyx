# cython: language_level=3
"""Per-step loops of the coupler over the handshake's dofs only (multiscale.integrate.verlet,
multiscale.coupling.coupled): pads following the mesh, pad forces onto the nodes, the constraint residual
gathered straight from the regions' arrays, the multiplier solve and the correction, and the
acceleration / half-kick pass with the correction folded in.

Every loop does the same floating-point operations in the same order as the NumPy / SciPy expressions it
replaces (``scipy.sparse`` CSR/CSC mat-vecs start each sum at 0.0 and add the entries in storage order;
element-wise passes round each component the same way), so trajectories are bitwise those of the former
Python path. Element-wise passes over all dofs run in fixed chunks (thread-count independent); the
handshake loops are sequential.

Conventions: "flat" arrays are the C-contiguous (n, d) region arrays seen as (n·d,); sparse matrices are
CSR with int32 ``indptr`` / ``indices``; dof index lists are sorted int64 flat indices.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t
from libc.math cimport fabs

from lu_solve cimport lu_solve_nogil

cdef enum:
    CHUNK = 4096


cdef inline void _csr_matvec2(const int32_t[::1] Ap, const int32_t[::1] Ai, const double[::1] Ax,
                              const double[::1] v, double[::1] out, Py_ssize_t nr) noexcept nogil:
    """out[i] = Σ_e Ax[e] v[Ai[e]] over row i's entries in storage order, each sum started at 0.0 (bitwise
    scipy's CSR mat-vec), two rows at a time: their sums are independent chains of adds, so the second
    row's adds overlap the first's latency (each row's operations and their order unchanged)."""
    cdef Py_ssize_t i = 0, e0, e1, n0, n1, t, nm
    cdef double s0, s1
    while i + 1 < nr:
        e0 = Ap[i]
        e1 = Ap[i + 1]
        n0 = e1 - e0
        n1 = Ap[i + 2] - e1
        nm = n0 if n0 < n1 else n1
        s0 = 0.0
        s1 = 0.0
        for t in range(nm):
            s0 = s0 + Ax[e0 + t] * v[Ai[e0 + t]]
            s1 = s1 + Ax[e1 + t] * v[Ai[e1 + t]]
        for t in range(nm, n0):
            s0 = s0 + Ax[e0 + t] * v[Ai[e0 + t]]
        for t in range(nm, n1):
            s1 = s1 + Ax[e1 + t] * v[Ai[e1 + t]]
        out[i] = s0
        out[i + 1] = s1
        i = i + 2
    if i < nr:
        s0 = 0.0
        for t in range(Ap[i], Ap[i + 1]):
            s0 = s0 + Ax[t] * v[Ai[t]]
        out[i] = s0


def pads_follow(const int64_t[::1] pad, const int32_t[::1] Np, const int32_t[::1] Ni, const double[::1] Nx,
                const double[:, ::1] Xpad, const double[:, ::1] U, const double[:, ::1] V,
                double[:, ::1] x, double[:, ::1] v, int positions):
    """Pad atoms follow the mesh: x[pad[p]] = Xpad[p] + Σ_e N_e U[col_e] (``positions`` 1 or 2),
    v[pad[p]] = Σ_e N_e V[col_e] (``positions`` 0 or 1), over the entries e of row p of the (n_pad, N)
    interpolation matrix: positions 1 = both, 0 = velocities only, 2 = positions only.
    Shapes: pad (n_pad,), Xpad (n_pad, d), U, V (N, d), x, v (n, d)."""
    cdef Py_ssize_t npad = pad.shape[0], d = x.shape[1], p, e, k, a, j
    cdef double s, s0, s1, s2, t
    cdef bint do_x = positions != 0, do_v = positions != 2
    if (Np.shape[0] != npad + 1 or Xpad.shape[0] != npad or Xpad.shape[1] != d or U.shape[1] != d
            or V.shape[1] != d or v.shape[1] != d or U.shape[0] != V.shape[0]):
        raise ValueError("pads_follow: shape mismatch")
    if positions < 0 or positions > 2:
        raise ValueError("pads_follow: positions must be 0, 1 or 2")
    with nogil:
        if d == 3 and positions != 1:
            # one pass over a pad's entries for the three components of one field: each component's sum is
            # its own chain of adds in entry order from 0.0 (the general loop's operations), the three
            # chains side by side instead of one after another
            for p in range(npad):
                a = pad[p]
                s0 = 0.0
                s1 = 0.0
                s2 = 0.0
                if do_x:
                    for e in range(Np[p], Np[p + 1]):
                        j = Ni[e]
                        t = Nx[e]
                        s0 = s0 + t * U[j, 0]
                        s1 = s1 + t * U[j, 1]
                        s2 = s2 + t * U[j, 2]
                    x[a, 0] = Xpad[p, 0] + s0
                    x[a, 1] = Xpad[p, 1] + s1
                    x[a, 2] = Xpad[p, 2] + s2
                else:
                    for e in range(Np[p], Np[p + 1]):
                        j = Ni[e]
                        t = Nx[e]
                        s0 = s0 + t * V[j, 0]
                        s1 = s1 + t * V[j, 1]
                        s2 = s2 + t * V[j, 2]
                    v[a, 0] = s0
                    v[a, 1] = s1
                    v[a, 2] = s2
        else:
            for p in range(npad):
                a = pad[p]
                for k in range(d):
                    if do_x:
                        s = 0.0
                        for e in range(Np[p], Np[p + 1]):
                            s = s + Nx[e] * U[Ni[e], k]
                        x[a, k] = Xpad[p, k] + s
                    if do_v:
                        s = 0.0
                        for e in range(Np[p], Np[p + 1]):
                            s = s + Nx[e] * V[Ni[e], k]
                        v[a, k] = s
    return 0


def pad_forces(const int64_t[::1] pad, const int32_t[::1] Tp, const int32_t[::1] Ti, const double[::1] Tx,
               const int64_t[::1] nodes, double[:, ::1] f_atoms, double[:, ::1] f_nodes):
    """The chain rule of the pads x = X + N U: f_nodes += Nᵀ f_atoms[pad], then f_atoms[pad] = 0.
    Tp/Ti/Tx: Nᵀ restricted to the nodes the pads touch, CSR (row q = node nodes[q], column = pad
    position p, entries in increasing p): each node's sum runs over its pads in order from 0 and is then
    added, bitwise ``f_nodes += N_pad.T @ f_atoms[pad]`` (SciPy's CSC product: the same sums in the same
    order). One pass per node, no scratch."""
    cdef Py_ssize_t npad = pad.shape[0], d = f_atoms.shape[1], nn = nodes.shape[0], p, e, k, I, q
    cdef double s[3]
    cdef double t
    if (Tp.shape[0] != nn + 1 or f_nodes.shape[1] != d or d > 3 or Ti.shape[0] != Tx.shape[0]
            or (nn and Tp[nn] > Ti.shape[0])):
        raise ValueError("pad_forces: shape mismatch")
    with nogil:
        for q in range(nn):
            I = nodes[q]
            for k in range(d):
                s[k] = 0.0
            for e in range(Tp[q], Tp[q + 1]):
                p = pad[Ti[e]]
                t = Tx[e]
                for k in range(d):
                    s[k] = s[k] + t * f_atoms[p, k]
            for k in range(d):
                f_nodes[I, k] = f_nodes[I, k] + s[k]
        for p in range(npad):
            for k in range(d):
                f_atoms[pad[p], k] = 0.0
    return 0


def residual(const double[::1] atoms, const double[::1] ref, const double[::1] nodes, int mode,
             const int64_t[::1] t_atom, const int64_t[::1] t_node, const int32_t[::1] Gp,
             const int32_t[::1] Gi, const double[::1] Gx, double[::1] buf, double[::1] r):
    """r = G v for the stacked vector v whose values at the touched dofs are gathered into buf (k,):
    atom part ``atoms[t_atom]`` (mode 0), ``atoms[t_atom] − ref[t_atom]`` (mode 1: displacements x − X) or
    ``atoms[t_atom] · ref[t_atom]`` (mode 2: accelerations f · M⁻¹), node part ``nodes[t_node]`` (modes 0, 1)
    or ``nodes[t_node] · ref_nodes`` — in mode 2 ``nodes`` values are multiplied by the trailing part of
    ``ref`` (ref = concatenation of the atoms' and the nodes' flat inverse masses at the touched dofs,
    length k) instead. G (r, k) CSR over the touched columns. Returns max |r| (0 for no rows; NaN if any
    row is NaN)."""
    cdef Py_ssize_t ka = t_atom.shape[0], kn = t_node.shape[0], nr = r.shape[0], i, e
    cdef double s, m = 0.0
    if buf.shape[0] != ka + kn or Gp.shape[0] != nr + 1:
        raise ValueError("residual: shape mismatch")
    if mode < 0 or mode > 2:
        raise ValueError("residual: mode must be 0, 1 or 2")
    if mode == 1 and ref.shape[0] != atoms.shape[0]:
        raise ValueError("residual: mode 1 needs ref of the atoms' reference positions")
    if mode == 2 and ref.shape[0] != ka + kn:
        raise ValueError("residual: mode 2 needs ref of the touched dofs' inverse masses")
    with nogil:
        if mode == 0:
            for i in range(ka):
                buf[i] = atoms[t_atom[i]]
            for i in range(kn):
                buf[ka + i] = nodes[t_node[i]]
        elif mode == 1:
            for i in range(ka):
                buf[i] = atoms[t_atom[i]] - ref[t_atom[i]]
            for i in range(kn):
                buf[ka + i] = nodes[t_node[i]]
        else:
            for i in range(ka):
                buf[i] = atoms[t_atom[i]] * ref[i]
            for i in range(kn):
                buf[ka + i] = nodes[t_node[i]] * ref[ka + i]
        _csr_matvec2(Gp, Gi, Gx, buf, r, nr)
        for i in range(nr):
            s = r[i]
            if s != s:              # NaN is sticky, as np.max(np.abs(r)): a non-finite state is never
                m = s               # mistaken for a small residual
            elif m == m and fabs(s) > m:
                m = fabs(s)
    return m


cdef inline double _max_abs(const double[::1] r, Py_ssize_t nr) noexcept nogil:
    """max |r| with NaN sticky (as `residual`'s)."""
    cdef Py_ssize_t i
    cdef double s, m = 0.0
    for i in range(nr):
        s = r[i]
        if s != s:
            m = s
        elif m == m and fabs(s) > m:
            m = fabs(s)
    return m


def residual_acc_q(const double[::1] f_atoms, const double[::1] inv_t, const double[::1] f_nodes,
                   const double[::1] x, const double[::1] X, const double[::1] U,
                   const int64_t[::1] t_atom, const int64_t[::1] t_node, const int32_t[::1] Gp,
                   const int32_t[::1] Gi, const double[::1] Gx, double[::1] buf, double[::1] bufq,
                   double[::1] r, double[::1] rq):
    """Two residuals in one pass over G (r, k) (CSR over the touched columns): r = G a with a gathered as
    `residual`'s mode 2 (``f · inv_t`` at the touched dofs: accelerations) and rq = G q with q gathered as
    mode 1 (``x − X`` at the touched atom dofs, ``U`` at the touched node dofs: displacements). Each row's
    two sums start at 0.0 and add the entries in storage order: bitwise `residual` mode 2 into r and mode 1
    into rq (buf, bufq (k,) scratch hold the gathered vectors). Returns (max |r|, max |rq|), NaN sticky."""
    cdef Py_ssize_t ka = t_atom.shape[0], kn = t_node.shape[0], nr = r.shape[0], i, e, j
    cdef int64_t t
    cdef double s0, s1, g
    if (buf.shape[0] != ka + kn or bufq.shape[0] != ka + kn or Gp.shape[0] != nr + 1 or rq.shape[0] != nr
            or inv_t.shape[0] != ka + kn or X.shape[0] != x.shape[0]):
        raise ValueError("residual_acc_q: shape mismatch")
    with nogil:
        for i in range(ka):
            t = t_atom[i]
            buf[i] = f_atoms[t] * inv_t[i]
            bufq[i] = x[t] - X[t]
        for i in range(kn):
            t = t_node[i]
            buf[ka + i] = f_nodes[t] * inv_t[ka + i]
            bufq[ka + i] = U[t]
        for i in range(nr):
            s0 = 0.0
            s1 = 0.0
            for e in range(Gp[i], Gp[i + 1]):
                j = Gi[e]
                g = Gx[e]
                s0 = s0 + g * buf[j]
                s1 = s1 + g * bufq[j]
            r[i] = s0
            rq[i] = s1
    return _max_abs(r, nr), _max_abs(rq, nr)


def block_correction(const double[::1] r, const int64_t[:, ::1] blocks, const double[:, ::1] sc,
                     const int32_t[::1] Lp, const int32_t[::1] Li, const double[::1] Lx,
                     const int32_t[::1] Up, const int32_t[::1] Ui, const double[::1] Ux,
                     const double[::1] Ud, const int32_t[::1] perm_r, const int32_t[::1] perm_c,
                     double[:, ::1] b, double[:, ::1] work, double[:, ::1] x, double[::1] lam,
                     const int32_t[::1] Cp, const int32_t[::1] Ci, const double[::1] Cx,
                     const double[::1] wa, double[::1] corr):
    """The multipliers and the correction: lam = A⁻¹ r by the block factorisation of the projector's
    ``_BlockSolve`` (b = r[blocks]·sc, LU solve, x·sc scattered back to lam), then
    corr = wa · (Gᵀ_active lam) (Cp/Ci/Cx: CSR of G restricted to the active dofs, transposed)."""
    cdef Py_ssize_t m = blocks.shape[0], nb = blocks.shape[1], na = corr.shape[0], i, c, e
    cdef double s
    if (sc.shape[0] != m or sc.shape[1] != nb or b.shape[0] != m or b.shape[1] != nb
            or Cp.shape[0] != na + 1 or wa.shape[0] != na or lam.shape[0] != r.shape[0]
            or work.shape[0] != m or work.shape[1] != nb or x.shape[0] != m or x.shape[1] != nb
            or Lp.shape[0] != m + 1 or Up.shape[0] != m + 1 or Ud.shape[0] != m
            or perm_r.shape[0] != m or perm_c.shape[0] != m):
        raise ValueError("block_correction: shape mismatch")
    with nogil:
        for i in range(m):
            for c in range(nb):
                b[i, c] = r[blocks[i, c]] * sc[i, c]
        lu_solve_nogil(Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r, perm_c, b, work, x)
        for i in range(m):
            for c in range(nb):
                lam[blocks[i, c]] = x[i, c] * sc[i, c]
        _csr_matvec2(Cp, Ci, Cx, lam, corr, na)
        for i in range(na):
            corr[i] = wa[i] * corr[i]
    return 0


def subtract_at(double[::1] atoms, double[::1] nodes, const int64_t[::1] a_atom, const int64_t[::1] a_node,
                const double[::1] corr):
    """atoms[a_atom] −= corr[:ka], nodes[a_node] −= corr[ka:] (flat arrays)."""
    cdef Py_ssize_t ka = a_atom.shape[0], kn = a_node.shape[0], i
    if corr.shape[0] != ka + kn:
        raise ValueError("subtract_at: shape mismatch")
    with nogil:
        for i in range(ka):
            atoms[a_atom[i]] = atoms[a_atom[i]] - corr[i]
        for i in range(kn):
            nodes[a_node[i]] = nodes[a_node[i]] - corr[ka + i]
    return 0


cdef inline Py_ssize_t _lower_bound(const int64_t[::1] a, Py_ssize_t lo, Py_ssize_t hi,
                                    int64_t key) noexcept nogil:
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def acc_kick(double[::1] v, double[::1] a, const double[::1] f, const double[::1] inv_m, double dt_half,
             const int64_t[::1] act, const double[::1] corr, Py_ssize_t c0, int n_threads=1):
    """a = f · inv_m, minus corr[c0 + p] at the sorted flat indices act[p], then v += dt_half · a, in one
    pass over the flat (n·d,) arrays: bitwise ``numpy.multiply(f, inv_m, out=a)``, ``a[act] −= corr``,
    `verlet.kick_acc`. Fixed chunks of the dofs (thread-count independent)."""
    cdef Py_ssize_t n = v.shape[0], na = act.shape[0], nch, ch, i, i0, i1, p
    cdef double ai
    if a.shape[0] != n or f.shape[0] != n or inv_m.shape[0] != n or corr.shape[0] < c0 + na:
        raise ValueError("acc_kick: shape mismatch")
    nch = (n + CHUNK - 1) // CHUNK
    with nogil:
        for ch in prange(nch, num_threads=n_threads, schedule="static"):
            i0 = ch * CHUNK
            i1 = i0 + CHUNK
            if i1 > n:
                i1 = n
            p = _lower_bound(act, 0, na, i0)
            for i in range(i0, i1):
                ai = f[i] * inv_m[i]
                if p < na and act[p] == i:
                    ai = ai - corr[c0 + p]
                    p = p + 1
                a[i] = ai
                v[i] = v[i] + dt_half * ai
    return 0


cdef void _aug_multipliers(const double[::1] r, const int64_t[::1] srow, const double[::1] ds,
                           const int32_t[::1] Sp, const int32_t[::1] Si, const double[::1] Sx,
                           const int64_t[::1] prow, const int64_t[:, ::1] blocks, const double[:, ::1] sc,
                           const int32_t[::1] Lp, const int32_t[::1] Li, const double[::1] Lx,
                           const int32_t[::1] Up, const int32_t[::1] Ui, const double[::1] Ux,
                           const double[::1] Ud, const int32_t[::1] perm_r, const int32_t[::1] perm_c,
                           double[:, ::1] b, double[:, ::1] work, double[:, ::1] x, double[::1] z,
                           double[::1] lam) noexcept nogil:
    """The multipliers through the augmented system (see `aug_solve`)."""
    cdef Py_ssize_t ns = srow.shape[0], npr = prow.shape[0], n1 = z.shape[0] - npr
    cdef Py_ssize_t m = blocks.shape[0], nb = blocks.shape[1], i, c, e
    cdef double t, s
    for i in range(n1):
        z[i] = 0.0
    for i in range(ns):
        t = r[srow[i]] / ds[i]
        for e in range(Sp[i], Sp[i + 1]):
            z[Si[e]] = z[Si[e]] - Sx[e] * t
    for i in range(npr):
        z[n1 + i] = r[prow[i]]
    for i in range(m):
        for c in range(nb):
            b[i, c] = z[blocks[i, c]] * sc[i, c]
    lu_solve_nogil(Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r, perm_c, b, work, x)
    for i in range(m):
        for c in range(nb):
            z[blocks[i, c]] = x[i, c] * sc[i, c]
    for i in range(npr):
        lam[prow[i]] = z[n1 + i]
    for i in range(ns):
        s = r[srow[i]]
        for e in range(Sp[i], Sp[i + 1]):
            s = s - Sx[e] * z[Si[e]]
        lam[srow[i]] = s / ds[i]


def aug_solve(const double[::1] r, const int64_t[::1] srow, const double[::1] ds,
              const int32_t[::1] Sp, const int32_t[::1] Si, const double[::1] Sx,
              const int64_t[::1] prow, const int64_t[:, ::1] blocks, const double[:, ::1] sc,
              const int32_t[::1] Lp, const int32_t[::1] Li, const double[::1] Lx,
              const int32_t[::1] Up, const int32_t[::1] Ui, const double[::1] Ux,
              const double[::1] Ud, const int32_t[::1] perm_r, const int32_t[::1] perm_c,
              double[:, ::1] b, double[:, ::1] work, double[:, ::1] x, double[::1] z, double[::1] lam,
              const int32_t[::1] Cp, const int32_t[::1] Ci, const double[::1] Cx,
              const double[::1] wa, double[::1] corr, bint correct):
    """Multipliers lam = A⁻¹ r (A = G W Gᵀ) through the augmented system of `projector._AugSolve`: rows
    ``srow`` (ns,) each own one private column p (D_s = ds[s] = G_sp² w_p), the other columns μ of those
    rows (CSR Sp/Si/Sx (ns, n1), G_s restricted to them) are carried as unknowns with the remaining rows
    ``prow`` (np,): z (n1 + np,) solves K z = (−G_1Sᵀ D⁻¹ r_S, r_P) by the block LU (blocks (m, nb) index z,
    sc the Jacobi scaling per (row, block)); then lam_P = z_P and lam_S = (r_S − G_1S μ) / D_S. When
    ``correct``: corr = wa · (Gᵀ_active lam) as `block_correction`. Sequential, fixed order."""
    cdef Py_ssize_t m = blocks.shape[0], nb = blocks.shape[1], na = corr.shape[0], i, e
    cdef double s
    if (sc.shape[0] != m or sc.shape[1] != nb or b.shape[0] != m or b.shape[1] != nb
            or work.shape[0] != m or work.shape[1] != nb or x.shape[0] != m or x.shape[1] != nb
            or Lp.shape[0] != m + 1 or Up.shape[0] != m + 1 or Ud.shape[0] != m
            or perm_r.shape[0] != m or perm_c.shape[0] != m or m * nb != z.shape[0]
            or Sp.shape[0] != srow.shape[0] + 1 or ds.shape[0] != srow.shape[0]
            or lam.shape[0] != r.shape[0] or srow.shape[0] + prow.shape[0] != r.shape[0]
            or (correct and (Cp.shape[0] != na + 1 or wa.shape[0] != na))):
        raise ValueError("aug_solve: shape mismatch")
    with nogil:
        _aug_multipliers(r, srow, ds, Sp, Si, Sx, prow, blocks, sc, Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r,
                         perm_c, b, work, x, z, lam)
        if correct:
            for i in range(na):
                s = 0.0
                for e in range(Cp[i], Cp[i + 1]):
                    s = s + Cx[e] * lam[Ci[e]]
                corr[i] = wa[i] * s
    return 0


def slave_acc(double[::1] acc_atoms, double[::1] acc_nodes, double[::1] v_atoms, double[::1] v_nodes,
              const int64_t[::1] t_atom, const int64_t[::1] t_node, const int64_t[::1] sdof,
              const double[::1] sg, const int32_t[::1] Sp, const int32_t[::1] Si, const double[::1] Sx,
              double[::1] vsave, double dt_half, int mode):
    """The slaved dofs' accelerations from their constraint rows (`ConstraintProjector.slaved`): slaved
    dof p of row s (touched position sdof[s], coefficient sg[s] = G_sp) gets
    a_p = −(Σ_e Sx[e] · a[Si[e]]) / sg[s], the sum over the row's other touched dofs (CSR Sp/Si/Sx, Si
    touched positions: atoms ``t_atom`` first, then nodes ``t_node``; flat region arrays), in storage
    order from 0.0 (as ``scipy.sparse`` CSR @ vector). A slaved dof is private to its row, so no row reads
    another's slaved dof: the order of the rows does not matter. mode 0: vsave[s] = v_p (before the kick);
    1: accelerations only; 2: accelerations, then v_p = vsave[s] + dt_half · a_p (the half-kick from the
    velocity saved before the kick pass, i.e. as if that pass had used the new a_p). Sequential."""
    cdef Py_ssize_t ns = sdof.shape[0], ka = t_atom.shape[0], kn = t_node.shape[0], s, e, k, j
    cdef double acc, aj
    if (sg.shape[0] != ns or Sp.shape[0] != ns + 1 or vsave.shape[0] != ns or mode < 0 or mode > 2):
        raise ValueError("slave_acc: shape mismatch")
    with nogil:
        for s in range(ns):
            k = sdof[s]
            if mode == 0:
                vsave[s] = v_atoms[t_atom[k]] if k < ka else v_nodes[t_node[k - ka]]
                continue
            acc = 0.0
            for e in range(Sp[s], Sp[s + 1]):
                j = Si[e]
                aj = acc_atoms[t_atom[j]] if j < ka else acc_nodes[t_node[j - ka]]
                acc = acc + Sx[e] * aj
            acc = -acc / sg[s]
            if k < ka:
                acc_atoms[t_atom[k]] = acc
                if mode == 2:
                    v_atoms[t_atom[k]] = vsave[s] + dt_half * acc
            else:
                acc_nodes[t_node[k - ka]] = acc
                if mode == 2:
                    v_nodes[t_node[k - ka]] = vsave[s] + dt_half * acc
    return 0
