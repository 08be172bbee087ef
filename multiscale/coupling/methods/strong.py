"""Strong (per-atom) coupling: every atom of H follows the interpolated mesh, ``u_a = Σ_I N_I(X_a) U_I``."""

from __future__ import annotations

from ..._lazy import lazy_module
from ...registry import COUPLINGS
from .base import CouplingContext, CouplingMethod, strong_rows

sp = lazy_module("scipy.sparse")


@COUPLINGS.register("strong")
class StrongCoupling(CouplingMethod):
    """Energy blending with d exact multipliers per weighted atom of H (docs/physics.md §3)."""

    def constraint_matrix(self, ctx: CouplingContext) -> sp.csr_matrix:
        return strong_rows(ctx)
