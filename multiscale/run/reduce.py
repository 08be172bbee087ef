"""Every global reduction of a run, behind one object: `Reduction(comm)`.

A run's state is split into local pieces (today: one piece, the whole model; later: the atoms and nodes a
rank owns). Everything the run loop reports about the WHOLE model is a sum or a maximum over the pieces:
the energy ledger (kinetic and potential terms, external work, dissipated energy, Verlet correction),
the momentum, the constraint residual, temperatures, the blow-up guard's verdict. `Reduction` computes the
local part with the existing single-piece functions and combines the parts with ``comm.allreduce``.

``comm`` is a communicator of `multiscale.parallel.comm` (``allreduce(value, op="sum"|"max")`` of a float
or a NumPy array, ``rank``, ``size``) or anything with that interface. `SerialComm` (the default, no
mpi4py needed) returns the value unchanged, so a serial run's figures are bitwise those of the
single-piece functions. A raw mpi4py communicator is wrapped in `parallel.comm.MPIComm`.

Replicated-data runs (coupled decks on P ranks, `parallel.replicated`): every rank holds the whole state,
so the run's `Reduction` is over a `parallel.replicated.ReplicatedComm`, whose ``allreduce`` is the
identity: the ledger, guard and temperatures are the serial figures on every rank (the atoms' energy and
forces were already gathered inside the split force evaluation, `parallel.split_forces`: one Allgatherv).

Contract for an MPI implementation: every rank calls the same `Reduction` methods in the same order (they
are collective); per-rank inputs are the rank's OWNED entities only (ghosts are never summed).
Not yet reducible: the loads' own ``observables()`` (indenter force, crack tip, ...) are computed by each
load on the data it sees; a rank-split run needs each load to report partial sums (see `observables`).
"""

from __future__ import annotations

import numpy as np

from ..diagnostics.energy import ledger as _local_ledger
from ..errors import BlowUpError
from ..parallel.comm import MPIComm, SerialComm

__all__ = ["Reduction", "SerialComm"]


#: the ledger's extensive terms, reduced together as one vector (the order is the message layout)
_SUMMED = ("kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum", "coupling",
           "external_work", "dissipated", "verlet_correction")


class Reduction:
    """Global sums / maxima of a run over the pieces of its state (see the module docstring).

    comm : `parallel.comm.SerialComm` (default), `parallel.comm.MPIComm`, a raw mpi4py communicator
    (wrapped), or anything with ``allreduce(value, op="sum"|"max")``, ``rank``, ``size``.
    """

    def __init__(self, comm=None) -> None:  # noqa: ANN001
        if comm is None:
            comm = SerialComm()
        elif type(comm).__module__.startswith("mpi4py"):
            comm = MPIComm(comm)
        self.comm = comm

    @property
    def rank(self) -> int:
        return int(self.comm.rank)

    @property
    def size(self) -> int:
        return int(self.comm.size)

    # ------------------------------------------------------------------ primitives
    def sum(self, value):  # noqa: ANN001, ANN201
        """Σ over ranks of a float or an array (elementwise)."""
        return self.comm.allreduce(value, op="sum")

    def max(self, value):  # noqa: ANN001, ANN201
        """max over ranks of a float or an array (elementwise)."""
        return self.comm.allreduce(value, op="max")

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on some rank."""
        return bool(self.max(1 if flag else 0))

    # ------------------------------------------------------------------ energy ledger
    def ledger(self, integrator) -> dict:  # noqa: ANN001
        """The whole model's `diagnostics.energy.ledger` record [energy; momentum internal units].

        The extensive terms and the momentum are summed over ranks in ONE message, the constraint residual
        is a maximum; the totals are then formed from the reduced terms with the ledger's own formulas
        (so a one-rank record is bitwise the local one). ``external_work`` and ``dissipated`` are each
        rank's booked share (the integrator books the work on the dofs it holds).
        """
        rec = _local_ledger(integrator)
        mom = np.atleast_1d(np.asarray(rec["momentum"], float))
        vec = np.array([float(rec[k]) for k in _SUMMED] + list(mom))
        vec = self.sum(vec)
        r = dict(zip(_SUMMED, (float(x) for x in vec[:len(_SUMMED)]), strict=True))
        total = (r["kinetic_atoms"] + r["kinetic_continuum"] + r["potential_atoms"] + r["potential_continuum"]
                 + r["coupling"] - r["external_work"])
        corr = r["verlet_correction"]
        out = {"step": rec["step"], "time": rec["time"], **{k: r[k] for k in _SUMMED[:7]},
               "total": total, "total_plus_dissipated": total + r["dissipated"],
               "verlet_correction": corr, "total_modified": total + corr,
               "modified_plus_dissipated": total + corr + r["dissipated"],
               "constraint_residual": float(self.max(float(rec["constraint_residual"]))),
               "momentum": np.asarray(vec[len(_SUMMED):]).reshape(np.shape(rec["momentum"]))}
        return out

    def energy_scale(self, integrator) -> float:
        """Σ |kinetic| + |potential| of both regions [energy]: the guard's initial energy floor."""
        rec = self.ledger(integrator)
        return sum(abs(float(rec[k])) for k in ("kinetic_atoms", "kinetic_continuum", "potential_atoms",
                                                  "potential_continuum"))

    def count(self, n: int) -> int:
        """Σ over ranks of a local count (owned atoms, ...)."""
        return int(self.sum(int(n)))

    # ------------------------------------------------------------------ temperatures
    def temperature(self, v: np.ndarray, mass: np.ndarray, boltz: float, remove_com: bool = True,
                    free: np.ndarray | None = None) -> float:
        """`md.velocities.kinetic_temperature` over all ranks: 2K / (dof k_B) of the atoms with mass > 0.
        dof = the free velocity components of those atoms (``free`` (n, d) bool, True = integrated; all
        d components of each atom when None), minus d when the momentum is removed (the documented
        convention of `kinetic_temperature`, kept). v (n, d) [length/time], mass (n,) internal."""
        m = np.asarray(mass, float)
        live = m > 0
        d = v.shape[1]
        K_loc = 0.5 * float(np.sum(m[live] * np.sum(v[live] ** 2, axis=1))) if live.any() else 0.0
        f_loc = float(live.sum()) * d if free is None else float(np.count_nonzero(np.asarray(free)[live]))
        K, n, nf = self.sum(np.array([K_loc, float(live.sum()), f_loc]))
        n, nf = int(n), int(nf)
        if n == 0 or nf == 0:
            return 0.0
        dof = nf - (d if (remove_com and n > 1 and nf > d) else 0)
        return 2.0 * float(K) / (dof * boltz)

    def mean_temperature(self, v: np.ndarray, mass: np.ndarray, boltz: float) -> float:
        """`diagnostics.temperature.kinetic_temperature` over all ranks: Σ m |v|² / (d n k_B) of the
        particles with mass > 0 (no momentum removed); 0.0 for an empty set."""
        m = np.asarray(mass, float)
        live = m > 0
        v = np.asarray(v, float)
        S_loc = float(np.sum(m[live] * np.sum(v[live] ** 2, axis=1))) if live.any() else 0.0
        S, n = self.sum(np.array([S_loc, float(live.sum())]))
        n = int(n)
        if n == 0:
            return 0.0
        return float(S) / (v.shape[1] * n * boltz)

    def group_temperatures(self, system, boltz: float) -> dict[str, float]:  # noqa: ANN001
        """`diagnostics.temperature.group_temperatures` (physical masses) over all ranks."""
        from ..diagnostics.temperature import _masses, atom_groups
        out: dict[str, float] = {}
        if system.atoms is not None:
            m = _masses(system, "physical")
            v = system.atoms.v
            for name, idx in atom_groups(system).items():
                if self.any(bool(len(idx) and np.any(m[idx] > 0))):
                    out[f"temperature_{name}"] = self.mean_temperature(v[idx], m[idx], boltz)
        if system.continuum is not None and system.coupled:
            out["temperature_continuum"] = self.mean_temperature(system.continuum.V, system.node_mass, boltz)
        return out

    def observables(self, model) -> dict:  # noqa: ANN001
        """The thermo observables: each load's ``observables()`` (local: see the module docstring), the
        kinetic temperature of the integrated atoms (atoms with every component fixed left out) and, when
        coupled, of each group."""
        out: dict = {}
        for ld in model.loads:
            out.update(ld.observables())
        s = model.system
        if model.atoms is not None and self.any(bool(len(s.free))):
            # atoms whose every component is fixed (a `fixed` load) hold no kinetic degree of freedom
            # and a held component (a `fixed` load on some components) is no degree of freedom either
            moving, free = s.free, None
            inv = getattr(s, "inv_mass_dof", None)
            if inv is not None and len(inv) >= s.n_free * s.d:
                comp = np.asarray(inv[: s.n_free * s.d]).reshape(-1, s.d) > 0
                keep = np.any(comp, axis=1)
                moving, free = s.free[keep], comp[keep]
            # physical masses: a coupled atom's integrated mass β̄·m (tiny in the handshake) with a full
            # degree of freedom read 0.6 T in a thermalised coupled deck (review rev33 R3); the group
            # temperatures below use physical masses too
            out["temperature"] = self.temperature(model.atoms.v[moving], np.asarray(model.atoms.mass)[moving],
                                                  model.units.boltz, free=free)
            if s.coupled:   # per group: core, handshake, pad atoms, mesh nodes (diagnostics/temperature.py)
                out.update(self.group_temperatures(s, model.units.boltz))
        return out

    # ------------------------------------------------------------------ guard
    def guard_check(self, guard, step: int, arrays: dict, **kw) -> None:  # noqa: ANN001
        """`BlowUpGuard.check` on this rank's arrays (the energy test takes the reduced totals given in
        ``kw``); a failure on any rank stops every rank: the failing rank raises its own `BlowUpError`,
        the others one that says so."""
        err = None
        try:
            guard.check(step, arrays, **kw)
        except BlowUpError as exc:
            err = exc
        if self.size == 1:
            if err is not None:
                raise err
            return
        if self.any(err is not None):
            err = self._lost_over_ranks(guard, step, err, kw.get("box"))
            if err is None:
                err = BlowUpError(f"blow-up at step {step} on another rank", step=int(step), region="all",
                                  quantity="state")
            err.collective = True      # every rank raises it at this step (`run.dynamics` then waits for
            raise err                  # rank 0 to save the last good state before the ranks stop)

    def _lost_over_ranks(self, guard, step: int, err, box):  # noqa: ANN001, ANN202
        """Collective, after a failed check on some rank. When no rank failed before the in-box check
        (a non-finite value) and atoms left the box: every rank's error is the serial one, naming the lost
        atom of smallest global id and the count over all ranks; otherwise ``err`` unchanged."""
        lost = getattr(guard, "lost", None)     # None: this rank's check stopped before the box test
        if box is None or self.any(err is not None and lost is None):
            return err
        n, a, ax, pos = lost if lost is not None else (0, -1, -1, float("nan"))
        total = int(round(float(self.sum(float(n)))))
        if not total:
            return err
        first = -float(self.max(-float(a) if n else -np.inf))
        mine = np.array([ax, pos], float) if n and a == first else np.zeros(2)
        ax, pos = self.sum(mine)
        return guard.box_error(step, box, (total, int(first), int(ax), float(pos)))
