"""The loads of a coupled dynamics deck on the spatial path (`parallel.coupled_spatial.SpatialCoupled`,
``msim run --decompose spatial``; docs/parallel.md "Spatial decomposition of coupled decks").

What the serial `VelocityVerlet` does with a load, done here with the atoms owned by the ranks and the
nodes replicated:

* ``prescribed`` (`loads.prescribed.Prescribed`): its dofs are fixed dofs (zero inverse mass: the owned
  rows' ``free_own`` mask, as for ``fixed``); after the drift `impose` sets x = X + u(t), v = u̇(t) on the
  OWNED rows of its atoms (pads excepted: they follow the mesh), on the replicated touched copy (its atoms
  in constraint rows) and on the replicated nodes (`Prescribed.set_motion`, the serial expression). Its
  reaction (`Load.selection_sum` of the forces before the external ones) is formed on every rank from the
  forces of its atoms, which every owner sends on the step's one Allgatherv (the set ``H`` of the prescribed
  atoms, global-id order, pads with their serial zero force): bitwise the serial sum given the forces;
* ``indenter`` (`loads.indenter.Indenter`) and the atom part of ``body_force``: forces on the OWNED atoms
  (the serial `Indenter.contact` / `BodyForce.add_part` on the owned rows in global-id order), in the
  external-force array of the rank (`spatial_operators.SpatialThermostat`: loads in deck order, then the
  thermostat, as the serial ``fext_atoms`` accumulates them); its observables (summed contact forces,
  Σ g³, number of contacts; the atoms' f·u of a body force) are per-rank partial sums riding on the
  Allgatherv, added in rank order (one rank: bitwise the serial sums). The pads' external forces go to the
  nodes as in the serial `VelocityVerlet._external` (``N_padᵀ f_pad``, replicated: the owners send them);
* ``kfield`` (`loads.kfield.KField`): the same for its boundary dofs, x = X + K(t) u₁, v = K̇ u₁ (owned rows
  by their row of its unit field, the touched copy, `KField.impose_nodes`; `KField.note_imposed` keeps its
  K observable); its ``initial`` field is set on the serial model before the engine is built;
* ``traction`` and the node part of ``body_force``: the serial code on the replicated nodes, into the
  replicated ``fext_nodes`` (deck order);
* the work booking (`VelocityVerlet._book_end`): the atoms' term ½ Σ (f⁰ + f¹)·Δx over the owned dofs that
  move (`SpatialThermostat.after_drift`, this rank's share), the nodes' term and the term of the fixed dofs
  −½ Σ (f_int⁰ + f_int¹)·Δq on rank 0 from replicated values: the prescribed dofs' positions (X + u, the
  serial expression) and internal forces (gathered), the held dofs' products exactly 0 (Δq = 0). Each
  rank adds ((0 + A) + N) − F as the serial integrator adds its w: one rank bitwise.

The hooks' energies (`run.prepare.LoadHook.energy`, the thermo's ``external_energy``) and the loads'
observables are set on every rank from the reduced values. Not supported (`loads_refusal`): ``precrack``
(its own bond weights and a tracker reading the serial atoms) and any other load; wave packets are 1D
initial conditions (the spatial path is 2D/3D).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

__all__ = ["SUPPORTED", "SpatialLoads", "loads_refusal"]

#: the load types the spatial path runs (besides ``fixed``, handled by `SpatialCoupled`, and initial
#: conditions): deck names
SUPPORTED = ("prescribed", "kfield", "indenter", "body_force", "traction")


def _classes() -> tuple:
    from ..loads.body_force import BodyForce
    from ..loads.indenter import Indenter
    from ..loads.kfield import KField
    from ..loads.prescribed import Prescribed
    from ..loads.traction import Traction
    return Prescribed, Indenter, BodyForce, Traction, KField


def loads_refusal(model, what: str) -> tuple[str, str] | None:  # noqa: ANN001
    """(deck key, message) of the first load the spatial path does not run, else None. ``what``: the
    refusal's common tail."""
    from ..loads.base import Load
    from ..loads.fixed import Fixed
    from ..loads.radial_pulse import RadialPulse
    ok = (Fixed, *_classes())
    for k, ld in enumerate(model.loads):      # model.loads is the deck's list: k is the item's index
        if type(ld) in ok:
            continue
        if isinstance(ld, RadialPulse) and type(ld).impose is Load.impose and ld.fixed_dofs() == (None, None):
            continue
        return f"loads[{k}]", (f"load '{type(ld).__name__}' {what} (initial conditions (radial_pulse), fixed, "
                         f"{', '.join(SUPPORTED)} only)")
    return None


class SpatialLoads:
    """The loads of ``model`` on the spatial path of ``sc`` (a `SpatialCoupled`; module docstring).
    ``serial``: the prepared serial `VelocityVerlet` (its hooks, fixed-dof lists, external work).

    Attributes: ``active`` (any load here), ``atom_forces`` (a load with forces on atoms), ``moving``
    (the prescribed and kfield loads), ``fext_nodes`` (N, d) the nodes' external forces of the last evaluation
    [force] (replicated), ``work_local`` this rank's share of the external work [energy] (when
    ``active``: the thermostat's included)."""

    def __init__(self, sc, model, serial) -> None:  # noqa: ANN001
        Prescribed, Indenter, BodyForce, Traction, KField = _classes()
        s, d = model.system, sc.d
        self.sc, self.s, self.d = sc, s, d
        hooks = {id(getattr(h, "load", None)): h for h in serial.force_hooks}
        self.loads = [ld for ld in model.loads if type(ld) in (Prescribed, Indenter, BodyForce, Traction, KField)]
        self.hooks = [hooks.get(id(ld)) for ld in self.loads]
        self.active = bool(self.loads)
        self.atom_loads = [ld for ld in self.loads if type(ld) is Indenter
                           or (type(ld) is BodyForce and ld._wm_atoms is not None)]
        self.atom_forces = bool(self.atom_loads)
        self.moving = [ld for ld in self.loads if type(ld) in (Prescribed, KField)]
        self.prescribed = [ld for ld in self.moving if type(ld) is Prescribed]
        self._isK = [type(ld) is KField for ld in self.moving]
        # per-rank partial sums on the gather: indenter (Σ f (d), Σ g³, contacts), body force (atoms' f·u)
        self._soff, n = {}, 0
        for ld in self.atom_loads:
            self._soff[id(ld)] = n
            n += d + 2 if type(ld) is Indenter else 1
        self.nS = n
        self.S = np.zeros(n)                 # this rank's partials (last draw)
        self.S_sum = np.zeros(n)             # the ranks' sums
        if not self.loads:      # no load here: nothing over the model's atoms (the per-rank build has none)
            self._no_loads(sc, s, serial)
            return
        # H: the prescribed loads' atoms (global ids, sorted), each load's rows in H
        pad = np.zeros(s.n_atoms, bool)
        pad[np.asarray(s.pad_idx, np.int64)] = True
        sel = np.zeros(s.n_atoms, bool)
        for ld in self.moving:
            if ld.atom_sel is not None:
                sel |= ld.atom_sel
        self.H = np.flatnonzero(sel).astype(np.int64)
        self._posld = [None if ld.atom_sel is None else np.searchsorted(self.H, np.flatnonzero(ld.atom_sel))
                       for ld in self.prescribed]
        self._nidx = [None if ld.node_sel is None else np.flatnonzero(ld.node_sel) for ld in self.prescribed]
        self._sel = [None if ld.atom_sel is None else np.flatnonzero(ld.atom_sel) for ld in self.moving]
        self.fregH = np.zeros((self.H.size, d))      # forces before the external ones (pads: 0), replicated
        self.fintH = np.zeros((self.H.size, d))      # f − f_ext (the serial f_int), replicated
        # the prescribed atom dofs that move (pads excepted): their place in the serial fixed-dof list
        fa = np.asarray(serial._f_atom, np.int64)
        self._n_fa = fa.size
        self._mov = []                        # per load: (flat dof indices (k,), components (k,))
        allm = np.zeros((s.n_atoms, d), bool)
        for ld in self.moving:
            am = ld.fixed_dofs()[0]
            m = np.zeros((s.n_atoms, d), bool) if am is None else am & ~pad[:, None]
            allm |= m
            self._mov.append(np.flatnonzero(m.ravel()))
        flat = np.flatnonzero(allm.ravel())
        self._k_mov = np.searchsorted(fa, flat)
        if flat.size and not np.array_equal(fa[np.minimum(self._k_mov, fa.size - 1)], flat):
            raise ValueError("a prescribed dof is not a fixed dof of the serial integrator")
        self._flat = flat
        self._movH = np.searchsorted(self.H, flat // d) * d + flat % d        # flat into (n_H, d)
        self._movpos = [np.searchsorted(flat, f) for f in self._mov]
        # a K field's unit field at its moving dofs (its ``_ua`` rows are its selected atoms')
        self._uaF = [np.asarray(ld._ua).reshape(-1)[np.searchsorted(sel, f // d) * d + f % d]
                     if type(ld) is KField and f.size else None for ld, sel, f in zip(self.moving, self._sel,
                                                                                     self._mov, strict=True)]
        # each load's atoms in the replicated touched copy (positions in ``sc.T``) and their masks
        self._inT = []
        for ld in self.moving:
            inT = (np.zeros(0, np.int64) if ld.atom_sel is None or not sc.T.size
                   else np.flatnonzero(np.asarray(ld.atom_sel, bool)[sc.T]))
            if type(ld) is KField:          # rows of its unit field instead of a mask
                sel_k = self._sel[len(self._inT)]        # None: the field moves nodes only (rev31 F1)
                self._inT.append((inT, np.zeros(0, np.int64) if sel_k is None
                                  else np.searchsorted(sel_k, sc.T[inT])))
            else:
                self._inT.append((inT, np.zeros((0, d), bool) if not inT.size else ld.fixed_dofs()[0][sc.T[inT]]))
        X = np.asarray(model.atoms.X, float).reshape(-1)
        self.XF = X[flat]
        self.xF = np.asarray(model.atoms.x, float).reshape(-1)[flat].copy()   # current values (replicated)
        self.xF0 = self.xF.copy()
        self.fintF = np.zeros(flat.size)                                   # f_int of the current forces
        self.fintF0 = self.fintF.copy()
        # nodes (replicated): the serial fixed node dofs, their values
        self.cont = model.continuum
        self._f_node = np.asarray(serial._f_node, np.int64)
        self._free_nodes = serial._free_nodes
        self.fext_nodes = np.zeros((s.n_nodes, d))
        self._fen0 = np.zeros((s.n_nodes, d))
        self._U0 = np.zeros((s.n_nodes, d))
        self.fintN = np.zeros(self._f_node.size)
        self.fintN0 = self.fintN.copy()
        self._proxy = SimpleNamespace(atoms=None, continuum=self.cont)
        # pads' external forces (replicated after the gather) and the transfer to the nodes
        self.n_pad = int(sc.n_pad)
        self.fextP = np.zeros((self.n_pad, d))
        self.fextP_own = np.zeros((0, d))
        self._Np = s.N_pad if (self.atom_forces and self.n_pad) else None
        # kinetic energy over the dofs that move (`CoupledSystem.kinetic`'s mask): prescribed velocities
        self.dyn_nodes = (np.asarray(s.inv_mass_dof[s.n_free * d:]) > 0).reshape(-1, d) if s.n_nodes else None
        self.work_local = float(serial.external_work) if sc.comm.rank == 0 else 0.0
        self.pending = 0.0                  # this step's atoms' term (`SpatialThermostat.after_drift`)
        self.rowsH = np.zeros(0, np.int64)
        self.posH = np.zeros(0, np.int64)
        self._order = None

    def _no_loads(self, sc, s, serial) -> None:  # noqa: ANN001
        """The attributes of a deck without these loads (empty sets; `remap`, `counts` and the step's calls
        then do nothing), read from nothing over all atoms."""
        d, e0 = self.d, np.zeros(0, np.int64)
        self.H = self.rowsH = self.posH = e0
        self._posld, self._nidx, self._sel, self._mov, self._movpos, self._uaF, self._inT = [], [], [], [], [], [], []
        self.fregH = self.fintH = np.zeros((0, d))
        self._n_fa, self._k_mov, self._flat, self._movH = 0, e0, e0, e0
        self.XF = self.xF = self.xF0 = self.fintF = self.fintF0 = np.zeros(0)
        self.cont = sc.model.continuum
        self._f_node = e0
        self._free_nodes = None
        self.fext_nodes = np.zeros((s.n_nodes, d))
        self._fen0 = self._U0 = None
        self.fintN = self.fintN0 = np.zeros(0)
        self._proxy = None
        self.n_pad = int(sc.n_pad)
        self.fextP = np.zeros((self.n_pad, d))
        self.fextP_own = np.zeros((0, d))
        self._Np = None
        self.dyn_nodes = None
        self.work_local = float(serial.external_work) if sc.comm.rank == 0 else 0.0
        self.pending = 0.0
        self._order = None

    # ------------------------------------------------------------------ ownership (per rebuild)
    def remap(self, g: np.ndarray, inP: np.ndarray) -> None:
        """Owned rows of H (``rowsH``, positions ``posH``; pads flagged), each moving load's owned rows and
        masks, the owned rows' global-id order (collective-free; `SpatialCoupled._remap`)."""
        d = self.d
        o = np.argsort(g, kind="stable")
        self._order = None if np.all(o == np.arange(g.size)) else o
        inH = np.isin(g, self.H)
        self.rowsH = np.flatnonzero(inH)
        self.posH = np.searchsorted(self.H, g[self.rowsH])
        self._padH = inP[self.rowsH]
        self._own = []
        for ld, sel in zip(self.moving, self._sel, strict=True):
            if ld.atom_sel is None:
                self._own.append((np.zeros(0, np.int64), np.zeros((0, d), bool)))
                continue
            rows = np.flatnonzero(np.asarray(ld.atom_sel, bool)[g] & ~inP)
            # prescribed: the rows' masks; K field: the rows of its unit field
            self._own.append((rows, np.searchsorted(sel, g[rows]) if self._isK[len(self._own)]
                              else ld.fixed_dofs()[0][g[rows]]))

    def counts(self, nH: int, nP: int) -> int:
        """Doubles of one rank's block on the gather: partials, 2 × its H rows, its pads' external forces."""
        return self.nS + 2 * nH * self.d + (nP * self.d if self.atom_forces else 0)

    # ------------------------------------------------------------------ prescribed motion (after the drift)
    def begin_step(self) -> None:
        """The booking's start: x⁰ of the prescribed dofs, U⁰, f_ext⁰ and f_int⁰ (replicated)."""
        if not self.active:
            return
        np.copyto(self.xF0, self.xF)
        np.copyto(self.fintF0, self.fintF)
        np.copyto(self.fintN0, self.fintN)
        if self.cont is not None:
            np.copyto(self._U0, self.cont.U)
            np.copyto(self._fen0, self.fext_nodes)

    def impose(self, time: float) -> None:
        """x = X + u(t), v = u̇(t) of the prescribed dofs: owned rows, touched copy, nodes, the replicated
        values of the moving dofs (`Prescribed.set_motion`, deck order)."""
        if not self.moving:
            return
        sc = self.sc
        e = sc.engine
        for i, (ld, (rows, am), mov, pos) in enumerate(zip(self.moving, self._own, self._mov, self._movpos,
                                                           strict=True)):
            if self._isK[i]:
                self._impose_kfield(i, ld, rows, am, pos, time)
                continue
            u, v = ld.u(time)
            if rows.size:
                x, vv = e.x[rows], e.v[rows]
                ld.set_motion(am, e.X_ref[rows], x, vv, u, v)
                e.x[rows], e.v[rows] = x, vv
            inT, am_t = self._inT[i]
            if inT.size:
                x, vv = sc.xT[inT], sc.vT[inT]
                ld.set_motion(am_t, sc.XT[inT], x, vv, u, v)
                sc.xT[inT], sc.vT[inT] = x, vv
            if ld.node_sel is not None:
                ld.set_motion(ld.fixed_dofs()[1], None, self.cont.U, self.cont.V, u, v)
            if mov.size:
                self.xF[pos] = self.XF[pos] + u[mov % self.d]

    def _impose_kfield(self, i: int, ld, rows: np.ndarray, j: np.ndarray, pos: np.ndarray,  # noqa: ANN001
                       time: float) -> None:
        """`KField.impose` (x = X + K u₁, v = K̇ u₁ on its atoms, U, V on its nodes) on the owned rows ``rows``
        (``j``: their rows of the unit field), the touched copy, the nodes and the moving dofs' values."""
        sc, e = self.sc, self.sc.engine
        K, Kd = ld.K(time), ld.params.K_rate
        if (ld.params.increment_interior and ld._k_imposed is not None and Kd == 0.0 and K != ld._k_imposed):
            raise RuntimeError("kfield: a change of K with increment_interior in dynamics (not on the spatial path)")
        ld.note_imposed(K)
        if rows.size:
            e.x[rows] = e.X_ref[rows] + K * ld._ua[j]
            e.v[rows] = Kd * ld._ua[j]
        inT, jT = self._inT[i]
        if inT.size:
            sc.xT[inT] = sc.XT[inT] + K * ld._ua[jT]
            sc.vT[inT] = Kd * ld._ua[jT]
        if ld.node_sel is not None:
            ld.impose_nodes(self.cont, K)
        if pos.size:
            self.xF[pos] = self.XF[pos] + K * self._uaF[i]

    # ------------------------------------------------------------------ forces
    def draw(self, key: int, out: np.ndarray) -> None:
        """out (n_own, d) += the atom loads' forces at step ``key`` (time key·Δt) on the owned rows (deck
        order, the serial operations per atom); this rank's partial sums in ``S``."""
        if not self.atom_forces:
            return
        Prescribed, Indenter, BodyForce, Traction, KField = _classes()
        sc, d = self.sc, self.d
        e = sc.engine
        n = e.n_own
        t = key * sc.dt
        o = self._order
        x = e.x[:n] if o is None else e.x[:n][o]
        tgt = out if o is None else np.zeros((n, d))
        self.S[:] = 0.0
        for ld in self.atom_loads:
            k = self._soff[id(ld)]
            if type(ld) is Indenter:
                s3, f, idx = ld.contact(x, ld.center(t))
                tgt[idx] += f
                self.S[k:k + d] = f.sum(axis=0) if idx.size else 0.0
                self.S[k + d], self.S[k + d + 1] = s3, idx.size
            else:
                g = e.gid[:n] if o is None else e.gid[:n][o]
                disp = x - (e.X_ref[:n] if o is None else e.X_ref[:n][o])
                self.S[k] = ld.add_part(ld._ramp(t)[0], ld._wm_atoms[g], disp, tgt)
        if o is not None:
            out[o] += tgt

    def split_pads(self, fe: np.ndarray) -> None:
        """The owned pads' rows of the external forces fe (n_own, d) kept (``fextP_own``) and zeroed in fe:
        they act on the nodes (`VelocityVerlet._external`)."""
        if not self.atom_forces:
            return
        rows = self.sc.rowsP
        self.fextP_own = fe[rows]
        fe[rows] = 0.0

    def pack(self, f: np.ndarray, fe: np.ndarray | None, buf: np.ndarray) -> None:
        """This rank's block (`counts`): partials, its H rows' forces before the external ones (pads 0)
        and f − f_ext after them, its pads' external forces. f (≥ n_own, d): the forces BEFORE the external
        ones are added (the caller adds fe after this call); fe: the external forces (None: none)."""
        d, rows = self.d, self.rowsH
        nS, kH = self.nS, rows.size * d
        buf[:nS] = self.S
        fr = f[rows]
        fr[self._padH] = 0.0
        buf[nS:nS + kH] = fr.reshape(-1)
        if fe is None:
            fi = fr - 0.0
        else:
            fer = fe[rows]
            fi = (fr + fer) - fer
        fi[self._padH] = 0.0
        buf[nS + kH:nS + 2 * kH] = fi.reshape(-1)
        if self.atom_forces:
            buf[nS + 2 * kH:] = self.fextP_own.reshape(-1)

    def unpack(self, recv: np.ndarray, blocks: list) -> None:
        """The ranks' blocks ``(offset, flat H positions, flat pad positions)`` into the replicated arrays;
        partials summed in rank order."""
        nS = self.nS
        self.S_sum[:] = 0.0
        for o, ph, pp in blocks:
            self.S_sum += recv[o:o + nS]
            kH = ph.size
            self.fregH.reshape(-1)[ph] = recv[o + nS:o + nS + kH]
            self.fintH.reshape(-1)[ph] = recv[o + nS + kH:o + nS + 2 * kH]
            if self.atom_forces:
                self.fextP.reshape(-1)[pp] = recv[o + nS + 2 * kH:o + nS + 2 * kH + pp.size]

    def after_gather(self, time: float, f_nodes: np.ndarray) -> None:
        """Replicated: the prescribed reactions (f_nodes: the node forces before the external ones), the
        atom loads' observables, the node loads into ``fext_nodes`` (deck order), the pads' external forces
        onto the nodes, f_nodes += fext_nodes, the hooks' energies and the internal forces of the fixed
        dofs (the booking's f_int¹)."""
        Prescribed, Indenter, BodyForce, Traction, KField = _classes()
        d, S = self.d, self.S_sum
        for ld, pos, nidx in zip(self.prescribed, self._posld, self._nidx, strict=True):
            ld.record(time, ld.selection_sum(None if pos is None else self.fregH[pos],
                                             None if nidx is None else f_nodes[nidx]))
        if self.cont is not None:
            self.fext_nodes[...] = 0.0
        for ld, hook in zip(self.loads, self.hooks, strict=True):
            E = 0.0
            if type(ld) is Indenter:
                k = self._soff[id(ld)]
                E = ld.energy_of(float(S[k + d]))
                ld.record(time, S[k:k + d].copy(), E, int(S[k + d + 1]))
            elif type(ld) is BodyForce:
                fu = [float(S[self._soff[id(ld)]])] if ld._wm_atoms is not None else []
                if ld._wm_nodes is not None:
                    fu.append(ld.add_part(ld._ramp(time)[0], ld._wm_nodes, self.cont.U, self.fext_nodes))
                E = ld.record(time, fu)[0]
            elif type(ld) is Traction:
                E = float(ld.apply(time, self._proxy, None, self.fext_nodes)[0])
            if hook is not None:
                hook.energy = float(E)
        if self._Np is not None:
            self.fext_nodes += self._Np.T @ self.fextP        # the serial expression (`VelocityVerlet._external`)
        if self.cont is not None:
            f_nodes += self.fext_nodes
            fn, fen = f_nodes.reshape(-1), self.fext_nodes.reshape(-1)
            self.fintN = fn[self._f_node] - fen[self._f_node]
        self.fintF = self.fintH.reshape(-1)[self._movH]

    # ------------------------------------------------------------------ the work booking (after the forces)
    def book(self) -> None:
        """This step's external work (`VelocityVerlet._book_end`; module docstring) added to ``work_local``."""
        w = 0.0 + self.pending
        if self.sc.comm.rank == 0:
            if self.cont is not None and self.cont.U.size:
                tmp = self._fen0 + self.fext_nodes
                tmp *= self._free_nodes
                w += 0.5 * float(np.einsum("ij,ij->", tmp, self.cont.U - self._U0))
            nf = self._n_fa + self._f_node.size
            if nf:
                prod = np.zeros(nf)
                prod[self._k_mov] = (self.fintF0 + self.fintF) * (self.xF - self.xF0)
                U, U0 = self.cont.U.reshape(-1), self._U0.reshape(-1)
                prod[self._n_fa:] = (self.fintN0 + self.fintN) * (U[self._f_node] - U0[self._f_node])
                w -= 0.5 * float(np.sum(prod))
        self.pending = 0.0
        self.work_local += w

    # ------------------------------------------------------------------ kinetic energy masks
    def kinetic_masks(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(owned atoms (n_own, d), nodes (N, d)) masks of the dofs that move (`CoupledSystem.kinetic`),
        or (None, None) when no dof is prescribed (then no dof with a velocity is masked)."""
        if not self.moving:
            return None, None
        return self.sc.free_own, self.dyn_nodes
