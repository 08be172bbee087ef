"""The Gram matrix's rank test read from the augmented factor (`projector._AugSolve.certified`): a large
projector whose rows with a private column make the augmented system small factorises it twice (K and its
shifted twin K_τ, whose inertia certifies λ_min of the Jacobi-scaled G W Gᵀ above 10·rtol) and never the
Gram matrix; everything else — dependent or nearly dependent rows — takes the Gram path exactly as before.
Rows built by the real row builders (`test_projector_aug.handshake_rows`: projected rows plus strong rows)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_projector_aug import handshake_rows  # same directory (pytest prepends it to sys.path)

from multiscale.coupling import projector as pj
from multiscale.diagnostics.temperature import constrained_share


@pytest.fixture
def large(monkeypatch):
    """The sparse path for these ~350 rows (it starts at 2 000), and the augmented system at any size."""
    monkeypatch.setattr(pj, "_DENSE_MAX", 10)
    monkeypatch.setattr(pj, "_AUG_MAX_FILL", np.inf)


def _gram_path(monkeypatch, G, w):  # noqa: ANN001, ANN202
    """The projector as before this change: the augmented system never certified."""
    with monkeypatch.context() as m:
        m.setattr(pj._AugSolve, "certified", classmethod(lambda cls, *a: None))
        return pj.ConstraintProjector(G, w)


def _scaled_lambda_min(G: sp.csr_matrix, w: np.ndarray) -> float:
    A = (G @ sp.diags(w) @ G.T).toarray()
    s = 1.0 / np.sqrt(np.diag(A))
    return float(np.linalg.eigvalsh(s[:, None] * A * s[None, :])[0])


def test_certified_projector_never_factorises_the_gram_matrix(large, monkeypatch):
    G, w = handshake_rows()
    sizes = []
    real = pj.spla.splu
    monkeypatch.setattr(pj.spla, "splu", lambda A, **kw: sizes.append(A.shape[0]) or real(A, **kw))
    p = pj.ConstraintProjector(G, w)
    assert p._aug is not None and p._fast is None and isinstance(p._lu, pj._AugLU)
    assert p.n_rows == G.shape[0] and p.dropped_rows.size == 0
    kb = p._aug.kb.blocks.shape[0]
    assert sizes == [kb, kb]                     # K's block and its shifted twin; no Gram block (115 rows)
    assert kb != G.shape[0] // 3
    q = _gram_path(monkeypatch, G, w)
    assert q._aug is not None and q._fast is not None           # before: Gram factor, then replaced
    # the per-step solve is the same augmented factor: bitwise the same arrays and corrections
    assert all(np.array_equal(a, b) for a, b in zip(p._aug.kb._args, q._aug.kb._args, strict=True))
    rng = np.random.default_rng(3)
    r = rng.standard_normal(G.shape[0])
    c1, c2 = np.empty(p.active.size), np.empty(q.active.size)
    p.correction_into(r, c1)
    q.correction_into(r, c2)
    assert np.array_equal(c1, c2)
    # the general solve through the augmented factor: dense LAPACK reference, one and several columns
    Ga = G[:, p.active]
    A = (Ga @ sp.diags(w[p.active]) @ Ga.T).toarray()
    R = rng.standard_normal((G.shape[0], 5))
    ref = np.linalg.solve(A, R)
    assert np.max(np.abs(p._lu.solve(R) - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert np.max(np.abs(p._lu.solve(R[:, 0]) - ref[:, 0])) <= 1e-12 * np.max(np.abs(ref))
    dofs = np.arange(G.shape[1])
    assert np.max(np.abs(constrained_share(p, dofs) - constrained_share(q, dofs))) <= 1e-12


def _with_row(G: sp.csr_matrix, row: sp.csr_matrix, at: int) -> sp.csr_matrix:
    return sp.vstack([G[:at], row, G[at:]]).tocsr()


def _outcome(build):  # noqa: ANN001, ANN202
    """("error", message) or ("ok", rows, dropped rows, a projected vector) of a projector build."""
    try:
        p = build()
    except RuntimeError as exc:
        return ("error", str(exc))
    a = np.random.default_rng(1).standard_normal(p.n)
    return ("ok", p.rows, p.dropped_rows, p.project(a))


def _same(x, y) -> bool:  # noqa: ANN001
    return len(x) == len(y) and all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
                                    for a, b in zip(x, y, strict=True))


@pytest.mark.parametrize("kind", ["projected", "strong"])
def test_dependent_row_is_not_certified_and_refused_as_before(large, monkeypatch, kind):
    """A row that is a combination of others (of two projected rows; or twice a strong row, whose atom then
    has no private column any more) makes the Gram matrix singular: not certified, and the Gram path does
    what it did before (drops a row, or refuses the rows), bit for bit."""
    G, w = handshake_rows()
    nnz = np.diff(G.indptr)
    if kind == "projected":
        a, b = np.flatnonzero(nnz > 3)[[4, 9]]
        new = 0.7 * G[a] - 1.3 * G[b]
    else:
        new = 2.0 * G[np.flatnonzero(nnz <= 3)[7]]
    Gd = _with_row(G, new, G.shape[0] // 2)
    assert np.linalg.matrix_rank(Gd.toarray()) == G.shape[0]
    cols = pj._used_columns(Gd)
    cols = cols[w[cols] > 0]
    assert pj._AugSolve.certified(Gd[:, cols].tocsr(), w[cols], pj.RTOL) is None
    new_path = _outcome(lambda: pj.ConstraintProjector(Gd, w))
    assert _same(new_path, _outcome(lambda: _gram_path(monkeypatch, Gd, w)))
    if new_path[0] == "ok":
        assert new_path[2].size == 1 and new_path[1].size == G.shape[0]


def test_nearly_dependent_rows_take_the_gram_path(large, monkeypatch):
    """λ_min of the scaled Gram matrix between rtol and 10·rtol: the Gram path's own test accepts the rows
    (pivots ≥ λ_min > rtol), the certificate does not (it needs 10·rtol): the Gram path decides, as before,
    and keeps every row."""
    G, w = handshake_rows()
    nnz = np.diff(G.indptr)
    a = np.flatnonzero(nnz > 3)[4]
    ga = G[a].toarray().ravel()
    # a direction W-orthogonal to row a on its own columns, then row a tilted by δ towards it
    cols = np.flatnonzero(ga)
    e = np.zeros_like(ga)
    e[cols[:2]] = [1.0, -1.0]
    e -= (e @ (w * ga)) / (ga @ (w * ga)) * ga
    lam = {}
    for delta in np.geomspace(1e-6, 1e-3, 61):
        Gd = _with_row(G, sp.csr_matrix(ga + delta * np.sqrt(ga @ (w * ga)) / np.sqrt(e @ (w * e)) * e),
                       G.shape[0] // 2)
        lam[delta] = _scaled_lambda_min(Gd[:, np.flatnonzero(w > 0)], w[w > 0])
    delta = min(lam, key=lambda d: abs(np.log(lam[d] / (3.0 * pj.RTOL))))
    assert pj.RTOL < lam[delta] < pj._CERTIFY_MARGIN * pj.RTOL          # the premise of this test
    Gd = _with_row(G, sp.csr_matrix(ga + delta * np.sqrt(ga @ (w * ga)) / np.sqrt(e @ (w * e)) * e),
                   G.shape[0] // 2)
    cols = pj._used_columns(Gd)
    cols = cols[w[cols] > 0]
    assert pj._AugSolve.certified(Gd[:, cols].tocsr(), w[cols], pj.RTOL) is None
    p = pj.ConstraintProjector(Gd, w)
    q = _gram_path(monkeypatch, Gd, w)
    assert p._fast is not None and p.n_rows == q.n_rows == Gd.shape[0]
    assert np.array_equal(p.rows, q.rows) and p.dropped_rows.size == 0


def test_certificate_is_the_inertia_of_the_shifted_system(large):
    """Well-separated rows are certified; with the margin raised above λ_min of the scaled Gram matrix the
    same rows are not (the shift τ decides, not the unshifted factor's pivots)."""
    G, w = handshake_rows()
    cols = pj._used_columns(G)
    cols = cols[w[cols] > 0]
    Ga, wa = G[:, cols].tocsr(), w[cols]
    lmin = _scaled_lambda_min(Ga, wa)
    assert pj._AugSolve.certified(Ga, wa, pj.RTOL) is not None
    assert pj._AugSolve.certified(Ga, wa, 0.9 * lmin / pj._CERTIFY_MARGIN) is not None
    assert pj._AugSolve.certified(Ga, wa, 1.1 * lmin / pj._CERTIFY_MARGIN) is None
