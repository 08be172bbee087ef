"""Stiffness preconditioner of the whole (coupled) static problem, factorised once per run.

The operator P (n_dof, n_dof) on the stacked dofs q = (u_free_atoms, U_nodes) is a positive semi-definite
approximation of the Hessian of Π at the REFERENCE state (so it depends on the model only, never on the
current positions: a restarted run builds the same P, bitwise)::

    P = Tᵀ H_atoms T + K_continuum + s·I

- H_atoms (n·d, n·d): the bond-stiffness network of the atoms at their reference positions: every bond
  r_ab < r_cut contributes w_ab·k_ab·n nᵀ (n the unit bond vector, w_ab the coupling bond weight) with the
  positive part of the bond's radial stiffness k_ab = max(φ''(r) + (w̄F'(ρ̄))ρ''(r) terms, 0) [energy/length²]
  (bonds with k_ab = 0 are dropped before the weights and the assembly)
  (pair potentials: φ''; EAM: φ'' + (F'(ρ̄_a) + F'(ρ̄_b)) ρ'' with the reference densities). It is the
  harmonic Hessian of the reference crystal without its (indefinite, small) transverse and embedding-
  curvature parts. Potentials without radial functions (external engines) fall back to a unit bond
  stiffness scaled by the continuum's C₁₁ (or 1).
- T (n·d, n_dof): free atoms map to their own dofs, pad atoms to the nodes through x_pad = X + N_pad U.
- K_continuum (N·d, N·d): the α-weighted assembled linear-elastic stiffness with the material's reference
  tangent C (Cauchy–Born: C from the same potential), `ContinuumRegion.stiffness_matrix`.
- s: 1e-8 of the mean positive diagonal, plus that mean on dofs that nothing touches (nodes of the
  atomistic hole), so P is positive definite.

The constraints (fixed dofs, G q = c) are eliminated, not added as a saddle-point (KKT) system: fixed dofs
are dropped, and every row of G_f that owns a pivot — a free dof met in no other row (strong coupling:
the handshake atom's dof tied to the mesh interpolation, u_a = N_a U) — is solved for that dof,
q_f = Z y (Z (n_f, n_y): identity on the kept dofs, pivot = −(1/g_rp) Σ_j g_rj y_j). The reduced operator
Zᵀ P_ff Z is SPD and is factorised once (scipy SuperLU, symmetric mode, minimum-degree ordering on
AᵀA+A; on indent3d_small 2.9 M nonzeros in the factors against 11.6 M for the former KKT
system). Rows without a pivot (general constraints) stay as a small saddle-point block::

    [ Zᵀ P_ff Z   Zᵀ G_rᵀ ] [y]   [Zᵀ r_f]
    [ G_r Z       −δ I    ] [λ] = [  0   ]          δ = 1e-12 / mean diag   (tolerates redundant rows)

`solve(r)` returns z (n_dof,) with z = 0 on fixed dofs and G z = 0 (to round-off; callers re-project),
i.e. z = Z (Zᵀ P Z)⁻¹ Zᵀ r with Z a basis of the constrained space: the same operator as the KKT
solution, consistent with the handshake constraints, not a block-diagonal guess.
"""

from __future__ import annotations

import time

import numpy as np

from .._lazy import lazy_module

sp = lazy_module("scipy.sparse")
spla = lazy_module("scipy.sparse.linalg")


def _d2(fn, r: np.ndarray, h: float = 1e-5) -> np.ndarray:  # noqa: ANN001
    """Second derivative of a radial function from its first derivative (central difference)."""
    return (fn(r + h)[1] - fn(r - h)[1]) / (2.0 * h)


def reference_bonds(atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """(i (m,), j (m,), dX (m, d)) every atom pair with |dX| < r_cut at the REFERENCE positions (periodic
    images included), from a fresh neighbour list of ``atoms.X``; independent of the current state."""
    from ..md.neighbors import NeighborList
    pot = atoms.potential
    nl = NeighborList(atoms.box, float(pot.cutoff), float(atoms.nlist.skin), 1, wrap=True)
    nl.build(np.ascontiguousarray(atoms.X))
    i, j = nl.pairs()
    dX = atoms.X[j] - atoms.X[i] + nl.shift_vectors()
    keep = np.einsum("md,md->m", dX, dX) < float(pot.cutoff) ** 2
    return i[keep], j[keep], dX[keep]


def bond_stiffness(atoms, i: np.ndarray, j: np.ndarray, r: np.ndarray) -> np.ndarray | None:  # noqa: ANN001
    """(m,) positive part of the radial stiffness of each bond [energy/length²], or None when the potential
    has no radial functions."""
    pot = atoms.potential
    try:
        k = np.asarray(pot.pair_d2(r), float) if hasattr(pot, "pair_d2") else _d2(pot.pair, r)
        if getattr(pot, "many_body", False):
            rho_b = np.asarray(pot.density(r)[0], float)
            rho = np.zeros(len(atoms.X))
            np.add.at(rho, i, rho_b)
            np.add.at(rho, j, rho_b)
            dF = np.asarray(pot.embedding(rho)[1], float)
            d2rho = (np.asarray(pot.density_d2(r), float) if hasattr(pot, "density_d2")
                     else _d2(pot.density, r))
            k = k + (dF[i] + dF[j]) * d2rho
    except (NotImplementedError, AttributeError, TypeError):
        return None
    if not np.all(np.isfinite(k)):
        return None
    return np.maximum(k, 0.0)


def atom_hessian(atoms) -> sp.csr_matrix:  # noqa: ANN001
    """(n·d, n·d) bond-stiffness network Σ_bonds w k n nᵀ of all atoms at the reference (see module)."""
    X = atoms.X
    n, d = X.shape
    i, j, dX = reference_bonds(atoms)
    r = np.linalg.norm(dX, axis=1)
    k = bond_stiffness(atoms, i, j, r)
    if k is None:
        k = np.ones_like(r)
    live = k > 0                      # bonds beyond the stiffness's sign change add nothing: drop them
    if not np.all(live):              # before the (costly) bond weights and the assembly
        i, j, dX, r, k = i[live], j[live], dX[live], r[live], k[live]
    if atoms.bond_weight_fn is not None:
        w = 0.5 * (np.asarray(atoms.bond_weight_fn(i, j, dX), float)
                   + np.asarray(atoms.bond_weight_fn(j, i, -dX), float))
        k = k * w
    e = dX / r[:, None]
    Kb = k[:, None, None] * e[:, :, None] * e[:, None, :]               # (m, d, d)
    a = np.arange(d)
    ri = (i[:, None] * d + a)                                            # (m, d)
    rj = (j[:, None] * d + a)
    rows = np.concatenate([np.repeat(ri, d, axis=1), np.repeat(rj, d, axis=1),
                           np.repeat(ri, d, axis=1), np.repeat(rj, d, axis=1)]).ravel()
    cols = np.concatenate([np.tile(ri, (1, d)), np.tile(rj, (1, d)),
                           np.tile(rj, (1, d)), np.tile(ri, (1, d))]).ravel()
    vals = np.concatenate([Kb.reshape(len(k), -1), Kb.reshape(len(k), -1),
                           -Kb.reshape(len(k), -1), -Kb.reshape(len(k), -1)]).ravel()
    H = sp.csr_matrix((vals, (rows, cols)), shape=(n * d, n * d))
    H.sum_duplicates()
    return H


def atoms_to_q(system) -> sp.csr_matrix:  # noqa: ANN001
    """T (n·d, n_dof): all atom displacements from the stacked dofs (free atoms: identity; pads: N_pad U)."""
    s = system
    d, n = s.d, s.n_atoms
    a = np.arange(d)
    rows = [(s.free[:, None] * d + a).ravel()]
    cols = [np.arange(s.n_free * d)]
    vals = [np.ones(s.n_free * d)]
    if s.coupled and len(s.pad_idx):
        Np = s.N_pad.tocoo()
        rows.append((s.pad_idx[Np.row][:, None] * d + a).ravel())
        cols.append((s.n_free * d + Np.col[:, None] * d + a).ravel())
        vals.append(np.repeat(Np.data, d))
    T = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n * d, s.n_dof))
    T.sum_duplicates()
    return T


def stiffness_operator(system) -> sp.csr_matrix:  # noqa: ANN001
    """P (n_dof, n_dof) SPD: Tᵀ H_atoms T + K_continuum + shifts (see module docstring)."""
    s = system
    P = sp.csr_matrix((s.n_dof, s.n_dof))
    if s.atoms is not None and s.n_atoms:
        T = atoms_to_q(s)
        P = P + (T.T @ atom_hessian(s.atoms) @ T).tocsr()
    if s.continuum is not None and s.n_nodes:
        K = s.continuum.stiffness_matrix()
        k0 = s.n_free * s.d
        P = P + sp.bmat([[sp.csr_matrix((k0, k0)), None], [None, K]], format="csr") if k0 else P + K
    P = 0.5 * (P + P.T)
    diag = P.diagonal()
    pos = diag[diag > 0]
    mean = float(pos.mean()) if pos.size else 1.0
    extra = np.where(diag > 1e-12 * mean, 1e-8 * mean, mean)
    return (P + sp.diags(extra)).tocsr()


def _substitution(Gf: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Eliminate the constraint rows that own a pivot: a column met in no other row of ``Gf`` (m, n)
    (strong coupling: each row ties one handshake atom's dof to the mesh interpolation, and that atom
    dof appears in that row only). Returns (Z (n, n_y) with G_pivot Z = 0 exactly in exact arithmetic
    — identity on the kept dofs, pivot dof = −(1/g_rp) Σ_{j≠p} g_rj y_j — , rows (k,) of ``Gf`` that
    have no pivot and stay as constraints). The pivot of a row is its single-row column of largest
    |coefficient| (ties: the lowest column), so the choice depends on G only."""
    m, n = Gf.shape
    Gc = Gf.tocsc()
    single = np.diff(Gc.indptr) == 1                       # (n,) columns in exactly one row
    C = Gf.tocoo()
    ok = single[C.col] & (C.data != 0)
    # per row, the candidate of largest |g| (then lowest column): lexsort by (row, -|g|, col)
    r, c, v = C.row[ok], C.col[ok], C.data[ok]
    order = np.lexsort((c, -np.abs(v), r))
    r, c, v = r[order], c[order], v[order]
    first = np.ones(len(r), bool)
    first[1:] = r[1:] != r[:-1]
    prow, pcol, pval = r[first], c[first], v[first]
    is_piv = np.zeros(n, bool)
    is_piv[pcol] = True
    keep = np.flatnonzero(~is_piv)
    ycol = -np.ones(n, np.int64)
    ycol[keep] = np.arange(len(keep))
    # rows of Z for the pivots: −G[row, kept] / g_p (every other entry of a pivot row is a kept dof,
    # since a pivot column occurs in its own row only)
    Gp = Gf[prow].tocoo()
    nz = ~is_piv[Gp.col]
    zr = pcol[Gp.row[nz]]
    zc = ycol[Gp.col[nz]]
    zv = -Gp.data[nz] / pval[Gp.row[nz]]
    Z = sp.csr_matrix((np.concatenate([np.ones(len(keep)), zv]),
                       (np.concatenate([keep, zr]), np.concatenate([np.arange(len(keep)), zc]))),
                      shape=(n, len(keep)))
    Z.sum_duplicates()
    has_piv = np.zeros(m, bool)
    has_piv[prow] = True
    return Z, np.flatnonzero(~has_piv)


def splu_or_memory_error(A, **kw):  # noqa: ANN001, ANN003, ANN202
    """``scipy.sparse.linalg.splu(A, **kw)`` (A (n, n) sparse CSC), with SuperLU's failed allocations raised
    as the `MemoryError` they are (the run then stops with "not enough memory", `run.statics`, not with an
    internal error). scipy reports them three ways (seen under an address-space limit): `MemoryError`;
    ``RuntimeError("SUPERLU_MALLOC fails for ...")`` (a failed malloc inside SuperLU); and, past ~2 GiB,
    ``SystemError("gstrf was called with invalid arguments")`` after SuperLU printed "Can't expand
    MemType": its failure code, the bytes allocated + n in a C int, wraps negative (scipy builds the
    arguments itself, so no other cause is known). Also used by ``precon_lbfgs``'s neighbour-graph
    preconditioner (`integrate.minimize`)."""
    try:
        return spla.splu(A, **kw)
    except (RuntimeError, SystemError) as exc:
        msg = str(exc)
        if not ("SUPERLU_MALLOC" in msg or (isinstance(exc, SystemError) and "invalid arguments" in msg)):
            raise
        raise MemoryError(f"a preconditioner's sparse LU factor ({A.shape[0]} rows, {A.nnz} entries) does "
                          f"not fit in memory (SuperLU: {exc})") from None


class StiffnessPreconditioner:
    """The constrained inverse of P (module docstring), factorised once.

    system : CoupledSystem; fixed : (n_dof,) bool or None; G : (m, n_dof) sparse or None.
    ``solve(r (n_dof,)) -> z (n_dof,)``; ``.P`` the operator; ``.n_dof``; ``.stats`` (sizes, nonzeros of
    the factors, times [s CPU]) for reports.
    """

    def __init__(self, system, fixed: np.ndarray | None = None, G=None) -> None:  # noqa: ANN001
        t0 = time.process_time()
        self.P = stiffness_operator(system)
        t1 = time.process_time()
        n = self.P.shape[0]
        self.n_dof = n
        self.free = np.ones(n, bool) if fixed is None else ~np.asarray(fixed, bool).reshape(n)
        idx = np.flatnonzero(self.free)
        self._idx = idx
        Pf = self.P[idx][:, idx]
        Z = None
        Gr = None
        if G is not None and G.shape[0]:
            Gf = sp.csr_matrix(G)[:, idx]
            Gf.eliminate_zeros()
            Gf = Gf[np.flatnonzero(np.diff(Gf.indptr) > 0)]
            if Gf.shape[0]:
                Z, rest = _substitution(Gf)
                Pf = (Z.T @ Pf @ Z).tocsr()
                if len(rest):
                    Gr = (Gf[rest] @ Z).tocsr()
                    Gr.eliminate_zeros()
                    Gr = Gr[np.flatnonzero(np.diff(Gr.indptr) > 0)]
                    if not Gr.shape[0]:
                        Gr = None
        self._Z = Z
        self._ZT = None if Z is None else Z.T.tocsr()
        m = 0 if Gr is None else Gr.shape[0]
        if m:
            delta = 1e-12 / float(Pf.diagonal().mean())
            A = sp.bmat([[Pf, Gr.T], [Gr, -delta * sp.eye(m)]], format="csc")
            self._lu = splu_or_memory_error(A, permc_spec="MMD_AT_PLUS_A")
        else:
            # symmetric positive definite: symmetric fill-reducing ordering, no row pivoting
            A = Pf.tocsc()
            self._lu = splu_or_memory_error(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                            options={"SymmetricMode": True})
        t2 = time.process_time()
        self._ny = Pf.shape[0]
        self._m = m
        self.stats = {"n_dof": n, "n_free": len(idx), "n_reduced": self._ny, "n_kkt_rows": m,
                      "nnz_P": int(self.P.nnz), "nnz_factor": int(self._lu.L.nnz + self._lu.U.nnz),
                      "t_operator": t1 - t0, "t_factor": t2 - t1}

    def solve(self, r: np.ndarray) -> np.ndarray:
        """z = P⁻¹ r on the constrained space (zero on fixed dofs)."""
        rf = r[self._idx]
        ry = rf if self._ZT is None else self._ZT @ rf
        if self._m:
            rhs = np.zeros(self._ny + self._m)
            rhs[: self._ny] = ry
            y = self._lu.solve(rhs)[: self._ny]
        else:
            y = self._lu.solve(np.ascontiguousarray(ry))
        z = np.zeros(self.n_dof)
        z[self._idx] = y if self._Z is None else self._Z @ y
        return z
