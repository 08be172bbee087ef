"""Critical explicit time step of a lumped-mass mesh, bounded element by element.

For K = Σ_e K_e and any split of the diagonal lumped mass M = Σ_e D_e into non-negative element shares,
uᵀKu ≤ max_e λ_max(K_e, D_e) · uᵀMu, so ω_max² ≤ max_e λ_e and Δt_crit = 2/ω_max ≥ 2/√(max_e λ_e).
The shares used are stiffness-proportional, D_e[a,i] = M_a · K_e[ai,ai] / Σ_e' K_e'[ai,ai], which makes the
bound tight on uniform meshes and stays valid on graded, distorted and α-weighted ones.
"""

from __future__ import annotations

import numpy as np

from ._blockdata import BlockData, b_matrix, unique_rows


def critical_dt(blocks: list[BlockData], wq_all: np.ndarray, C: np.ndarray, lumped: np.ndarray) -> float:
    """2/ω_max bound [time]; ``wq_all`` flat α_q V_q, ``C`` Voigt tangent, ``lumped`` (N,) nodal masses.
    Returns 0.0 when a node with stiffness has no mass (no stable step), inf when nothing is stiff."""
    d = {1: 1, 3: 2, 6: 3}[C.shape[0]]
    N = lumped.size
    kdiag = np.zeros(N * d)
    per_block = []
    for bd in blocks:
        e = bd.act_elems
        if not e.size:
            per_block.append(None)
            continue
        B = b_matrix(bd.dN)                                    # (ng, nqe, nv, nd)
        kq = np.einsum("gqai,ab,gqbi->gqi", B, C, B)           # diagonal of B_qᵀ C B_q
        wq = wq_all[bd.qp_offset:bd.qp_offset + bd.ne * bd.nqe].reshape(bd.ne, bd.nqe)[e]
        diag = np.matmul(wq[:, None, :], kq[bd.geom[e]])[:, 0]  # (na, nen*d)
        dofs = (bd.conn[e][:, :, None] * d + np.arange(d)).reshape(e.size, -1)
        kdiag += np.bincount(dofs.ravel(), weights=diag.ravel(), minlength=N * d)
        per_block.append((B, wq, diag, dofs))
    mdof = np.repeat(lumped, d)
    lam = 0.0
    for bd, data in zip(blocks, per_block, strict=True):
        if data is None:
            continue
        B, wq, diag, dofs = data
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(diag > 0, mdof[dofs] * diag / kdiag[dofs], 0.0)
        if np.any((diag > 0) & (share <= 0)):
            return 0.0
        key = np.concatenate([bd.geom[bd.act_elems][:, None].astype(float), wq, share], axis=1)
        first, _ = unique_rows(key)
        for s in range(0, first.size, 20000):
            idx = first[s:s + 20000]
            Bg = B[bd.geom[bd.act_elems[idx]]]
            Ke = np.einsum("eq,eqai,ab,eqbj->eij", wq[idx], Bg, C, Bg, optimize=True)
            sc = np.where(share[idx] > 0, 1.0 / np.sqrt(np.where(share[idx] > 0, share[idx], 1.0)), 0.0)
            A = Ke * sc[:, :, None] * sc[:, None, :]
            lam = max(lam, float(np.max(np.linalg.eigvalsh(A)[:, -1])))
    return float("inf") if lam <= 0 else 2.0 / np.sqrt(lam)
