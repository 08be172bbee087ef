"""Projected (coarse-grained) coupling: d multipliers per node of H (docs/physics.md §3).

``Σ_{a∈H} N_I(X_a) (u_a − Σ_J N_J(X_a) U_J) = 0`` for every node I touched by an atom of H: only the part
of the atomic motion the mesh can represent is matched, thermal and short-wave motion stay free.

Atoms at the continuum edge of H carry vanishing mass AND stiffness weights (β̄ → 0): left free they are
floppy (in a thermal state their amplitude grows like 1/√(bond weight), enough to break bonds of a
nonlinear potential), and in dynamics their vanishing masses make the undamped projected step unstable:
a 1.9h packet in the 1D chain (h = 4a, Δt = 0.25) blows up with the quintic blend (32a and 64a) and gains
4 % energy with the cubic blend at 64a when nothing is tied. ``slave_below`` > 0 adds strong rows
(u_a = Σ N_I U_I) for the atoms with β̄_a < slave_below. The default 1e-3 ties only those nearly massless
edge atoms (R at λ = 8h, 16h unchanged within 20 %: cubic 64a 3.5e-7 / 2.9e-7, quintic 1.0e-7 / 2.5e-8)
and removes the instability; 0 is the pure projected method of docs/physics.md §3. `msim validate` and the
results file (/static/atoms/tied_to_mesh) say which atoms are tied.
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
        slave_below: float = Field(1e-3, ge=0.0, lt=1.0,
                                   description="atoms of H with weight β̄ below this also get strong "
                                               "(per-atom) constraints (nearly massless edge atoms); "
                                               "0 = none")

    def constraint_matrix(self, ctx: CouplingContext) -> sp.csr_matrix:
        return projected_with_slaves(ctx, self.params.slave_below)
