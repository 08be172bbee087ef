"""Mesh-velocity smoother for the damping band's fine-scale velocity (docs/physics.md §5).

The lumped-mass mesh cannot carry frequencies above its cut-off ω_max; its own shortest waves (nodal
patterns near the mesh's Nyquist wavenumber) are, at those frequencies, as unresolvable as the atoms'
short waves. Measuring the fine-scale velocity against the mesh velocity after one Jacobi sweep of the
mesh Laplacian,

    S = I − diag(Σ_J |L_IJ|)⁻¹ L,        w_a = v_a − Σ_I N_I(X_a) (S V)_I,

removes those nodal patterns from the reference (on a uniform 1D mesh S has symbol (1 + cos kh)/2: exactly
zero at kh = π, 1 − (kh)²/4 for long waves), so a wave just above the mesh cut-off (λ ≈ 2h) is damped in
the band instead of being held by an evanescent mesh response and reflected. S keeps constants (L has
zero row sums), so w vanishes for rigid translations and the band conserves momentum.
"""

from __future__ import annotations

import numpy as np

from .._lazy import lazy_module

sp = lazy_module("scipy.sparse")


def jacobi_smoother(L: sp.spmatrix) -> sp.csr_matrix:
    """S = I − diag(Σ_J |L_IJ|)⁻¹ L for a symmetric Laplacian L (N, N) with zero row sums; CSR (N, N),
    dimensionless, row sums 1, eigenvalues in [0, 1] (Gershgorin). Rows of isolated nodes are identity."""
    L = sp.csr_matrix(L, dtype=float)
    n = L.shape[0]
    g = np.asarray(abs(L).sum(axis=1)).ravel()
    inv = np.divide(1.0, g, out=np.zeros(n), where=g > 0)
    return (sp.identity(n, format="csr") - sp.diags(inv) @ L).tocsr()
