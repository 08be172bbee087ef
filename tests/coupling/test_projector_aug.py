"""The per-step multipliers through the augmented system (`projector._AugSolve`, kernels/coupler.pyx
``aug_solve``): rows that own a private column (the strong rows of ``slave_below``) eliminated locally,
against dense LAPACK solves of G W Gᵀ, on rows built by the real row builders (projected rows plus strong
rows, `methods.base.projected_with_slaves`)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from multiscale.coupling import projector as pj
from multiscale.coupling.methods.base import CouplingContext, projected_with_slaves


def handshake_rows(d: int = 3, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """A 1D chain of n nodes (linear elements of size 1) and atoms of H at random positions with random
    weights β̄ in (0, 1), a quarter of them below slave_below = 0.1 (strong rows); G = projected rows over
    the others plus strong rows, ⊗ I_d; inverse masses 1/β̄ (atoms) and random (nodes), per component."""
    rng = np.random.default_rng(seed)
    n_nodes, n_c, n_free = 40, 300, 320
    x = rng.uniform(0.0, n_nodes - 1.0, n_c)
    e = np.minimum(x.astype(int), n_nodes - 2)
    t = x - e
    cols = np.concatenate([e, e + 1])
    rows = np.tile(np.arange(n_c), 2)
    N_c = sp.csr_matrix((np.concatenate([1 - t, t]), (rows, cols)), shape=(n_c, n_nodes))
    beta = rng.uniform(0.15, 1.0, n_c)
    beta[rng.choice(n_c, n_c // 4, replace=False)] = rng.uniform(1e-3, 0.09, n_c // 4)
    constrained = np.sort(rng.choice(n_free, n_c, replace=False))
    ctx = CouplingContext(d=d, n_free=n_free, n_nodes=n_nodes, constrained=constrained, N_c=N_c, weights=beta)
    G = projected_with_slaves(ctx, 0.1)
    w_atoms = rng.uniform(0.8, 1.2, n_free)
    w_atoms[constrained] = 1.0 / beta
    w = np.repeat(np.concatenate([w_atoms, rng.uniform(0.01, 0.1, n_nodes)]), d)
    return G.tocsr(), w


@pytest.fixture
def always_aug(monkeypatch):
    monkeypatch.setattr(pj, "_AUG_MAX_FILL", np.inf)        # adopted whatever its fill on a small model


def test_aug_multipliers_match_dense_solve(always_aug):
    G, w = handshake_rows()
    p = pj.ConstraintProjector(G, w)
    aug = p._aug
    assert aug is not None
    n_strong = G.shape[0] - 3 * 40            # the projected rows are the 40 nodes' (some may be absent)
    assert aug.srow.size >= 0.9 * n_strong and aug.kb.blocks.shape[1] == 3     # one block per component
    Ga = G[:, p.active]
    A = (Ga @ sp.diags(w[p.active]) @ Ga.T).toarray()
    rng = np.random.default_rng(1)
    for _ in range(3):
        r = rng.standard_normal(A.shape[0])
        ref = np.linalg.solve(A, r)
        lam = p.solve(r)
        assert np.max(np.abs(lam - ref)) <= 1e-12 * np.max(np.abs(ref))
        # the compiled correction: bitwise W Gᵀ λ of the same multipliers
        corr = np.empty(p.active.size)
        p.correction_into(r, corr)
        assert np.array_equal(corr, p.correction(r))
    a = rng.standard_normal(G.shape[1])
    assert np.max(np.abs(G @ p.project(a))) <= 1e-12 * np.max(np.abs(G @ a))


def test_aug_not_taken_without_private_columns_or_when_not_smaller(monkeypatch):
    G, w = handshake_rows(seed=3)
    Gp = G[np.diff(G.indptr) > 3]                          # the projected rows only: every column shared
    Ga = Gp[:, np.unique(Gp.indices)]
    wa = w[np.unique(Gp.indices)]
    assert pj._AugSolve.build(Ga.tocsr(), wa, pj.RTOL) is None
    monkeypatch.setattr(pj, "_AUG_MAX_FILL", 0.0)          # a factor must be smaller than nothing
    p = pj.ConstraintProjector(G, w)
    assert p._aug is None and p._fast is not None


def test_aug_not_factorised_with_more_unknowns_than_the_gram_rows_allow(monkeypatch):
    """Review rev24: on the 2D bench the augmented system (7 520 unknowns for 7 440 rows) was factorised and
    then discarded (half the projector's set-up). With more unknowns than `_AUG_MAX_FILL` × rows it is not
    factorised at all; with fewer it is (and the fill decides)."""
    G, w = handshake_rows(seed=3)
    p = pj.ConstraintProjector(G, w)
    Ga = G[:, p.active].tocsr()
    calls = []
    real = pj._identical_blocks
    monkeypatch.setattr(pj, "_identical_blocks", lambda K: calls.append(K.shape[0]) or real(K))
    r = Ga.shape[0]
    aug = pj._AugSolve.build(Ga, p._wa, pj.RTOL, None)          # no Gram solve to compare: always built
    assert aug is not None and calls
    n = aug.n1 + aug.prow.size
    for frac, factorised in ((0.999 * n / r, False), (1.001 * n / r, True)):
        calls.clear()
        monkeypatch.setattr(pj, "_AUG_MAX_FILL", frac)
        gram = SimpleNamespace(blocks=np.zeros((1, 3)), nnz=10**12)    # any fill passes: the count decides
        assert (pj._AugSolve.build(Ga, p._wa, pj.RTOL, gram) is not None) == factorised
        assert bool(calls) == factorised


def test_replaced_gram_solve_never_builds_its_compiled_arrays(always_aug):
    """The Gram matrix's block solve, replaced at once by the augmented one, never builds its compiled
    solve's arrays (the 3D bench: 0.3-0.4 s of transposing passes over a 10.8M-entry factor, thrown away);
    its fill (`nnz`, what decides for the augmented solve) is counted on the CSC factors, the same number
    as the built arrays give; a block solve still in use builds them on first use."""
    G, w = handshake_rows()
    p = pj.ConstraintProjector(G, w)
    assert p._aug is not None and p._fast._args_v is None
    with pytest.raises(RuntimeError):
        p._fast.solve(np.ones(G.shape[0]))                    # released: no silent rebuild
    Ga = G[:, p.active].tocsr()
    fresh = pj._BlockSolve.build(Ga, p._wa, pj.RTOL)
    counted = fresh.nnz
    assert fresh._args_v is None and counted > 0
    r = np.random.default_rng(2).standard_normal(G.shape[0])
    lam = fresh.solve(r)                                      # builds the arrays
    assert fresh._args_v is not None and fresh.nnz == counted
    assert np.max(np.abs(lam - p.solve(r))) <= 1e-12 * np.max(np.abs(lam))
