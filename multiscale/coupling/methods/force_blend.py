"""Force-based blending: ``f = β f_atoms + α f_continuum`` (no ghost forces, not conservative).

Atoms: forces of the UNWEIGHTED lattice (site and bond weights 1; pads complete every weighted atom's
neighbour shells), scaled by the point value β(X_a), with the atom's coupled mass β̄_a m_a. Continuum: nodal
forces of the UNWEIGHTED material on every element within one element diameter of H (so every node with
α(X_I) > 0 sees its complete element patch, and none of them shares an element with a massless node), scaled
by the point value α(X_I) (``node_weight: point``, the default), with the α-weighted lumped mass M^α_I. A
node at the inner edge of H (α(X_I) = 0, but M^α_I > 0 from its patch) then gets no continuum force while
its displacement drives its neighbours' continuum forces; where a free surface crosses H such nodes are held
only by a few low-β atoms, and the quasi-static equilibrium can be unstable for every damped dynamics (a
real negative eigenvalue of the projected force Jacobian, det < 0; measured: 2D LJ force-blend indentation
at d = 0.5σ, −3.2e-3 with unit masses, −0.15 with the coupled masses; 3D EAM indentation at d = 0, five down
to −5.9e-3): FIRE does not converge at tight ftol there. ``node_weight: lumped`` scales by ᾱ_I = M^α_I / M_I
(the α-weighted over the unweighted lumped mass, the mass average of α over the node's patch, so a node's
acceleration is its unweighted force over its unweighted mass): the same 2D equilibrium's smallest
eigenvalue is +0.29 and FIRE converges (2D: 386 / 743 iterations at ftol 1e-4; 3D EAM: 112 / 120 / 138), but
β + ᾱ exceeds 1 at the inner edge and the model is stiffer: 2D load at d = 0.5σ +4.3 % against the full film
(point: −1.4 %), 3D EAM +24 % / +8 % at d = 0.5 / 1 Å against the full twin (point: +20 % / +3.6 %)
(`tests/statics/test_force_blend_statics.py`). Where an atom and a node coincide and move together (strong
constraint, elements as small as the spacing) the pair carries the force β f + α f = f on the mass β̄ m + ᾱ
m = m: the plain lattice. A homogeneous deformation therefore gives zero force on every free atom and node
(patch test exact). There is no energy whose gradient these forces are: the ledger's total is not conserved.
Many-body (EAM) lattices need pads out to twice the cut-off for exact pad densities. Kinematic constraints:
strong, projected or none (``constraint``).

Reported energy (no double counting): the regions compute UNWEIGHTED energies (every atom, pads
included; the continuum with α = 1 near H), which would count the handshake twice. The method's
``coupling`` term re-weights them by the partition of unity, so that the reported potential energy is
``Π = Σ_a β̄_a e_a + Σ_q α_q W_q V_q`` (β̄ the atom-cell weights, pads 0; α_q the quadrature-point weights
the continuum had before `prepare` replaced them): ``coupling = Σ_a (β̄_a − 1) e_a + Σ_q (α_q − 1) W_q V_q``
over the atoms and the quadrature points whose weight `prepare` changed. A homogeneous deformation F
then reports W(F)·(Σ β̄ V_a + ∫ α), the continuum energy up to the partition-of-unity quadrature error.
Π is a measure of the state (surface / interface energies), not a potential of the forces.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ...registry import COUPLINGS
from .base import ConstraintParams, CouplingMethod, element_diameter


@COUPLINGS.register("force_blend")
class ForceBlendCoupling(CouplingMethod):
    """Force-based blending (see the module docstring)."""

    energy_based = False

    class Params(ConstraintParams):
        """constraint: strong | projected | none; slave_below: see `projected`; node_weight: module
        docstring."""

        node_weight: Literal["point", "lumped"] = Field(
            "point", description="weight of a node's continuum force: point = α(X_I); lumped = ᾱ_I = "
            "M^α_I / M_I (the α-weighted over the unweighted lumped mass): a stable quasi-static equilibrium "
            "where point can give an unstable one, at the price of β + ᾱ > 1 at the inner edge of H")

    def prepare(self, system) -> None:  # noqa: ANN001
        hs, cont = system.handshake, system.continuum
        reach = 1.001 * element_diameter(cont.mesh)
        alpha_w = np.array(cont.alpha_qp, float)   # the partition-of-unity weights, for the energy report
        m_alpha = np.array(cont.lumped_mass, float)  # M^α_I
        self._alpha_fn = cont._alpha_fn              # the partition-of-unity blend, for a later surface term
        # unweighted continuum on every element near H (the α-weighted masses were taken already)
        cont.set_blend(lambda X: (hs.distance(X) > 0.0) | (self._signed(hs, X) > -reach), system._n_sub)
        self._beta = np.where(system.pad, 0.0, hs.beta(system.atoms.X))
        if getattr(self.params, "node_weight", "point") == "point":
            self._alpha_nodes = hs.alpha(cont.nodes)
        else:
            m_full = np.asarray(cont.lumped_mass, float)   # M_I: the same lumping with α = 1 near H
            ratio = np.divide(m_alpha, m_full, out=np.zeros_like(m_alpha), where=m_full > 0.0)
            # α ≡ 1 on a node's whole patch gives exactly 1 (no round-off in the far field)
            self._alpha_nodes = np.where(m_alpha == m_full, 1.0, np.clip(ratio, 0.0, 1.0))
            self._alpha_nodes[m_alpha <= 0.0] = 0.0
        self._dq = np.flatnonzero(alpha_w != cont.alpha_qp)
        self._dw_q = (alpha_w - cont.alpha_qp)[self._dq] * cont.qp_volumes[self._dq]
        self._dw_atoms = np.where(system.pad, 0.0, system.atom_weight) - 1.0
        self._dw_s = None
        self.surface_attached(system)

    def surface_attached(self, system) -> None:  # noqa: ANN001
        """The continuum's surface term (attached after `prepare` by the build): its face weights are the
        unweighted indicator like the bulk's; the energy report re-weights them to the partition-of-unity
        α(X_q) (`energy_reweighting`)."""
        cont = system.continuum
        surf = getattr(cont, "surface", None)
        self._dw_l = None
        if surf is None or not surf.n_faces:
            self._dw_s = None
            return
        surf.set_blend(cont._alpha_fn)              # the indicator of `prepare` (set_surface did the same)
        w_s = (np.ones(surf.dA.shape) if self._alpha_fn is None
               else np.asarray(self._alpha_fn(surf.X_q), float).reshape(surf.dA.shape))
        self._dw_s = (w_s - surf.w) * surf.dA
        lay = getattr(surf, "layer", None)          # the surface elasticity on its boundary layer, likewise
        if lay is not None:
            alpha = self._alpha_fn if self._alpha_fn is not None else (lambda X: np.ones(len(X)))
            self._dw_l = [a - b for a, b in zip(lay.weights(alpha), lay.weights(), strict=True)]

    @staticmethod
    def _signed(hs, X: np.ndarray) -> np.ndarray:  # noqa: ANN001
        sd = getattr(hs.shape, "signed_distance", None)
        return np.asarray(sd(X), float) if sd is not None else hs.distance(X)

    def add_forces(self, system, f_atoms: np.ndarray, f_nodes: np.ndarray) -> float:  # noqa: ANN001
        f_atoms *= self._beta[:, None]
        f_nodes *= self._alpha_nodes[:, None]
        return self.energy_reweighting(system)

    def energy_reweighting(self, system, atoms_part: float | None = None) -> float:  # noqa: ANN001
        """The ``coupling`` energy [energy]: partition-of-unity re-weighting of the regions' unweighted
        energies (module docstring); uses the atoms' per-atom energies of the last evaluation, or
        ``atoms_part`` = Σ_a (β̄_a − 1) e_a when given (the spatial path's sum over the ranks,
        `parallel.spatial_coupling.SpatialForceBlend`), then adds the continuum's terms in the same order."""
        E = float(self._dw_atoms @ system.atoms.energies) if atoms_part is None else float(atoms_part)
        if self._dq.size:
            cont = system.continuum
            W = cont.last_energy_densities()   # the forces' own W: no second material evaluation
            if W is None:
                W = cont.evaluate_material(cont.deformation_gradients()[self._dq], self._dq)[1]
            else:
                W = W[self._dq]
            E += float(self._dw_q @ W)
        if getattr(self, "_dw_s", None) is not None:
            cont = system.continuum
            E += float(np.sum(self._dw_s * cont.surface.energy_densities(cont.U)))
        if getattr(self, "_dw_l", None):
            cont = system.continuum
            dens = cont.surface.layer.energy_densities(cont.U)
            E += float(sum(np.sum(w * e) for w, e in zip(self._dw_l, dens, strict=True)))
        return E
