"""The sparse (Jacobi-scaled) factorisation of the constraint projector drops exactly the dependent rows.

Regression: the pivot k of SuperLU's P_r Â P_c = L U belongs to the row i with perm_c[i] = k; reading it as
row perm_c[k] dropped independent rows, which the span check then refused ("no independent subset was
found sparsely") — a 3D EAM Cu handshake with tied edge atoms (slave_below 0.01) could not be built.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import multiscale.coupling.projector as projector


def _dependent_system(r: int = 600, n: int = 900, n_dep: int = 25, seed: int = 4):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(r):                                  # banded random rows with 4 entries each
        cols = (i * n // r + rng.choice(12, 4, replace=False)) % n
        row = np.zeros(n)
        row[cols] = rng.uniform(0.5, 2.0, 4) * rng.choice([-1.0, 1.0], 4)
        rows.append(row)
    dep_at = np.sort(rng.choice(np.arange(r // 2, r + n_dep), n_dep, replace=False))
    G = np.array(rows)
    for k in dep_at:                                    # a combination of two independent rows, inserted
        a, b = rng.choice(r // 2, 2, replace=False)
        G = np.insert(G, k, 0.7 * G[a] - 1.3 * G[b], axis=0)
    w = rng.uniform(1e-3, 1e3, n)                       # inverse masses over 6 orders (as in a handshake)
    return sp.csr_matrix(G), w


def test_sparse_path_drops_only_dependent_rows(monkeypatch) -> None:
    G, w = _dependent_system()
    monkeypatch.setattr(projector, "_DENSE_MAX", 50)      # take the scaled sparse path at this size
    p = projector.ConstraintProjector(G, w)
    rank = np.linalg.matrix_rank(G.toarray())
    assert p.n_rows == rank == G.shape[0] - 25
    # the kept rows span every row: projected vectors satisfy all constraints, dropped rows included
    a = np.random.default_rng(1).standard_normal(G.shape[1])
    pa = p.project(a)
    assert np.max(np.abs(G @ pa)) <= 1e-9 * np.max(np.abs(G @ a))
    # and the projection is the W⁻¹-orthogonal one of the dense reference on the independent rows
    Gk = G.toarray()[p.rows]
    ref = a - w * (Gk.T @ np.linalg.solve(Gk @ (w[:, None] * Gk.T), Gk @ a))
    assert np.max(np.abs(pa - ref)) <= 1e-9 * np.max(np.abs(a))
