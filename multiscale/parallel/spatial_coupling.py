"""The coupling methods' own forces on the spatial coupled path (`parallel.coupled_spatial.SpatialCoupled`,
``msim run --decompose spatial``; docs/parallel.md "Spatial decomposition of coupled decks").

`SpatialGhost` — ``ghost_corrected`` (`coupling.methods.ghost_corrected.GhostCorrectedCoupling`): energy
blending plus a dead load −g on the dofs of the correction's BAND (free atoms within the potential's reach
of H, nodes around H), g recomputed from the state (``correction: homogeneous``: every ``every`` force
evaluations) or fixed (``reference``). The serial method's state (g, q_g, the booked work, the evaluation
counter) lives on the method object, which every rank holds (the serial model is built on every rank); each
rank updates it identically from replicated values, so it stays replicated:

* the band atoms are a replicated set like the touched atoms: each rank sends its owned band atoms' rows in
  the per-step ``Allgatherv`` of `SpatialCoupled` (one more block: d doubles per owned band atom), so every
  rank holds all band rows in global-id order. At the real evaluation the block carries their positions x
  (the stacked q's band part: the dead load's energy g · (q − q_g) and the work booking), at the
  homogeneous evaluation their forces;
* ``homogeneous`` — before the step's forces (the serial `before_forces`, called inside
  `CoupledSystem.compute_forces` before the regions' forces): F, c fitted to the band's nodes (replicated
  U, the method's own `fit`); the owned atoms set to x = F X + c (the serial expression over every atom's
  reference position, rows taken by global id), U = (F − I) X_nodes + c, pads x = X + N U; the engine's
  neighbour-list policy step at that state (rebuild when due, as the serial region's list update in that
  evaluation); the engine's forces, the gather (band atoms' forces, pads, the continuum's blocks), pad
  forces → nodes; g = the method's `band_correction` of the stacked forces (band atoms from the gather,
  every node), the same arithmetic on the same values as the serial run (the atoms outside the band enter
  the serial vector multiplied by 0: here as 0); then the state restored (owned rows by global id: a
  rebuild may have reordered them);
* the real evaluation adds −g to the owned band atoms' forces right after the engine's forces (before the
  fixed loads' reactions and the thermostat, as the serial ``add_forces`` comes before the force hooks)
  and −g's node part to the replicated node forces after the pad transfer; the ``coupling`` energy is the
  method's `coupling_energy` of the stacked q (band atoms' x − X from the gather, 0 elsewhere: g is 0
  there, so every product of the serial dot product is the same) and U; the switch to a new g (the serial
  `_set`, booked at the same q) is made there, once q is known.

On one rank every value is the serial one (bitwise); on P ranks g differs from the serial one by the
round-off of the atoms' forces (the cross pairs' summation order), and nothing else depends on P.
Cost per step (``homogeneous``, ``every: 1``): a second force evaluation with its ghost exchange and gather
(as the serial run's second evaluation), and O(n) replicated work (F X + c over every atom, the stacked
dot products), like the serial run's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ReplicatedContinuum", "SpatialForceBlend", "SpatialGhost", "SpatialPenalty", "coupling_hook",
           "replicated_dofs"]


def coupling_hook(sc, model):  # noqa: ANN001, ANN201
    """The spatial hook of the model's coupling method (None when it adds no forces of its own)."""
    from ..coupling.methods.ghost_corrected import GhostCorrectedCoupling
    from ..coupling.methods.penalty import PenaltyCoupling
    m = model.system.method
    if type(m) is GhostCorrectedCoupling:
        return SpatialGhost(sc, model)
    if type(m) is PenaltyCoupling:
        return SpatialPenalty(sc, model)
    from ..coupling.methods.force_blend import ForceBlendCoupling
    if type(m) is ForceBlendCoupling:
        return SpatialForceBlend(sc, model)
    return None


class ReplicatedContinuum:
    """The continuum's evaluation left whole on every rank (the serial ``compute``, not split): the
    interface `SpatialCoupled` uses of `parallel.split_continuum.SplitContinuum` with an empty block in the
    per-step gather. For force blending, whose energy report reads the material's W at every quadrature
    point (`ContinuumRegion.last_energy_densities`: only current on a rank's own elements when split)."""

    def __init__(self, comm) -> None:  # noqa: ANN001
        self._recv = np.zeros(0)
        self._zeros = np.zeros(comm.size, np.int64)

    def prefetch(self) -> np.ndarray:
        return self._recv

    def recv_buffer(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._recv, self._zeros, self._zeros

    def finish_prefetch(self) -> None:
        """Nothing to unpack (the continuum's ``compute`` evaluates everything)."""


class SpatialForceBlend:
    """``force_blend`` (`coupling.methods.force_blend.ForceBlendCoupling`: f = β f_atoms + α f_continuum of
    the UNWEIGHTED regions) on a `SpatialCoupled` ``sc``: the engine runs the unweighted lattice (site
    weights 1, no bond weights: the serial region's), the owned rows' forces are scaled by the point value
    β(X_a) of their atom right after the engine's forces (pads: β = 0), the replicated node forces by the
    method's node weights (no pad transfer: the method is not energy based; `SpatialCoupled` skips it);
    the continuum is not split (`ReplicatedContinuum`). The ``coupling`` energy's atoms part
    Σ_a (β̄_a − 1) e_a over every atom (pads included) is each rank's dot product over its owned rows, one
    scalar per rank in the per-step gather (``n_scalars``), summed in rank order, then the method's
    continuum terms (`ForceBlendCoupling.energy_reweighting`). One rank: the serial dot product
    (bitwise while the engine's rows are in global-id order); P ranks: a sum of P partial sums."""

    n_scalars = 1

    def __init__(self, sc, model) -> None:  # noqa: ANN001
        self.sc, self.s, self.m = sc, model.system, model.system.method
        self.buf = np.zeros((0, sc.d))
        self._Ea: float = 0.0

    def mirror_serial_list(self, atoms) -> None:  # noqa: ANN001
        """Nothing: `prepare` evaluates no forces."""

    def rows(self, gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e0 = np.zeros(0, np.int64)
        return e0, e0

    def before_forces(self) -> None:
        """Nothing before the forces."""

    def add_atom_forces(self, f: np.ndarray) -> None:
        """The owned rows' forces × β(X_a) (the serial ``f_atoms *= β``, per element)."""
        e = self.sc.engine
        n = e.n_own
        f[:n] *= self.m._beta[e.gid[:n]][:, None]

    def pack_scalars(self, out: np.ndarray) -> None:
        """This rank's Σ (β̄ − 1) e of the last evaluation's per-atom energies: over its owned rows, and in
        the engine's newton mode on P > 1 ranks over its ghost rows too (the cross pairs' halves given to
        ghosts stay there: the rows `DistributedMD.compute` sums its energy share over)."""
        e = self.sc.engine
        n = e.n_loc if (e.newton and e.size > 1) else e.n_own
        out[0] = float(self.m._dw_atoms[e.gid[:n]] @ e.energies[:n])

    def unpack_scalars(self, parts: list) -> None:
        Ea = 0.0
        for p in parts:
            Ea += float(p[0])
        self._Ea = Ea if len(parts) > 1 else float(parts[0][0])

    def finish(self, f_nodes: np.ndarray) -> float:
        """The node forces × the method's node weights; the ``coupling`` energy [energy]."""
        f_nodes *= self.m._alpha_nodes[:, None]
        return self.m.energy_reweighting(self.s, self._Ea)


def replicated_dofs(model) -> np.ndarray:  # noqa: ANN001
    """Flat (atom, component) indices into the (n, d) atom arrays of the atoms a coupling keeps in
    `SpatialCoupled`'s replicated copy besides its constraint rows' touched atoms: ``penalty``'s atoms of
    its springs (its own forces read and act on them; the atoms tied by its ``slave_below`` strong rows are
    touched atoms), none otherwise."""
    from ..coupling.methods.penalty import PenaltyCoupling
    m = model.system.method
    if type(m) is PenaltyCoupling:
        return np.asarray(m._ta, np.int64)
    return np.zeros(0, np.int64)


class SpatialPenalty:
    """``penalty`` (`coupling.methods.penalty.PenaltyCoupling`: E = ½ qᵀ K q over the atoms of H with
    β̄ ≥ ``slave_below`` and their nodes; strong rows, solved by ``sc``'s projector, for the others) on a
    `SpatialCoupled` ``sc``. Its atoms are in the replicated copy of ``sc`` (`replicated_dofs`: every rank
    kicks and drifts them, their forces ride on the per-step gather), the
    nodes are replicated, so every rank forms the serial q = (x − X of the atoms' dofs, U of the nodes'),
    the serial product f_q = −K q and energy −½ q · f_q (bitwise), and adds f_q's atom part to its OWNED
    rows right after the engine's forces (before the fixed loads' reactions and the thermostat's forces,
    as the serial ``add_forces`` comes before the force hooks: the gathered copy's forces then hold it)
    and its node part to the node forces after the pad transfer."""

    def __init__(self, sc, model) -> None:  # noqa: ANN001
        m = model.system.method
        d = sc.d
        ta = np.asarray(m._ta, np.int64)
        self.sc, self.m, self.d, self.k = sc, m, d, int(ta.size)
        self.tc = np.ascontiguousarray(np.searchsorted(sc.T, ta // d) * d + ta % d)   # into the copy
        self.tn = np.asarray(m._tn, np.int64)
        self.buf = np.zeros((0, d))
        self._fq: np.ndarray | None = None
        self._q: np.ndarray | None = None

    def mirror_serial_list(self, atoms) -> None:  # noqa: ANN001
        """Nothing: `prepare` evaluates no forces (the serial region builds its list at the first
        evaluation, as the engine's constructor does)."""

    def rows(self, gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """No block of its own in the gather (its atoms are the replicated copy's)."""
        e0 = np.zeros(0, np.int64)
        return e0, e0

    def before_forces(self) -> None:
        """Nothing before the forces."""

    def add_atom_forces(self, f: np.ndarray) -> None:
        """f_q = −K q of the current replicated state; its atom part added to the owned rows."""
        sc, d = self.sc, self.d
        xT, XT = sc.xT.reshape(-1), sc.XT.reshape(-1)
        q = np.concatenate([xT[self.tc] - XT[self.tc], sc.cont.U.reshape(-1)[self.tn]])
        fq = -(self.m._Kt @ q)
        self._q, self._fq = q, fq
        own = np.full(sc.T.size * d, -1, np.int64)       # copy flat index -> owned flat index (or −1)
        own[sc._fp] = sc._fr
        sel = own[self.tc]
        ok = sel >= 0
        n = sc.engine.n_own
        f[:n].reshape(-1)[sel[ok]] += fq[: self.k][ok]

    def finish(self, f_nodes: np.ndarray) -> float:
        """The node part of f_q into the node forces; the ``coupling`` energy −½ q · f_q [energy]."""
        f_nodes.reshape(-1)[self.tn] += self._fq[self.k:]
        return -0.5 * float(self._q @ self._fq)


class SpatialGhost:
    """``ghost_corrected`` on a `SpatialCoupled` ``sc`` (module docstring). Attributes: ``gidB`` (nB,) the
    band atoms' global ids (sorted), ``buf`` (nB, d) the last gather's band block (positions or forces),
    ``evaluations`` homogeneous-state evaluations made."""

    def __init__(self, sc, model) -> None:  # noqa: ANN001
        s, m = model.system, model.system.method
        d = s.d
        self.sc, self.s, self.m, self.d = sc, s, m, d
        idx = np.flatnonzero(m.band_atoms).astype(np.int64)         # free numbering
        self.gidB = np.ascontiguousarray(s.free[idx], np.int64)
        self.dofB = np.ascontiguousarray((idx[:, None] * d + np.arange(d)).ravel())   # stacked dofs
        self.XB = np.ascontiguousarray(model.atoms.X[self.gidB], float)
        self.buf = np.zeros((self.gidB.size, d))
        self.nf = s.n_free * d
        self._pending: np.ndarray | None = None     # a new g, switched to once q is gathered (`finish`)
        self._first = False         # the serial region has no list yet: build at the first evaluation
        self.evaluations = 0

    # ------------------------------------------------------------------ the engine's first list
    def mirror_serial_list(self, atoms) -> None:  # noqa: ANN001
        """Before the first evaluation (collective): the engine's list made where the serial region's is
        (the list's order, hence the cross sums' rounding, depends on where it was built). The method's
        `prepare` evaluates the reference state, so the serial region may hold a list built at the
        reference (then its first `compute` goes on from it): when every rank's serial region holds one
        (or held it until `run.spatial.release_serial_list` dropped it: ``atoms._released_list``), the
        engine rebuilds at its build positions (``x_build`` by global id) and takes its step count;
        otherwise the serial region builds at its first evaluation, and so does the engine at the first
        homogeneous evaluation (``_first``)."""
        sc = self.sc
        e, nl = sc.engine, atoms.nlist
        xb, since = nl.x_build, int(nl.since_build)
        if xb is None and getattr(atoms, "_released_list", None) is not None:
            xb, since = atoms._released_list     # released by `run.spatial.release_serial_list` (msim run)
        atoms._released_list = None
        have = xb is not None and xb.shape == atoms.x.shape
        if sc.comm.size > 1:
            have = bool(sc.comm.allreduce(int(have), "min"))
        self._first = not have
        if not have:
            return
        n = e.n_own
        gid0, x0 = e.gid[:n].copy(), e.x[:n].copy()
        e.x[:n] = xb[gid0]
        e.rebuild()
        self._restore_x(gid0, x0)
        e.since_build = since

    def _restore_x(self, gid0: np.ndarray, x0: np.ndarray) -> None:
        """The owned rows' positions set back to x0 (of the atoms gid0 this rank owned before a rebuild that
        may have reordered and migrated them): atoms that changed rank take theirs from the rank that had
        them (collective on P > 1: one allgather of the atoms each rank no longer owns)."""
        sc = self.sc
        e = sc.engine
        n2 = e.n_own
        g2 = e.gid[:n2]
        gid_all, x_all = gid0, x0
        if sc.comm.size > 1:
            gone = ~np.isin(gid0, g2)
            parts = sc.comm.allgather((gid0[gone], x0[gone]))
            gid_all = np.concatenate([gid0] + [p[0] for p in parts])
            x_all = np.concatenate([x0] + [p[1] for p in parts])
        order = np.argsort(gid_all, kind="stable")
        pos = order[np.searchsorted(gid_all, g2, sorter=order)]
        if not np.array_equal(gid_all[pos], g2):
            raise RuntimeError("an owned atom's position before the rebuild was not found")
        e.x[:n2] = x_all[pos]

    # ------------------------------------------------------------------ layout (per remap)
    def rows(self, gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owned rows of band atoms, their positions in ``gidB``) for the owned global ids ``gid``."""
        rows = np.flatnonzero(np.isin(gid, self.gidB))
        return rows, np.searchsorted(self.gidB, gid[rows])

    # ------------------------------------------------------------------ per step
    def before_forces(self) -> None:
        """The serial `before_forces`: the scheduled homogeneous-state correction (collective)."""
        m = self.m
        if m._busy or m._frozen or not m.enabled or m.params.correction != "homogeneous":
            return
        if m._calls % m.params.every == 0:
            self._pending = self._correction()
        m._calls += 1

    def _correction(self) -> np.ndarray:
        """g (n_dof,) of the current state's best-fit homogeneous deformation (module docstring); the
        state is restored."""
        sc, s, m, d = self.sc, self.s, self.m, self.d
        e, cont = sc.engine, sc.cont
        F, c = m.fit(s)
        rebuilt = False
        n = e.n_own
        gid0, x0 = e.gid[:n].copy(), e.x[:n].copy()
        U0 = cont.U.copy()
        try:
            xh = s.atoms.X @ F.T + c                         # the serial expression, every atom
            e.x[:n] = xh[gid0]
            del xh
            cont.U[...] = cont.nodes @ (F - np.eye(d)).T + c
            sc._set_pads()
            first, self._first = self._first, False
            rebuilt = first or e.due()
            if rebuilt:     # the serial region's list update in this evaluation (built if never)
                e.rebuild()
                sc._remap()
            sc._evaluate(homogeneous=True)
            fq = np.zeros(s.n_dof)
            fq[self.dofB] = self.buf.reshape(-1)
            fq[self.nf:] = sc.f_nodes.reshape(-1)
            g = m.band_correction(s, fq)
            self.evaluations += 1
        finally:
            cont.U[...] = U0
            self._restore_x(gid0, x0)
            sc._set_pads()
        if rebuilt:     # the thermostat's and the atom loads' forces redrawn at the restored state (the
            sc.ops.remap()      # remap drew them at the homogeneous one: an indenter's depend on x)
        return g

    def add_atom_forces(self, f: np.ndarray) -> None:
        """The owned band atoms' forces += −g (rows ``sc.rowsB``), the serial ``scatter_add`` per element."""
        g = self._pending if self._pending is not None else self.m._g
        sc = self.sc
        if sc.rowsB.size:
            f[sc.rowsB] += (-g)[self.dofB].reshape(-1, self.d)[sc.posB]

    def finish(self, f_nodes: np.ndarray) -> float:
        """After the real evaluation's gather (``buf``: the band atoms' positions): the node forces += −g's
        node part, the switch to a pending g at this q, and the ``coupling`` energy [energy]."""
        s, m = self.s, self.m
        g = self._pending if self._pending is not None else m._g
        f_nodes += (-g)[self.nf:].reshape(-1, self.d)
        q = np.zeros(s.n_dof)
        q[self.dofB] = (self.buf - self.XB).reshape(-1)
        q[self.nf:] = self.sc.cont.U.reshape(-1)
        if self._pending is not None:
            m._set(s, self._pending, q)
            self._pending = None
        return m.coupling_energy(q)
