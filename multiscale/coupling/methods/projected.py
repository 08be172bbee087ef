"""Projected (coarse-grained) coupling: d multipliers per node of H (PHYSICS.md §3).

``Σ_{a∈H} N_I(X_a) (u_a − Σ_J N_J(X_a) U_J) = 0`` for every node I touched by an atom of H: only the part
of the atomic motion the mesh can represent is matched, thermal and short-wave motion stay free.
"""

from __future__ import annotations

import scipy.sparse as sp

from ...registry import COUPLINGS
from .base import CouplingContext, CouplingMethod, projected_rows


@COUPLINGS.register("projected")
class ProjectedCoupling(CouplingMethod):
    """Energy blending with node-wise projected constraints."""

    def constraint_matrix(self, ctx: CouplingContext) -> sp.csr_matrix:
        return projected_rows(ctx)
