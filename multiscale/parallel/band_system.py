"""The handshake's replicated part of a coupled model built from the handshake BAND's atoms only (per-rank
build, step 4 of docs/parallel.md "Per-rank build"): the constraint rows G, the atoms of H, the pads' plan,
the masses, the projector's factorisation and the serial integrator's local (touched / active dof) solve —
everything `parallel.coupled_spatial.SpatialCoupled` takes from the serial `CoupledSystem` and
`VelocityVerlet` for the handshake — without the serial model's O(n) arrays.

The band: the free atoms of H (`Handshake.in_handshake`) and the pads, sorted by global id (= the serial
atom index), each with its free id (index among the serial model's non-pad atoms, -1 or anything for pads),
β̄, pad flag and full mass; plus the model's ``n_atoms`` and ``n_free``. Every value below is BITWISE the
serial model's (tests/parallel/test_band_system.py), because the same code runs on the same per-atom values:

* β̄ → masses β̄ m, pads (β̄ = 0), the atoms of H (`Handshake.in_handshake`, pointwise), N_c and N_pad
  (`ContinuumRegion.interpolation_matrix`, pointwise), the mass floor (`coupling.coupled.floor_masses`),
  the continuum's blend (`coupling.coupled.blend_continuum`) — the functions `CoupledSystem` calls;
* G: the method's own ``constraint_matrix`` on a `CouplingContext` over the band's free atoms (a COMPACT
  column numbering: the band's free atoms' dofs, then every node's), its column indices then mapped to the
  serial stacked numbering (free atoms, then nodes). The map is increasing, and the row builders
  (`coupling.methods.base`: sparse products, stacks, Kronecker products) order and sum entries by their
  position, not their labels, so ``G`` is the serial G entry by entry (same indptr, data and order);
* the projector: `ConstraintProjector` on the compact G and the compact inverse masses: it restricts G to
  its used columns before any arithmetic, so its rows, factorisation, per-step solve arrays and slaved rows
  are the serial projector's; its ``touched`` / ``active`` are compact (use ``touched`` / ``active`` of
  this object for the serial numbering, and the flat indices ``t_atom``, ``t_node``, ``a_atom``,
  ``a_node`` as `VelocityVerlet._t_atom` etc.);
* the pad plan: `CoupledSystem._pads` itself (it reads ``pad_idx``, ``N_pad``, ``_X_pad``).

Covered couplings (`band_refusal`): ``projected`` (with and without ``slave_below``), ``strong``, ``penalty``
(no rows; its ``prepare`` runs on a band view: ``_Kt``, ``_ta``, ``_tn`` the serial ones). Refused:
``ghost_corrected`` (its correction band holds free atoms outside H within the potential's reach, and its
surface test reads every atom's neighbours) and ``force_blend`` (its ``prepare`` re-blends the continuum and
weights every atom by β(X): per-atom arrays over all atoms), and any other method.

Memory: O(band + nodes) — no array over all atoms or all dofs (G's CSR has r + 1 row pointers).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .._lazy import lazy_module
from ..coupling.coupled import CoupledSystem, blend_continuum, floor_masses
from ..coupling.methods.base import CouplingContext
from ..coupling.projector import ConstraintProjector
from ..integrate.verlet import REPROJECT_EPS

sp = lazy_module("scipy.sparse")

__all__ = ["BandSystem", "band_refusal"]


def band_refusal(method) -> tuple[str, str] | None:  # noqa: ANN001
    """(deck key, message) when the band build does not cover the coupling ``method``, else None."""
    from ..coupling.methods.penalty import PenaltyCoupling
    from ..coupling.methods.projected import ProjectedCoupling
    from ..coupling.methods.strong import StrongCoupling
    name = type(method).__name__
    what = "is not built from the handshake band's atoms (per-rank build of the spatial path)"
    if type(method) in (ProjectedCoupling, StrongCoupling, PenaltyCoupling):
        return None
    from ..coupling.methods.force_blend import ForceBlendCoupling
    from ..coupling.methods.ghost_corrected import GhostCorrectedCoupling
    if type(method) is GhostCorrectedCoupling:
        return "handshake.coupling", (f"coupling '{name}' {what}: its correction band holds free atoms "
                                      "outside H within the potential's reach and its surface test reads "
                                      "every atom's neighbours")
    if type(method) is ForceBlendCoupling:
        return "handshake.coupling", (f"coupling '{name}' {what}: its set-up weights every atom by β(X) and "
                                      "re-blends the continuum")
    return "handshake.coupling", f"coupling '{name}' {what}"


class BandSystem:
    """The handshake's replicated part from the band's atoms (module docstring).

    Parameters
    ----------
    continuum : ContinuumRegion (replicated); its blend is set here as `CoupledSystem` sets it unless
                ``blend`` is False (then ``continuum.lumped_mass`` must be that blend's)
    handshake : Handshake;  method : the coupling method (a fresh object: `penalty` keeps its matrices on it)
    cell : (d, d) primitive vectors [length] (β̄ is checked against ``handshake.atom_weights(X, cell)``
           bitwise unless ``check`` is False)
    X : (b, d) reference positions [length] of the band's atoms, sorted by ``gid``
    gid : (b,) int global ids (serial atom indices), strictly increasing
    free_id : (b,) int index of each free atom among the serial model's non-pad atoms (pads: ignored)
    beta : (b,) β̄;  pad : (b,) bool (exactly the atoms with β̄ ≤ 0);  mass : (b,) full atom masses [internal]
    n_atoms, n_free : the whole model's atoms (free + pads) and free atoms
    mass_floor, n_sub : as `CoupledSystem`
    fixed_atoms : (b, d) bool held components of the band's atoms (the serial ``fix_dofs`` atom mask at the
                  band's rows) or None;  fixed_nodes : (N, d) bool or None

    Attributes (serial numbering; b_f free band atoms, n_c atoms of H, N nodes):
    ``G`` (r, (n_free + N) d) CSR or None; ``constrained`` (n_c,) int64 free ids of the atoms of H
    (`CoupledSystem.constrained`); ``gid_constrained`` (n_c,) their global ids; ``N_c`` (n_c, N),
    ``N_pad`` (n_pad, N) CSR; ``pad_idx`` (n_pad,) int64 global ids; ``_X_pad`` (n_pad, d); ``_pads()``;
    ``atom_mass`` (b,), ``node_mass`` (N,), ``active_nodes`` (N,) bool, ``floored`` (k,) int64 global ids;
    ``inv_atoms`` (b, d) (`VelocityVerlet._inv_atoms` at the band's rows), ``inv_nodes`` (N, d);
    ``projector`` (`ConstraintProjector` over the compact columns) or None; ``local`` (its local solve
    exists: `VelocityVerlet._local`); ``touched``, ``active`` stacked dof indices; ``t_atom``, ``a_atom``
    flat (atom, component) indices into (n_atoms, d), ``t_node``, ``a_node`` into (N, d); ``inv_t``;
    ``reproject_tol``; ``col_stacked`` / ``col_flat`` the compact column → serial maps.
    """

    def __init__(self, continuum, handshake, method, cell, X: np.ndarray,  # noqa: ANN001
                 gid: np.ndarray, free_id: np.ndarray, beta: np.ndarray, pad: np.ndarray, mass: np.ndarray,
                 n_atoms: int, n_free: int, *, mass_floor: float = 0.0, n_sub: int = 8, blend: bool = True,
                 fixed_atoms: np.ndarray | None = None, fixed_nodes: np.ndarray | None = None,
                 check: bool = True) -> None:
        why = band_refusal(method)
        if why is not None:
            raise ValueError(f"{why[0]}: {why[1]}")
        X = np.ascontiguousarray(X, float)
        b, d = X.shape
        gid = np.asarray(gid, np.int64).reshape(-1)
        beta = np.asarray(beta, float).reshape(-1)
        pad = np.asarray(pad, bool).reshape(-1)
        mass = np.asarray(mass, float).reshape(-1)
        free_id = np.asarray(free_id, np.int64).reshape(-1)
        if not all(a.shape == (b,) for a in (gid, beta, pad, mass, free_id)):
            raise ValueError(f"band arrays must all have {b} rows")
        if b and (np.any(np.diff(gid) <= 0) or gid[0] < 0 or gid[-1] >= n_atoms):
            raise ValueError("gid must be strictly increasing global ids in [0, n_atoms)")
        if not np.array_equal(pad, beta <= 0.0):
            raise ValueError("pad must flag exactly the band atoms with β̄ ≤ 0")
        fl = np.flatnonzero(~pad)
        fid = free_id[fl]
        if fl.size and (np.any(np.diff(fid) <= 0) or fid[0] < 0 or fid[-1] >= n_free):
            raise ValueError("free_id of the free atoms must be strictly increasing in [0, n_free)")
        if check and b and not np.array_equal(handshake.atom_weights(X, cell), beta):
            raise ValueError("β̄ differs from the handshake's atom weights of X (not the model's band)")
        N = int(continuum.nodes.shape[0])
        self.d, self.n_atoms, self.n_free, self.n_nodes = d, int(n_atoms), int(n_free), N
        self.continuum, self.handshake, self.method = continuum, handshake, method
        self.cell = np.atleast_2d(np.asarray(cell, float))
        self.X, self.gid, self.atom_weight, self.pad = X, gid, beta, pad
        self.free_local = fl                          # band positions of the free atoms
        self.free_gid = gid[fl]
        self.free_id = fid
        # ---- masses (`CoupledSystem`: β̄ m, pads 0; the continuum's α-weighted lumped masses)
        self.node_mass = (blend_continuum(continuum, handshake, n_sub) if blend
                          else np.array(continuum.lumped_mass, dtype=float))
        self.atom_mass = np.where(pad, 0.0, beta * mass)
        # ---- atoms of H, interpolation, pads
        in_h = handshake.in_handshake(X[fl])
        self.constrained_local = np.flatnonzero(in_h).astype(np.int64)       # among the band's free atoms
        hl = fl[self.constrained_local]                                     # band positions of the atoms of H
        self.constrained = fid[self.constrained_local]                      # serial free numbering
        self.gid_constrained = gid[hl]
        self.N_c = continuum.interpolation_matrix(X[hl]).tocsr()
        pl = np.flatnonzero(pad)
        self.pad_idx = gid[pl]
        self.N_pad = continuum.interpolation_matrix(X[pl]).tocsr()
        self._X_pad = X[pl]
        self._pad_plan = None
        self.floored = np.zeros(0, dtype=np.int64)
        if mass_floor > 0.0:
            low = floor_masses(mass[hl], beta[hl], self.N_c, self.node_mass, mass_floor)
            if low is not None:
                self.atom_mass[hl[low]] = mass_floor * mass[hl[low]]
                self.floored = gid[hl[low]]
        self.active_nodes = self.node_mass > 0.0
        # ---- inverse masses of the compact dofs (band free atoms, then nodes), `CoupledSystem.inv_mass_dof`
        nb = fl.size
        inv = np.zeros((nb + N, d))
        with np.errstate(divide="ignore"):
            if nb:
                inv[:nb] = (1.0 / self.atom_mass[fl])[:, None]
            if N:
                safe = np.where(self.active_nodes, self.node_mass, 1.0)
                inv[nb:] = np.where(self.active_nodes, 1.0 / safe, 0.0)[:, None]
        self.inv_unheld = inv.ravel().copy()          # `CoupledSystem.inv_mass_unheld`
        if fixed_atoms is not None and nb:              # `CoupledSystem.fix_dofs`
            inv[:nb][np.asarray(fixed_atoms, bool).reshape(b, d)[fl]] = 0.0
        if fixed_nodes is not None and N:
            inv[nb:][np.asarray(fixed_nodes, bool).reshape(N, d)] = 0.0
        self.inv_compact = inv.ravel()
        self.inv_atoms = np.zeros((b, d))             # `VelocityVerlet._inv_atoms` at the band's rows
        self.inv_atoms[fl] = inv[:nb]
        self.inv_nodes = np.ascontiguousarray(inv[nb:])
        # compact column -> serial stacked dof / flat (atom or node array) index
        cd = np.arange(d, dtype=np.int64)
        self.n_compact_atom_dofs = nb * d
        self.col_stacked = np.concatenate([(fid[:, None] * d + cd).ravel(),
                                           self.n_free * d + np.arange(N * d, dtype=np.int64)])
        self.col_flat = np.concatenate([(self.free_gid[:, None] * d + cd).ravel(),
                                        np.arange(N * d, dtype=np.int64)])
        # ---- constraint rows: the method's builder on the compact context, columns relabelled
        self.ctx = CouplingContext(d=d, n_free=nb, n_nodes=N, constrained=self.constrained_local,
                                   N_c=self.N_c, weights=beta[hl])
        G_c = method.constraint_matrix(self.ctx)
        self.G_compact = G_c
        self.G = None
        if G_c is not None:
            G_c = G_c.tocsr() if G_c.format != "csr" else G_c
            self.G = sp.csr_matrix((G_c.data, self.col_stacked[G_c.indices], G_c.indptr),
                                   shape=(G_c.shape[0], (self.n_free + N) * d))
        # ---- the method's set-up on the band (penalty: its K over the atoms of H and their nodes)
        method.prepare(SimpleNamespace(d=d, atom_weight=beta, free=fl, constrained=self.constrained_local,
                                       dof_flat=self.dof_flat_compact, N_c=self.N_c, N_pad=self.N_pad))
        # ---- the projector and the serial integrator's local solve (`VelocityVerlet._setup_local`)
        self.projector = ConstraintProjector(G_c, self.inv_compact, unheld=self.inv_unheld) \
            if G_c is not None else None
        p = self.projector
        self.local = p is not None and p._lu is not None
        e0 = np.zeros(0, np.int64)
        self.touched = self.active = self.t_atom = self.t_node = self.a_atom = self.a_node = e0
        self.inv_t = np.zeros(0)
        self.reproject_tol = np.inf
        if self.local:
            self.touched = self.col_stacked[p.touched]
            self.active = self.col_stacked[p.active]
            self.t_atom, self.t_node = self.dof_flat_compact(p.touched)
            self.a_atom, self.a_node = self.dof_flat_compact(p.active)
            self.inv_t = self.inv_compact[p.touched]
            Xt = self.X.reshape(-1)[self._band_flat(self.t_atom)]
            ext = [float(np.max(np.abs(Xt), initial=0.0)),
                   float(np.max(np.abs(continuum.nodes.reshape(-1)[self.t_node]), initial=0.0)) if N else 0.0]
            self.reproject_tol = REPROJECT_EPS * np.finfo(float).eps * max(ext)

    # the compiled pad loops' arrays: the serial code (reads pad_idx, N_pad, _X_pad, _pad_plan)
    _pads = CoupledSystem._pads

    def dof_flat_compact(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted compact dof indices (k,) -> (flat indices into the serial (n_atoms, d) atom arrays, flat
        indices into the (N, d) node arrays): `CoupledSystem.dof_flat` of the same dofs, serial numbering."""
        idx = np.asarray(idx, np.int64)
        k = self.n_compact_atom_dofs
        return self.col_flat[idx[idx < k]], idx[idx >= k] - k

    def _band_flat(self, flat_atoms: np.ndarray) -> np.ndarray:
        """Serial flat atom indices (gid·d + k) of band atoms -> flat indices into the band's (b, d) array."""
        d = self.d
        return np.searchsorted(self.gid, flat_atoms // d) * d + flat_atoms % d

    def band_rows(self, flat_atoms: np.ndarray) -> np.ndarray:
        """Band positions (m,) of the atoms of serial flat indices (m·d … sorted) — e.g. the touched atoms'
        rows: ``band_rows(t_atom)`` with duplicates removed."""
        return np.searchsorted(self.gid, np.unique(np.asarray(flat_atoms, np.int64) // self.d))
