"""Common base of the coupling methods (COUPLINGS registry) and the constraint-row builders.

Stacked displacement vector (docs/physics.md §3): ``q = (u_free_atoms, U_nodes)``, flattened row-major, i.e.
dof ``i*d + k`` is component k of free atom i, dof ``n_free*d + I*d + k`` component k of node I. A method
gives the kinematic constraint matrix ``G`` (scipy.sparse CSR, (n_rows, n_dof)) enforced exactly by the
integrator (``G q = 0``), and may add forces/energy of its own each step (penalty, dead loads, force
blending).

A method sees the coupled system through a `CouplingContext` built by `CoupledSystem`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from ..._lazy import lazy_module
from ...registry import PluginParams

sp = lazy_module("scipy.sparse")


@dataclass
class CouplingContext:
    """What a coupling method needs to build its operators.

    d : dimension;  n_free : number of free (weighted, non-pad) atoms;  n_nodes : N
    constrained : (n_c,) int64 indices (into the free-atom numbering) of the atoms of H
    N_c : scipy.sparse CSR (n_c, N), N_I(X_a) of the constrained atoms
    weights : (n_c,) β̄ of the constrained atoms (or None)
    """

    d: int
    n_free: int
    n_nodes: int
    constrained: np.ndarray
    N_c: sp.csr_matrix
    weights: np.ndarray | None = None

    @property
    def n_dof(self) -> int:
        return (self.n_free + self.n_nodes) * self.d


def strong_rows(ctx: CouplingContext) -> sp.csr_matrix:
    """d rows per atom of H: ``u_a − Σ_I N_I(X_a) U_I = 0``; returns G (n_c*d, n_dof)."""
    n_c = len(ctx.constrained)
    S = sp.csr_matrix((np.ones(n_c), (np.arange(n_c), ctx.constrained)), shape=(n_c, ctx.n_free))
    A = sp.hstack([S, -ctx.N_c], format="csr")
    return sp.kron(A, sp.identity(ctx.d), format="csr")


def projected_rows(ctx: CouplingContext) -> sp.csr_matrix:
    """d rows per node touched by an atom of H: ``Σ_a N_I(X_a) (u_a − Σ_J N_J(X_a) U_J) = 0``.

    Rows of nodes that no atom of H touches are dropped; linearly dependent rows are removed later by
    the integrator's factorisation (`ConstraintProjector`)."""
    n_c = len(ctx.constrained)
    S = sp.csr_matrix((np.ones(n_c), (np.arange(n_c), ctx.constrained)), shape=(n_c, ctx.n_free))
    A = sp.hstack([S, -ctx.N_c], format="csr")
    P = (ctx.N_c.T @ A).tocsr()
    P.eliminate_zeros()
    touched = np.flatnonzero(np.asarray(abs(ctx.N_c).sum(axis=0)).ravel() > 0)
    P = P[touched]
    return sp.kron(P, sp.identity(ctx.d), format="csr")


ROW_BUILDERS = {"strong": strong_rows, "projected": projected_rows}


def _subset(ctx: CouplingContext, idx: np.ndarray) -> CouplingContext:
    return CouplingContext(d=ctx.d, n_free=ctx.n_free, n_nodes=ctx.n_nodes, constrained=ctx.constrained[idx],
                           N_c=ctx.N_c[idx], weights=None if ctx.weights is None else ctx.weights[idx])


def projected_with_slaves(ctx: CouplingContext, slave_below: float) -> sp.csr_matrix:
    """Projected rows over the atoms of H with β̄ ≥ slave_below, strong rows for the others (the floppy
    edge atoms). Keeping the slaved atoms out of the projected sums keeps the two row sets independent
    (overlapping sets make G M⁻¹ Gᵀ nearly singular and the projection noisy)."""
    if slave_below <= 0.0 or ctx.weights is None:
        return projected_rows(ctx)
    low = ctx.weights < slave_below
    if not np.any(low):
        return projected_rows(ctx)
    parts = [strong_rows(_subset(ctx, np.flatnonzero(low)))]
    if np.any(~low):
        parts.insert(0, projected_rows(_subset(ctx, np.flatnonzero(~low))))
    return sp.vstack(parts, format="csr")


class ConstraintParams(PluginParams):
    """Parameters of methods that take their constraint rows from a choice."""

    constraint: str = Field("projected", pattern="^(strong|projected|none)$",
                            description="kinematic constraints: strong (per atom), projected (per node) "
                                        "or none")
    slave_below: float = Field(0.0, ge=0.0, lt=1.0,
                               description="projected: atoms of H with weight β̄ below this also get strong "
                                           "(per-atom) constraints; 0 = none")


class CouplingMethod:
    """Base class. ``energy_based``: atoms carry β̄-weighted energy and the continuum α-weighted energy
    (False for force blending). Subclasses set ``Params`` and override what they need."""

    energy_based: bool = True
    #: the atoms of H are held to the mesh by springs of the method's own energy, exact rows (if any) only
    #: on some of them (penalty: the atoms of β̄ < slave_below): quantities read from the constraint rows
    #: alone (the atoms' free share, `coupling/thermal_share.py`) do not describe the coupling
    springs: bool = False

    class Params(PluginParams):
        """No parameters."""

    def __init__(self, params: PluginParams | None = None) -> None:
        self.params = params if params is not None else self.Params()

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None):  # noqa: ANN001, ANN206
        return cls(params)

    def constraint_matrix(self, ctx: CouplingContext) -> sp.csr_matrix | None:
        """G (n_rows, n_dof) or None for no exact constraints."""
        kind = getattr(self.params, "constraint", "none")
        if kind == "none":
            return None
        if kind == "projected":
            return projected_with_slaves(ctx, getattr(self.params, "slave_below", 0.0))
        return ROW_BUILDERS[kind](ctx)

    def prepare(self, system) -> None:  # noqa: ANN001
        """Called once after the system is assembled (e.g. to record reference forces)."""

    def surface_attached(self, system) -> None:  # noqa: ANN001
        """Called after the continuum's surface term (``continuum.surface_stress``) is attached, which
        happens after `prepare`: methods that re-weight the continuum (force blending) adjust to it."""

    def add_forces(self, system, f_atoms: np.ndarray, f_nodes: np.ndarray) -> float:  # noqa: ANN001
        """Add the method's own forces in place (f_atoms (n, d), f_nodes (N, d)); return its energy."""
        return 0.0


def element_diameter(mesh) -> float:  # noqa: ANN001
    """Largest distance between two nodes of one element of `mesh` [length]."""
    d = 0.0
    for blk in mesh.blocks:
        Xe = mesh.nodes[blk.conn]
        diff = Xe[:, :, None, :] - Xe[:, None, :, :]
        d = max(d, float(np.sqrt(np.max(np.sum(diff * diff, axis=-1)))))
    return d
