"""Penalty (Arlequin-style) coupling: ``E_coupling = ½ κ Σ_a c_a |u_a − Σ_I N_I(X_a) U_I|²``, no multipliers.

The sum runs over the atoms of H (the strong-constraint rows). The row weight ``c_a = min(β̄_a, 1 − β̄_a)`` is
proportional to the atom's mass share AND to the continuum's share of its cell, so the penalty frequency
stays ≤ √(κ/m) on both sides (an unweighted penalty on atoms or nodes of vanishing mass is unstable for
any time step). κ [energy/length²]; the stable time step falls like 1/√κ.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..._lazy import lazy_module
from ...registry import COUPLINGS, PluginParams
from .base import CouplingContext, CouplingMethod, strong_rows

sp = lazy_module("scipy.sparse")


@COUPLINGS.register("penalty")
class PenaltyCoupling(CouplingMethod):
    """Energy blending plus a weighted penalty on the per-atom compatibility ``u_a − N U``."""

    class Params(PluginParams):
        kappa: float = Field(gt=0, description="penalty stiffness κ [energy/length²]")

    def constraint_matrix(self, ctx: CouplingContext):  # noqa: ANN201
        self._G = strong_rows(ctx)
        return None

    def prepare(self, system) -> None:  # noqa: ANN001
        b = system.atom_weight[system.free[system.constrained]]
        c = np.repeat(np.minimum(b, 1.0 - b), system.d)
        self._W = sp.diags(self.params.kappa * c)
        K = (self._G.T @ self._W @ self._G).tocsr()
        self._K = K
        # only the dofs of the atoms of H and of their nodes enter: K restricted to them, and their flat
        # indices in the regions' arrays (cost ∝ handshake; forces bitwise those of the full K)
        t = np.unique(K.indices).astype(np.int64)
        self._Kt = K[t][:, t].tocsr()
        self._ta, self._tn = system.dof_flat(t)

    def add_forces(self, system, f_atoms: np.ndarray, f_nodes: np.ndarray) -> float:  # noqa: ANN001
        ta, tn = self._ta, self._tn
        q = np.concatenate([(system.atoms.x.reshape(-1)[ta] - system.atoms.X.reshape(-1)[ta]),
                            system.continuum.U.reshape(-1)[tn]])
        fq = -(self._Kt @ q)
        f_atoms.reshape(-1)[ta] += fq[: ta.size]
        f_nodes.reshape(-1)[tn] += fq[ta.size:]
        return -0.5 * float(q @ fq)
