"""Penalty (Arlequin-style) coupling: ``E_coupling = ½ κ Σ_a c_a |u_a − Σ_I N_I(X_a) U_I|²``, no multipliers,
plus exact strong rows for the nearly massless atoms at H's continuum edge (``slave_below``).

The sum runs over the atoms of H with β̄_a ≥ ``slave_below``. The row weight ``c_a = min(β̄_a, 1 − β̄_a)`` is
proportional to the atom's mass share AND to the continuum's share of its cell, so the penalty frequency
stays ≤ √(κ/m) on both sides (an unweighted penalty on atoms or nodes of vanishing mass is unstable for
any time step). κ [energy/length²]; the stable time step falls like 1/√κ.

Atoms of tiny β̄ are not held by such a spring: the blended energy's ghost force on an edge atom scales with
its bonds' weights (line averages of β, which reach into the core), the spring's stiffness κ c_a with its
cell average β̄_a, so the static offset f_ghost/(κ β̄_a) grows without bound as β̄_a → 0 (decks/wave2d.yaml,
κ = 1, no tying, dt 0.002: atom 403, β̄ 6.5e-6, leaves the box at step 320). ``slave_below`` > 0 (default
1e-3, the projected coupling's) gives the atoms with β̄_a < slave_below strong rows u_a = Σ_I N_I(X_a) U_I
(enforced exactly by the integrator's constraint projection, `CouplingMethod.constraint_matrix`) and takes
them out of the penalty sum. The coupled energy stays Π = Σ β̄ E_a + Σ α W V + ½ κ Σ c_a |G_a q|²: the
constraint forces do no work, and a homogeneous deformation satisfies the strong rows and leaves every
penalty term zero (no ghost force from the coupling). 0 = the pure penalty method (no rows).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..._lazy import lazy_module
from ...registry import COUPLINGS, PluginParams
from .base import CouplingContext, CouplingMethod, _subset, strong_rows

sp = lazy_module("scipy.sparse")


@COUPLINGS.register("penalty")
class PenaltyCoupling(CouplingMethod):
    """Energy blending plus a weighted penalty on the per-atom compatibility ``u_a − N U``."""

    springs = True

    class Params(PluginParams):
        kappa: float = Field(gt=0, description="penalty stiffness κ [energy/length²]")
        slave_below: float = Field(1e-3, ge=0.0, lt=1.0,
                                   description="atoms of H with weight β̄ below this get strong (per-atom) "
                                               "constraints instead of a penalty spring (nearly massless "
                                               "edge atoms, which a spring κ·β̄ cannot hold against the "
                                               "blended energy's ghost forces); 0 = none")

    def constraint_matrix(self, ctx: CouplingContext):  # noqa: ANN201
        """The strong rows (n_s·d, n_dof) of the atoms of H with β̄ < ``slave_below`` (None when there are
        none); the penalty's own rows ``self._G`` over the others (``self._pen``: their positions in
        ``ctx.constrained``)."""
        sb = float(self.params.slave_below)
        n_c = len(ctx.constrained)
        low = np.zeros(n_c, bool)
        if sb > 0.0 and ctx.weights is not None:
            low = np.asarray(ctx.weights) < sb
        self._pen = np.flatnonzero(~low).astype(np.int64)
        if not np.any(low):
            self._G = strong_rows(ctx)
            return None
        self._G = strong_rows(_subset(ctx, self._pen))
        return strong_rows(_subset(ctx, np.flatnonzero(low)))

    def prepare(self, system) -> None:  # noqa: ANN001
        b = system.atom_weight[system.free[system.constrained[self._pen]]]
        c = np.repeat(np.minimum(b, 1.0 - b), system.d)
        self._W = sp.diags(self.params.kappa * c)
        K = (self._G.T @ self._W @ self._G).tocsr()
        self._K = K
        # only the dofs of the atoms of H and of their nodes enter: K restricted to them, and their flat
        # indices in the regions' arrays (cost ∝ handshake; forces bitwise those of the full K)
        t = np.unique(K.indices).astype(np.int64)
        self._Kt = K[t][:, t].tocsr()
        self._ta, self._tn = system.dof_flat(t)

    def stable_dt(self, system, atom_omega2: np.ndarray, node_omega2: float) -> float:  # noqa: ANN001
        """Stable Verlet step 2/ω_max [time] of the dofs the penalty springs touch (the atoms of H and their
        nodes), with the springs' stiffness added to each dof's own bound. The penalty energy
        ½ qᵀ K q, K = κ Gᵀ C G (G the strong rows u_a − Σ_I N_I(X_a) U_I, C = diag(c_a)), gives by
        Gershgorin on M⁻¹K, row by row:

            ω_k² ≤ ω_own,k² + Σ_j |K_kj| / M_k,

        for an atom ≤ ω_own² + 2κ c_a/(β̄_a m_a) ≤ ω_own² + 2κ/m_a; for a node I, 2κ Σ_a c_a N_I(X_a)/M_I
        with M_I = ∫ α ρ N_I its α-weighted lumped mass, which is unbounded: a node at the continuum's
        edge of the blend has a tiny M_I while the atoms around it keep c_a = 1 − β̄_a of their cells.
        ``atom_omega2`` (n,) [1/time²]: ω_own² of the region's atoms (the weighted atoms' bound,
        `diagnostics.stability.weighted_atoms_omega2`; 0 where not given); ``node_omega2`` [1/time²]: the
        continuum's (2/Δt_continuum)². Massless nodes (α = 0: held) are left out. inf when no dof is stiff."""
        d = system.d
        R = np.asarray(abs(self._Kt).sum(axis=1)).ravel()           # (k,) Gershgorin row sums
        na = self._ta.size
        ia, inode = self._ta // d, self._tn // d
        M = np.concatenate([np.asarray(system.atom_mass, float)[ia], np.asarray(system.node_mass, float)[inode]])
        own = np.concatenate([np.asarray(atom_omega2, float)[ia], np.full(inode.size, float(node_omega2))])
        keep = M > 0.0
        keep[:na] |= R[:na] > 0.0               # a stiff massless atom: no stable step (inf below)
        with np.errstate(divide="ignore"):
            om2 = own[keep] + np.where(M[keep] > 0.0, R[keep] / np.where(M[keep] > 0.0, M[keep], 1.0), np.inf)
        if om2.size == 0 or not float(np.max(om2)) > 0.0:
            return float("inf")
        return 2.0 / float(np.sqrt(np.max(om2)))

    def add_forces(self, system, f_atoms: np.ndarray, f_nodes: np.ndarray) -> float:  # noqa: ANN001
        ta, tn = self._ta, self._tn
        q = np.concatenate([(system.atoms.x.reshape(-1)[ta] - system.atoms.X.reshape(-1)[ta]),
                            system.continuum.U.reshape(-1)[tn]])
        fq = -(self._Kt @ q)
        f_atoms.reshape(-1)[ta] += fq[: ta.size]
        f_nodes.reshape(-1)[tn] += fq[ta.size:]
        return -0.5 * float(q @ fq)
