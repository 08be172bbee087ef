"""Coupled dynamics with the atoms on the spatial engine (`parallel.engine.DistributedMD`), the mesh and
the constraint solve replicated (docs/parallel.md "Spatial decomposition of coupled decks").

OPT-IN ONLY (``msim run --decompose spatial`` / `SpatialCoupled`); the default P > 1 coupled run is the
replicated-data one (`run.distributed.setup_replicated`). Supported (`spatial_refusal`, a message naming
what is not): 2D or 3D, every coupling method — ``projected``, ``strong``, and those with forces of their
own through `parallel.spatial_coupling` (hooks: ``self.cm``): ``ghost_corrected`` (its band atoms in the
per-step gather, the homogeneous state evaluated on the engine), ``penalty`` (its springs' atoms are in the
replicated copy, with the touched atoms of its strong rows when ``slave_below`` ties any), ``force_blend``
(the unweighted lattice scaled by β, the continuum not split: `spatial_coupling.ReplicatedContinuum`) —,
a mass floor (`CoupledSystem(mass_floor=)`), a pair
potential or tabulated EAM (funcfl, setfl, eam/fs with one or several elements, ``eam_zhou``: the engine's
density / embedding / force passes, the embedding blended by the site weights β̄ and the force pass by the
bond weights, as `EAMFile.compute` on the serial region), a box free along every axis, slabs along x at least cut-off + skin
wide, loads that are initial conditions (``radial_pulse``; wave packets are initial conditions already),
held dofs (``fixed``: atoms and/or nodes; no other dofs with zero inverse mass than the fixed and prescribed
loads'), prescribed motion of atoms and/or nodes (``prescribed``, ``kfield``), indenters, body forces and
tractions (`parallel.spatial_loads`, hooks: ``self.loads``); a Langevin thermostat and a
damping band run through `parallel.spatial_operators` (hooks: ``self.ops``). Everything else is refused,
never run.

What each rank holds:

* its OWNED atoms (and ghosts) in a `DistributedMD` with the handshake weights (site weights, reference
  positions, bond weights of its own list entries, `parallel.weights`); pads are atoms of the engine
  with zero mass, their owned rows set to x = X + N U before every force evaluation, so the ghost
  exchange carries the ghost pads like any atom;
* the mesh, U, V, the continuum's accelerations and the constraint projector, replicated (the serial
  objects of the model);
* held (``fixed``) dofs: the owned rows' inverse masses are the engine's times the serial integrator's
  ``_free_atoms`` mask (0 on held components), so the kick leaves their v = 0 and the drift their x, as the
  serial kick with its zero inverse mass does; the touched copy and the nodes use the serial inverse masses
  (held nodes: the serial code). Each ``fixed`` load's reaction observable (`Fixed.apply`: the sum of the
  current forces on its atoms and nodes) is summed per rank over its owned atoms (global-id order, pads
  with zero force, before the thermostat's forces) and rides on the per-step gather (d values per load);
  every rank adds the ranks' sums in rank order, then the replicated node forces' (1 rank: bitwise);
* a replicated copy of the TOUCHED atoms (the atoms of the constraint rows: ``projector.touched``; without
  constraint rows and the atoms the coupling method's forces read, `spatial_coupling.replicated_dofs`):
  x, v, accelerations, reference positions (``xT``, ``vT``, ``accT``, ``XT``; (n_T, d)). Every rank
  kicks/drifts them, re-projects G q and G v, and kicks them with the corrected accelerations
  exactly as the serial integrator does (the serial kernels on the compact arrays: the same values in
  the same order), and writes them into its owned rows of the engine.

One step (the serial `VelocityVerlet.step`'s order): kick/drift of the owned atoms, the touched copy
and the nodes; round-off re-projection of G q, G v (touched copy and nodes); owned touched rows and
owned pads (x = X + N U) written into the engine; neighbour rebuild when due (collective); the engine's
forces (ghost exchange, reverse forces); then ONE ``Allgatherv`` per step of each rank's (energy share,
its fixed loads' reaction sums, the coupling method's scalars (``n_scalars``: force_blend's energy share),
owned touched atoms' forces, owned pads' forces, its owned band atoms' rows (ghost_corrected), its block of
the continuum's node forces (`SplitContinuum.prefetch`), its loads' block (`SpatialLoads.pack`: partial sums
of the indenters and body forces, the prescribed atoms' forces, its pads' external forces; not sent at
ghost_corrected's homogeneous evaluation)); every rank then
has the serial touched forces,
the serial pad forces and the serial node forces, does the pad forces → nodes (serial order), the multiplier solve, and kicks.

Accuracy: the atoms' forces differ from the serial ones by the summation order of the cross pairs
(round-off), so trajectories agree with the serial (and replicated) run to round-off, not bitwise
(tests/parallel/test_mpi_coupled_spatial.py: 1 000 steps of wave2d; test_mpi_coupled_spatial_3d.py: the
3D Morse and EAM decks and a 2D EAM deck). The mesh, the constraint solve,
the pad transfer are bitwise serial given the gathered forces.
"""

from __future__ import annotations

import numpy as np

from .._kernels import load as _load_kernel
from .spatial_coupling import ReplicatedContinuum, coupling_hook, replicated_dofs
from .spatial_loads import SpatialLoads
from .spatial_operators import SpatialOperators

__all__ = ["SpatialCoupled", "spatial_refusal"]


def spatial_refusal(model, integrator, size: int = 1) -> tuple[str, str] | None:  # noqa: ANN001
    """(deck key, message) of the first feature the spatial coupled path does not support on ``size``
    ranks, or None."""
    from ..coupling.methods.base import CouplingMethod
    from ..coupling.methods.force_blend import ForceBlendCoupling
    from ..coupling.methods.ghost_corrected import GhostCorrectedCoupling
    from ..coupling.methods.penalty import PenaltyCoupling
    from ..coupling.methods.projected import ProjectedCoupling
    from ..coupling.methods.strong import StrongCoupling
    from ..fem.continuum import ContinuumRegion
    from .spatial_loads import loads_refusal
    from .spatial_operators import operator_refusal
    from .split_continuum import SplitContinuum
    s = model.system
    what = "is not supported by the spatial decomposition of coupled decks yet (--decompose spatial)"
    if model.atoms is None or model.continuum is None or not s.coupled:
        return "continuum", f"a deck without both atoms and a continuum {what}; run it without the option"
    pot = model.potential
    tab = getattr(pot, "tables", None)      # tabulated EAM: the engine's density / embedding / force passes
    if getattr(pot, "external", False) or (getattr(pot, "many_body", False) and tab is None):
        return "potential", (f"potential '{type(pot).__name__}' {what} (pair potentials and tabulated EAM "
                             "only)")
    if s.d not in (2, 3):
        return "atoms", f"{s.d}D {what} (2D and 3D only)"
    m = s.method
    if type(m) not in (ProjectedCoupling, StrongCoupling, GhostCorrectedCoupling, PenaltyCoupling,
                       ForceBlendCoupling):
        return "handshake.coupling", f"coupling '{type(m).__name__}' {what}"
    if type(m) is GhostCorrectedCoupling:       # its forces: `parallel.spatial_coupling.SpatialGhost`
        if not m.enabled or m._frozen:
            return "handshake.coupling", f"a ghost_corrected coupling switched off or frozen {what}"
    elif type(m) in (PenaltyCoupling, ForceBlendCoupling):   # `spatial_coupling.SpatialPenalty`, `…ForceBlend`
        pass
    elif hasattr(m, "before_forces") or type(m).add_forces is not CouplingMethod.add_forces:
        return "handshake.coupling", f"a coupling with its own forces {what}"
    if np.any(model.atoms.box.periodic):
        return "atoms.boundary", f"a periodic atom box {what} (free boxes only)"
    box, rlist = model.atoms.box, float(pot.cutoff) + float(model.atoms.nlist.skin)
    if size > 1 and (box.hi[0] - box.lo[0]) / size < rlist:     # `SlabDecomposition`'s rule, as a deck error
        return "atoms.region", (f"{size} slabs of {(box.hi[0] - box.lo[0]) / size:g} along x are thinner "
                                f"than cut-off + skin = {rlist:g} (--decompose spatial): use at most "
                                f"{max(int((box.hi[0] - box.lo[0]) // rlist), 1)} ranks")
    why = loads_refusal(model, what)     # fixed here; prescribed, indenter, body_force, traction: spatial_loads
    if why is not None:
        return why
    if not np.array_equal(integrator._fixed, fixed_stacked(model)):
        return "loads", f"dofs with zero inverse mass other than the fixed, prescribed and kfield loads' {what}"
    if integrator.projector is not None and not integrator._local:
        return "handshake.coupling", f"a constraint system without the local (touched-dof) solve {what}"
    why = operator_refusal(model, integrator, what)     # Langevin thermostat, damping band (spatial_operators)
    if why is not None:
        return why
    cont = model.continuum
    if not isinstance(cont, ContinuumRegion) or not (SplitContinuum.supports(cont, m) or (
            type(m) is ForceBlendCoupling and type(cont).compute is ContinuumRegion.compute)):
        return "continuum", f"this continuum {what}"     # (force blending: the continuum stays replicated)
    return None


def fixed_stacked(model) -> np.ndarray:  # noqa: ANN001
    """Stacked dof indices (`VelocityVerlet._fixed_dofs`' layout: free atoms, then active nodes) held by the
    model's ``fixed`` loads or moved by its ``prescribed`` and ``kfield`` ones, sorted: what the serial integrator's fixed
    dofs must be for the spatial path."""
    from ..loads.fixed import Fixed
    from ..loads.kfield import KField
    from ..loads.prescribed import Prescribed
    s = model.system
    am, nm = np.zeros((s.n_atoms, s.d), bool), np.zeros((s.n_nodes, s.d), bool)
    for ld in model.loads:
        if type(ld) in (Fixed, Prescribed, KField):
            a, n = ld.fixed_dofs()
            if a is not None:
                am |= a
            if n is not None:
                nm |= n
    if s.n_nodes:
        nm &= np.asarray(s.active_nodes, bool)[:, None]
    return np.flatnonzero(np.concatenate([am[s.free].ravel() if s.n_free else np.zeros(0, bool), nm.ravel()]))


class _RowFlagged:
    """The engine's pair potential with the serial region's row flags (`AtomisticRegion._bond_w_rows`)
    passed to its kernel: rows whose bond weights are all 1 are not read, rows whose weights are all 0
    (pad-pad bonds) are skipped (the same bits, fewer operations). Flags recomputed when the engine's
    weights or list arrays are replaced (at its rebuilds). Every other attribute is the potential's."""

    def __init__(self, potential) -> None:  # noqa: ANN001
        self.__dict__.update(_pot=potential, _of=None, _rows=None)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.__dict__["_pot"], name)

    def compute(self, x, nlist, site_w, bond_w, forces, energies, n_threads=1, **kw):  # noqa: ANN001, ANN003, ANN201
        if bond_w is not None and "bond_w_rows" not in kw:
            if self._of is None or self._of[0] is not bond_w or self._of[1] is not nlist.offsets:
                off = nlist.offsets
                c = np.concatenate([[0], np.cumsum(bond_w != 1.0)])
                z = np.concatenate([[0], np.cumsum(bond_w != 0.0)])
                ln = off[1:] - off[:-1]
                rows = ((c[off[1:]] - c[off[:-1]]) > 0).astype(np.uint8)
                rows[(ln > 0) & (z[off[1:]] == z[off[:-1]])] = 2
                self.__dict__.update(_of=(bond_w, nlist.offsets), _rows=np.ascontiguousarray(rows))
            kw["bond_w_rows"] = self._rows
        return self._pot.compute(x, nlist, site_w, bond_w, forces, energies, n_threads, **kw)


class SpatialCoupled:
    """The coupled velocity Verlet of a prepared serial model with the atoms on `DistributedMD`.

    model : `build.Model` (every rank builds the same serial model); integrator : its prepared serial
    `VelocityVerlet` (``project_state`` done; not stepped: its projector, touched/active dof lists,
    inverse masses and tolerance are used); comm : `MPIComm` or `SerialComm`; newton : the engine's force
    mode (None: its default, reverse communication of the ghost forces; False: full cross pairs).
    Attributes after `step`: ``step_count``, ``time``, ``potential`` [energy] (global, every rank),
    ``energy`` (the three terms), ``stats`` (THREAD CPU seconds per phase: ``t_engine`` the engine's forces with
    its ghost exchange, ``t_continuum`` this rank's block of the node forces and the packing,
    ``t_gather`` the Allgatherv and the unpacking, ``t_rest`` kick/drift, pads, constraints; neighbour
    rebuilds are in ``engine.stats``)."""

    @classmethod
    def from_rank_model(cls, rm, comm, newton: bool | None = None) -> SpatialCoupled:  # noqa: ANN001
        """The same object built from the per-rank build (`parallel.rank_build.RankModel`: this rank's own
        sites, the replicated band and `BandSystem`) instead of the serial model: the engine's rows, the
        touched copy, the pads' plan and the masses come from ``rm`` (bitwise the serial model's values)."""
        model, integrator = rm.facades()
        return cls(model, integrator, comm, newton, rank=rm)

    def __init__(self, model, integrator, comm, newton: bool | None = None,  # noqa: ANN001
                 rank=None) -> None:  # noqa: ANN001
        from .engine import DistributedMD
        from .split_continuum import SplitContinuum
        # rank: a `parallel.rank_build.RankModel` (`from_rank_model`; its refusal is `per_rank_refusal`)
        why = spatial_refusal(model, integrator, comm.size) if rank is None else None
        if why is not None:
            raise ValueError(f"{why[0]}: {why[1]}")
        self._rank = rank
        self.model, self.serial, self.comm = model, integrator, comm
        s, a, p = model.system, model.atoms, integrator.projector
        self.s, self.p = s, p
        self.d = d = s.d
        self.dt = float(integrator.dt)
        self.n_threads = int(integrator.n_threads)
        self._kv, self._ck = _load_kernel("verlet"), _load_kernel("coupler")
        # ---- the touched atoms, replicated (compact arrays; serial flat indices mapped onto them), and the
        # atoms the coupling method's own forces read (penalty's springs: `spatial_coupling.replicated_dofs`;
        # with its strong rows of `slave_below` the copy holds both sets, the springs' atoms plainly kicked)
        e0 = np.zeros(0, np.int64)
        if p is not None:
            ta, aa = integrator._t_atom, integrator._a_atom
            self.t_node, self.a_node = integrator._t_node, integrator._a_node
        else:
            ta, aa = replicated_dofs(model), e0
            self.t_node, self.a_node = e0, e0
        rep = replicated_dofs(model) if p is not None else e0
        self.T = np.unique(np.concatenate([ta // d, rep // d]) if rep.size else ta // d).astype(np.int64)
        self.tc = (np.searchsorted(self.T, ta // d) * d + ta % d).astype(np.int64)
        self.ac = (np.searchsorted(self.T, aa // d) * d + aa % d).astype(np.int64)
        if rank is None:
            self.xT = np.ascontiguousarray(a.x[self.T])
            self.vT = np.ascontiguousarray(a.v[self.T])
            self.XT = np.ascontiguousarray(a.X[self.T])
            self.invT = np.ascontiguousarray(integrator._inv_atoms[self.T])
        else:       # the band's rows (the touched atoms are atoms of H)
            bT = rank.band_rows(self.T)
            self.xT = np.ascontiguousarray(rank.xB[bT])
            self.vT = np.ascontiguousarray(rank.vB[bT])
            self.XT = np.ascontiguousarray(rank.band.X[bT])
            self.invT = np.ascontiguousarray(rank.bsys.inv_atoms[bT])
        self.fT = np.zeros_like(self.xT)
        self.accT = np.zeros_like(self.xT)
        self.inv_t = integrator._inv_t if p is not None else np.zeros(0)
        self.inv_nodes = integrator._inv_nodes
        self.buf_t = np.empty(p.touched.size if p is not None else 0)
        self.r = np.empty(p.n_rows if p is not None else 0)
        self.corr = np.empty(p.active.size if p is not None else 0)
        self.reproject_tol = float(integrator.reproject_tol) if p is not None else np.inf
        self.n_reprojections = 0
        # the round-off check of G q after the forces, as the serial integrator decides it
        # (`VelocityVerlet._check_after_forces`), so a one-rank run stays bitwise the serial one
        self.late = bool(integrator._check_after_forces())
        self.buf_q = np.empty(self.buf_t.size)
        self.rq = np.empty(self.r.size)
        self._vsave = None          # the slaved dofs' velocities before the kick pass (`_slave_acc`)
        # ---- pads (replicated plan of the serial system: N_pad, X_pad, the Nᵀ transfer)
        self.pad_idx = np.ascontiguousarray(s.pad_idx, np.int64)
        self.n_pad = int(self.pad_idx.size)
        if self.n_pad:
            _, _, self._Np, self._Ni, self._Nx, self._Xp, self._pnodes, self._Nt = s._pads()
        self.xP = np.zeros((self.n_pad, d))
        self._vP = np.zeros((self.n_pad, d))
        self.fP = np.zeros((self.n_pad, d))
        self._ar_pad = np.arange(self.n_pad, dtype=np.int64)
        # ---- continuum: replicated state, node forces split (its buffer rides on the atoms' gather)
        self.cont = model.continuum
        self.split = (SplitContinuum(self.cont, comm).install() if SplitContinuum.supports(self.cont, s.method)
                      else ReplicatedContinuum(comm))     # force blending reads W per point: not split
        self.acc_nodes = np.zeros((s.n_nodes, d))
        self.f_nodes = np.zeros((s.n_nodes, d))
        # ---- fixed dofs: the serial (n, d) mask of the dofs that move (0 on fixed components and pads);
        # the owned rows' inverse masses are multiplied by it at each remap (v and x of held dofs unchanged,
        # as the serial kick with its zero inverse mass leaves them), the nodes' are the serial ones
        self._free_atoms = integrator._free_atoms if rank is None else None     # (per rank: no held dofs)
        from ..loads.fixed import Fixed
        self._fixed_loads = [ld for ld in model.loads if type(ld) is Fixed]
        self._nidx = [np.zeros(0, np.int64) if ld.node_sel is None else np.flatnonzero(ld.node_sel)
                      for ld in self._fixed_loads]
        self._nR = len(self._fixed_loads) * d        # per rank: each fixed load's sum of its owned atoms' forces
        # ---- the engine: each rank gives its own slab's atoms (`SlabDecomposition.owner` of x along the
        # cut axis, the engine's first rebuild then migrates none); pads with zero mass and velocity
        if rank is None:
            from .engine import SlabDecomposition
            dec = SlabDecomposition(a.box, comm.size, 0, float(a.potential.cutoff) + float(a.nlist.skin))
            mine = np.flatnonzero(dec.owner(np.asarray(a.x, float)[:, 0]) == comm.rank)
            v0 = np.array(a.v[mine], float)
            v0[np.isin(mine, self.pad_idx)] = 0.0
            site_w = getattr(a, "site_w", None)
            rows = (np.asarray(a.x, float)[mine], v0, np.asarray(s.atom_mass, float)[mine], mine,
                    None if a.types is None else np.asarray(a.types, np.int32)[mine],
                    None if site_w is None else np.asarray(site_w, float)[mine], np.asarray(a.X, float)[mine])
            del v0, mine
        else:       # this rank's own sites (owned by their reference position; the engine migrates any
            # atom the initial conditions moved across a slab face at its first rebuild)
            st = rank.sites
            v0 = np.array(rank.v, float)
            v0[st.pad] = 0.0
            rows = (rank.x, v0, st.mass, st.gid, rank.pot_types, st.weight, st.X)
        self.engine = DistributedMD(
            comm, rows[0], rows[1], rows[2], rows[3],
            _RowFlagged(a.potential) if getattr(a.potential, "takes_bond_w_rows", False) else a.potential, a.box,
            a.nlist.skin, types=rows[4], axis=0,
            newton=newton, n_threads=self.n_threads, neighbor=a.nlist.policy,
            site_w=rows[5], X_ref=rows[6],
            # force blending: the unweighted lattice (the serial region's weights: sites 1, no bond weights)
            bond_weight_fn=s.handshake.bond_weight_fn if s.method.energy_based else None)
        del rows
        self._built = -1
        self.step_count = int(integrator.step_count)     # a restart continues the serial clock
        self.loads = SpatialLoads(self, model, integrator)      # prescribed, indenter, body force, traction
        self.ops = SpatialOperators(self, model, integrator)     # thermostat, damping band (or no-ops)
        self.cm = coupling_hook(self, model)     # the coupling method's own forces (ghost_corrected) or None
        if self.cm is not None:
            self.cm.mirror_serial_list(a)
        self.time = float(integrator.time)
        self.potential = 0.0
        self.energy = {"potential_atoms": 0.0, "potential_continuum": 0.0, "coupling": 0.0}
        self.external_work = 0.0
        self.dissipated = 0.0
        self.stats = {"t_engine": 0.0, "t_continuum": 0.0, "t_gather": 0.0, "t_rest": 0.0, "steps": 0}
        self._remap()
        self._set_pads()
        if self.cm is not None and not integrator._initialized:
            # a fresh start: the serial initial evaluation's scheduled correction; a restart
            # (`run.spatial.SpatialIntegrator.set_state`) evaluates the forces with the checkpoint's g,
            # as the serial restart takes the checkpoint's forces without an evaluation
            self.cm.before_forces()
        self._evaluate()
        self._init = False

    # ------------------------------------------------------------------ ownership maps (per rebuild)
    def _remap(self) -> None:
        """Owned rows of the touched atoms and of the pads, every rank's counts and positions, the send
        and receive layout of the per-step gather (collective; after each rebuild)."""
        e, d = self.engine, self.d
        g = e.gid[: e.n_own]
        inP = np.isin(g, self.pad_idx)
        inT = np.isin(g, self.T)
        self.rowsT = np.flatnonzero(inT)
        self.posT = np.searchsorted(self.T, g[self.rowsT])
        cd = np.arange(d, dtype=np.int64)     # flat (row, component) indices: 1D fancy indexing, no row gathers
        self._fr = np.ascontiguousarray((self.rowsT[:, None] * d + cd).ravel())
        self._fp = np.ascontiguousarray((self.posT[:, None] * d + cd).ravel())
        self.rowsP = np.flatnonzero(inP)
        self.posP = np.searchsorted(self.pad_idx, g[self.rowsP])
        # the coupling method's replicated atoms (ghost_corrected: its band), a block of the per-step gather
        e0 = np.zeros(0, np.int64)
        self.rowsB, self.posB = self.cm.rows(g) if self.cm is not None else (e0, e0)
        self._frB = np.ascontiguousarray((self.rowsB[:, None] * d + cd).ravel())
        self.inv_own = np.ascontiguousarray(np.repeat(e.inv_mass[:, None], d, axis=1))
        if self._free_atoms is not None:
            self.free_own = np.ascontiguousarray(self._free_atoms[g])     # (n_own, d): 0 on held dofs and pads
        else:       # the per-rank build (no held dofs): 0 on the pads, 1 elsewhere (`_free_atoms`' values)
            self.free_own = np.repeat((~inP).astype(float)[:, None], d, axis=1)
        self.inv_own *= self.free_own
        # each fixed load's owned selected rows in global-id order (the serial reaction's operands, pads with
        # their serial zero force: numpy's pairwise sum depends on the positions), and which are pads
        self._rowsR = []
        for ld in self._fixed_loads:
            sel = np.zeros(g.size, bool) if ld.atom_sel is None else np.asarray(ld.atom_sel, bool)[g]
            rows = np.flatnonzero(sel)
            rows = rows[np.argsort(g[rows], kind="stable")]
            self._rowsR.append((rows, np.flatnonzero(inP[rows])))
        self.acc_own = np.zeros((e.n_own, d))
        ld = self.loads
        ld.remap(g, inP)
        cs = self.split.prefetch()        # (plans the split; its size is fixed)
        self._nX = int(getattr(self.cm, "n_scalars", 0))    # the coupling method's per-rank scalars
        k_own = 1 + self._nR + self._nX + (self.rowsT.size + self.rowsP.size + self.rowsB.size) * d
        self._send = np.empty(k_own + cs.size + ld.counts(ld.rowsH.size, self.rowsP.size))
        mine = (self.posT, self.posP, self.posB, ld.posH)
        parts = self.comm.allgather(mine) if self.comm.size > 1 else [mine]
        _, ccounts, _ = self.split.recv_buffer()
        counts = np.array([1 + self._nR + self._nX + (pt.size + pp.size + pb.size) * d + int(cc)
                           + ld.counts(ph.size, pp.size)
                           for (pt, pp, pb, ph), cc in zip(parts, ccounts, strict=True)])
        self._counts = counts
        self._displs = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._recv = np.empty(int(counts.sum()))
        # per rank: (offset of its forces, flat posT, flat posP, flat posB, continuum offset, continuum count);
        # its header at displs[r]: its energy share, its fixed loads' sums, the coupling method's scalars
        self._layout = []
        self._lblocks = []          # per rank: the loads' block (offset, flat H positions, flat pad positions)
        for r, (pt, pp, pb, ph) in enumerate(parts):
            o = int(self._displs[r]) + 1 + self._nR + self._nX
            oc = o + (pt.size + pp.size + pb.size) * d
            self._layout.append((o, (pt[:, None] * d + cd).ravel(), (pp[:, None] * d + cd).ravel(),
                                 (pb[:, None] * d + cd).ravel(), oc, int(ccounts[r])))
            self._lblocks.append((oc + int(ccounts[r]), (ph[:, None] * d + cd).ravel(),
                                  (pp[:, None] * d + cd).ravel()))
        self._built = e.n_builds
        self.ops.remap()

    # ------------------------------------------------------------------ forces
    def _set_pads(self) -> None:
        """x = X + N U of every pad (replicated, the serial kernel), written into the owned pad rows."""
        if self.n_pad:
            self._ck.pads_follow(self._ar_pad, self._Np, self._Ni, self._Nx, self._Xp, self.cont.U, self.cont.V,
                                 self.xP, self._vP, 2)
            self.engine.x[self.rowsP] = self.xP[self.posP]

    def _evaluate(self, homogeneous: bool = False) -> None:
        """Forces of the current state: engine (owned atoms), ONE Allgatherv (energy shares, owned touched
        and pad forces, the coupling method's block, the continuum's blocks), pad forces → nodes; the
        global potential energy. ``homogeneous``: the ghost correction's evaluation at the fitted
        homogeneous state (`parallel.spatial_coupling`: the band block carries forces, no thermostat, no
        reactions, no energies recorded)."""
        from time import thread_time as _tt
        e, d = self.engine, self.d
        t0 = _tt()
        e.compute()
        f = e.forces
        send = self._send
        o = 1 + self._nR + self._nX
        kT, kP, kB = self.rowsT.size * d, self.rowsP.size * d, self.rowsB.size * d
        cs = self.split.prefetch()
        if not homogeneous:
            if self.cm is not None:
                self.cm.add_atom_forces(f)      # the method's forces on owned atoms, before the force hooks
            for i, (rows, pads) in enumerate(self._rowsR):     # reactions: the forces before the thermostat's
                fr = f[rows]
                fr[pads] = 0.0
                send[1 + i * d:1 + (i + 1) * d] = fr.sum(axis=0)
            if self.loads.active:       # its block: before the external forces are added (reactions, f_int)
                self.loads.pack(f, self.ops.fext_own(), send[o + kT + kP + kB + cs.size:])
            self.ops.add_forces(f)
        t1 = _tt()
        send[0] = e.energy_local
        if self._nX:
            self.cm.pack_scalars(send[1 + self._nR:o])
        np.take(f[: e.n_own].reshape(-1), self._fr, out=send[o:o + kT])
        send[o + kT:o + kT + kP] = f[self.rowsP].reshape(-1)
        if kB:      # ghost_corrected's band atoms: positions (the stacked q), forces at the homogeneous state
            src = (f if homogeneous else e.x)[: e.n_own].reshape(-1)
            np.take(src, self._frB, out=send[o + kT + kP:o + kT + kP + kB])
        send[o + kT + kP + kB:o + kT + kP + kB + cs.size] = cs
        tc = _tt()
        if self.comm.size > 1:
            MPI = self.comm.MPI
            self.comm.comm.Allgatherv(send, [self._recv, self._counts, self._displs, MPI.DOUBLE])
        else:
            self._recv[:] = send
        crecv, _, cdispl = self.split.recv_buffer()
        recv, fT, fP = self._recv, self.fT, self.fP
        Ea = 0.0
        for r, (o, pt, pp, pb, oc, nc) in enumerate(self._layout):
            Ea += float(recv[self._displs[r]])
            nT, nP = pt.size, pp.size        # (flat indices)
            fT.reshape(-1)[pt] = recv[o:o + nT]
            fP.reshape(-1)[pp] = recv[o + nT:o + nT + nP]
            if pb.size:
                self.cm.buf.reshape(-1)[pb] = recv[o + nT + nP:o + nT + nP + pb.size]
            crecv[int(cdispl[r]):int(cdispl[r]) + nc] = recv[oc:oc + nc]
        if self._nX:
            self.cm.unpack_scalars([recv[h + 1 + self._nR:h + 1 + self._nR + self._nX] for h in self._displs])
        if self.loads.active and not homogeneous:
            self.loads.unpack(recv, self._lblocks)
        self.split.finish_prefetch()
        t2 = _tt()
        Ec = float(self.cont.compute())      # the prefetched result (no communication)
        np.copyto(self.f_nodes, self.cont.forces)
        if self.n_pad:
            if self.s.method.energy_based:     # pads' forces act on the nodes (force blending: dropped)
                Tp, Ti, Tx = self._Nt
                self._ck.pad_forces(self._ar_pad, Tp, Ti, Tx, self._pnodes, fP, self.f_nodes)
            f[self.rowsP] = 0.0
        if homogeneous:
            return
        Ecoup = self.cm.finish(self.f_nodes) if self.cm is not None else 0.0
        if self._fixed_loads:
            self._reactions()
        if self.loads.active:       # reactions, node loads, f_nodes += the external node forces
            self.loads.after_gather(self.time, self.f_nodes)
        self.energy = {"potential_atoms": Ea, "potential_continuum": Ec, "coupling": Ecoup}
        self.potential = Ea + Ec + Ecoup
        self.stats["t_engine"] += t1 - t0
        self.stats["t_continuum"] += tc - t1
        self.stats["t_gather"] += t2 - tc

    def _reactions(self) -> None:
        """Each fixed load's reaction (`Fixed.apply`'s ``_selected_sum`` of the current forces): its atoms'
        sums over the ranks in rank order, then its nodes' (the serial node forces); on one rank bitwise
        the serial sum, on P ranks within round-off."""
        d, recv = self.d, self._recv
        for i, ld in enumerate(self._fixed_loads):
            r = np.zeros(d)
            if ld.atom_sel is not None:
                for h in self._displs:
                    r += recv[h + 1 + i * d:h + 1 + (i + 1) * d]
            if ld.node_sel is not None:
                r += self.f_nodes[self._nidx[i]].sum(axis=0)
            ld.set_reaction(np.where(ld.comp, r, 0.0))

    def _acc_kick(self, half: float) -> None:
        """Accelerations with the constraint correction and the half-kick: the touched copy and the nodes
        with the serial kernels, the owned atoms with the plain kernel, then the owned touched rows from
        the touched copy."""
        p, ck, nt, e = self.p, self._ck, self.n_threads, self.engine
        if p is None:       # no constraints (penalty): the serial plain kicks, on the copy and the nodes
            self._kv.acc_kick(self.vT, self.accT, self.fT, self.invT, half, nt)
            self._kv.acc_kick(self.cont.V, self.acc_nodes, self.f_nodes, self.inv_nodes, half, nt)
            self._own_kick(half)
            return
        if self.late and self._init:
            self._acc_residual_and_check()
        else:
            p.residual_into(self.fT.reshape(-1), self.inv_t, self.f_nodes.reshape(-1), 2, self.tc,
                            self.t_node, self.buf_t, self.r)
        corr = p.correction_into(self.r, self.corr)
        self._slave_acc(0, half)
        ck.acc_kick(self.vT.reshape(-1), self.accT.reshape(-1), self.fT.reshape(-1), self.invT.reshape(-1),
                    half, self.ac, corr, 0, nt)
        ck.acc_kick(self.cont.V.reshape(-1), self.acc_nodes.reshape(-1), self.f_nodes.reshape(-1),
                    self.inv_nodes.reshape(-1), half, self.a_node, corr, self.ac.size, nt)
        self._slave_acc(2, half)
        self._own_kick(half)

    def _own_kick(self, half: float) -> None:
        """The owned atoms' accelerations and half-kick (plain kernel), then the owned touched rows from the
        touched copy."""
        e = self.engine
        n = e.n_own
        self._kv.acc_kick(e.v, self.acc_own, e.forces[:n], self.inv_own, half, self.n_threads)
        fr, fp = self._fr, self._fp
        e.v.reshape(-1)[fr] = self.vT.reshape(-1)[fp]
        self.acc_own.reshape(-1)[fr] = self.accT.reshape(-1)[fp]

    def _slave_acc(self, mode: int, half: float) -> None:
        """`VelocityVerlet._slave_acc` on the touched copy and the nodes: the slaved dofs' accelerations
        from their rows (`ConstraintProjector.slaved`; mode 0 saves their velocities, 2 sets a and kicks)."""
        sl = self.p.slaved
        if sl is None:
            return
        if self._vsave is None:
            self._vsave = np.empty(sl[0].size)
        sdof, sg, (Sp, Si, Sx) = sl
        self._ck.slave_acc(self.accT.reshape(-1), self.acc_nodes.reshape(-1), self.vT.reshape(-1),
                           self.cont.V.reshape(-1), self.tc, self.t_node, sdof, sg, Sp, Si, Sx, self._vsave,
                           half, mode)

    def _acc_residual_and_check(self) -> None:
        """`VelocityVerlet._acc_correction_and_check` on the touched copy and the nodes: r = G a and G q in
        one pass; a due correction of q and v applied here, after the forces, then the owned touched rows
        and the pads follow the corrected state (the serial run's end-of-step pad update)."""
        p = self.p
        x, X, U = self.xT.reshape(-1), self.XT.reshape(-1), self.cont.U.reshape(-1)
        _, mq = p.residuals_acc_q(self.fT.reshape(-1), self.inv_t, self.f_nodes.reshape(-1), x, X, U, self.tc,
                                  self.t_node, self.buf_t, self.buf_q, self.r, self.rq)
        if not mq > self.reproject_tol:
            return
        self._correct_q_v(self.rq, self.buf_q)
        no = self.engine.n_own
        self.engine.x[:no].reshape(-1)[self._fr] = x[self._fp]
        self._set_pads()

    def _reproject(self) -> None:
        """`VelocityVerlet._reproject_q` on the touched copy and the nodes (replicated)."""
        p = self.p
        x, X, U = self.xT.reshape(-1), self.XT.reshape(-1), self.cont.U.reshape(-1)
        m = p.residual_into(x, X, U, 1, self.tc, self.t_node, self.buf_t, self.r)
        if m > self.reproject_tol:
            self._correct_q_v(self.r, self.buf_t)

    def _correct_q_v(self, rq: np.ndarray, buf: np.ndarray) -> None:
        """q −= correction(G q) (rq = G q, overwritten), then the same for G v (buf: scratch), on the touched
        copy and the nodes: `VelocityVerlet._correct_q_v`."""
        p, ck = self.p, self._ck
        x, X, U = self.xT.reshape(-1), self.XT.reshape(-1), self.cont.U.reshape(-1)
        self.n_reprojections += 1
        ck.subtract_at(x, U, self.ac, self.a_node, p.correction_into(rq, self.corr))
        v, V = self.vT.reshape(-1), self.cont.V.reshape(-1)
        p.residual_into(v, X, V, 0, self.tc, self.t_node, buf, rq)
        ck.subtract_at(v, V, self.ac, self.a_node, p.correction_into(rq, self.corr))

    def initialize_acc(self) -> None:
        """Accelerations of the initial forces (no kick): `VelocityVerlet.initialize`."""
        self._acc_kick(0.0)

    # ------------------------------------------------------------------ stepping
    def step(self, n: int = 1) -> None:
        """n coupled velocity-Verlet steps (collective)."""
        from time import thread_time as _tt
        if not self._init:
            self.initialize_acc()
            self._init = True
        e, k, dt, nt = self.engine, self._kv, self.dt, self.n_threads
        half = 0.5 * dt
        for _ in range(int(n)):
            t0 = _tt()
            self.ops.begin_step()
            self.loads.begin_step()
            no = e.n_own
            k.kick_drift(e.v, e.x[:no], self.acc_own, half, dt, nt)
            k.kick_drift(self.vT, self.xT, self.accT, half, dt, nt)
            k.kick_drift(self.cont.V, self.cont.U, self.acc_nodes, half, dt, nt)
            if not self.late and self.p is not None:
                self._reproject()
            fr, fp = self._fr, self._fp
            e.x[:no].reshape(-1)[fr] = self.xT.reshape(-1)[fp]
            e.v.reshape(-1)[fr] = self.vT.reshape(-1)[fp]
            self.time = (self.step_count + 1) * dt
            self.loads.impose(self.time)        # prescribed motion (serial: after the re-projection)
            self._set_pads()
            self.ops.after_drift()
            self.stats["t_rest"] += _tt() - t0
            if self.cm is not None:
                self.cm.before_forces()     # ghost_corrected: the homogeneous state's evaluation (collective)
            if e.due():
                e.rebuild()
                self._remap()
            self._evaluate()
            t0 = _tt()
            self.ops.after_forces()             # the loads' work booking
            self._acc_kick(half)
            self.ops.after_kick()
            self.step_count += 1
            self.stats["t_rest"] += _tt() - t0
            self.stats["steps"] += 1

    # ------------------------------------------------------------------ global values (collective)
    def kinetic(self) -> tuple[float, float]:
        """(kinetic_atoms, kinetic_continuum) [energy]: the atoms' summed over the ranks (round-off),
        the continuum's the serial expression."""
        e, s = self.engine, self.s
        live = e.mass > 0.0             # the free atoms (pads have no mass), in global-id order
        ma, mn = self.loads.kinetic_masks()     # prescribed dofs: the loading agent's, not counted
        v = e.v[live] if ma is None else e.v[live] * ma[live]
        Ka = 0.5 * float(np.sum(e.mass[live] * np.sum(v * v, axis=1)))     # the serial expression
        Ka = float(self.comm.allreduce(Ka, "sum")) if self.comm.size > 1 else Ka
        V = self.cont.V if mn is None else self.cont.V * mn
        Kc = 0.5 * float(np.sum(s.node_mass * np.sum(V * V, axis=1)))
        return Ka, Kc

    def ledger(self) -> dict:
        """Collective: kinetic and potential terms, the thermostat's external work, the band's dissipated
        energy and the total K + Π − W [energy] (`run.reduce.Reduction.ledger`'s)."""
        Ka, Kc = self.kinetic()
        W = self.ops.external_work()
        out = {"kinetic_atoms": Ka, "kinetic_continuum": Kc, **self.energy, "external_work": W,
               "dissipated": self.ops.dissipated}
        out["total"] = Ka + Kc + self.potential - W
        return out

    def gather(self) -> dict | None:
        """Collective: on rank 0 the serial layout (x, v (n, d) with the pads' v = N V, U, V (N, d)),
        None elsewhere."""
        g = self.engine.gather(0)
        if g is None:
            return None
        n = self.s.n_atoms
        if not np.array_equal(g["gid"], np.arange(n)):
            raise RuntimeError("gathered atoms are not the global ids 0..n-1")
        x, v = g["x"].copy(), g["v"].copy()
        if self.n_pad:
            xP, vP = np.zeros_like(self.xP), np.zeros_like(self.xP)
            self._ck.pads_follow(self._ar_pad, self._Np, self._Ni, self._Nx, self._Xp, self.cont.U, self.cont.V,
                                 xP, vP, 1)
            v[self.pad_idx] = vP
        return {"x": x, "v": v, "U": self.cont.U.copy(), "V": self.cont.V.copy(), "forces": g["forces"]}
