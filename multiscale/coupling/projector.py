"""The one projector onto linear constraints ``G q = c``, used by the dynamics (`integrate/verlet.py`,
M⁻¹-orthogonal) and by the minimisers (`integrate/minimize.py`, Euclidean on the free dofs).

With a diagonal metric W = diag(w), w ≥ 0 per dof (the inverse masses; 0 = a fixed dof, which the
projection never moves)::

    P v = v − W Gᵀ (G W Gᵀ)⁻¹ G v              (G P v = 0; `project`)
    R q = q − W Gᵀ (G W Gᵀ)⁻¹ (G q − c)        (G R q = c; `restore`)

Which rows are dropped (rev32 F14), the same rule on every path (dense, sparse scaled, blockwise):

1. *held* (``held_rows``, reported: `held_note`, `residual_held`; never in the thermo's residual):
   (a) rows with no free dof, or whose Gram diagonal on the free dofs is below `HELD_RATIO` = 1e-5 of their
   diagonal with the loads' holds released (`held_ratio`; ``unheld`` = the inverse masses before
   `CoupledSystem.fix_dofs`): the row's lightest dof is held (a held atom of tiny β̄, inverse mass ~1e6)
   and enforcing it through the few free nodes left drags them (the 3D loads deck: kept, three such rows
   at 4.2e-6 … 7.2e-6 took K + Π from −598 to +1 049 eV in 400 steps; the next row of that deck is at
   2.6e-5); (b) rows the rank test drops whose free part lies in the span of the kept rows but whose held
   part does not (`_held_by_span`): their residual is set by the held motion, not by the projection;
2. *dependent* (``dependent_rows``): the rank test on the Jacobi-scaled Gram matrix (tolerance rtol), each
   dropped row checked to lie in the span of the kept ones (else `DependentConstraintsError`); they hold
   whenever the kept rows do and `residual` measures them. ``dropped_rows`` = held ∪ dependent.

``G W Gᵀ`` is factorised ONCE (sparse LU, `scipy.sparse.linalg.splu`). ONE tolerance,
``rtol`` = 1e-10 relative, on the pivots of the Gram matrix ``A = G W Gᵀ``: the sparse LU is accepted when
its smallest pivot exceeds rtol times its largest; otherwise a pivoted Cholesky (LAPACK dpstrf) of the
dense r × r Jacobi-scaled Â keeps the rows whose pivots exceed rtol (an independent set; formerly the test
ran on the unscaled A at rtol · max diag(A) and dropped independent rows of small diagonal, rev32 F14).
Among rows that are twins after scaling, the larger (diag A) is kept: the rows enter the pivoted Cholesky
in decreasing order of diag A, so dpstrf's ties go to them (a round-off row of W-norm 1.5e-15 kept in place
of its real twin of 0.21 held the real one to 6.5e-10 only: tests/coupling/test_wave2d.py's 2D pulse).
That is for r ≤ 2 000 rows; larger Gram matrices are never made dense (a 3D handshake has 10⁴–10⁵
rows: GBs and hours) and go through `_factorise_scaled`: the same
test on the Jacobi-scaled Â = D^-½ A D^-½ (scale-free: a 3D handshake's rows' sizes spread over 11
orders while their scaled pivots stay above 1e-2), factorised as a sparse Cholesky (SuperLU symmetric
mode, minimum-degree ordering of Â + Âᵀ: a third less fill than the default COLAMD LU of A on a 3D
handshake, 7.6·10⁶ vs 1.1·10⁷ entries at 12 264 rows), with the solve A⁻¹ r = D^-½ Â⁻¹ D^-½ r.
Why 1e-10: the rows must be independent to well above round-off —
A is formed with errors of order eps · |A| ≈ 1e-16 |A| (times the row length), so an exactly redundant
row leaves a pivot of that size, and a cut below it (the dynamics' former rtol² = 1e-20 on A) cannot
see it; solves with a Gram matrix whose pivots span more than 10 orders keep fewer than 6 digits, too
few for constraints held to round-off. The minimisers' former test (LU pivots at 1e-12, rank from a
dense QR of G_fᵀ at 1e-10 on its diagonal, i.e. 1e-20 on A) needed the dense n × r matrix; for
exactly redundant rows both give the same projector (results change at round-off only).

Above 2 000 rows, when rows with a private column (strong rows) make the augmented system `_AugSolve`
small (≤ `_AUG_MAX_FILL` × r unknowns), its factor is tried first (`_AugSolve.certified`): a second
factorisation of its shifted twin K_τ proves by its inertia that λ_min of the Jacobi-scaled Gram matrix
exceeds 10 · rtol, so every pivot of the test above passes in any order, and the Gram matrix is never
factorised (3D bench: projector 3.4 → 1.9 s CPU). Anything not certified — dependent or nearly dependent
rows (λ_min ≤ 10 · rtol), non-identical blocks, a row interchange — takes the Gram path as before.

Cost: only the columns G touches enter: ``touched`` (sorted stacked dof indices with a non-zero in a kept
row) and ``active`` (those with w > 0). `residual_of` / `correction` work on those short vectors, so a
caller that keeps its state in per-region arrays (the velocity Verlet) pays for the handshake only.
Sums are taken over the same entries in the same order as with the full matrices (bitwise the same).
"""

from __future__ import annotations

import numpy as np

from .._kernels import load as _load_kernel
from .._lazy import lazy_module

sla = lazy_module("scipy.linalg")
sp = lazy_module("scipy.sparse")
spla = lazy_module("scipy.sparse.linalg")

#: relative pivot / rank tolerance of the factorisation (see the module docstring)
RTOL = 1e-10
#: a row whose Gram diagonal on its FREE dofs (w > 0) is below this fraction of its diagonal with the loads'
#: holds released (`unheld` inverse masses) is "effectively held" and dropped (`held_ratio`, module docstring)
HELD_RATIO = 1e-5
#: largest Gram matrix (rows) given to the dense pivoted Cholesky; larger ones take the sparse scaled path
_DENSE_MAX = 2000
#: largest connected block of a Gram matrix given to the dense pivoted Cholesky when the sparse scaled path
#: finds no independent subset (`independent_rows_blockwise`; 4 000 rows: 128 MB, ~1 s)
_DENSE_BLOCK_MAX = 4000


class DependentConstraintsError(RuntimeError):
    """The coupling constraints are nearly dependent and no independent subset was found (the deck's
    mesh and handshake: `run.prepare` reports it at ``continuum.mesh``, exit 2)."""


def independent_rows_blockwise(As, rtol: float, max_block: int = _DENSE_BLOCK_MAX):  # noqa: ANN001, ANN201
    """Sorted indices (k,) of an independent subset of the rows of the Jacobi-scaled Gram matrix ``As``
    (r, r) (sparse, unit diagonal), found by the dense pivoted Cholesky (LAPACK dpstrf, tolerance ``rtol``:
    the dense path's rank test) on each connected block of its sparsity graph — the rows of different
    blocks share no dof, so the blocks' subsets are independent of each other; the projected rows of a
    box mesh fall into one block per component. None when a block has more than ``max_block`` rows."""
    from scipy.sparse.csgraph import connected_components
    As = sp.csr_matrix(As)
    n_blocks, label = connected_components(As, directed=False)
    if n_blocks and int(np.bincount(label).max()) > max_block:
        return None
    order = np.argsort(label, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(label, minlength=n_blocks))])
    kept = []
    for b in range(n_blocks):
        idx = order[bounds[b]:bounds[b + 1]]
        _, piv, rank, info = sla.lapack.dpstrf(As[idx][:, idx].toarray(), lower=1, tol=rtol)
        if info < 0:
            raise RuntimeError("pivoted Cholesky of G W Gᵀ failed")
        kept.append(idx[piv[:rank] - 1])
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, np.int64)


def held_ratio(G, inv_mass: np.ndarray, unheld: np.ndarray | None) -> np.ndarray:  # noqa: ANN001
    """(r,) each row's Gram diagonal on its free dofs over its diagonal with the loads' holds released,
    ρ_i = Σ_j w_j G_ij² / Σ_j w⁰_j G_ij² (w the inverse masses with held dofs at 0, w⁰ = ``unheld``, the
    same before the loads fixed dofs); 1 where nothing is held (``unheld`` None, or no held dof in the
    row), 0 where the row has no mass at all. ρ_i is the share of the row's mobility left to its free dofs:
    the multiplier that moves the row by δ moves its free dofs by W_f g_fᵀ δ / (ρ_i g W⁰ gᵀ), so a row with
    ρ_i ≪ 1 (a held atom of tiny β̄ — inverse mass ~1e6 — tied to a few free nodes) makes those free dofs
    carry a constraint that its held, lightest dof carried (`HELD_RATIO`)."""
    G = sp.csr_matrix(G)
    w = np.asarray(inv_mass, float).reshape(-1)
    if unheld is None:
        w0 = w
    else:
        w0 = np.asarray(unheld, float).reshape(-1)
        if w0.shape != w.shape:
            raise ValueError(f"unheld has {w0.size} entries for {w.size} dofs")
    G2 = G.multiply(G).tocsr()
    d_free = G2 @ w
    if unheld is None or not np.any((w0 > 0) & (w == 0)):
        return np.where(d_free > 0, 1.0, 0.0)
    d_full = G2 @ np.where(w > 0, w, w0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d_full > 0, d_free / np.where(d_full > 0, d_full, 1.0), 0.0)


class _ScaledLU:
    """A⁻¹ through the factorisation of the Jacobi-scaled Â = D^-½ A D^-½: A⁻¹ b = D^-½ Â⁻¹ D^-½ b.
    ``solve(b)`` for b (r,) or (r, m), like ``SuperLU.solve``; ``L``, ``U`` those of Â."""

    def __init__(self, lu, sc: np.ndarray) -> None:  # noqa: ANN001
        self.lu, self.sc = lu, sc
        self.L, self.U = lu.L, lu.U

    def solve(self, b: np.ndarray) -> np.ndarray:
        s = self.sc if np.ndim(b) == 1 else self.sc[:, None]
        return s * self.lu.solve(np.ascontiguousarray(s * b))


class ConstraintProjector:
    """Projection onto ``G a = 0`` in the metric W⁻¹ (W = diag(inv_mass)), factorised once.

    G : scipy.sparse or dense (r, n);  inv_mass : (n,) ≥ 0 (0 = fixed dof);  c : (r,) right-hand side
    (None = 0);  zero_fixed : `project` also zeroes the components of fixed dofs (the minimisers'
    search directions) instead of passing them through (the dynamics' accelerations);
    rtol : see `RTOL`.

    Attributes: ``G`` (kept rows, all n columns, CSR), ``GT``, ``inv_mass`` (n,), ``free`` (n,) bool
    (w > 0), ``rows`` (kept row indices), ``dropped_rows``, ``touched`` / ``active`` (k,) int64 dof
    indices (see the module docstring), ``c``.
    """

    def __init__(self, G, inv_mass: np.ndarray, *, c: np.ndarray | None = None,  # noqa: ANN001
                 zero_fixed: bool = False, rtol: float = RTOL, unheld: np.ndarray | None = None) -> None:
        G = sp.csr_matrix(G)
        inv_mass = np.asarray(inv_mass, float).reshape(-1)
        if G.shape[1] != inv_mass.size:
            raise ValueError(f"G has {G.shape[1]} columns for {inv_mass.size} dofs")
        self.n = inv_mass.size
        self.inv_mass = inv_mass
        self.free = inv_mass > 0
        self.zero_fixed = bool(zero_fixed)
        self.G_all = G
        self.c_all = np.zeros(G.shape[0]) if c is None else np.asarray(c, float).reshape(-1)
        W = G @ sp.diags(inv_mass)
        rownorm = np.sqrt(np.asarray(W.multiply(G).sum(axis=1)).ravel())
        # rows dropped as held (module docstring): no free dof, or the free part's Gram diagonal below
        # HELD_RATIO of the row's with the holds released
        self.held_ratio = held_ratio(G, inv_mass, unheld)
        held = ~(rownorm > 0) | (self.held_ratio < HELD_RATIO)
        keep = np.flatnonzero(~held)
        self.held_rows = np.flatnonzero(held)
        self.dropped_rows = self.held_rows.copy()
        # large systems: first the augmented system (`_AugSolve.certified`): when its rows with a private
        # column make it small enough and the factorisation of its shifted twin certifies every pivot of
        # the Gram matrix's rank test (λ_min of the scaled G W Gᵀ above 10·rtol), its factor serves the
        # rank test, the multiplier solves and the per-step solve, and the Gram matrix is never factorised.
        # Otherwise ONE factorisation of the Gram matrix serves them (`_BlockSolve.prepare`); None when the
        # kept rows are not all independent, then the general path below drops rows and the compiled solve
        # is built afresh on the kept rows
        fast = aug = None
        if keep.size > _DENSE_MAX:
            Gk = G[keep]
            cols = _used_columns(Gk)
            cols = cols[inv_mass[cols] > 0]
            aug = _AugSolve.certified(Gk[:, cols].tocsr(), inv_mass[cols], rtol)
            if aug is None:
                fast = _BlockSolve.prepare(Gk, inv_mass, rtol)
        if aug is not None:
            lu = _AugLU(aug)
        elif fast is not None:
            lu = _BlockLU(fast)
        else:
            lu, keep = self._factorise(G, inv_mass, keep, rtol)
        self._lu = lu
        self.rows = keep
        self.dependent_rows = np.setdiff1d(self.dropped_rows, self.held_rows)
        self._G_check = self._Gd_touched = None
        self.G = G[keep].tocsr()
        self.GT = self.G.T.tocsr()
        self.c = self.c_all[keep]
        self.touched = _used_columns(self.G)
        self.active = self.touched[inv_mass[self.touched] > 0]
        self.G_touched = self.G[:, self.touched].tocsr()
        self._GaT = self.G[:, self.active].T.tocsr()
        self._wa = inv_mass[self.active]
        if fast is None and aug is None:
            fast = _BlockSolve.build(self.G[:, self.active], self._wa, rtol) if lu is not None else None
        self._fast = fast
        # the per-step solve through the augmented system when its factor is markedly smaller
        # (`_AugSolve`: rows with a private column, e.g. strong rows, eliminated locally)
        if aug is None and fast is not None:
            aug = _AugSolve.build(self.G[:, self.active].tocsr(), self._wa, rtol, fast)
            if aug is not None:
                fast.release_solve_arrays()
        self._aug = aug
        self._ck = _load_kernel("coupler")
        self.slaved = _slaved_rows(self.G_touched, inv_mass[self.touched])
        self._Gt_csr = _csr32(self.G_touched)
        self._Ca_csr = _csr32(self._GaT)
        self._lam = np.empty(self.G.shape[0])
        #: rows dropped as dependent whose part on held dofs is not the kept rows' (`_held_by_span`)
        self.held_by_span = np.zeros(0, np.int64)
        if unheld is not None and self.dependent_rows.size and lu is not None:
            self._held_by_span(np.asarray(unheld, float).reshape(-1), rtol)

    @classmethod
    def euclidean(cls, n: int, fixed: np.ndarray | None = None, G=None,  # noqa: ANN001
                  c: np.ndarray | None = None) -> ConstraintProjector:
        """The minimisers' projector: identity metric on the free dofs, fixed (n,) bool dofs held
        (zeroed by `project`); G None or with no rows = no constraints. The held-row test compares each
        row's Euclidean norm² on the free dofs with its whole norm² (``unheld`` = 1 everywhere): on the EAM
        twin of decks/indent3d_ml's held deck 234 of 1 497 rows — held side atoms tied to free nodes by
        round-off shape-function values — keep ≤ 3.2e-22 of it, the next row 0.99; kept (the scaled rank
        test alone) they moved the relaxed reaction at zero load from −0.457 to +0.108 eV/Å."""
        w = np.ones(n) if fixed is None else (~np.asarray(fixed, bool).reshape(n)).astype(float)
        if G is None or G.shape[0] == 0:
            G = sp.csr_matrix((0, n))
        return cls(G, w, c=c, zero_fixed=True, unheld=None if fixed is None else np.ones(n))

    def _factorise(self, G: sp.csr_matrix, inv_mass: np.ndarray, keep: np.ndarray, rtol: float):  # noqa: ANN202
        """(splu of G W Gᵀ over an independent set of the rows ``keep``, that set); dropped rows are
        added to ``dropped_rows``."""
        if keep.size == 0:
            return None, keep
        cols = np.unique(G[keep].indices)
        cols = cols[inv_mass[cols] > 0]
        Gk = G[keep][:, cols]
        wk = inv_mass[cols]
        A = (Gk @ sp.diags(wk) @ Gk.T).tocsc()
        if A.shape[0] > _DENSE_MAX:
            return self._factorise_scaled(A, Gk, wk, keep, rtol)
        try:
            lu = spla.splu(A)
            piv = np.abs(lu.U.diagonal())
            if piv.min() > rtol * piv.max():
                return lu, keep
        except RuntimeError:
            pass
        # rank deficient: pivoted Cholesky of the PSD Gram matrix A = S Sᵀ, S = G W^½ — a principal block
        # of A is non-singular iff the corresponding rows of S are independent — on the Jacobi-scaled
        # Â = D^-½ A D^-½ with the tolerance rtol: the rule of the sparse path (`_factorise_scaled`) and of
        # its block fallback (`independent_rows_blockwise`). (rev32 F14: the test on the unscaled A, whose
        # diagonal spanned 8.3e11 with rows of tiny β̄, dropped 288 INDEPENDENT rows of a 1 476-row 3D
        # handshake, and the residual of the kept rows read 8e-15.) Every row left out must lie in the span
        # of the kept ones (`_in_span`), else `DependentConstraintsError`.
        # The rows enter in decreasing order of diag A: dpstrf's ties (twins after scaling, unit diagonals
        # at the start) go to the larger row, so a row of round-off size is never kept in place of its twin
        d = A.diagonal()
        order = np.argsort(-d, kind="stable")
        sc = 1.0 / np.sqrt(d[order])
        Ad = A.toarray()[np.ix_(order, order)]
        _, piv, rank, info = sla.lapack.dpstrf((sc[:, None] * Ad) * sc[None, :], lower=1, tol=rtol)
        if info < 0:
            raise RuntimeError("pivoted Cholesky of G W Gᵀ failed")
        ind = np.sort(order[piv[:rank] - 1])
        ind = self._larger_representatives(Ad[np.ix_(np.argsort(order), np.argsort(order))], ind, rtol)
        bad = np.setdiff1d(np.arange(len(keep)), ind)
        if not self._in_span(Gk[ind], Gk[bad], wk, rtol):
            raise DependentConstraintsError(
                f"the {A.shape[0]} coupling constraints are nearly dependent (Gram matrix pivots below "
                f"{rtol:g} after Jacobi scaling) and the rows left out are not implied by the others: "
                "typically mesh nodes whose support holds too few handshake atoms to constrain them")
        self.dropped_rows = np.sort(np.concatenate([self.dropped_rows, keep[bad]]))
        keep = keep[ind]
        Gk = Gk[ind]
        return spla.splu((Gk @ sp.diags(wk) @ Gk.T).tocsc()), keep

    @staticmethod
    def _larger_representatives(A: np.ndarray, ind: np.ndarray, rtol: float) -> np.ndarray:
        """The independent set ``ind`` of the rows of the Gram matrix A (r, r dense) with every dropped row
        d that the kept rows express only through a coefficient |y_kd| > 1/√rtol on some kept row k
        swapped with that k (k is then the dropped one: y_dk = 1/y_kd is small). Such a k is a row of
        round-off size (a cancellation) that the scale-free test kept in place of a real row: the real row
        then holds to |y_kd| × round-off only (tests/coupling/test_wave2d.py's 2D pulse: rows of W-norm
        1.5e-15 next to 0.21, y 1.2e14, the real rows' residual 6.5e-10 after 3 000 steps). At most four
        rounds; a swap that leaves the kept rows' Gram block singular (the swapped-in row dependent on the
        other kept rows: a diamond-lattice deck, rev session 29) is undone — the last nonsingular set is
        returned."""
        r = A.shape[0]
        prev = ind
        for rnd in range(5):
            bad = np.setdiff1d(np.arange(r), ind)
            if bad.size == 0:
                return ind
            # y = A_kk⁻¹ A_kd through the Jacobi-scaled blocks (A_kk spans the rows' sizes: 1e-35 rcond)
            sk, sd = 1.0 / np.sqrt(np.diag(A)[ind]), np.sqrt(np.diag(A)[bad])
            try:
                Ys = sla.solve((sk[:, None] * A[np.ix_(ind, ind)]) * sk[None, :],
                               (sk[:, None] * A[np.ix_(ind, bad)]) / sd[None, :], assume_a="pos")
            except sla.LinAlgError:
                return prev                    # this round's swap made the kept block singular: undo it
            if rnd == 4:
                return ind
            Y = (sk[:, None] * Ys) * sd[None, :]                      # (k, m)
            k = np.argmax(np.abs(Y), axis=0)
            big = np.abs(Y[k, np.arange(bad.size)]) > 1.0 / np.sqrt(rtol)
            if not np.any(big):
                return ind
            out, into = ind[k[big]], bad[big]
            _, first = np.unique(out, return_index=True)          # one swap per kept row and round
            prev, ind = ind, np.sort(np.concatenate([np.setdiff1d(ind, out[first]), into[first]]))
        return ind

    def _factorise_scaled(self, A: sp.csc_matrix, Gk: sp.csr_matrix, wk: np.ndarray, keep: np.ndarray,
                          rtol: float):  # noqa: ANN202
        """The path for more than `_DENSE_MAX` rows: the pivot test on the Jacobi-scaled Gram matrix
        Â = D^-½ A D^-½ (D = diag A: row scaling leaves the rows' independence
        and the projector unchanged, and removes the spread of the rows' sizes — masses from β̄ ≈ 0.01
        to nodes of large elements spread diag A over 11 orders in a 3D handshake), factorised with a
        symmetric fill-reducing ordering and diagonal pivots (SuperLU symmetric mode: a sparse Cholesky
        in all but name), so pivot k belongs to the row i with perm_c[i] = k and measures the part of that row
        independent of the rows eliminated before it (Â_kk = 1). Rows whose scaled pivot is ≤ rtol
        are dropped and the rest factorised again; each dropped row is checked to lie in the span of
        the kept rows (relative W-norm residual ≤ √rtol), otherwise RuntimeError. Never dense."""
        A0, G0, keep0, dropped0 = A, Gk, keep, self.dropped_rows
        for _ in range(4):
            d = A.diagonal()
            sc = 1.0 / np.sqrt(d)
            As = (sp.diags(sc) @ A @ sp.diags(sc)).tocsc()
            lu = spla.splu(As, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                           options={"SymmetricMode": True})
            piv = np.abs(lu.U.diagonal())
            low = piv <= rtol
            if not np.any(low):
                return _ScaledLU(lu, sc), keep
            if not np.array_equal(lu.perm_r, lu.perm_c):
                break
            # SuperLU: P_r Â P_c = L U with column i of Â at position perm_c[i], so pivot k belongs to
            # the row i with perm_c[i] = k (the inverse permutation, not perm_c[k])
            inv = np.empty_like(lu.perm_c)
            inv[lu.perm_c] = np.arange(inv.size)
            bad = np.sort(inv[np.flatnonzero(low)])
            good = np.setdiff1d(np.arange(A.shape[0]), bad)
            if not self._in_span(Gk[good], Gk[bad], wk, rtol):
                break
            self.dropped_rows = np.sort(np.concatenate([self.dropped_rows, keep[bad]]))
            keep, Gk = keep[good], Gk[good]
            A = (Gk @ sp.diags(wk) @ Gk.T).tocsc()
        # the sparse path found no independent subset (SuperLU left the diagonal at an exactly singular
        # pivot, or the rows it dropped were not in the span of the rest; found off the gallery: a 3D hex8
        # mesh finer than the fcc lattice, 2 673 projected rows, 126 dependent): the dense pivoted Cholesky
        # of each connected block of the scaled Gram matrix (one per component there, 891 rows)
        sc0 = 1.0 / np.sqrt(A0.diagonal())
        good = independent_rows_blockwise(sp.diags(sc0) @ A0 @ sp.diags(sc0), rtol)
        if good is not None:
            bad = np.setdiff1d(np.arange(A0.shape[0]), good)
            Gk = G0[good]
            A = (Gk @ sp.diags(wk) @ Gk.T).tocsc()
            sc = 1.0 / np.sqrt(A.diagonal())
            lu = spla.splu((sp.diags(sc) @ A @ sp.diags(sc)).tocsc(), permc_spec="MMD_AT_PLUS_A",
                           diag_pivot_thresh=0.0, options={"SymmetricMode": True})
            if np.array_equal(lu.perm_r, lu.perm_c) and np.min(np.abs(lu.U.diagonal())) > rtol \
                    and self._in_span(Gk, G0[bad], wk, rtol):
                self.dropped_rows = np.sort(np.concatenate([dropped0, keep0[bad]]))
                return _ScaledLU(lu, sc), keep0[good]
        raise DependentConstraintsError(
            f"the {A0.shape[0]} coupling constraints are nearly dependent (Gram matrix pivots below {rtol:g} "
            "after Jacobi scaling) and no independent subset was found: typically mesh nodes whose support "
            "holds too few handshake atoms to constrain them (a mesh finer than the lattice in the handshake)")

    def _held_by_span(self, unheld: np.ndarray, rtol: float) -> None:
        """Move to ``held_rows`` the rows dropped as dependent whose FREE part lies in the span of the kept
        rows' (`_in_span`, checked when they were dropped) but whose part on held dofs is not the same
        combination of the kept rows' held parts: G_d q − c_d = (g_dh − Yᵀ G_kh) q_h − … then follows the
        loads' held motion, not the projection (the 3D loads deck ``all``: 0.11 after 1 200 steps, while
        the kept rows read 1e-14). Y (k, m) = A⁻¹ G_k W G_dᵀ are the rows' coefficients on the kept rows in
        the free metric; a row is held when the held part of its remainder has a W⁰-norm (``unheld``
        inverse masses on the held dofs) above √rtol of the row's (the `_in_span` tolerance)."""
        w, w0 = self.inv_mass, unheld
        held = (w == 0) & (w0 > 0)
        dep = self.dependent_rows
        Gd = self.G_all[dep].tocsr()
        if not np.any(held[Gd.indices]):
            return
        Gk = self.G
        B = (Gk @ sp.diags(w) @ Gd.T).toarray()                       # (k, m)
        Y = self._lu.solve(np.ascontiguousarray(B))
        hc = np.flatnonzero(held)
        R = Gd[:, hc].toarray() - (Gk[:, hc].T @ Y).T                 # (m, h) remainder on the held dofs
        rn = np.sqrt(R * R @ w0[hc])
        gn = np.sqrt(np.asarray(Gd.multiply(Gd) @ np.where(w > 0, w, w0)).ravel())
        moved = dep[rn > np.sqrt(rtol) * gn]
        if moved.size:
            self.held_by_span = moved
            self.held_rows = np.sort(np.concatenate([self.held_rows, moved]))
            self.dependent_rows = np.setdiff1d(self.dependent_rows, moved)

    @staticmethod
    def _in_span(Gk, Gd, wk: np.ndarray, rtol: float) -> bool:  # noqa: ANN001
        """Whether every row of Gd (m, c) lies in the span of the rows of Gk (k, c) in the metric W = diag(wk):
        its residual after removing its W-projection on that span is ≤ √rtol of its W-norm (the factor of
        the kept rows' scaled Gram matrix solves the projection)."""
        if Gd.shape[0] == 0:
            return True
        A = (Gk @ sp.diags(wk) @ Gk.T).tocsc()
        sc = 1.0 / np.sqrt(A.diagonal())
        lu = spla.splu((sp.diags(sc) @ A @ sp.diags(sc)).tocsc(), permc_spec="MMD_AT_PLUS_A",
                       diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        B = (Gk @ sp.diags(wk) @ Gd.T).toarray()                      # (k, m)
        Y = sc[:, None] * lu.solve(np.ascontiguousarray(sc[:, None] * B))
        R = Gd.toarray() - (Gk.T @ Y).T
        rn = np.sqrt(np.sum(R * R * wk, axis=1))
        gn = np.sqrt(np.asarray(Gd.multiply(Gd) @ wk).ravel())
        return not np.any(rn > np.sqrt(rtol) * gn)

    @property
    def n_rows(self) -> int:
        return self.G.shape[0]

    # ------------------------------------------------------------------ short vectors (touched/active)
    def residual_of(self, v_touched: np.ndarray) -> np.ndarray:
        """(r,) G v from the values of v at ``touched`` (k,)."""
        return self.G_touched @ v_touched

    def correction(self, r: np.ndarray) -> np.ndarray:
        """(len(active),) W Gᵀ (G W Gᵀ)⁻¹ r at the ``active`` dofs (subtract it there)."""
        return self._wa * (self._GaT @ self.solve(r))

    def residual_into(self, atoms: np.ndarray, ref: np.ndarray, nodes: np.ndarray, mode: int,
                      t_atom: np.ndarray, t_node: np.ndarray, buf: np.ndarray, r: np.ndarray) -> float:
        """r (r,) = G v with v gathered at ``touched`` straight from flat region arrays (compiled,
        `kernels/coupler.pyx` ``residual``: mode 0 values, 1 atoms − ref, 2 values · ref (ref: the touched
        dofs' inverse masses)); t_atom / t_node: flat indices of the touched dofs in the atom / node arrays,
        buf (k,) scratch. Returns max |r|. Bitwise ``residual_of`` of the gathered vector."""
        p, i, x = self._Gt_csr
        return float(self._ck.residual(atoms, ref, nodes, int(mode), t_atom, t_node, p, i, x, buf, r))

    def residuals_acc_q(self, f_atoms: np.ndarray, inv_t: np.ndarray, f_nodes: np.ndarray, x: np.ndarray,
                        X: np.ndarray, U: np.ndarray, t_atom: np.ndarray, t_node: np.ndarray, buf: np.ndarray,
                        bufq: np.ndarray, r: np.ndarray, rq: np.ndarray) -> tuple[float, float]:
        """`residual_into` mode 2 (r = G a, a = f · inv_t at the touched dofs) and mode 1 (rq = G q,
        q = x − X at the touched atom dofs, U at the node dofs) in ONE pass over G (`kernels/coupler.pyx`
        ``residual_acc_q``): bitwise the two calls. Returns (max |r|, max |rq|)."""
        p, i, g = self._Gt_csr
        ma, mq = self._ck.residual_acc_q(f_atoms, inv_t, f_nodes, x, X, U, t_atom, t_node, p, i, g, buf, bufq,
                                         r, rq)
        return float(ma), float(mq)

    def correction_into(self, r: np.ndarray, corr: np.ndarray) -> np.ndarray:
        """`correction` (r) written into corr (len(active),): one compiled call (multipliers by the block
        solve, then W Gᵀ λ at the active dofs) when the block solve was built; bitwise `correction`."""
        p, i, x = self._Ca_csr
        if self._aug is not None:
            self._aug.run(r, self._lam, p, i, x, self._wa, corr)
            return corr
        f = self._fast
        if f is None:
            corr[...] = self.correction(r)
            return corr
        self._ck.block_correction(r, f.blocks, f._sc, *f._args, f._b, f._w, f._x, self._lam, p, i, x,
                                  self._wa, corr)
        return corr

    def solve(self, r: np.ndarray) -> np.ndarray:
        """(r,) multipliers (G W Gᵀ)⁻¹ r: the compiled block solve (`_BlockSolve`) when it was built, else
        the factorisation's own solve."""
        if self._aug is not None:
            return self._aug.solve(r)
        return self._fast.solve(r) if self._fast is not None else self._lu.solve(r)

    # ------------------------------------------------------------------ full vectors
    def project(self, a: np.ndarray) -> np.ndarray:
        """P a (n,): a − W Gᵀ (G W Gᵀ)⁻¹ G a (fixed components zeroed first when ``zero_fixed``)."""
        out = np.where(self.free, a, 0.0) if self.zero_fixed else np.array(a, float, copy=True)
        if self._lu is None:
            return out
        out[self.active] -= self.correction(self.residual_of(out[self.touched]))
        return out

    def restore(self, q: np.ndarray) -> np.ndarray:
        """The nearest point (W⁻¹-norm change of the free dofs) of {G q = c}; q (n,)."""
        if self._lu is None:
            return q
        q = np.array(q, float, copy=True)
        q[self.active] -= self.correction(self.residual_of(q[self.touched]) - self.c)
        return q

    def residual(self, q: np.ndarray) -> float:
        """max |G q − c| (0 with no rows): over every row given when ``zero_fixed`` (the minimisers'
        report); otherwise (the dynamics') over every row not dropped as held — the kept rows AND the rows
        dropped as dependent (they hold when the kept ones do: a lost constraint cannot hide here, rev32
        F14); the held rows are reported by `residual_held`. Without dependent rows: the kept rows' G
        itself (bitwise the former figure)."""
        if self.zero_fixed:
            G, c = self.G_all, self.c_all
        elif self.dependent_rows.size:
            if self._G_check is None:
                rows = np.sort(np.concatenate([self.rows, self.dependent_rows]))
                self._G_check = (self.G_all[rows].tocsr(), self.c_all[rows])
            G, c = self._G_check
        else:
            G, c = self.G, self.c
        if G.shape[0] == 0:
            return 0.0
        return float(np.max(np.abs(G @ q - c)))

    def dependent_residual_touched(self, v_touched: np.ndarray) -> float:
        """max |G_d v − c_d| over the rows dropped as dependent (0 without) from the values of v at
        ``touched`` (k,) — what `residual_into` gathered —, so a caller that never forms the stacked vector
        (the spatial path's thermo) measures the rows `residual` measures. A dependent row lies in the span
        of the kept rows in the W⁰ metric, so its columns with mass are theirs; entries on columns outside
        ``touched`` (massless dofs, which never move) are left out."""
        if self.dependent_rows.size == 0:
            return 0.0
        if self._Gd_touched is None:
            Gd = self.G_all[self.dependent_rows].tocsr()
            pos = np.searchsorted(self.touched, Gd.indices)
            inside = (pos < self.touched.size) & (self.touched[np.minimum(pos, self.touched.size - 1)]
                                                  == Gd.indices)
            Gd = sp.csr_matrix((np.where(inside, Gd.data, 0.0), np.minimum(pos, self.touched.size - 1),
                                Gd.indptr), shape=(Gd.shape[0], self.touched.size))
            self._Gd_touched = (Gd, self.c_all[self.dependent_rows])
        Gd, cd = self._Gd_touched
        return float(np.max(np.abs(Gd @ v_touched - cd)))

    def residual_held(self, q: np.ndarray) -> float:
        """max |G q − c| over the rows dropped as held (0 without): not enforced by the projection, so
        they hold only as far as the loads' held motion keeps them (the run's notes and `msim verify`
        report it next to `residual`)."""
        if self.held_rows.size == 0:
            return 0.0
        return float(np.max(np.abs(self.G_all[self.held_rows] @ q - self.c_all[self.held_rows])))

    def held_note(self) -> str | None:
        """One line on the rows dropped as held that have free dofs (None without): those whose free part is
        below `HELD_RATIO` of the row (how many, the largest ratio) and the dependent rows whose held part
        the kept rows do not imply (`_held_by_span`). Rows on held dofs only are not counted (as before)."""
        r = self.held_ratio
        low = np.setdiff1d(self.held_rows[r[self.held_rows] > 0], self.held_by_span)
        parts = []
        if low.size:
            parts.append(f"{low.size} whose free dofs carry at most {float(r[low].max()):.2g} of the row's "
                         f"Gram diagonal (below {HELD_RATIO:g}: enforcing them drags light free dofs "
                         "after held ones)")
        if self.held_by_span.size:
            parts.append(f"{self.held_by_span.size} dependent on the kept rows in their free dofs but not in "
                         "their held ones (their residual follows the loads' held motion)")
        if not parts:
            return None
        return "constraint rows dropped as effectively held: " + "; ".join(parts)


class _BlockLU:
    """``solve(b)`` of (G W Gᵀ)⁻¹ for b (r,) or (r, m) through the one factorised block of a `_BlockSolve`
    (SuperLU's solve, the blocks' right-hand sides side by side): the projector's general solve
    (`ConstraintProjector._lu`) when the set-up factorised one block only. ``L``, ``U``: the block's."""

    def __init__(self, fast: _BlockSolve) -> None:
        self.fast = fast

    @property
    def L(self):  # noqa: ANN201
        return self.fast.lu.L     # SuperLU builds the matrix at each access: only on demand

    @property
    def U(self):  # noqa: ANN201
        return self.fast.lu.U

    def solve(self, b: np.ndarray) -> np.ndarray:
        bl, sc = self.fast.blocks, self.fast.sc
        b = np.asarray(b, float)
        tail = b.shape[1:]
        x = b[bl].reshape(bl.shape[0], -1)                       # (m, nb · cols)
        s = np.repeat(sc[bl], int(np.prod(tail, dtype=int)), axis=1)
        y = s * self.fast.lu.solve(np.ascontiguousarray(s * x))
        out = np.empty(b.shape)
        out[bl] = y.reshape(bl.shape + tail)
        return out


class _AugLU:
    """``solve(b)`` of (G W Gᵀ)⁻¹ for b (r,) or (r, m) through the factor of the augmented system of an
    `_AugSolve` (SuperLU's solve of its identical blocks, the right-hand sides side by side): the
    projector's general solve (`ConstraintProjector._lu`, e.g. `diagnostics.temperature.constrained_share`)
    when the Gram matrix was never factorised (`_AugSolve.certified`). With z = (μ, λ_P) the unknowns of
    K (see `_AugSolve`): K z = (−G_1Sᵀ D_S⁻¹ b_S, b_P), λ_S = D_S⁻¹ b_S − D_S⁻¹ G_1S μ. Agrees with the Gram
    solve up to round-off (a different elimination)."""

    def __init__(self, aug: _AugSolve) -> None:
        self.aug = aug
        self._k = _BlockLU(aug.kb)
        p, i, x = aug._S
        self._G1S = sp.csr_matrix((x, i, p), shape=(aug.srow.size, aug.n1))

    def solve(self, b: np.ndarray) -> np.ndarray:
        a = self.aug
        b = np.asarray(b, float)
        B = b.reshape(b.shape[0], -1)                            # (r, m)
        bs = B[a.srow] / a.ds[:, None]
        rhs = np.empty((a.n1 + a.prow.size, B.shape[1]))
        rhs[: a.n1] = -(self._G1S.T @ bs)
        rhs[a.n1:] = B[a.prow]
        z = self._k.solve(rhs)
        out = np.empty(B.shape)
        out[a.prow] = z[a.n1:]
        out[a.srow] = bs - (self._G1S @ z[: a.n1]) / a.ds[:, None]
        return out.reshape(b.shape)


#: blocks with more rows than this are ordered by nested dissection (`_BlockSolve.build`; smaller ones,
#: e.g. a 2D handshake's, by minimum degree: as little fill there)
_ND_MIN = 8000


def _nested_dissection(B: sp.spmatrix) -> np.ndarray:
    """(m,) fill-reducing order (METIS nested dissection, `pymetis`, a required dependency imported on
    first use) of the symmetric pattern of B: row/column k of the reordered matrix is row/column order[k]
    of B."""
    import pymetis

    G = sp.csr_matrix(B, copy=True)
    G = (G + G.T).tocsr()
    G.setdiag(0)
    G.eliminate_zeros()
    G.sort_indices()
    perm, _ = pymetis.nested_dissection(pymetis.CSRAdjacency(adj_starts=G.indptr.astype(np.int64),
                                                              adjacent=G.indices.astype(np.int64)))
    order = np.asarray(perm, np.int64)
    if not np.array_equal(np.sort(order), np.arange(B.shape[0])):
        raise RuntimeError("nested dissection did not return a permutation")
    return order


def _identical_blocks(A: sp.csr_matrix) -> np.ndarray:
    """(m, nb) int64 row indices of the diagonal blocks of the symmetric A (its connected components) when
    there are nb > 1 of them, all identical (same pattern and values in index order; column c = block c,
    each ascending); else (r, 1), the whole matrix as one block."""
    r = A.shape[0]
    nc, lab = sp.csgraph.connected_components(A, directed=False)
    order = np.argsort(lab, kind="stable")
    sizes = np.bincount(lab, minlength=nc)
    blocks = order.reshape(r, 1)
    if nc > 1 and np.all(sizes == sizes[0]):
        cand = order.reshape(nc, sizes[0]).T          # (m, nc), each column ascending
        ref = A[cand[:, 0]][:, cand[:, 0]]
        ref.sort_indices()
        for c in range(1, nc):
            B = A[cand[:, c]][:, cand[:, c]]
            B.sort_indices()
            if not (np.array_equal(B.indptr, ref.indptr) and np.array_equal(B.indices, ref.indices)
                    and np.array_equal(B.data, ref.data)):
                return blocks
        blocks = np.ascontiguousarray(cand)
    return blocks


def _nd_factor(B: sp.spmatrix, rtol: float):  # noqa: ANN202
    """(order, SuperLU, U) of the symmetric block B permuted by nested dissection (`_nested_dissection`),
    factorised in natural order with diagonal pivots, when every pivot exceeds rtol times the largest;
    else None."""
    order = _nested_dissection(B)
    f = _diag_pivot_lu(sp.csc_matrix(B)[order][:, order].tocsc(), "NATURAL", rtol)
    return None if f is None else (order, *f)


def _diag_pivot_lu(B: sp.spmatrix, permc_spec: str, rtol: float):  # noqa: ANN202
    """(SuperLU, U) of the symmetric B with diagonal pivots in ``permc_spec`` order, when every pivot
    exceeds rtol times the largest; else None (also when SuperLU finds B singular)."""
    try:
        lu = spla.splu(B, permc_spec=permc_spec, diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    except RuntimeError:
        return None
    U = lu.U
    piv = np.abs(U.diagonal())
    return (lu, U) if piv.min() > rtol * piv.max() else None


def _strict_triangle(M: sp.csr_matrix, lower: bool) -> sp.csr_matrix:
    """The strictly lower (``lower``) or upper triangle of a square CSR matrix, indices sorted per row,
    explicit entries kept: the arrays of ``sp.tril(M, k=-1)`` / ``sp.triu(M, k=1)`` then ``.tocsr()`` and
    ``sort_indices()``, by masking the CSR arrays directly (no COO round trip)."""
    M = sp.csr_matrix(M)
    M.sort_indices()
    n = M.shape[0]
    rows = np.repeat(np.arange(n, dtype=M.indices.dtype), np.diff(M.indptr))
    keep = M.indices < rows if lower else M.indices > rows
    indptr = np.zeros(n + 1, dtype=M.indptr.dtype)
    np.cumsum(np.bincount(rows[keep], minlength=n), out=indptr[1:])
    return sp.csr_matrix((M.data[keep], M.indices[keep], indptr), shape=M.shape)


def _slaved_rows(Gt: sp.csr_matrix, w: np.ndarray) -> tuple | None:
    """The rows whose constraint is carried by one private dof (a dof in no other row) that dominates the
    row's Gram diagonal, w_p G_sp² ≥ Σ_{j≠p} w_j G_sj² (e.g. a strong row's atom of tiny weight β̄, whose
    inverse mass is up to 1/(β̄ m) ≈ 1e9): the dynamics take that dof's acceleration from its row,
    a_p = −(Σ_{j≠p} G_sj a_j) / G_sp (`kernels/coupler.pyx` ``slave_acc``), instead of w_p f_p − (W Gᵀλ)_p.
    Both are exact in exact arithmetic; the latter cancels two numbers of size w_p |f_p| (4e7 on
    bench_coupled's 3D deck at L = 20) and leaves G a ≈ eps · w_p |f_p| ≈ 1e-8, which the kicks integrate
    into G v and G q: a round-off re-projection (two multiplier solves) at every step. Gt (r, k) CSR over
    the touched dofs, w (k,) their inverse masses. Returns None (no such row) or (sdof (ns,) int64 touched
    position of each slaved dof, sg (ns,) G_sp, (Sp int32, Si int32, Sx) the rows' other entries as CSR in
    storage order)."""
    Gt = sp.csr_matrix(Gt)
    r, k = Gt.shape
    if r == 0 or Gt.nnz == 0:
        return None
    cnt = np.bincount(Gt.indices, minlength=k)
    rows = np.repeat(np.arange(r), np.diff(Gt.indptr))
    g2w = Gt.data * Gt.data * w[Gt.indices]
    diag = np.bincount(rows, weights=g2w, minlength=r)
    cand = (cnt[Gt.indices] == 1) & (w[Gt.indices] > 0) & (2.0 * g2w >= diag[rows])
    e = np.flatnonzero(cand)
    if e.size == 0:
        return None
    # at most one entry per row can hold half of the row's diagonal strictly; on a tie keep the first
    e = e[np.concatenate([[True], rows[e][1:] != rows[e][:-1]])]
    srow = rows[e]
    keep = np.ones(Gt.nnz, bool)
    keep[e] = False
    ids = _csr_entry_ids(Gt, srow)
    ids = ids[keep[ids]]
    Sp = np.concatenate([[0], np.cumsum(np.diff(Gt.indptr)[srow] - 1)]).astype(np.int32)
    Si = np.ascontiguousarray(Gt.indices[ids], np.int32)
    Sx = np.ascontiguousarray(Gt.data[ids], float)
    return (Gt.indices[e].astype(np.int64), np.ascontiguousarray(Gt.data[e], float), (Sp, Si, Sx))


def _csr_entry_ids(M: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Positions in M.data of the entries of ``rows`` (increasing), row by row in storage order."""
    starts, ends = M.indptr[rows], M.indptr[rows + 1]
    lens = ends - starts
    return np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(lens.sum())


def _used_columns(M: sp.csr_matrix) -> np.ndarray:
    """(k,) int64 sorted indices of the columns with a stored entry: ``np.unique(M.indices)`` by counting."""
    return np.flatnonzero(np.bincount(M.indices, minlength=M.shape[1])).astype(np.int64)


def _csc_arrays(M: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr int64, indices int32, data float64) of a square CSC matrix (SuperLU's L or U), for
    `kernels/sparse_setup.pyx`; MemoryError when its indices do not fit 32 bits (the per-step solve's)."""
    M = sp.csc_matrix(M)
    if max(M.nnz, M.shape[0]) >= 2 ** 31:
        raise MemoryError(f"the multiplier factor has {M.nnz} entries: more than the 32-bit indices of the "
                          "per-step solve hold; refine the handshake less")
    return (np.ascontiguousarray(M.indptr, np.int64), np.ascontiguousarray(M.indices, np.int32),
            np.ascontiguousarray(M.data, float))


def _strict_count(M: sp.csc_matrix, lower: bool) -> int:
    """Stored entries of the square CSC matrix M strictly below (``lower``) or above its diagonal: the
    sizes of `kernels/sparse_setup.pyx` ``csc_strict_csr``'s arrays, without building them."""
    M = sp.csc_matrix(M)
    cols = np.repeat(np.arange(M.shape[1], dtype=M.indices.dtype), np.diff(M.indptr))
    return int(np.count_nonzero(M.indices > cols if lower else M.indices < cols))


def _csr32(M: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr int32, indices int32, data float64) of a CSR matrix, contiguous, for the kernels."""
    M = sp.csr_matrix(M)
    if M.nnz >= 2**31:
        raise ValueError("constraint matrix too large for 32-bit indices")
    return (np.ascontiguousarray(M.indptr, np.int32), np.ascontiguousarray(M.indices, np.int32),
            np.ascontiguousarray(M.data, float))


class _BlockSolve:
    """The per-step solve ``(G W Gᵀ)⁻¹ r`` of the dynamics, compiled (`kernels/trisolve.pyx`).

    The Gram matrix of a handshake splits into identical diagonal blocks, one per displacement component
    (row i of component c touches only component c of its atoms and nodes; the inverse masses are the
    same per component unless some component is fixed): the blocks are found as the connected components
    of its graph and, when they are all equal (same pattern and values in index order), ONE block is
    factorised and the d right-hand sides are solved together (the factor read once). Otherwise the whole
    matrix is one block. Factorisation of the Jacobi-scaled Â = D^-½ A D^-½ (as `_factorise_scaled`):
    SuperLU with a symmetric minimum-degree ordering and diagonal pivots (Â is symmetric positive
    definite; fewer fill-ins than the general COLAMD LU), accepted under the projector's pivot test on
    Â (else SuperLU's default partial pivoting, else None: the caller keeps its own factorisation). The
    same solution as SuperLU's solve up to round-off (a different elimination order), about 3× faster on
    the 7 440 multipliers of bench_coupled's 2D handshake (one triangular pair with two right-hand sides
    instead of a pair over both blocks plus SuperLU's per-call overhead)."""

    def __init__(self, blocks: np.ndarray, lu, sc: np.ndarray, U=None) -> None:  # noqa: ANN001
        """U: ``lu.U`` when the caller has it already (SuperLU builds a new matrix at each access).
        The compiled solve's arrays (`_args`) are built on first use: a block solve that another solve
        replaces at once (`_AugSolve`, the 3D handshake) never pays for them (0.3-0.4 s CPU of the 3D
        bench's set-up: the transposing passes over the 10.8M entries of the Gram block's factor)."""
        self.blocks = np.ascontiguousarray(blocks, np.int64)   # (m, nb) row indices: column c = block c
        self.lu, self.sc = lu, sc                 # SuperLU of the scaled block, D^-½ (r,)
        self._sc = np.ascontiguousarray(sc[blocks])   # Jacobi scaling D^-½ per (row, block)
        n = blocks.shape[0]
        self._U = lu.U if U is None else U
        self.Ud = self._U.diagonal()              # (n,) pivots of the scaled block (U's diagonal)
        self._args_v = None
        self._released = False
        nb = blocks.shape[1]
        self._b, self._w, self._x = (np.empty((n, nb)) for _ in range(3))
        self._k = _load_kernel("trisolve")

    @classmethod
    def prepare(cls, Gk: sp.csr_matrix, inv_mass: np.ndarray, rtol: float) -> _BlockSolve | None:
        """The set-up of a large projector in one factorisation: from the rows ``Gk`` (r, n) (all columns)
        and the inverse masses (n,), the `build` of their active columns, returned only when it also
        passes `ConstraintProjector._factorise_scaled`'s rank test (every pivot of the Jacobi-scaled block
        factor > rtol: the rows are independent, none is dropped) with the symmetric factorisation; else
        None (the caller takes the general path, which finds the rows to drop). With identical blocks the
        rank of the whole is the number of blocks times the rank of the one factorised; otherwise the
        whole matrix is the one block (the same matrix and factorisation options as `_factorise_scaled`).
        Formerly the whole Gram matrix was factorised for the rank test and then a block again for the
        per-step solve: on bench_coupled's 3D handshake (47 304 rows, 3 blocks) 15.3 s -> 4.7 s CPU,
        the per-step solve's arrays bitwise the same."""
        cols = _used_columns(Gk)
        cols = cols[inv_mass[cols] > 0]
        fast = cls.build(Gk[:, cols].tocsr(), inv_mass[cols], rtol, symmetric_only=True)
        if fast is None or not np.all(np.abs(fast.Ud) > rtol):
            return None
        return fast

    @classmethod
    def build(cls, Ga: sp.csr_matrix, wa: np.ndarray, rtol: float,
              symmetric_only: bool = False) -> _BlockSolve | None:
        """From the kept rows' G restricted to the active dofs (r, k) and their inverse masses (k,).
        ``symmetric_only``: no second try with SuperLU's default partial pivoting."""
        A = (Ga @ sp.diags(wa) @ Ga.T).tocsr()
        r = A.shape[0]
        if r == 0:
            return None
        diag = A.diagonal()
        if not np.all(diag > 0):
            return None
        sc = 1.0 / np.sqrt(diag)                  # Jacobi scaling: Â = D^-½ A D^-½, unit diagonal
        # Â_ij = (sc_i A_ij) sc_j: the products of (diag(sc) @ A @ diag(sc)), on A's own arrays
        rows = np.repeat(np.arange(r), np.diff(A.indptr))
        A = sp.csr_matrix(((sc[rows] * A.data) * sc[A.indices], A.indices, A.indptr), shape=A.shape)
        blocks = _identical_blocks(A)
        B = A[blocks[:, 0]][:, blocks[:, 0]].tocsc()
        sym = {"diag_pivot_thresh": 0.0, "options": {"SymmetricMode": True}}
        if B.shape[0] > _ND_MIN:
            # nested dissection (METIS) of the block's graph, rows permuted before a natural-order
            # factorisation: on the 3D bench handshake 37 % less fill than minimum degree (8.50M -> 5.39M
            # entries in L), so a cheaper per-step solve; minimum degree stays the fallback
            got = _nd_factor(B, rtol)
            if got is not None:
                return cls(np.ascontiguousarray(blocks[got[0]]), got[1], sc, got[2])
        for kw in ({"permc_spec": "MMD_AT_PLUS_A", **sym}, {})[: 1 if symmetric_only else 2]:
            try:
                lu = spla.splu(B, **kw)
            except RuntimeError:
                continue
            U = lu.U
            piv = np.abs(U.diagonal())
            if piv.min() > rtol * piv.max():
                return cls(blocks, lu, sc, U)
        return None

    @property
    def _args(self) -> tuple:
        """The compiled solve's arrays (kernels/trisolve.pyx ``lu_solve``), built on first use: the strict
        triangles of L and U row-wise and U's diagonal (kernels/sparse_setup.pyx: the arrays of
        `_strict_triangle` of L.tocsr() / U.tocsr() and of U.diagonal(), in one transposing pass each),
        the permutations as int32."""
        if self._args_v is None:
            if self._released:
                raise RuntimeError("_BlockSolve: the compiled solve's arrays were released")
            ks = _load_kernel("sparse_setup")
            lu = self.lu
            Lp, Li, Lx, _ = ks.csc_strict_csr(*_csc_arrays(lu.L), 1)
            Up, Ui, Ux, Ud = ks.csc_strict_csr(*_csc_arrays(self._U), 0)
            i32 = np.int32
            self._args_v = (Lp, Li, Lx, Up, Ui, Ux, Ud, lu.perm_r.astype(i32), lu.perm_c.astype(i32))
            self._U = None
        return self._args_v

    @property
    def nnz(self) -> int:
        """Entries of the factor's strict triangles (L and U), what one solve reads (counted on the CSC
        factors when the solve's arrays are not built)."""
        if self._args_v is not None:
            return int(self._args_v[1].size + self._args_v[4].size)
        return _strict_count(self.lu.L, True) + _strict_count(self._U, False)

    def release_solve_arrays(self) -> None:
        """Drop the compiled solve's arrays (another solve took over; `lu`, `blocks`, `sc` stay for
        `_BlockLU`)."""
        self._args_v = self._U = self._b = self._w = self._x = None
        self._released = True

    def solve(self, r: np.ndarray) -> np.ndarray:
        """(r,) A⁻¹ r."""
        if self._released:
            raise RuntimeError("_BlockSolve: the compiled solve's arrays were released")
        bl = self.blocks
        np.take(r, bl, out=self._b)
        self._b *= self._sc
        self._k.lu_solve(*self._args, self._b, self._w, self._x)
        self._x *= self._sc
        out = np.empty(r.shape[0])
        out[bl] = self._x
        return out


#: `_AugSolve` replaces the Gram-matrix solve when one solve reads at most this fraction of the entries
#: (its factor's for every identical block plus twice G_1S's, against the Gram factor's for every block):
#: 3D bench 0.548 (taken), 2D bench 0.834 (not: there the smaller factor did not pay for the local
#: elimination, 0.32 vs 0.30 ms). It is not even factorised when it has more unknowns than this fraction of
#: the Gram rows (2D bench: 7 520 unknowns for 7 440 rows; 3D bench 0.69): review rev24 measured the
#: discarded factorisation at half of the 2D bench's projector set-up (0.063 vs 0.035 s)
_AUG_MAX_FILL = 0.8
#: `_AugSolve.certified` accepts the augmented factor for the rank test when the smallest eigenvalue of the
#: Jacobi-scaled Gram matrix is certified above this multiple of rtol (every pivot of the Gram matrix's
#: own test then exceeds rtol, in any elimination order, with a margin for the round-off of the inertia)
_CERTIFY_MARGIN = 10.0


class _AugSolve:
    """The multipliers λ = A⁻¹ r (A = G W Gᵀ over the active dofs) through an augmented system in which
    the rows that own a *private* column (touched by no other row; e.g. the strong rows u_a − Σ N_I U_I
    of ``slave_below``, whose atom is in no other row) are eliminated locally.

    Split: S = rows with exactly one private column p(s) (D_s = G_sp² w_p > 0), P = the other rows;
    C1 = the non-private columns of the S rows (the nodes they tie the atoms to), carried as unknowns
    μ = W_1 G_1ᵀ λ; C2 = every other column. Then A = A2 + G_1 W_1 G_1ᵀ with A2 = G_2 W_2 G_2ᵀ block
    diagonal, diag(D_S) on S (an S row's only C2 column is its private one), and

        [ −(W_1⁻¹ + G_1Sᵀ D_S⁻¹ G_1S)   G_1Pᵀ  ] [ μ  ]   [ −G_1Sᵀ D_S⁻¹ r_S ]
        [  G_1P                        A2_PP  ] [ λ_P ] = [  r_P            ],    λ_S = D_S⁻¹ (r_S − G_1S μ)

    (symmetric quasi-definite: negative definite and positive definite diagonal blocks, so every
    symmetric ordering has an LDLᵀ with diagonal pivots). It is Jacobi-scaled by |diag|, split into
    identical per-component blocks and factorised like `_BlockSolve` (nested dissection for large
    blocks). On bench_coupled's 3D handshake (47 304 rows, 29 718 strong): 3 blocks of 10 838 unknowns,
    2.88M entries in L against 5.38M for the Gram block (15 768 rows): about half the memory traffic of
    a solve. The multipliers equal the Gram solve's up to round-off (a different elimination)."""

    def __init__(self, kb: _BlockSolve, srow: np.ndarray, ds: np.ndarray, G1S: sp.csr_matrix,
                 prow: np.ndarray, n1: int) -> None:
        self.kb = kb
        self.srow = np.ascontiguousarray(srow, np.int64)
        self.prow = np.ascontiguousarray(prow, np.int64)
        self.ds = np.ascontiguousarray(ds, float)
        self.n1 = int(n1)
        self._S = _csr32(G1S)
        self._z = np.empty(n1 + prow.size)
        self._ck = _load_kernel("coupler")
        self._none32 = np.zeros(1, np.int32)
        self._none = np.zeros(0)

    @property
    def nnz(self) -> int:
        """Matrix entries one solve reads: the factor's strict triangles for each identical block and G_1S
        (stored once for all components) twice."""
        return self.kb.blocks.shape[1] * self.kb.nnz + 2 * int(self._S[1].size)

    @classmethod
    def build(cls, Ga: sp.csr_matrix, wa: np.ndarray, rtol: float,
              against: _BlockSolve | None = None, certify: bool = False) -> _AugSolve | None:
        """From G over the active dofs (r, k) CSR and their inverse masses (k,); None when no row owns a
        private column, when a P row has no C2 column (a zero diagonal), when the factorisation fails the
        pivot test, or when ``against`` (the Gram matrix's block solve) is given and the augmented factor
        reads more than `_AUG_MAX_FILL` of its entries per solve."""
        Ga = sp.csr_matrix(Ga)
        r, k = Ga.shape
        if r == 0 or k == 0:
            return None
        colcnt = np.bincount(Ga.indices, minlength=k)
        priv = colcnt == 1
        rows = np.repeat(np.arange(r), np.diff(Ga.indptr))
        npriv = np.bincount(rows[priv[Ga.indices]], minlength=r)
        srow = np.flatnonzero(npriv == 1)
        if srow.size == 0:
            return None
        prow = np.flatnonzero(npriv != 1)
        touched_s = np.zeros(k, bool)
        touched_s[Ga[srow].indices] = True
        c1 = np.flatnonzero(touched_s & ~priv)
        c2 = np.flatnonzero(~(touched_s & ~priv))
        G1, G2 = Ga[:, c1].tocsr(), Ga[:, c2].tocsr()
        G1S, G1P, G2S, G2P = G1[srow], G1[prow], G2[srow], G2[prow]
        ds = np.asarray(G2S.multiply(G2S) @ wa[c2]).ravel()
        if not np.all(ds > 0):
            return None
        A2 = (G2P @ sp.diags(wa[c2]) @ G2P.T).tocsr()
        if prow.size and not np.all(A2.diagonal() > 0):
            return None
        if (against is not None or certify) and c1.size + prow.size > _AUG_MAX_FILL * r:
            return None                 # more unknowns than the Gram rows allow: not worth factorising
        K0 = cls._matrix(G1S, G1P, wa[c1], ds, A2, prow.size)
        n = K0.shape[0]
        sc = 1.0 / np.sqrt(np.abs(K0.diagonal()))
        rr = np.repeat(np.arange(n), np.diff(K0.indptr))
        K = sp.csr_matrix(((sc[rr] * K0.data) * sc[K0.indices], K0.indices, K0.indptr), shape=K0.shape)
        blocks = _identical_blocks(K)
        B = K[blocks[:, 0]][:, blocks[:, 0]].tocsc()
        kb = None
        if B.shape[0] > _ND_MIN:
            got = _nd_factor(B, rtol)
            if got is not None:
                kb = _BlockSolve(np.ascontiguousarray(blocks[got[0]]), got[1], sc, got[2])
        if kb is None:
            f = _diag_pivot_lu(B, "MMD_AT_PLUS_A", rtol)
            if f is None:
                return None
            kb = _BlockSolve(blocks, f[0], sc, f[1])
        nb = kb.blocks.shape[1]
        if against is not None and (nb * kb.nnz + 2 * G1S.nnz
                                    > _AUG_MAX_FILL * against.blocks.shape[1] * against.nnz):
            return None
        if certify and not cls._certify(kb, sc, K0, G1S, G1P, wa[c1], ds, A2, prow.size, rtol):
            return None
        return cls(kb, srow, ds, G1S, prow, c1.size)

    @classmethod
    def certified(cls, Ga: sp.csr_matrix, wa: np.ndarray, rtol: float) -> _AugSolve | None:
        """`build` for a projector that then never factorises its Gram matrix A = G W Gᵀ: None unless
        the augmented system has at most `_AUG_MAX_FILL` × r unknowns, its factor passes its own pivot test,
        and `_certify` proves that the Gram matrix's rank test (`_BlockSolve.prepare`: every pivot of the
        Jacobi-scaled A > rtol) passes. Then the rows are independent, no row is dropped, and the
        projector is the one the Gram path gives (multipliers within round-off); otherwise the caller
        takes the Gram path (`_BlockSolve.prepare`, and the row dropping behind it) exactly as before.
        Unlike `build` with ``against``, the fill is not compared with the Gram factor's (that needs the
        factorisation this avoids): the count of unknowns alone decides (3D bench: 0.69 of the rows,
        fill 0.55 of the Gram factor's; 2D bench: 1.01, not taken)."""
        return cls.build(Ga, wa, rtol, certify=True)

    @staticmethod
    def _matrix(G1S: sp.csr_matrix, G1P: sp.csr_matrix, w1: np.ndarray, ds: np.ndarray, A2: sp.csr_matrix,
                n_p: int) -> sp.csr_matrix:
        """K = [[−(W_1⁻¹ + G_1Sᵀ D_S⁻¹ G_1S), G_1Pᵀ], [G_1P, A2_PP]] (CSR; the first block alone without P
        rows)."""
        Mt = sp.diags(1.0 / w1) + G1S.T @ sp.diags(1.0 / ds) @ G1S
        return sp.bmat([[-Mt, G1P.T], [G1P, A2]], format="csr") if n_p else sp.csr_matrix(-Mt)

    @classmethod
    def _certify(cls, kb: _BlockSolve, sc: np.ndarray, K0: sp.csr_matrix, G1S: sp.csr_matrix,
                 G1P: sp.csr_matrix, w1: np.ndarray, ds: np.ndarray, A2: sp.csr_matrix, n_p: int,
                 rtol: float) -> bool:
        """True when the smallest eigenvalue of the Jacobi-scaled Gram matrix Â = D^-½ A D^-½ (D = diag A)
        certainly exceeds τ = `_CERTIFY_MARGIN` · rtol, read from an inertia (Sylvester's law of inertia).

        With Z_τ = [[−W_1⁻¹, G_1ᵀ], [G_1, A_2 − τ D]] (A_2 = G_2 W_2 G_2ᵀ = diag(D_S) ⊕ A2_PP: an S row's
        only C2 column is its private one), eliminating μ gives A − τ D; eliminating λ_S first (pivots
        D_S − τ D_S > 0 on the S rows) gives
        K_τ = [[−(W_1⁻¹ + G_1Sᵀ (D_S − τ D|_S)⁻¹ G_1S), G_1Pᵀ], [G_1P, A2_PP − τ D|_P]]. So A − τ D is positive
        definite (λ_min(Â) > τ) iff K_τ has exactly n1 negative and |P| positive eigenvalues, which the
        signs of the diagonal pivots of its LDLᵀ (SuperLU, symmetric mode, no row interchange) count. Then
        every pivot of a Cholesky of Â, in any order, is ≥ λ_min(Â) > τ > rtol: the Gram path's test
        passes. K_τ is scaled like K (a congruence: the same inertia), split into K's blocks (which must be
        identical again, else False) and factorised in K's order (nested dissection, else minimum degree).
        Costs one more factorisation of the augmented block, about half of the Gram block's on the 3D
        bench."""
        tau = _CERTIFY_MARGIN * rtol
        n1 = w1.size
        aS = ds + np.asarray(G1S.multiply(G1S) @ w1).ravel()          # diag A on the S rows
        dst = ds - tau * aS
        if not np.all(dst > 0):
            return False
        # K_τ = K0 (K unscaled) − [ΔMt ⊕ τ D|_P], ΔMt = G_1Sᵀ (diag(1/dst) − diag(1/ds)) G_1S (its pattern
        # within Mt's): two sparse sums instead of assembling K_τ again
        n = K0.shape[0]
        dM = (G1S.T @ sp.diags(1.0 / dst - 1.0 / ds) @ G1S).tocsr()
        dM.resize((n, n))
        shift = np.zeros(n)
        if n_p:
            shift[n1:] = tau * (A2.diagonal() + np.asarray(G1P.multiply(G1P) @ w1).ravel())   # τ diag A|_P
        K = (K0 - dM - sp.diags(shift)).tocsr()
        rr = np.repeat(np.arange(n), np.diff(K.indptr))
        K = sp.csr_matrix(((sc[rr] * K.data) * sc[K.indices], K.indices, K.indptr), shape=K.shape)
        bl = kb.blocks
        B = K[bl[:, 0]][:, bl[:, 0]]
        B.sort_indices()
        for c in range(1, bl.shape[1]):
            Bc = K[bl[:, c]][:, bl[:, c]]
            Bc.sort_indices()
            if not (np.array_equal(B.indptr, Bc.indptr) and np.array_equal(B.indices, Bc.indices)
                    and np.array_equal(B.data, Bc.data)):
                return False
        m = B.shape[0]
        # K's own order: natural after nested dissection (the rows of kb.blocks), else minimum degree
        natural = np.array_equal(kb.lu.perm_c, np.arange(m))
        try:
            lu = spla.splu(B.tocsc(), permc_spec="NATURAL" if natural else "MMD_AT_PLUS_A",
                           diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        except RuntimeError:
            return False
        if not np.array_equal(lu.perm_r, lu.perm_c):        # a row interchange: not an LDLᵀ, no inertia
            return False
        d = lu.U.diagonal()
        n_neg = int(np.count_nonzero(bl[:, 0] < n1))
        return bool(np.all(np.isfinite(d)) and np.count_nonzero(d < 0) == n_neg
                    and np.count_nonzero(d > 0) == m - n_neg)

    def run(self, r: np.ndarray, lam: np.ndarray, Cp: np.ndarray, Ci: np.ndarray, Cx: np.ndarray,
            wa: np.ndarray, corr: np.ndarray | None) -> None:
        """lam (r,) = A⁻¹ r; with corr (len(active),): corr = wa · (Gᵀ_active lam) (C*: CSR of Gᵀ_active)."""
        kb = self.kb
        correct = corr is not None
        self._ck.aug_solve(r, self.srow, self.ds, *self._S, self.prow, kb.blocks, kb._sc, *kb._args,
                           kb._b, kb._w, kb._x, self._z, lam, Cp, Ci, Cx, wa if correct else self._none,
                           corr if correct else self._none, correct)

    def solve(self, r: np.ndarray) -> np.ndarray:
        """(r,) A⁻¹ r."""
        lam = np.empty(r.shape[0])
        self.run(np.ascontiguousarray(r, float), lam, self._none32, self._none32, self._none, self._none,
                 None)
        return lam
