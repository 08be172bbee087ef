"""Projected (coarse-grained) coupling: d multipliers per node of H (docs/physics.md §3).

``Σ_{a∈H} N_I(X_a) (u_a − Σ_J N_J(X_a) U_J) = 0`` for every node I touched by an atom of H: only the part
of the atomic motion the mesh can represent is matched, thermal and short-wave motion stay free.

Atoms at the continuum edge of H carry vanishing mass AND stiffness weights (β̄ → 0): left free they are
floppy (in a thermal state their amplitude grows like 1/√(bond weight), enough to break bonds of a
nonlinear potential), and in dynamics their vanishing masses make the undamped projected step unstable:
a 1.9h packet in the 1D chain (h = 4a, Δt = 0.25) blows up with the quintic blend (32a and 64a) and gains
4 % energy with the cubic blend at 64a when nothing is tied. ``slave_below`` > 0 adds strong rows
(u_a = Σ N_I U_I) for the atoms with β̄_a < slave_below. The default 1e-3 ties only those nearly massless
edge atoms and removes the instability. It does change the long-wave reflection a little: measured R with
1e-3 relative to 0 at λ = 16h / 8h (h = 4a) is −43 % … +20 % (32a cubic +0.3 % / +15 %, 32a quintic
−6 % / −43 %, 64a cubic −0.1 % / +19 %, 64a quintic −6 % / −42 %; e.g. 64a quintic λ = 8h 4.3e-8 → 2.5e-8;
slow test tests/coupling/test_reflection.py::test_slave_below_changes_long_wave_reflection_little); 0 is the pure projected method of docs/physics.md §3. `msim validate` and the
results file (/static/atoms/tied_to_mesh) say which atoms are tied.
"""

from __future__ import annotations

from pydantic import Field

from ..._lazy import lazy_module
from ...registry import COUPLINGS, PluginParams
from .base import CouplingContext, CouplingMethod, projected_with_slaves

sp = lazy_module("scipy.sparse")


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
