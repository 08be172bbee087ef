"""Projected (coarse-grained) coupling: d multipliers per node of H (PHYSICS.md §3).

``Σ_{a∈H} N_I(X_a) (u_a − Σ_J N_J(X_a) U_J) = 0`` for every node I touched by an atom of H: only the part
of the atomic motion the mesh can represent is matched, thermal and short-wave motion stay free.

Atoms at the continuum edge of H carry vanishing mass AND stiffness weights (β̄ → 0): left free they are
floppy (in a thermal state their amplitude grows like 1/√(bond weight), enough to break bonds of a
nonlinear potential). ``slave_below`` > 0 adds strong rows (u_a = Σ N_I U_I) for the atoms with
β̄_a < slave_below; the default 0 is the pure projected method of PHYSICS.md §3.
"""

from __future__ import annotations

import scipy.sparse as sp
from pydantic import Field

from ...registry import COUPLINGS, PluginParams
from .base import CouplingContext, CouplingMethod, projected_with_slaves


@COUPLINGS.register("projected")
class ProjectedCoupling(CouplingMethod):
    """Energy blending with node-wise projected constraints (plus optional strong rows at the edge)."""

    class Params(PluginParams):
        slave_below: float = Field(0.0, ge=0.0, lt=1.0,
                                   description="atoms of H with weight β̄ below this also get strong "
                                               "(per-atom) constraints; 0 = none")

    def constraint_matrix(self, ctx: CouplingContext) -> sp.csr_matrix:
        return projected_with_slaves(ctx, self.params.slave_below)
