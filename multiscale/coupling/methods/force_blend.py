"""Force-based blending: ``f = β f_atoms + α f_continuum`` (no ghost forces, not conservative).

Atoms: forces of the UNWEIGHTED lattice (site and bond weights 1; pads complete every weighted atom's
neighbour shells), scaled by the point value β(X_a), with the atom's coupled mass β̄_a m_a. Continuum:
nodal forces of the UNWEIGHTED material on every element within one element diameter of H (so every node
with α(X_I) > 0 sees its complete element patch, and none of them shares an element with a massless
node), scaled by the point value α(X_I), with the α-weighted lumped mass M^α_I. Where an atom and a node
coincide and move together (strong constraint, elements as small as the spacing) the pair carries the
force β f + α f = f on the mass β̄ m + ᾱ m = m: the plain lattice. A homogeneous deformation therefore
gives zero force on every free atom and node (patch test exact). There is no energy whose gradient
these forces are: the ledger's total is not conserved. Many-body (EAM) lattices need pads out to twice
the cut-off for exact pad densities. Kinematic constraints: strong, projected or none (``constraint``).
"""

from __future__ import annotations

import numpy as np

from ...registry import COUPLINGS
from .base import ConstraintParams, CouplingMethod, element_diameter


@COUPLINGS.register("force_blend")
class ForceBlendCoupling(CouplingMethod):
    """Force-based blending (see the module docstring)."""

    energy_based = False

    class Params(ConstraintParams):
        """constraint: strong | projected | none; slave_below: see `projected`."""

    def prepare(self, system) -> None:  # noqa: ANN001
        hs, cont = system.handshake, system.continuum
        reach = 1.001 * element_diameter(cont.mesh)
        # unweighted continuum on every element near H (the α-weighted masses were taken already)
        cont.set_blend(lambda X: (hs.distance(X) > 0.0) | (self._signed(hs, X) > -reach), system._n_sub)
        self._beta = np.where(system.pad, 0.0, hs.beta(system.atoms.X))
        self._alpha_nodes = hs.alpha(cont.nodes)

    @staticmethod
    def _signed(hs, X: np.ndarray) -> np.ndarray:  # noqa: ANN001
        sd = getattr(hs.shape, "signed_distance", None)
        return np.asarray(sd(X), float) if sd is not None else hs.distance(X)

    def add_forces(self, system, f_atoms: np.ndarray, f_nodes: np.ndarray) -> float:  # noqa: ANN001
        f_atoms *= self._beta[:, None]
        f_nodes *= self._alpha_nodes[:, None]
        return 0.0
