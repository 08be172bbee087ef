"""The assembled coupled system: atoms + continuum + handshake + coupling method (docs/physics.md §1–4).

`CoupledSystem` computes, once, the weights (β̄ per atom, bond weights, α per quadrature point), the
masses (atoms β̄_a m_a, nodes M^α), the pad atoms and their interpolation matrix, the interpolation of the
atoms of H and the constraint matrix G of the coupling method; each step it evaluates the forces of both
regions, moves pads with the mesh and transfers pad forces to the nodes. It is also a plain MD or plain FE
system when one region is None (then there is no handshake and no constraint).

Stacked dofs: q = (u_free_atoms, U_nodes) flattened row-major (see methods/base.py). Shapes: n atoms held
by the AtomisticRegion (free + pad), N nodes, d dimension. Masses are internal force-mass units.
"""

from __future__ import annotations

import inspect
import itertools

import numpy as np

from .._kernels import load as _load_kernel
from .._lazy import lazy_module
from .methods.base import CouplingContext, CouplingMethod

sp = lazy_module("scipy.sparse")


def blend_continuum(continuum, handshake, n_sub: int) -> np.ndarray:  # noqa: ANN001
    """``continuum.set_blend`` as the coupled model sets it: α of the handshake (None: α = 1, a continuum
    alone), ``n_sub`` sub-quadrature points per direction; returns a copy of the lumped masses M^α (N,)
    [mass]. Shared by `CoupledSystem` and the spatial path's band build (`parallel.band_system`)."""
    # alpha_const: where α is certainly constant the region skips evaluating it (same values)
    takes_const = "alpha_const" in inspect.signature(continuum.set_blend).parameters
    if handshake is not None:
        continuum.set_blend(handshake.alpha, n_sub, **(
            {"alpha_const": handshake.alpha_on_balls, "alpha_axes": handshake.alpha_axes}
            if takes_const else {}))
    else:
        continuum.set_blend(lambda X: np.ones(len(X)), n_sub, **(
            {"alpha_const": lambda C, R: np.ones(len(C))} if takes_const else {}))
    return np.array(continuum.lumped_mass, dtype=float)


def floor_masses(m_full: np.ndarray, beta: np.ndarray, N_c, node_mass: np.ndarray,  # noqa: ANN001
                 floor: float) -> np.ndarray | None:
    """The mass floor (`CoupledSystem` ``mass_floor``) of the atoms of H: m_full (n_c,) their full masses,
    beta (n_c,) their weights β̄, N_c (n_c, N) their interpolation matrix, node_mass (N,) M^α, reduced IN
    PLACE by N_cᵀ ((floor − β̄) m) over the atoms with β̄ < floor. Returns that (n_c,) bool mask (their mass
    becomes floor · m_full), or None when no atom is below the floor (nothing changed). ValueError when a
    node that gives mass would be left without mass."""
    low = beta < floor
    if not np.any(low):
        return None
    extra = np.where(low, (floor - beta) * m_full, 0.0)
    take = N_c.T @ extra
    # only the nodes that give mass are checked: massless nodes (α = 0 in the core) that give nothing stay
    # massless (before, any such node refused every floor: decks/wave2d.yaml refused 0.003)
    if np.any((take > 0.0) & (node_mass - take <= 0.0)):
        raise ValueError("mass_floor too large: the nodes cannot give up the mass the floored atoms need")
    node_mass -= take
    return low


class CoupledSystem:
    """Assemble the coupled model.

    Parameters
    ----------
    atoms : AtomisticRegion or None (holds weighted and pad atoms; drop the others with
            `Handshake.classify` before building it)
    continuum : ContinuumRegion or None
    handshake : Handshake or None (required when both regions are given)
    method : CouplingMethod instance (COUPLINGS) or None (required when both regions are given)
    cell : (d, d) primitive vectors of the lattice [length], for the atom-cell averages
    mass_floor : float in [0, 1): atoms of H with β̄_a < mass_floor get mass mass_floor·m_a, the added mass
                 is taken from the nodes with weights N_I(X_a) (total mass unchanged). 0 = no floor.
    n_sub : sub-quadrature points per direction passed to ``ContinuumRegion.set_blend``
    atom_weight : (n,) β̄_a of ``atoms.X`` already computed, exactly ``handshake.atom_weights(atoms.X, cell)``
                  (build passes `Handshake.classify`'s weights of the kept sites: the same per-atom
                  arithmetic, so not computed twice); None = computed here
    """

    def __init__(self, atoms=None, continuum=None, handshake=None, method: CouplingMethod | None = None,  # noqa: ANN001
                 *, cell=None, mass_floor: float = 0.0, n_sub: int = 8,
                 atom_weight: np.ndarray | None = None) -> None:  # noqa: ANN001
        if atoms is None and continuum is None:
            raise ValueError("a system needs atoms, a continuum, or both")
        self.atoms, self.continuum, self.handshake, self.method = atoms, continuum, handshake, method
        self.cell = None if cell is None else np.atleast_2d(np.asarray(cell, float))
        self._n_sub = int(n_sub)
        self.coupled = atoms is not None and continuum is not None
        if self.coupled and (handshake is None or method is None):
            raise ValueError("a coupled system needs a handshake and a coupling method")
        self.d = (atoms.X if atoms is not None else continuum.nodes).shape[1]
        d = self.d
        n = 0 if atoms is None else len(atoms.X)
        N = 0 if continuum is None else len(continuum.nodes)
        self.n_atoms, self.n_nodes = n, N
        energy_based = method is None or method.energy_based

        if self.coupled:
            self.check_geometry()

        # ---- atom weights, pads
        if atoms is not None and self.coupled:
            if cell is None:
                raise ValueError("cell (primitive vectors) is needed for the atom weights")
            if atom_weight is None:
                self.atom_weight = handshake.atom_weights(atoms.X, cell)
            else:
                self.atom_weight = np.array(atom_weight, dtype=float)
                if self.atom_weight.shape != (n,):
                    raise ValueError(f"atom_weight must have shape ({n},)")
            self.alpha_atoms = handshake.alpha(atoms.X)
        else:
            self.atom_weight = np.ones(n)
            self.alpha_atoms = np.zeros(n)
        self.pad = self.atom_weight <= 0.0
        self.free = np.flatnonzero(~self.pad)
        self.pad_idx = np.flatnonzero(self.pad)
        self.n_free = len(self.free)
        if atoms is not None:
            if energy_based:
                atoms.set_weights(np.ascontiguousarray(self.atom_weight),
                                  handshake.bond_weight_fn(atoms.X) if self.coupled else None)
            else:
                atoms.set_weights(np.ones(n), None)

        # ---- continuum weights and masses
        self.node_mass = np.zeros(N)
        if continuum is not None:
            self.node_mass = blend_continuum(continuum, handshake if self.coupled else None, n_sub)
        self.atom_mass = np.zeros(n)
        if atoms is not None:
            self.atom_mass = np.where(self.pad, 0.0, self.atom_weight * np.asarray(atoms.mass, float))

        # ---- handshake atoms, interpolation
        self.floored = np.zeros(0, dtype=np.int64)
        if self.coupled:
            in_h = handshake.in_handshake(atoms.X[self.free])
            self.constrained = np.flatnonzero(in_h).astype(np.int64)  # free numbering
            self.N_c = continuum.interpolation_matrix(atoms.X[self.free[self.constrained]]).tocsr()
            self.N_pad = continuum.interpolation_matrix(atoms.X[self.pad_idx]).tocsr()
            self._X_pad = atoms.X[self.pad_idx]
            if mass_floor > 0.0:
                self._floor_masses(mass_floor)
        else:
            self.constrained = np.zeros(0, dtype=np.int64)
            self._N_c = self._N_pad = None     # empty (0, N) matrices, made on first use (N_c, N_pad)
        self.active_nodes = self.node_mass > 0.0
        self._pad_plan = None     # compiled pad loops' arrays (`_pads`), built at first use

        # ---- dof bookkeeping
        self.n_dof = (self.n_free + N) * d
        inv = np.zeros((self.n_free + N, d))
        with np.errstate(divide="ignore"):
            if self.n_free:
                inv[: self.n_free] = (1.0 / self.atom_mass[self.free])[:, None]
            if N:
                safe = np.where(self.active_nodes, self.node_mass, 1.0)
                inv[self.n_free:] = np.where(self.active_nodes, 1.0 / safe, 0.0)[:, None]
        self.inv_mass_dof = inv.ravel()  # (n_dof,), set entries to 0 to fix a dof
        #: (n_dof,) the inverse masses before `fix_dofs` held any dof (the projector's held-row test)
        self.inv_mass_unheld = self.inv_mass_dof.copy()
        # ctx.N_c is None without a coupling (the constraint rows are built for coupled systems only)
        self.ctx = CouplingContext(d=d, n_free=self.n_free, n_nodes=N, constrained=self.constrained,
                                   N_c=self.N_c if self.coupled else None,
                                   weights=self.atom_weight[self.free[self.constrained]]
                                   if self.coupled else None)
        self.G = method.constraint_matrix(self.ctx) if (self.coupled and method is not None) else None
        self.f_atoms = np.zeros((n, d))
        self.f_nodes = np.zeros((N, d))
        self.energy = {"potential_atoms": 0.0, "potential_continuum": 0.0, "coupling": 0.0}
        if self.coupled:
            self.update_pads()
            method.prepare(self)

    # ------------------------------------------------------------------ interpolation
    _N_c = _N_pad = None

    @property
    def N_c(self) -> sp.csr_matrix:
        """(n_c, N) CSR: N_I(X_a) of the constrained atoms; an empty (0, N) matrix without a coupling,
        made on first use (a plain MD run does not import scipy.sparse, ~0.2 s of start-up)."""
        if self._N_c is None:
            self._N_c = sp.csr_matrix((0, self.n_nodes))
        return self._N_c

    @N_c.setter
    def N_c(self, value: sp.csr_matrix) -> None:
        self._N_c = value

    @property
    def N_pad(self) -> sp.csr_matrix:
        """(n_pad, N) CSR: N_I(X_a) of the pad atoms (empty (0, N) without a coupling, made on first use)."""
        if self._N_pad is None:
            self._N_pad = sp.csr_matrix((0, self.n_nodes))
        return self._N_pad

    @N_pad.setter
    def N_pad(self, value: sp.csr_matrix) -> None:
        self._N_pad = value

    # ------------------------------------------------------------------ checks
    def handshake_element_size(self) -> float:
        """Largest element size [length] among the elements that intersect H (0 if none or no mesh).

        The size of an element is its largest axis-aligned extent (the generators' ``size``: h for
        bar2/quad4/hex8 and for the simplices of a split grid)."""
        mesh = getattr(self.continuum, "mesh", None)
        if mesh is None:
            return 0.0
        size = 0.0
        for blk in mesh.blocks:
            Xe = mesh.nodes[blk.conn]  # (ne, nen, d)
            dist = self.handshake.distance(Xe.reshape(-1, self.d)).reshape(Xe.shape[:2])
            hit = (dist.min(axis=1) < self.handshake.width) & (dist.max(axis=1) > 0.0)
            if np.any(hit):
                ext = Xe[hit].max(axis=1) - Xe[hit].min(axis=1)
                size = max(size, float(np.max(ext)))
        return size

    def check_geometry(self) -> None:
        """ValueError (naming both lengths) when H is narrower than cut-off + skin or one element."""
        pot = getattr(self.atoms, "potential", None)
        nl = getattr(self.atoms, "nlist", None)
        cutoff = float(getattr(pot, "cutoff", 0.0))
        skin = float(getattr(nl, "skin", 0.0))
        self.handshake.check_geometry(cutoff, skin, self.handshake_element_size())

    # ------------------------------------------------------------------ masses
    def _floor_masses(self, floor: float) -> None:
        m_full = np.asarray(self.atoms.mass, float)[self.free[self.constrained]]
        beta = self.atom_weight[self.free[self.constrained]]
        low = floor_masses(m_full, beta, self.N_c, self.node_mass, floor)
        if low is None:
            return
        idx = self.free[self.constrained[low]]
        self.atom_mass[idx] = floor * np.asarray(self.atoms.mass, float)[idx]
        self.floored = idx.astype(np.int64)

    def fix_dofs(self, atom_mask: np.ndarray | None = None, node_mask: np.ndarray | None = None) -> None:
        """Fix components: atom_mask (n, d) bool over ALL atoms, node_mask (N, d) bool (zero inverse mass).

        Call before building the integrator (the constraint factorisation uses the inverse masses)."""
        inv = self.inv_mass_dof.reshape(-1, self.d)
        if atom_mask is not None and self.n_free:
            inv[: self.n_free][np.asarray(atom_mask, bool)[self.free]] = 0.0
        if node_mask is not None and self.n_nodes:
            inv[self.n_free:][np.asarray(node_mask, bool)] = 0.0

    # ------------------------------------------------------------------ state access
    def gather_q(self) -> np.ndarray:
        """(n_dof,) stacked displacements (u of free atoms = x − X, U of nodes)."""
        parts = []
        if self.n_free:
            parts.append((self.atoms.x[self.free] - self.atoms.X[self.free]).ravel())
        if self.n_nodes:
            parts.append(self.continuum.U.ravel())
        return np.concatenate(parts) if parts else np.zeros(0)

    def gather_v(self) -> np.ndarray:
        """(n_dof,) stacked velocities."""
        parts = []
        if self.n_free:
            parts.append(self.atoms.v[self.free].ravel())
        if self.n_nodes:
            parts.append(self.continuum.V.ravel())
        return np.concatenate(parts) if parts else np.zeros(0)

    def split(self, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views (n_free, d) and (N, d) of a stacked (n_dof,) vector."""
        k = self.n_free * self.d
        return vec[:k].reshape(-1, self.d), vec[k:].reshape(-1, self.d)

    def scatter_add(self, vec: np.ndarray, f_atoms: np.ndarray, f_nodes: np.ndarray) -> None:
        """Add a stacked (n_dof,) vector into per-atom (n, d) / per-node (N, d) arrays."""
        va, vn = self.split(vec)
        if self.n_free:
            f_atoms[self.free] += va
        if self.n_nodes:
            f_nodes += vn

    def dof_flat(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted stacked dof indices (k,) -> (flat indices into the (n, d) atom arrays of the atom dofs,
        flat indices into the (N, d) node arrays of the node dofs), in the same order: the way to read
        or update a few stacked dofs in the regions' own arrays without stacking all of them."""
        d, nfd = self.d, self.n_free * self.d
        idx = np.asarray(idx, np.int64)
        ia = idx[idx < nfd]
        return self.free[ia // d].astype(np.int64) * d + ia % d, idx[idx >= nfd] - nfd

    def set_velocities_from_q(self, vq: np.ndarray) -> None:
        """Write stacked velocities back to the regions (pads follow the mesh)."""
        va, vn = self.split(vq)
        if self.n_free:
            self.atoms.v[self.free] = va
        if self.n_nodes:
            self.continuum.V[...] = vn
        self.update_pads()

    # ------------------------------------------------------------------ per step
    def _pads(self) -> tuple:
        """(kernel module, pad indices int64, N_pad CSR as int32 indptr / indices and data, X_pad, nodes the
        pads touch (sorted int64), N_padᵀ restricted to those nodes as CSR (int32 indptr, int32 pad
        positions in increasing order, data)): the compiled pad loops' arrays (`kernels/coupler.pyx`),
        built once (N_pad and the pads are fixed after construction)."""
        if self._pad_plan is None:
            Np = sp.csr_matrix(self.N_pad)
            if Np.nnz >= 2**31:
                raise ValueError("pad interpolation matrix too large for 32-bit indices")
            nodes = np.unique(Np.indices).astype(np.int64)
            # Nᵀ by rows (nodes), columns = pad positions; SciPy's CSR→CSC conversion is a stable counting
            # sort, so each node's entries come in increasing pad order (as the CSC product sums them)
            Nt = Np.tocsc()
            Nt.has_sorted_indices = False
            Nt.sort_indices()
            # the columns of Nᵀ without entries are exactly the nodes not in ``nodes``: all entries, in order
            Tp = np.concatenate([[0], np.cumsum(np.diff(Nt.indptr)[nodes])]).astype(np.int32)
            self._pad_plan = (_load_kernel("coupler"), np.ascontiguousarray(self.pad_idx, np.int64),
                              np.ascontiguousarray(Np.indptr, np.int32),
                              np.ascontiguousarray(Np.indices, np.int32),
                              np.ascontiguousarray(Np.data, float),
                              np.ascontiguousarray(self._X_pad, float), nodes,
                              (Tp, np.ascontiguousarray(Nt.indices, np.int32),
                               np.ascontiguousarray(Nt.data, float)))
        return self._pad_plan

    def update_pads(self, positions: bool = True, velocities: bool = True) -> None:
        """Pad atoms follow the mesh: x = X + N U (unless ``positions`` is False: U has not changed since
        the last call), v = N V (unless ``velocities`` is False: the caller overwrites them before anyone
        reads them). One compiled pass over the pads (bitwise ``X_pad + N_pad @ U``, ``N_pad @ V``)."""
        if self.coupled and len(self.pad_idx) and (positions or velocities):
            k, pad, Np, Ni, Nx, Xp, _, _ = self._pads()
            k.pads_follow(pad, Np, Ni, Nx, Xp, self.continuum.U, self.continuum.V, self.atoms.x, self.atoms.v,
                          (1 if velocities else 2) if positions else 0)

    def pad_forces_to_nodes(self, f_atoms: np.ndarray, f_nodes: np.ndarray) -> None:
        """Pads are x = X + N U: their forces act on the nodes (chain rule):
        ``f_nodes += N_padᵀ f_atoms[pad]``, then ``f_atoms[pad] = 0`` (compiled, one pass over the nodes the
        pads touch, then over the pads; bitwise the NumPy expressions). f_atoms (n, d), f_nodes (N, d),
        C-contiguous."""
        if self.coupled and len(self.pad_idx):
            k, pad, _, _, _, _, nodes, (Tp, Ti, Tx) = self._pads()
            k.pad_forces(pad, Tp, Ti, Tx, nodes, f_atoms, f_nodes)

    def compute_forces(self) -> float:
        """Forces of the current configuration into ``f_atoms`` (n, d) and ``f_nodes`` (N, d).

        Returns the potential energy Π (atoms + continuum + coupling) [energy]; terms in ``self.energy``.
        """
        Ea = Ec = 0.0
        if self.coupled and hasattr(self.method, "before_forces"):
            self.method.before_forces(self)   # e.g. a state-dependent ghost-force correction
        if self.atoms is not None:
            Ea = float(self.atoms.compute())
            self.f_atoms[...] = self.atoms.forces
        if self.continuum is not None:
            Ec = float(self.continuum.compute())
            self.f_nodes[...] = self.continuum.forces
        zeroed = False
        if self.coupled:
            if self.method.energy_based and len(self.pad_idx):
                # pads are x = X + N U: their forces act on the nodes (chain rule); pads' own forces zeroed
                self.pad_forces_to_nodes(self.f_atoms, self.f_nodes)
                zeroed = type(self.method).add_forces is CouplingMethod.add_forces   # adds nothing
            Ecoup = float(self.method.add_forces(self, self.f_atoms, self.f_nodes))
        else:
            Ecoup = 0.0
        if len(self.pad_idx) and not zeroed:
            self.f_atoms[self.pad_idx] = 0.0
        self.energy = {"potential_atoms": Ea, "potential_continuum": Ec, "coupling": Ecoup}
        return Ea + Ec + Ecoup

    def forces_q(self) -> np.ndarray:
        """(n_dof,) stacked forces of the last `compute_forces`."""
        parts = []
        if self.n_free:
            parts.append(self.f_atoms[self.free].ravel())
        if self.n_nodes:
            parts.append(self.f_nodes.ravel())
        return np.concatenate(parts) if parts else np.zeros(0)

    # ------------------------------------------------------------------ reports
    def kinetic(self) -> tuple[float, float]:
        """(kinetic_atoms, kinetic_continuum) [energy] with the coupled masses, over the dofs that move
        dynamically (fixed / prescribed components, zero inverse mass, are the loading agent's)."""
        Ka = Kc = 0.0
        dyn = (self.inv_mass_dof > 0).reshape(-1, self.d)
        if self.n_free:
            v = self.atoms.v[self.free] * dyn[: self.n_free]
            Ka = 0.5 * float(np.sum(self.atom_mass[self.free] * np.sum(v * v, axis=1)))
        if self.n_nodes:
            V = self.continuum.V * dyn[self.n_free:]
            Kc = 0.5 * float(np.sum(self.node_mass * np.sum(V * V, axis=1)))
        return Ka, Kc

    def momentum(self) -> np.ndarray:
        """(d,) total linear momentum Σ M_a v_a + Σ M_I V_I."""
        p = np.zeros(self.d)
        if self.n_free:
            p += self.atom_mass[self.free] @ self.atoms.v[self.free]
        if self.n_nodes:
            p += self.node_mass @ self.continuum.V
        return p

    def total_mass(self) -> float:
        return float(self.atom_mass.sum() + self.node_mass.sum())

    def partition_report(self) -> dict:
        """Partition of unity, pointwise and in the integral sense (docs/physics.md §2).

        ``max_pou_error``: max |α+β−1| at atoms and quadrature points (0 by definition, β = 1 − α).
        The discrete property: ``volume_atoms`` = Σ_a β̄_a V_a (V_a = |det cell|, free atoms) plus
        ``volume_continuum`` = ∫ α dV (= Σ_I M^α_I / ρ, the same quadrature as the masses) against
        ``volume_region`` V = the volume of the bounding box of the mesh nodes and of the atoms' cells
        (half a lattice-plane spacing beyond the outermost free atoms along each axis):
        ``volume_error`` = (Σβ̄V + ∫α − V)/V; and ``mass_error`` = (Σ_a β̄_a m_a + Σ_I M^α_I − ρV)/(ρV),
        ρ the continuum density (the two agree when m_a = ρ V_a). Both are exact only when the atom
        cells tile the handshake and the region's edges exactly and both quadratures are exact for β
        and α (tests/coupling/test_partition_integral.py);
        otherwise they measure the quadrature error of the non-smooth β (kinks at H's edges, corners of
        the core) and the mismatch between the cells and the region's boundary."""
        rep = {"max_pou_error": 0.0, "mass_atoms": float(self.atom_mass.sum()),
               "mass_nodes": float(self.node_mass.sum()), "floored_atoms": self.floored.tolist()}
        if self.coupled:
            hs = self.handshake
            X = np.vstack([self.atoms.X, self.continuum.qp_positions])
            rep["max_pou_error"] = float(np.max(np.abs(hs.alpha(X) + hs.beta(X) - 1.0)))
            if self.cell is not None:
                rep.update(self._integral_partition())
        return rep

    def _integral_partition(self) -> dict:
        d = self.d
        v_cell = abs(float(np.linalg.det(self.cell)))
        rho = float(self.continuum.density)
        vol_atoms = float(np.sum(self.atom_weight[self.free])) * v_cell
        vol_cont = float(np.sum(self.node_mass)) / rho
        # half the spacing of the lattice planes normal to each axis (the cells' reach beyond a flat
        # surface of atoms): half the smallest non-zero component of a short lattice vector
        combos = np.array([n for n in itertools.product((-1, 0, 1), repeat=d) if any(n)], float)
        comp = np.abs(combos @ self.cell)
        comp[comp < 1e-9 * np.max(comp)] = np.inf
        half = 0.5 * comp.min(axis=0)
        Xa = self.atoms.X[self.free]
        Xn = self.continuum.nodes
        lo = np.minimum(Xn.min(axis=0), Xa.min(axis=0) - half) if len(Xa) else Xn.min(axis=0)
        hi = np.maximum(Xn.max(axis=0), Xa.max(axis=0) + half) if len(Xa) else Xn.max(axis=0)
        V = float(np.prod(hi - lo))
        mass = float(self.atom_mass.sum() + self.node_mass.sum())
        return {"volume_atoms": vol_atoms, "volume_continuum": vol_cont, "volume_region": V,
                "volume_mesh": float(np.sum(self.continuum.qp_volumes)),
                "volume_error": (vol_atoms + vol_cont - V) / V, "mass_total": mass,
                "mass_region": rho * V, "mass_error": (mass - rho * V) / (rho * V)}
