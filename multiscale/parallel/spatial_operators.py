"""The Langevin thermostat and the damping band of a coupled deck on the spatial path
(`parallel.coupled_spatial.SpatialCoupled`, ``msim run --decompose spatial``; docs/parallel.md "Spatial
decomposition of coupled decks", "Integration, ledger, operators").

`SpatialThermostat` — the serial force hook `md.thermostats.langevin.Langevin` on this rank's OWNED atoms.
Its noise is `parallel.streams.keyed_normal` keyed by (seed, step, the atom's site id: ``th.ids`` at the
engine's global id = the serial atom index), its friction reads the
atom's own half-step velocity, so each atom's force is the serial run's, bitwise, on any P. The serial
hook runs after the step's forces; it reads only v½ and the step index, so here it is evaluated right
after the drift (the thermostatted atoms' v½ are final there: the touched copy's re-projected velocities
are written into the engine's rows before), in the rank's row layout of that moment, where its work is
booked as the serial integrator books a force hook's work,

    W += ½ Σ (f⁰ + f¹) · (x − x⁰)          (`VelocityVerlet._book_end`: the same operands in the same order),

and, when the neighbour rebuild that follows migrates atoms, evaluated again in the new layout (the same
key: the same bits) before it is added to the engine's forces (before the per-step gather, so the touched
atoms' gathered forces hold it, as the serial f_atoms do). The work is this rank's share (`work_local`,
rank 0 starting from the serial integrator's value): the ledger's ``external_work`` is their sum (one
allreduce when asked). A restart takes the checkpoint's thermostat forces (the serial ``fext_atoms``: the
friction of a half-step velocity the state does not hold) instead of drawing them.

`SpatialDamping` — the damping band (`coupling.damping.DampingBand`), a velocity map on the band's local
dofs: the atoms of H and the nodes D, Bᵀ and G reach. The atoms of H are constraint-row atoms, so they are
in the replicated touched copy (``SpatialCoupled.vT``; `spatial_refusal` refuses a band that reaches any
other atom) and the nodes are replicated: every rank applies the serial band's map (`DampingBand.map_local`,
its factorisation and keyed bath noise) to the same values — no message, bitwise the serial map — then its
owned touched rows take the new velocities. The energy removed (``dissipated``) is replicated, bitwise.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SpatialDamping", "SpatialOperators", "SpatialThermostat", "operator_refusal"]


def operator_refusal(model, integrator, what: str) -> tuple[str, str] | None:  # noqa: ANN001
    """(deck key, message) when the thermostat, the damping band or the integrator's force hooks and
    velocity operators are not what this module runs, else None. ``what``: the refusal's common tail."""
    from ..coupling.damping import DampingBand
    from ..md.thermostats.langevin import Langevin
    th, band = model.thermostat, model.damping
    if th is not None and type(th) is not Langevin:
        return "integrator.thermostat", f"thermostat '{type(th).__name__}' {what} (langevin only)"
    hooks = [h for h in integrator.force_hooks if h is not th]
    if any(not any(getattr(h, "load", None) is ld for ld in model.loads) for h in hooks):   # (loads: checked)
        return "integrator", f"a force hook other than the loads and the thermostat {what}"
    if band is not None and type(band) is not DampingBand:
        return "handshake.damping", f"damping '{type(band).__name__}' {what}"
    if list(integrator.velocity_ops) != ([] if band is None else [band]):
        return "handshake.damping", f"velocity operators other than the damping band {what}"
    if band is not None:
        s, d = model.system, model.system.d
        T = np.unique(np.asarray(integrator._t_atom) // d) if integrator._local else np.zeros(0, np.int64)
        if not np.all(np.isin(s.free[s.constrained], T)):
            return "handshake.damping", f"a damping band on atoms outside the constraint rows {what}"
    return None


class SpatialThermostat:
    """The serial Langevin thermostat ``th`` on the owned atoms of ``sc`` (a `SpatialCoupled`).

    fresh : True when the serial integrator has not evaluated the initial forces (a fresh run): the initial
    thermostat forces are drawn at the serial step count; False (a restart): they are the serial
    integrator's ``fext_atoms`` (the checkpoint's), by global id.
    Attributes: ``fe`` (n_own, d) thermostat forces of the last evaluation [force] in the engine's current
    owned-row order; ``work_local`` this rank's share of the external work [energy]."""

    def __init__(self, sc, th, serial, fresh: bool) -> None:  # noqa: ANN001
        if th is not None and th.dt is None:
            raise ValueError("the thermostat's time step is not set (run/prepare.py sets it)")
        self.sc, self.th, self.dt = sc, th, float(sc.dt if th is None else th.dt)
        self.loads = sc.loads           # `spatial_loads.SpatialLoads`: forces of the loads on the atoms
        self._fresh = bool(fresh)
        self._restart_f = None if fresh else serial.fext_atoms
        self.work_local = float(serial.external_work) if sc.comm.rank == 0 else 0.0
        self.fe = np.zeros((0, sc.d))
        self._x0 = np.zeros((0, sc.d))
        self._key: int | None = None

    def _mask(self, gid: np.ndarray, X: np.ndarray) -> np.ndarray | None:
        """The serial hook's mask of these atoms: ``th.mask`` by global id, else its region on the
        reference positions X (the serial `Langevin.forces` computes it on every atom's X), else None."""
        th = self.th
        if th.mask is not None:
            return np.asarray(th.mask, bool)[gid]
        if th.region is not None:
            return np.asarray(th.region.contains(X), bool)
        return None

    def _draw(self, key: int) -> None:
        """``fe`` of the owned atoms at noise step ``key`` (`Langevin.add_forces`, the serial call on these
        rows); the thermostat's counter left at key + 1, as the serial hook leaves it."""
        e = self.sc.engine
        n = e.n_own
        gid = e.gid[:n]
        self.fe = np.zeros((n, self.sc.d))
        self.loads.draw(int(key), self.fe)      # the loads' forces first (the serial hooks' order)
        if self.th is not None:
            self.th.step = int(key)
            ids = gid if self.th.ids is None else self.th.ids[gid]      # the noise's key: the model's site ids
            self.th.add_forces(e.v, e.mass[:n], self.fe, self.dt, self._mask(gid, e.X_ref[:n]), ids=ids)
        self.loads.split_pads(self.fe)
        self._key = int(key)

    def remap(self) -> None:
        """After the engine's (re)build: ``fe`` in the new owned-row order. The first call (construction)
        makes the initial forces (drawn, or the restart's); later ones redraw at the same key."""
        if self._key is not None:
            self._draw(self._key)
            return
        if self._fresh:
            self._draw(self.sc.step_count)
            return
        e = self.sc.engine
        if self.loads.atom_forces:          # the loads' partial sums and the pads' forces at the restart
            scratch = np.zeros((e.n_own, self.sc.d))
            self.loads.draw(self.sc.step_count, scratch)
            self.loads.split_pads(scratch)
        self.fe = np.ascontiguousarray(np.asarray(self._restart_f, float)[e.gid[: e.n_own]])
        self._key = self.sc.step_count          # (a redraw before the first step is never needed)
        self._restart_f = None

    def begin_step(self) -> None:
        """x⁰ of the owned atoms (the booking's start, in this step's row order)."""
        e = self.sc.engine
        n = e.n_own
        if self._x0.shape != (n, self.sc.d):
            self._x0 = np.empty((n, self.sc.d))
        np.copyto(self._x0, e.x[:n])

    def after_drift(self) -> None:
        """This step's thermostat forces f¹ (key: the step's index) and the booking of its work."""
        e = self.sc.engine
        n = e.n_own
        f0 = self.fe
        self._draw(self.sc.step_count + 1)
        tmp = f0 + self.fe
        tmp *= self.sc.free_own                        # the serial `_free_atoms` mask (pads, held dofs: 0)
        w = 0.5 * float(np.einsum("ij,ij->", tmp, e.x[:n] - self._x0))
        if self.loads.active:
            self.loads.pending = w          # booked with the nodes' and fixed dofs' terms (`SpatialLoads.book`)
        else:
            self.work_local += w

    def add_forces(self, forces: np.ndarray) -> None:
        """forces (≥ n_own, d): the owned rows += the thermostat forces (`VelocityVerlet._forces`)."""
        forces[: self.fe.shape[0]] += self.fe


class SpatialDamping:
    """The damping band ``band`` (the serial model's `DampingBand`) on the touched copy and the nodes of
    ``sc`` (module docstring). Raises ValueError when a local atom of the band is not a touched atom."""

    def __init__(self, sc, band, serial) -> None:  # noqa: ANN001
        s, d = sc.s, sc.d
        if not band._ready or band._dt != sc.dt:
            band._setup(s, serial, sc.dt)
        self.sc, self.band = sc, band
        la = np.asarray(band.local_atoms, np.int64)
        rows = la // d
        pos = np.minimum(np.searchsorted(sc.T, rows), max(sc.T.size - 1, 0))
        if rows.size and (sc.T.size == 0 or not np.array_equal(sc.T[pos], rows)):
            raise ValueError("the damping band reaches atoms outside the constraint rows")
        self.ca = np.ascontiguousarray(pos * d + la % d)          # flat indices into the touched copy
        self.ln = np.ascontiguousarray(band.local_nodes, np.int64)
        self.v = np.empty(len(band.local))
        self.dissipated = float(serial.dissipated)

    def after_kick(self) -> None:
        """The band's map after the second half-kick (step 9): touched copy and nodes, then the engine's
        owned touched rows; the energy removed booked in ``dissipated``."""
        sc, v, k = self.sc, self.v, self.ca.size
        vT, V = sc.vT.reshape(-1), sc.cont.V.reshape(-1)
        v[:k] = vT[self.ca]
        v[k:] = V[self.ln]
        self.dissipated += float(self.band.map_local(v, sc.d))
        vT[self.ca] = v[:k]
        V[self.ln] = v[k:]
        sc.engine.v.reshape(-1)[sc._fr] = vT[sc._fp]


class SpatialOperators:
    """The thermostat and damping band of a `SpatialCoupled` (either may be absent: then every call is a
    no-op and the step is the plain coupled one, bitwise). Built before the engine's first `remap`."""

    def __init__(self, sc, model, serial) -> None:  # noqa: ANN001
        fresh = not bool(serial._initialized)
        self.th = (None if model.thermostat is None and not sc.loads.atom_forces
                   else SpatialThermostat(sc, model.thermostat, serial, fresh))
        self.band = None if model.damping is None else SpatialDamping(sc, model.damping, serial)
        self.sc = sc
        self._dissipated0 = float(serial.dissipated)

    def remap(self) -> None:
        if self.th is not None:
            self.th.remap()

    def begin_step(self) -> None:
        if self.th is not None:
            self.th.begin_step()

    def after_drift(self) -> None:
        if self.th is not None:
            self.th.after_drift()

    def add_forces(self, forces: np.ndarray) -> None:
        if self.th is not None:
            self.th.add_forces(forces)

    def after_kick(self) -> None:
        if self.band is not None:
            self.band.after_kick()

    def fext_own(self) -> np.ndarray | None:
        """(n_own, d) thermostat forces of the owned atoms (None without a thermostat)."""
        return None if self.th is None else self.th.fe

    def after_forces(self) -> None:
        """The step's work booking of the loads (`spatial_loads.SpatialLoads.book`), after the forces."""
        if self.sc.loads.active:
            self.sc.loads.book()

    def work_share(self) -> float:
        """This rank's share of the external work [energy] (rank 0's includes the work before a restart):
        the loads' booking (the thermostat's work in it) when the deck has loads, else the thermostat's."""
        if self.sc.loads.active:
            return self.sc.loads.work_local
        return 0.0 if self.th is None else self.th.work_local

    def external_work(self) -> float:
        """Collective: the external work [energy] (the loads' and the thermostat's, summed over the ranks)."""
        if self.th is None and not self.sc.loads.active:
            return 0.0
        w = self.work_share()
        return float(self.sc.comm.allreduce(w, "sum")) if self.sc.comm.size > 1 else w

    @property
    def dissipated(self) -> float:
        """The damping band's removed energy [energy] (replicated)."""
        return self.band.dissipated if self.band is not None else self._dissipated0
