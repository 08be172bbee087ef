"""Energy blending with ghost-force correction: the forces of a reference state subtracted as dead loads.

Energy blending (β̄-weighted atoms, α-weighted continuum) has spurious "ghost" forces in H even for a
homogeneous deformation. This method records the total blended force ``f_ref`` (stacked, pads folded onto
the nodes) at a reference configuration — by default the state when the system is assembled (the
undeformed lattice), or any state passed through `update_reference` (e.g. each load step, as in the
quasicontinuum method) — and adds ``−f_ref`` as a dead load every step. The dead load has the energy
``f_ref · q``, booked as the coupling energy, so the dynamics stay conservative. Kinematic constraints:
strong, projected or none (``constraint`` parameter).
"""

from __future__ import annotations

import numpy as np

from ...registry import COUPLINGS
from .base import ConstraintParams, CouplingMethod


@COUPLINGS.register("ghost_corrected")
class GhostCorrectedCoupling(CouplingMethod):
    """Energy blending + dead-load ghost-force correction (see the module docstring)."""

    class Params(ConstraintParams):
        """constraint: strong | projected | none; slave_below: see `projected`."""

    def prepare(self, system) -> None:  # noqa: ANN001
        self._f_ref = np.zeros(system.n_dof)
        self.update_reference(system)

    def update_reference(self, system) -> None:  # noqa: ANN001
        """Record the blended forces of the CURRENT configuration as the dead-load correction."""
        self._f_ref = np.zeros(system.n_dof)
        system.update_pads()
        system.compute_forces()
        self._f_ref = system.forces_q().copy()
        self._q_ref = system.gather_q().copy()

    def add_forces(self, system, f_atoms: np.ndarray, f_nodes: np.ndarray) -> float:  # noqa: ANN001
        if not np.any(self._f_ref):
            return 0.0
        system.scatter_add(-self._f_ref, f_atoms, f_nodes)
        return float(self._f_ref @ (system.gather_q() - self._q_ref))
