"""The compiled per-step solve of the constraint projector (`projector._BlockSolve`, kernels/trisolve.pyx):
against dense LAPACK solves, with the per-component blocks found and factorised once, and falling back
to one block when the components differ (a fixed component)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from multiscale.coupling.projector import ConstraintProjector


def handshake_like(d: int, n_rows: int = 60, n_cols: int = 200,
                   seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """G = G1 ⊗ I_d (row I*d + c touches only component c of its entities, like the projected rows) and
    inverse masses per entity repeated per component."""
    rng = np.random.default_rng(seed)
    G1 = sp.random(n_rows, n_cols, density=0.04, random_state=rng, format="csr")
    G1 = (G1 + sp.eye(n_rows, n_cols, format="csr")).tocsr()          # full row rank
    G = sp.kron(G1, sp.eye(d), format="csr")
    w = np.repeat(rng.uniform(0.5, 3.0, n_cols), d)
    return G, w


def test_block_solve_matches_dense_solve_and_uses_one_block_per_component():
    G, w = handshake_like(3)
    p = ConstraintProjector(G, w)
    fast = p._fast
    assert fast is not None and fast.blocks.shape == (60, 3)
    A = (G @ sp.diags(w) @ G.T).toarray()
    rng = np.random.default_rng(1)
    for _ in range(3):
        r = rng.standard_normal(A.shape[0])
        x = fast.solve(r)
        ref = np.linalg.solve(A, r)
        assert np.max(np.abs(x - ref)) <= 1e-12 * np.max(np.abs(ref))
    # the projected vector satisfies the constraints
    a = rng.standard_normal(G.shape[1])
    assert np.max(np.abs(G @ p.project(a))) <= 1e-12 * np.max(np.abs(G @ a))


def test_different_components_are_one_block():
    G, w = handshake_like(2, seed=4)
    w[1] = 0.0                                  # a fixed y component: the two blocks differ
    p = ConstraintProjector(G, w)
    assert p._fast is not None and p._fast.blocks.shape[1] == 1
    rng = np.random.default_rng(2)
    a = rng.standard_normal(G.shape[1])
    Wa = G[:, p.active]
    A = (Wa @ sp.diags(w[p.active]) @ Wa.T).toarray()
    r = G @ a
    ref = np.linalg.solve(A, r)
    assert np.max(np.abs(p._fast.solve(r) - ref)) <= 1e-12 * np.max(np.abs(ref))

