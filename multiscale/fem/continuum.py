"""`ContinuumRegion`: the finite-element half of msim (docs/physics.md §2), matrix-free and α-weighted.

Energy ``E = Σ_q α_q W(F_q) V_q`` over all quadrature points q (V_q = Gauss weight × det J), internal
forces ``forces = −∂E/∂U`` computed by the compiled kernels of ``kernels/fem_forces.pyx``, every node's
force summed in a fixed order, so results are bitwise identical for any thread count. Three paths:
linear elements with a uniform α use element stiffness matrices shared by translated elements, and
nodes surrounded only by such elements use deduplicated node stencils (`multiscale.fem.stencil`);
elements with a varying α (the handshake) and nonlinear materials go through per-quadrature-point
stresses and per-element forces.

Units: the deck's; ``density`` in internal mass units per length^d, masses in internal mass units.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._kernels import load
from .._lazy import lazy_module
from ._blockdata import BlockData, b_matrix, build_block, element_stiffness, tributary_integrals
from .boundary import body_forces, traction_forces
from .locate import Locator
from .materials.base import Material
from .mesh import Mesh
from .stencil import build_stencils, split_relative
from .timestep import critical_dt

sp = lazy_module("scipy.sparse")

_KE_BUDGET = 64 * 2**20  # bytes of stored element stiffness per block before falling back to qp path


#: node stencils taking more than this many bytes are visited type by type (`_by_type`)
_STENCIL_SORT_BYTES = 2 << 20
#: a mesh with more node-stencil types than this (irregular meshes: one per node) gets stencils only when
#: their blocks take at most `_STENCIL_KE_FACTOR` × the element stiffness's bytes. The graded 3D bench grid
#: at L = 35 (24 325 types, 47 MB of blocks against 22.6 MB of element stiffness) fell back to the element
#: path under a factor 1: FE forces 72–78 ms per step against 26–34 ms with stencils (size sweep, session 24)
_STENCIL_MAX_TYPES = 20000
_STENCIL_KE_FACTOR = 4


def _by_type(nodes: np.ndarray, types: np.ndarray, offsets: np.ndarray) -> tuple:
    """The relative part of `split_relative` reordered by (type, node): when the stencils do not fit in
    cache (a graded 3D grid: one type for every few nodes, 15 561 types and 30 MB of blocks on
    bench_coupled's 3D mesh) each type's blocks are read once for all its nodes instead of once per node,
    and in 3D four nodes of a type go through the kernel together (`msim_stencil4_3`). Each node's force
    is computed in the same order (bitwise); only the sum of the energy over the nodes is taken in another
    order (round-off)."""
    o = np.lexsort((nodes, types))
    return np.ascontiguousarray(nodes[o]), np.ascontiguousarray(types[o]), offsets


class ContinuumRegion:
    """Finite-element region.

    Parameters: ``mesh`` (`Mesh`), ``material`` (`Material`), ``density`` ρ [mass/length^d, internal
    units], ``n_threads`` (OpenMP threads of the kernels), ``blend`` (False: `set_blend` is not called
    here and must be called before the region is used; default True, α ≡ 1).

    Attributes: ``nodes`` (N, d) reference positions; ``U``, ``V``, ``forces`` (N, d) displacements,
    velocities, internal forces (−∂E/∂U); ``qp_positions`` (nq, d), ``qp_volumes`` (nq,) [length^d];
    ``alpha_qp`` (nq,); ``lumped_mass`` (N,) [mass]. Quadrature points are numbered block by block,
    element by element (``e*nqe + q`` within a block).
    """

    def __init__(self, mesh: Mesh, material: Material, density: float, n_threads: int = 1,
                 blend: bool = True) -> None:
        if material.dim != mesh.dim:
            raise ValueError(f"{material.dim}D material on a {mesh.dim}D mesh")
        if not density > 0:
            raise ValueError("density must be > 0")
        self.mesh = mesh
        self.material = material
        self.density = float(density)
        self.n_threads = int(n_threads)
        if hasattr(material, "n_threads"):  # compiled materials (cauchy_born) thread with the region
            material.n_threads = self.n_threads
        self._k = load("fem_forces")
        N, d = mesh.n_nodes, mesh.dim
        self.nodes = mesh.nodes
        self.U = np.zeros((N, d))
        self.V = np.zeros((N, d))
        self.forces = np.zeros((N, d))
        self._blocks: list[BlockData] = []
        nq = rows = 0
        for blk in mesh.blocks:
            bd = build_block(mesh.nodes, blk, nq, rows)
            if material.is_linear and bd.dN.shape[0] * (blk.element.nen * d) ** 2 * 8 <= _KE_BUDGET:
                Ke = element_stiffness(bd, material.C)
                bd.Ke = np.ascontiguousarray(0.5 * (Ke + Ke.transpose(0, 2, 1)))
            rows_node = blk.conn.ravel()
            if rows_node.size >= 2**31 - 1:
                raise ValueError("mesh too large for the int32 node-incidence lists (≥ 2^31 entries)")
            bd.ent = np.argsort(rows_node, kind="stable").astype(np.int32)
            bd.ptr = np.concatenate([[0], np.cumsum(np.bincount(rows_node, minlength=N))]).astype(np.int32)
            bd.conn32 = blk.conn.astype(np.int32)
            bd.geom32 = bd.geom.astype(np.int32)
            self._blocks.append(bd)
            nq += bd.ne * bd.nqe
            rows += bd.ne * blk.element.nen
        self.qp_volumes = np.concatenate([bd.Vq[bd.geom].ravel() for bd in self._blocks])
        self.qp_positions = np.concatenate([
            np.einsum("qa,ead->eqd", bd.block.element.shape(bd.block.element.quadrature()[0]),
                      mesh.nodes[bd.conn]).reshape(-1, d) for bd in self._blocks])
        self._fe = np.zeros((rows, d))
        self._we = [np.zeros(bd.ne) for bd in self._blocks]
        self._F = None if material.is_linear else np.zeros((nq, d, d))
        self._P = None if material.is_linear else np.zeros((nq, d, d))
        self._Wq = None if material.is_linear else np.zeros(nq)
        self._en_chunk = np.zeros((N + 255) // 256)
        self._no_ke = np.zeros((1, 1, 1))
        self._locator: Locator | None = None
        self.surface = None      # `multiscale.fem.surface_stress.SurfaceStress` (set_surface), or None
        # blend=False: no α ≡ 1 blend here; the caller sets one (`set_blend`) before anything else uses the
        # region (build.py: `CoupledSystem` always does, so its blend is the only one computed)
        if blend:
            self.set_blend(None)

    def set_surface(self, surface) -> None:  # noqa: ANN001
        """Attach a surface term (`SurfaceStress`): `compute` adds its energy and forces, weighted by the
        blend of `set_blend` (None: no surface term)."""
        self.surface = surface
        if surface is not None:
            surface.set_blend(self._alpha_fn)

    # ------------------------------------------------------------------ blending
    def set_blend(self, alpha_fn: Callable[[np.ndarray], np.ndarray] | None, n_sub: int = 4,
                  alpha_const: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                  alpha_axes: Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None = None) -> None:
        """Set the continuum weight α (``alpha_fn(X (m, d)) -> (m,)`` in [0, 1]; None = α ≡ 1).
        ``alpha_const(C (m, d), R (m,)) -> (m,)``: optional, α where it is certainly constant on balls,
        NaN elsewhere (`Handshake.alpha_on_balls`): elements inside such a ball skip the evaluation of α
        (see `tributary_integrals`). ``alpha_axes(lo (m, d), hi (m, d)) -> (m, d) bool | None``: optional,
        the axes along which α does not depend on the coordinate within [lo, hi] (`Handshake.alpha_axes`):
        elements whose sub-points agree bitwise on the other axes share one evaluation of α.

        α_q = the average of α over quadrature point q's tributary part of its element, and the lumped
        mass M^α_I = ∫ α ρ N_I dX, both integrated with ``n_sub`` Gauss points per direction of each
        tributary part. Elements with α ≡ 0 are skipped by `compute`."""
        self._alpha_fn, self._n_sub = alpha_fn, int(n_sub if alpha_fn is not None else 2)
        if getattr(self, "surface", None) is not None:
            self.surface.set_blend(alpha_fn)
        alphas, lumped = [], np.zeros(self.mesh.n_nodes)
        self._fe[:] = 0.0
        for bd, we in zip(self._blocks, self._we, strict=True):
            we[:] = 0.0
            aq, me = tributary_integrals(self.nodes, bd, alpha_fn, self._n_sub, self.density,
                                         alpha_const=alpha_const, alpha_axes=alpha_axes)
            bd.me = me
            lumped += np.bincount(bd.conn.ravel(), weights=me.ravel(), minlength=self.mesh.n_nodes)
            alphas.append(aq.ravel())
            active = np.any(aq > 0, axis=1)
            bd.act_elems = np.nonzero(active)[0].astype(np.int64)
            uniform = active & np.all(aq == aq[:, :1], axis=1)
            bd.alpha_e = np.ascontiguousarray(aq[:, 0])
            if bd.Ke is not None:
                bd.ke_elems = np.nonzero(uniform)[0].astype(np.int64)
                bd.qp_elems = np.nonzero(active & ~uniform)[0].astype(np.int64)
            else:
                bd.ke_elems = np.zeros(0, np.int64)
                bd.qp_elems = bd.act_elems
            bd.mode = np.zeros(bd.ne, np.int8)
            bd.mode[bd.ke_elems] = 1
            bd.mode[bd.qp_elems] = 2
        self.alpha_qp = np.concatenate(alphas)
        self.lumped_mass = lumped
        self._wq = np.ascontiguousarray(self.alpha_qp * self.qp_volumes)
        self._stencil_built = False   # the node stencils depend on α: built at their first use (`compute`),
        #                               so a region whose blend is set again before it runs builds them once

    def _ensure_stencil(self) -> None:
        """Build the node stencils of the current blend (regular single-block meshes with element
        stiffness) and the list of the other ("general") nodes, once per `set_blend`."""
        if self._stencil_built:
            return
        N = self.mesh.n_nodes
        self._st = None
        self._stencil_sorted = False
        if len(self._blocks) == 1 and self._blocks[0].Ke is not None:
            # few types (structured, graded grids) or, on an irregular mesh, any number whose blocks take
            # less memory than the element stiffness they replace (one type per node: an assembled
            # block matrix, read once per node instead of each element's rows once per node)
            self._st = build_stencils(self._blocks[0], N,
                                      max_types=min(_STENCIL_MAX_TYPES, max(1024, N // 4)),
                                      max_bytes=_STENCIL_KE_FACTOR * self._blocks[0].Ke.nbytes)
        if self._st is not None:
            general = np.ones(N, bool)
            general[self._st[0]] = False
            self._gen = np.nonzero(general)[0].astype(np.int32)
            self._stencil_parts = split_relative(*self._st[:3])
            self._stencil_T = np.ascontiguousarray(self._st[3].transpose(0, 1, 3, 2))
            self._stencil_sorted = self._stencil_T.nbytes > _STENCIL_SORT_BYTES
            if self._stencil_sorted:      # (then not in index order: no fused `verlet_step` pass)
                rel, expl = self._stencil_parts   # (the explicit part: measured slower sorted)
                self._stencil_parts = (_by_type(*rel), expl)
        else:
            self._gen = np.arange(N, dtype=np.int32)
        self._stencil_built = True

    @property
    def _stencil(self):  # noqa: ANN202
        self._ensure_stencil()
        return self._st

    @property
    def _general(self) -> np.ndarray:
        self._ensure_stencil()
        return self._gen

    # ------------------------------------------------------------------ forces
    def compute(self) -> float:
        """Internal forces into ``self.forces`` (= −∂E/∂U, (N, d) [force]); returns E [energy]."""
        k, nt, U = self._k, self.n_threads, self.U
        E = 0.0
        for b, (bd, we) in enumerate(zip(self._blocks, self._we, strict=True)):
            nen, d = bd.conn.shape[1], U.shape[1]
            rows = self._fe[bd.row_offset:bd.row_offset + bd.ne * nen]
            fe = rows.reshape(bd.ne, nen, d)
            q0, q1 = bd.qp_offset, bd.qp_offset + bd.ne * bd.nqe
            wq = self._wq[q0:q1]
            if self.material.is_linear:
                if bd.qp_elems.size:
                    k.linear_qp(U, bd.conn, bd.qp_elems, bd.geom, bd.dN, wq, self.material.C, fe, we, nt)
            elif bd.act_elems.size:
                F, P, W = self._F[q0:q1], self._P[q0:q1], self._Wq[q0:q1]
                k.gradients(U, bd.conn, bd.act_elems, bd.geom, bd.dN, F, nt)
                qs = (bd.act_elems[:, None] * bd.nqe + np.arange(bd.nqe)).ravel()
                P[qs], W[qs] = self.evaluate_material(F[qs], qs + q0)
                k.stress_forces(P, W, wq, bd.conn, bd.act_elems, bd.geom, bd.dN, fe, we, nt)
            Ke = bd.Ke if bd.Ke is not None else self._no_ke
            gen = self._general
            k.node_forces(U, bd.conn32, bd.ptr, bd.ent, bd.mode, bd.geom32, Ke, bd.alpha_e, rows, self.forces,
                          self._en_chunk, gen, int(b > 0), nt)
            if bd.qp_elems.size or not self.material.is_linear:
                E += float(np.sum(we))
            if bd.ke_elems.size:
                E += float(np.sum(self._en_chunk[:(gen.size + 255) // 256]))
        if self._stencil is not None:
            S = self._stencil_T
            for relative, (nodes, types, nbr) in enumerate(self._stencil_parts[::-1]):
                if nodes.size:
                    k.stencil_forces(U, nodes, types, nbr, S, self.forces, self._en_chunk, relative, nt)
                    E += float(np.sum(self._en_chunk[:(nodes.size + 255) // 256]))
        if self.surface is not None:
            E += self.surface.add_forces(U, self.forces)
        return E

    def verlet_step(self, acc: np.ndarray, inv_m: np.ndarray, dt_half: float, dt: float) -> float:
        """One whole velocity-Verlet step of this region alone (no loads, constraints or other regions):
        ``V += dt_half acc; U += dt V; forces; acc = forces · inv_m; V += dt_half acc``; returns E [energy].

        acc, inv_m : (N, d) accelerations [length/time²] (updated in place) and inverse masses per
        component [1/mass] (0 = fixed). Bitwise the same as `verlet.kick_drift`, `compute` and
        `verlet.acc_kick` in turn; when every node is a structured (relative) stencil node and the region
        runs on one thread, it is done in ONE pass (`fem_forces.stencil_verlet_step`: the kicks and the
        drift ride on the force loop, about half the memory traffic of three separate passes)."""
        st = self._stencil
        if (self.n_threads == 1 and st is not None and self._general.size == 0 and self.material.is_linear
                and not self._stencil_sorted
                and self.surface is None
                and not any(bd.qp_elems.size for bd in self._blocks)
                and self._stencil_parts[0][0].size == self.mesh.n_nodes
                and not self._stencil_parts[1][0].size):
            nodes, types, offsets = self._stencil_parts[0]
            self._k.stencil_verlet_step(self.U, self.V, acc, inv_m, nodes, types, offsets, self._stencil_T,
                                        self.forces, self._en_chunk, dt_half, dt)
            return 0.0 + float(np.sum(self._en_chunk[:(nodes.size + 255) // 256]))
        kv = load("verlet")
        kv.kick_drift(self.V, self.U, acc, dt_half, dt, self.n_threads)
        E = self.compute()
        kv.acc_kick(self.V, acc, self.forces, inv_m, dt_half, self.n_threads)
        return E

    def last_energy_densities(self) -> np.ndarray | None:
        """W [energy/volume] at every quadrature point (nq,) as evaluated by the last `compute` (current on
        the active elements); None for linear materials, whose `compute` does not evaluate W per point."""
        return self._Wq

    def deformation_gradients(self) -> np.ndarray:
        """F = I + ∇U at every quadrature point, (nq, d, d)."""
        d = self.mesh.dim
        F = np.zeros((self.qp_volumes.size, d, d))
        for bd in self._blocks:
            q0, q1 = bd.qp_offset, bd.qp_offset + bd.ne * bd.nqe
            self._k.gradients(self.U, bd.conn, np.arange(bd.ne, dtype=np.int64), bd.geom, bd.dN,
                              F[q0:q1], self.n_threads)
        return F

    def stresses(self) -> np.ndarray:
        """First Piola stress at every quadrature point, (nq, d, d) [energy/length^d] (unweighted by α)."""
        return self.evaluate_material(self.deformation_gradients())[0]

    def evaluate_material(self, F: np.ndarray,
                          points: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The material's P (m, d, d) and W (m,) at deformation gradients F (m, d, d) of the quadrature
        points ``points`` (m,) int (None: F holds every point in order). Materials with a per-point state
        (``per_point``, e.g. `ThermalStrain` across the handshake) get the point numbers."""
        if getattr(self.material, "per_point", False):
            return self.material.evaluate(F, points=points)
        return self.material.evaluate(F)

    # ------------------------------------------------------------------ matrices
    def interpolation_matrix(self, points: np.ndarray) -> sp.csr_matrix:
        """CSR (m, N) of N_I(points) for reference-configuration points (m, d). Raises ValueError naming
        the points outside the mesh."""
        if self._locator is None:
            self._locator = Locator(self.mesh)
        points = np.atleast_2d(np.asarray(points, float))
        bid, eid, xi = self._locator.locate(points)
        rows, cols, vals = [], [], []
        for b, blk in enumerate(self.mesh.blocks):
            sel = np.nonzero(bid == b)[0]
            if sel.size:
                N = blk.element.shape(xi[sel])
                rows.append(np.repeat(sel, N.shape[1]))
                cols.append(blk.conn[eid[sel]].ravel())
                vals.append(N.ravel())
        m = points.shape[0]
        if not rows:
            return sp.csr_matrix((m, self.mesh.n_nodes))
        A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(m, self.mesh.n_nodes))
        A.sum_duplicates()
        return A

    def stiffness_matrix(self) -> sp.csr_matrix:
        """Assembled α-weighted tangent stiffness at the reference state, CSR (N·d, N·d), node-major dofs
        (linearised with the material's reference tangent C for nonlinear materials)."""
        d = self.mesh.dim
        n = self.mesh.n_nodes * d
        K = sp.csr_matrix((n, n))
        for bd in self._blocks:
            B = b_matrix(bd.dN)  # (ng, nqe, nv, nd)
            wq_all = self._wq[bd.qp_offset:bd.qp_offset + bd.ne * bd.nqe].reshape(bd.ne, bd.nqe)
            step = max(1, 2_000_000 // B.shape[-1] ** 2)
            for s in range(0, bd.ne, step):
                e = np.arange(s, min(s + step, bd.ne))
                Bg = B[bd.geom[e]]
                Ke = np.einsum("eq,eqai,ab,eqbj->eij", wq_all[e], Bg, self.material.C, Bg, optimize=True)
                dofs = (bd.conn[e][:, :, None] * d + np.arange(d)).reshape(len(e), -1)
                rows = np.repeat(dofs, dofs.shape[1], axis=1).ravel()
                cols = np.tile(dofs, (1, dofs.shape[1])).ravel()
                K = K + sp.csr_matrix((Ke.ravel(), (rows, cols)), shape=(n, n))
        K.sum_duplicates()
        return K.tocsr()

    def laplacian_matrix(self) -> sp.csr_matrix:
        """Unweighted scalar stiffness (graph Laplacian of the mesh) L_IJ = ∫ ∇N_I·∇N_J dX, CSR (N, N)
        [length^(d−2)]; symmetric, row sums zero (constants are in its null space)."""
        N = self.mesh.n_nodes
        rows, cols, vals = [], [], []
        for bd in self._blocks:
            Le = np.einsum("gq,gqad,gqbd->gab", bd.Vq, bd.dN, bd.dN)[bd.geom]  # (ne, nen, nen)
            c = bd.conn
            rows.append(np.repeat(c, c.shape[1], axis=1).ravel())
            cols.append(np.tile(c, (1, c.shape[1])).ravel())
            vals.append(Le.ravel())
        L = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
        L.sum_duplicates()
        return L

    def consistent_mass(self) -> sp.csr_matrix:
        """Scalar consistent mass M^α_IJ = ∫ α ρ N_I N_J dX, CSR (N, N) [mass] (same sub-quadrature as
        `set_blend`); its row sums equal ``lumped_mass``."""
        rows, cols, vals = [], [], []
        for blk in self.mesh.blocks:
            el = blk.element
            xs, ws = el.tributary(self._n_sub)
            xs, ws = xs.reshape(-1, el.dim), ws.reshape(-1)
            N = el.shape(xs)
            Xe = self.nodes[blk.conn]
            dV = np.linalg.det(np.einsum("ead,sak->esdk", Xe, el.dshape(xs))) * ws
            if self._alpha_fn is not None:
                Xs = np.einsum("sa,ead->esd", N, Xe)
                dV = dV * np.clip(np.asarray(self._alpha_fn(Xs.reshape(-1, self.mesh.dim)), float)
                                  .reshape(dV.shape), 0.0, 1.0)
            Me = self.density * np.einsum("es,sa,sb->eab", dV, N, N)
            nen = el.nen
            rows.append(np.repeat(blk.conn, nen, axis=1).ravel())
            cols.append(np.tile(blk.conn, (1, nen)).ravel())
            vals.append(Me.ravel())
        n = self.mesh.n_nodes
        M = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        M.sum_duplicates()
        return M

    # ------------------------------------------------------------------ time step
    def stable_dt(self) -> float:
        """Critical explicit step 2/ω_max [time] of the α-weighted lumped-mass system, bounded element by
        element (see `multiscale.fem.timestep`; the reference tangent C for nonlinear materials). It is a
        safe bound, exact for uniform bar2 meshes; use a fraction of it (e.g. 0.9) as Δt."""
        return critical_dt(self._blocks, self._wq, self.material.C, self.lumped_mass)

    # ------------------------------------------------------------------ loads and selections
    def nodes_in(self, predicate: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Indices of the nodes whose reference position X satisfies ``predicate(X (N, d)) -> (N,) bool``."""
        return self.mesh.nodes_in(predicate)

    def traction_forces(self, faces: str | np.ndarray, t: np.ndarray | Callable) -> np.ndarray:
        """Nodal forces (N, d) of traction t [force/area] on a face set (name) or faces (nf, nfn)."""
        f = self.mesh.face_sets[faces] if isinstance(faces, str) else faces
        return traction_forces(self.mesh, f, t)

    def body_forces(self, b: np.ndarray | Callable) -> np.ndarray:
        """Nodal forces (N, d) of body force density b [force/length^d], α-weighted like the mass."""
        return body_forces(self.mesh, b, self._alpha_fn, max(self._n_sub, 2))
