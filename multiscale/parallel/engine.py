"""Distributed atoms: spatial domain decomposition in slabs, owned + ghost atoms, velocity Verlet over MPI.

`SlabDecomposition` cuts the box (periodic or free along the cut axis) into P equal slabs along one
axis; rank r owns the atoms whose wrapped coordinate lies in slab r. `DistributedMD` holds this rank's
state and steps it:

State (this rank; ``n_own`` owned atoms first, then ``n_ghost`` ghosts):
    gid (n_loc,) int64 global ids; x (n_loc, d) positions [length] (owned: wrapped into the box at the last
    rebuild, then moving; ghosts: periodic copies of neighbours' owned atoms, refreshed every step);
    v (n_own, d); mass, inv_mass (n_own,) internal force-mass units; image (n_own, d) int64 periodic image
    (unwrapped position = x + image·L); types (n_loc,) int32; forces (n_loc, d); energies (n_loc,).

Neighbour rebuild (all ranks together, when any atom anywhere moved more than skin/2 — one max-allreduce
per check step, completed in one wait with the ghosts' position exchange of that step): wrap owned atoms into the box, MIGRATE atoms whose slab changed to their new owners
(packed rows (gid, x, v, mass, type, image) to every other rank, sized by matched probes:
`comm.sendrecv_rows`), sort the owned
atoms by global id (a canonical order: the same P gives bitwise the same run), choose ghosts (owned atoms
within ``rlist = cutoff + skin`` of a slab face are sent to the rank across it, shifted by ±L across the
periodic seam; packed rows by Isend, received by matched probe: no counts message), build the half list of the
local atoms with the serial `NeighborList` (free along the cut axis, periodic along the others) holding
only the entries this rank computes: the build applies the owned-atom rule below per candidate where a
run of candidates holds ghosts (``owned``; kernels/cellscan), so no filter pass follows (except the
interior/boundary split of ``overlap``, `kernels/neighbors.filter_local`). Cut axis 0: the cell grid is
also aligned with the slab faces (no cell holds owned atoms and ghosts) and home cells of ghosts scan
only the owned cells (``clip_x``), so ghost-ghost candidates are not even looked at:

- ``newton=False`` (full cross pairs): keep every entry with at least one owned atom; a pair across a
  slab face is computed on both ranks and each keeps the force on its own atom (ghost forces are
  discarded). Per step: one forward exchange (positions; EAM: also F'(ρ)).
- ``newton=True`` (reverse communication, half shell): a rank receives ghosts from the rank above only
  (the atoms within rlist of its upper face; none across an open face) and computes every cross pair of
  its upper face, those of its lower face being the rank below's: each pair on exactly one rank, no
  pair count above the serial one, half the ghosts. Forces on ghosts are sent back and added to their
  owners (EAM: ghost densities are sent back too). Per step: forward positions, reverse forces (EAM: +
  reverse ρ, forward F'(ρ)), one message each.

Rendezvous (2 ranks): a rebuild is two (migration rows, ghost rows: `comm.sendrecv_rows`, no counts
messages), and its ghost rows carry the current positions, so the step of a rebuild sends no forward
positions (inside `step`, where nothing moves between the rebuild and the forces); on a check step the check's Allreduce (`comm.start_allreduce`) completes in the same wait as
the forward positions (`_check_with_x`). Bitwise the same run as one rendezvous each.

``overlap=True``: the kept entries are split into two lists over the same slab order, the
interior (both atoms owned) and the boundary (an entry with a ghost). Each step starts the ghosts'
position exchange non-blocking (`comm.channel`: send buffers packed in place, receives straight into
the ghost rows), computes the interior entries while the messages travel, waits, then adds the
boundary entries' terms in place (kernels with ``zero=False``: the EAM passes, LJ; other pair potentials
into scratch arrays that are added) (EAM: the same for both passes, the F'(ρ) exchange overlapped with
the interior force pass). ``overlap=False`` (default: measured faster on the shared test
machine, docs/parallel.md "Strong scaling"): one list, exchange then forces.

EAM runs as density pass → (reverse ρ) → embedding of owned atoms → forward F'(ρ) to the ghosts → force
pass (the pass functions of kernels/eam.pyx, those `EAMFile.compute` runs). Pair potentials call the potential
object's own kernel (`Potential.compute`) on the filtered list. Results equal the serial
`AtomisticRegion` to round-off (the summation order differs), tests/parallel.

Energies: `potential_energy()` / `kinetic_energy()` are global (allreduce); per-step thermo is rank-0 only
through `thermo()`. `gather()` collects gid-sorted global arrays on rank 0 (output/checkpoints: the layout
of a serial run). `load_balance()` reports atoms per rank, max/mean. `stats` counts the communication
(bytes, messages, seconds), the time in force kernels and in rebuilds (t_build = t_migrate (wrap,
migration) + t_ghosts (sort, ghost exchange) + t_list + t_filter).

Free (non-periodic) cut axis: the outer faces of slabs 0 and P−1 are open — no ghosts are sent across
them (their messages go to ``MPI_PROC_NULL``: the per-step exchange keeps its shape), atoms beyond the
box along the axis belong to the first / last slab, and the first / last rank lists every pair of its
owned atoms wherever they are (the ``clip_x`` range widened to them). A cluster or a slab with a free x
thus runs decomposed like a periodic crystal.

Handshake weights (optional; `parallel.weights`): site weights β̄ (``site_w``) and the reference
positions (``X_ref``) are per-atom columns migrated with their atoms and sent with the ghosts; with a
``bond_weight_fn`` factory (``Handshake.bond_weight_fn``) each rank computes the bond weights of its own
list entries at every rebuild (``bond_w``; ``bond_w_b`` for the boundary list), bitwise the serial
weight of each pair; the kernels take them as the serial ones do (EAM: w F(ρ) in the embedding pass).
The coupled dynamics (pads, constraints, continuum) is not on this engine yet (docs/parallel.md).

Requirements (checked, ValueError): each slab at least ``rlist`` wide (ghosts come from the two
adjacent slabs only); the other periodic axes at least 2·rlist (the serial list's rule).
"""

from __future__ import annotations

import time

import numpy as np

from .._kernels import load
from ..md.box import Box
from ..md.neighbors import NeighborList, NeighborPolicy
from .comm import MPIComm, SerialComm
from .streams import langevin_forces


#: the rebuild check's blow-up limit: an atom moving more than JUMP box sides (the largest) since the last
#: neighbour build (`DistributedMD.jump2`)
JUMP = 1.0e6


def default_newton(potential) -> bool:  # noqa: ANN001, ARG001
    """The force mode ``newton=None`` picks: reverse communication (newton, half shell) for every
    potential (docs/parallel.md "Session 24"). With the half shell a rank computes exactly its share of
    the serial pairs (2-rank in.lj / in.eam: 624 000 per rank) where full cross pairs compute 5.9 % more,
    at the price of a second exchange per step; in thread CPU per rank in.eam newton is the cheaper
    (two passes over the extra pairs), in.lj newton and full are within the scatter of the loaded test
    machine (either order seen). Before session 24: newton for EAM only."""
    return True


class SlabDecomposition:
    """P equal slabs of ``box`` along ``axis``. ``bounds`` (P+1,) slab faces [length]."""

    def __init__(self, box: Box, size: int, axis: int, rlist: float) -> None:
        if not 0 <= axis < box.dim:
            raise ValueError(f"decomposition axis {axis} outside 0..{box.dim - 1}")
        self.box, self.size, self.axis = box, int(size), int(axis)
        lo, hi = float(box.lo[axis]), float(box.hi[axis])
        self.length = hi - lo
        #: a free (non-periodic) cut axis: the outer faces of slabs 0 and P-1 are open (no neighbour across
        #: them); atoms beyond the box along it belong to the first / last slab
        self.free = not bool(box.periodic[axis])
        if self.size > 1:
            width = self.length / self.size
            if width < rlist:
                raise ValueError(f"{self.size} slabs of {width:g} along axis {axis} are thinner than the "
                                 f"neighbour-list radius cutoff + skin = {rlist:g}: use fewer ranks")
        self.bounds = lo + self.length * np.arange(self.size + 1) / self.size
        self.bounds[-1] = hi

    def owner(self, coord: np.ndarray) -> np.ndarray:
        """(m,) int rank owning each wrapped coordinate along the axis."""
        return np.searchsorted(self.bounds[1:-1], coord, side="right").astype(np.int64)


def _pack_rows(cols: list) -> np.ndarray:
    """Per-atom columns (each (m,) or (m, k), float or integer) side by side in one (m, w) float64 array
    (integer columns stored bit for bit as int64): one contiguous buffer per message (no pickling)."""
    m = cols[0].shape[0]
    w = sum(1 if c.ndim == 1 else c.shape[1] for c in cols)
    rows = np.empty((m, w))
    iv = rows.view(np.int64)
    k = 0
    for c in cols:
        kk = 1 if c.ndim == 1 else c.shape[1]
        dst = iv if c.dtype.kind in "iub" else rows
        dst[:, k:k + kk] = c.reshape(m, kk)
        k += kk
    return rows


def _unpack_rows(rows: np.ndarray, like: list) -> list:
    """Inverse of `_pack_rows`: columns shaped and typed like the arrays ``like`` (their row counts may
    differ from the received rows'), each a fresh contiguous array."""
    m = rows.shape[0]
    iv = rows.view(np.int64)
    out, k = [], 0
    for c in like:
        kk = 1 if c.ndim == 1 else c.shape[1]
        src = iv if c.dtype.kind in "iub" else rows
        a = src[:, k:k + kk].astype(c.dtype)          # a copy
        out.append(a.reshape(m) if c.ndim == 1 else a)
        k += kk
    return out


class _LocalList:
    """The half list of the local atoms after filtering: the attributes a kernel reads (duck-types
    `NeighborList` for `Potential.compute` / `pairbase.list_args`)."""

    half = True

    def __init__(self, offsets, neighbors, shift_code, order, slab_start, shift_table) -> None:  # noqa: ANN001
        self.offsets, self.neighbors, self.shift_code = offsets, neighbors, shift_code
        self.order, self.slab_start, self.shift_table = order, slab_start, shift_table

    @property
    def n_entries(self) -> int:
        return int(self.neighbors.size)


class DistributedMD:
    """This rank's part of a periodic atomistic system, stepped by velocity Verlet (NVE, or Langevin).

    Parameters
    ----------
    comm : `SerialComm` or `MPIComm`
    x, v : (m, d) positions [length] and velocities [length/time] of the atoms this rank is given (any
        subset: rank 0 may pass all of them and the others none; the first rebuild migrates them)
    mass : (m,) INTERNAL force-mass units;  gids : (m,) int64 global ids (unique over all ranks)
    potential : pair potential (`PairPotential`) or tabulated EAM (`TabulatedEAM`), the serial objects
    box : `Box`; skin [length]; types : (m,) int element indices (None = 0)
    axis : cut axis; newton : reverse communication (True) or full cross pairs (False); None (default):
        newton for every potential (`default_newton`: the cheaper per rank in thread CPU time with the
        half shell, docs/parallel.md "Session 24")
    overlap : ghost exchange overlapped with the interior entries (True) or completed before the forces
        (False, default)
    neighbor : rebuild policy (`NeighborPolicy` or mapping {every, delay, check}; None = check every step,
        rebuild when any atom moved more than skin/2), applied globally (all ranks rebuild together)
    step : step counter of the given state (a restart: keys the Langevin noise of the forces computed at
        construction and after); x may be unwrapped positions from `gather` on any rank count
    forces : optional (m, d) forces of the given atoms at that step (a restart: they hold the Langevin
        noise and friction of the half-step velocity, which cannot be recomputed from x and v); None =
        computed from x (exact for NVE)
    langevin : None or dict(temperature, damp, boltz, seed, dt): force-style Langevin with `streams` noise
        (dt: the time step the forces are scaled for; `step` keeps it equal to its own dt)
    thermostat : None or the serial thermostat object (`md.thermostats.langevin.Langevin`: ``add_forces(v,
        mass, forces, dt, mask, ids)`` and a ``step`` counter keying its noise). The engine calls it on the
        owned atoms with their global ids, its step counter set to the engine's step index (the serial
        integrator's hook count: the initial evaluation is step 0), so the noise is the serial run's for
        any P. Its force is kept in ``f_ext`` (n_own, d) and its work ½(f⁰ + f¹)·Δt v½ summed in
        ``work_local`` (this rank's share of the ledger's ``external_work``).
    thermostat_mask : None or (N,) bool over GLOBAL ids: the thermostatted atoms (the serial mask, e.g. the
        thermostat region on the reference positions); None = every atom with mass > 0
    f_ext : optional (m, d) thermostat forces of the given atoms at that step (a restart)
    dt : the time step [time] the thermostat's noise is scaled for (required with a thermostat)
    """

    def __init__(self, comm: SerialComm | MPIComm, x, v, mass, gids, potential, box: Box, skin: float,  # noqa: ANN001
                 types=None, axis: int = 0, newton: bool | None = None, n_threads: int = 1,  # noqa: ANN001
                 langevin: dict | None = None, neighbor=None, step: int = 0, forces=None,  # noqa: ANN001
                 thermostat=None, thermostat_mask=None, f_ext=None, dt: float | None = None,  # noqa: ANN001
                 overlap: bool = False, site_w=None, X_ref=None, bond_weight_fn=None) -> None:  # noqa: ANN001
        self.comm, self.rank, self.size = comm, comm.rank, comm.size
        self.overlap = bool(overlap)
        self.potential, self.box, self.skin = potential, box, float(skin)
        self.d = box.dim
        self.newton = default_newton(potential) if newton is None else bool(newton)
        self.n_threads = int(n_threads)
        self.rlist = float(potential.cutoff) + self.skin
        self.dec = SlabDecomposition(box, self.size, axis, self.rlist)
        self.axis = self.dec.axis
        self.eam = hasattr(potential, "tables")
        # overlap: the boundary entries accumulate into the forces in place (EAM passes; pair potentials
        # whose kernel has zero=False) instead of scratch arrays that are zeroed and added
        self._acc = self.eam or bool(getattr(potential, "accumulates", False))
        # the number of elements of the EAM tables, given to the density pass: rhor has nel rows (setfl,
        # funcfl) or nel*nel (eam/fs: row s*nel + t, the density an atom of element s gives to one of t)
        self._nel = int(potential.tables.frho.shape[0]) if self.eam else 0
        if getattr(potential, "many_body", False) and not self.eam:
            raise ValueError(f"{type(potential).__name__}: only pair potentials and tabulated EAM are "
                             "distributed")
        self.period = np.where(box.periodic, box.hi - box.lo, 0.0)
        local_periodic = box.periodic.copy()
        if self.size > 1:
            local_periodic[self.axis] = False
        self.local_box = Box(box.lo, box.hi, local_periodic)
        self.nlist = NeighborList(self.local_box, potential.cutoff, self.skin, self.n_threads)
        self.policy = NeighborPolicy.make(neighbor)
        self.since_build = 0
        self._kv = load("verlet")
        self._kn = load("neighbors")
        self._ke = load("eam") if self.eam else None
        m = np.asarray(x).shape[0]
        self.x = np.ascontiguousarray(x, dtype=float).reshape(m, self.d)
        self.v = np.ascontiguousarray(v, dtype=float).reshape(m, self.d)
        self.mass = np.ascontiguousarray(np.broadcast_to(np.asarray(mass, float), (m,)))
        self.gid = np.ascontiguousarray(gids, dtype=np.int64).reshape(m)
        self.types = np.zeros(m, np.int32) if types is None else np.ascontiguousarray(types, np.int32)
        self.image = np.zeros((m, self.d), np.int64)
        # handshake weights (parallel/weights.py): per-atom columns carried with the atoms and their ghosts
        self.site_w = None if site_w is None else np.ascontiguousarray(np.broadcast_to(
            np.asarray(site_w, float), (m,)))
        self.X_ref = None if X_ref is None else np.ascontiguousarray(X_ref, dtype=float).reshape(m, self.d)
        self.bond_weight_fn = bond_weight_fn
        if bond_weight_fn is not None and self.X_ref is None:
            raise ValueError("bond weights need the reference positions X_ref of the atoms")
        self.bond_w: np.ndarray | None = None
        self.bond_w_b: np.ndarray | None = None
        self.n_own = m
        self.n_ghost = 0
        self.langevin = dict(langevin) if langevin else None
        self.thermostat = thermostat
        self._th_mask = None if thermostat_mask is None else np.asarray(thermostat_mask, bool)
        self.dt = None if dt is None else float(dt)
        if thermostat is not None and self.dt is None:
            raise ValueError("a thermostat needs the time step dt")
        self.f_ext = np.zeros((m, self.d))
        self.work_local = 0.0
        self.step_count = int(step)
        self.time = 0.0
        self.n_builds = 0
        self.n_migrated = 0          # atoms this rank sent to another rank (all rebuilds)
        self.energy_local = 0.0
        self.stats = {"t_comm": 0.0, "t_force": 0.0, "t_build": 0.0, "bytes": 0, "messages": 0,
                      "t_migrate": 0.0, "t_ghosts": 0.0, "t_list": 0.0, "t_filter": 0.0}
        self._send: list[tuple[np.ndarray, np.ndarray, int]] = []
        self._recv: list[tuple[slice, int]] = []
        self._ch: dict = {}
        # the rebuild check's buffer: [max displacement² (NaN → inf), 1 if some owned position is NaN]
        # reduced by max (`_check_with_x`, `needs_rebuild`): the in-step blow-up flag rides on it
        self._d2 = np.zeros(2)
        self._d2r = np.zeros(2)       # the check's reduced values (`_check_with_x`)
        #: an owned atom moving more than `JUMP` box sides between two checks is a blow-up raised on every
        #: rank at the check (`_verdict`): its rebuild could fail on its rank alone (measured: a move of
        #: 1e12 boxes still rebuilds, 1e15 on a free axis exhausted the memory); far below that, the run
        #: goes on as the serial one does, whose guard reports it at the next thermo row
        self.jump2 = (JUMP * float(np.max(np.asarray(box.hi, float) - np.asarray(box.lo, float)))) ** 2
        self._x_ready = False         # ghost rows hold this step's positions (received with the check)
        self.list_b: _LocalList | None = None
        given = None if forces is None else (self.gid.copy(), np.array(forces, float).reshape(m, self.d),
                                             None if f_ext is None else
                                             np.array(f_ext, float).reshape(m, self.d))
        self.rebuild()
        self.compute()
        if given is not None:       # restart: the checkpoint's forces, wherever their atoms now live
            parts = self.comm.allgather(given)
            g = np.concatenate([p[0] for p in parts])
            f = np.concatenate([p[1] for p in parts])
            o = np.argsort(g)
            pos = o[np.minimum(np.searchsorted(g, self.gid[: self.n_own], sorter=o), len(g) - 1)]
            if not np.array_equal(g[pos], self.gid[: self.n_own]):
                raise ValueError("restart forces do not cover every atom")
            self.forces[: self.n_own] = f[pos]
            if given[2] is not None:
                self.f_ext[...] = np.concatenate([p[2] for p in parts])[pos]

    # ------------------------------------------------------------------ geometry / ownership
    @property
    def n_loc(self) -> int:
        return self.n_own + self.n_ghost

    @property
    def neighbors_lo_hi(self) -> tuple[int, int]:
        return (self.rank - 1) % self.size, (self.rank + 1) % self.size

    def rebuild(self) -> None:
        """Wrap, migrate, sort, choose ghosts, build and filter the local list (collective)."""
        t0 = time.perf_counter()
        n, d, box = self.n_own, self.d, self.box
        x = self.x[:n]
        per = box.periodic
        img = np.zeros((n, d), np.int64)
        img[:, per] = np.floor((x[:, per] - box.lo[per]) / self.period[per]).astype(np.int64)
        x = x - img * self.period
        image = self.image[:n] + img
        v, mass, gid, types = self.v[:n], self.mass[:n], self.gid[:n], self.types[:n]
        carry = [c[:n] for c in (self.site_w, self.X_ref) if c is not None]   # weights: with their atom
        if self.size > 1:     # migration: packed rows to each other rank by matched probe (no pickling)
            owner = self.dec.owner(x[:, self.axis])
            stay = owner == self.rank
            move = np.flatnonzero(~stay)
            self.n_migrated += int(move.size)
            move = move[np.argsort(owner[move], kind="stable")]
            counts = np.bincount(owner[move], minlength=self.size)
            cols = [gid, x, v, mass, types, image, *carry]     # per-atom columns that travel with the atom
            rows = _pack_rows([c[move] for c in cols])
            ends = np.cumsum(counts)
            # rows for every other rank (empty ones too), received by matched probe: one rendezvous where
            # an all-to-all of counts and one of rows take two; received in rank order
            msgs = [(rows[ends[r] - counts[r]:ends[r]], r, r, 30) for r in range(self.size) if r != self.rank]
            got = _unpack_rows(np.concatenate(self.comm.sendrecv_rows(msgs)), cols)
            if move.size or got[0].size:
                gid, x, v, mass, types, image, *carry = (np.concatenate([c[stay], g]) for c, g in
                                                         zip(cols, got, strict=True))
        t1 = time.perf_counter()
        self.stats["t_migrate"] += t1 - t0
        order = np.argsort(gid, kind="stable")
        gid, x, v, mass = gid[order], x[order], v[order], mass[order]
        types, image = types[order], image[order]
        carry = [c[order] for c in carry]
        n = gid.size
        self.n_own = n
        self.v = np.ascontiguousarray(v)
        self.mass = np.ascontiguousarray(mass)
        self.inv_mass = np.ascontiguousarray(np.where(mass > 0, 1.0 / np.where(mass > 0, mass, 1.0), 0.0))
        self.image = np.ascontiguousarray(image)
        # ---- ghosts: dir 0 -> the rank below (its slab ends at my lower face), dir 1 -> the rank above
        g_gid, g_x, g_ty = [], [], []
        g_carry: list[list] = [[] for _ in carry]
        g_img, g_sh = [], []        # weights: the ghosts' image counts and seam shifts (bond weights)
        weighted = self.bond_weight_fn is not None
        self._send, self._recv = [], []
        if self.size > 1:
            lo_r, hi_r = self.neighbors_lo_hi
            a, b = self.axis, self.dec.bounds
            shift = np.zeros((2, d))
            if self.rank == 0:
                shift[0, a] = self.dec.length
            if self.rank == self.size - 1:
                shift[1, a] = -self.dec.length
            sel = [np.flatnonzero(x[:, a] < b[self.rank] + self.rlist),
                   np.flatnonzero(x[:, a] >= b[self.rank + 1] - self.rlist)]
            # a free cut axis: no neighbour across the outer faces (MPI_PROC_NULL: empty messages, no-ops)
            null = self.comm.MPI.PROC_NULL if (self.dec.free or self.newton) else None
            if self.dec.free:
                if self.rank == 0:
                    lo_r, sel[0] = null, sel[0][:0]
                if self.rank == self.size - 1:
                    hi_r, sel[1] = null, sel[1][:0]
            half = self.newton      # half shell: ghosts only from the rank above (its lower face's atoms:
            if half:                # this rank computes the cross pairs of its upper face, reverse-sent)
                sel[1] = sel[1][:0]
            # ghost set-up: packed rows (gid, type, x + shift, carried columns; weighted: image counts and
            # the seam shift in periods) per face, Isend + matched-probe receives (no message of counts
            # first: one rendezvous; PROC_NULL: nothing comes)
            dests, srcs = (lo_r, null if half else hi_r), (hi_r, null if half else lo_r)
            like = [gid, types, x, *carry, *((image, image) if weighted else ())]
            bufs = []
            for k in (0, 1):
                idx = sel[k]
                self._send.append((idx, shift[k], dests[k]))
                wcols = ()
                if weighted:
                    sh_p = np.rint(shift[k] / np.where(self.period > 0, self.period, 1.0)).astype(np.int64)
                    wcols = (image[idx], np.broadcast_to(sh_p, (idx.size, d)))
                bufs.append(_pack_rows([gid[idx], types[idx], x[idx] + shift[k], *[c[idx] for c in carry],
                                        *wcols]))
            recv = self.comm.sendrecv_rows([(bufs[k], dests[k], srcs[k], 22 + k) for k in (0, 1)])
            # ghost block 0 = what the rank above sent downwards (its dir 0), block 1 = from the rank below
            start = n
            for k in (0, 1):
                gg, gt, gx, *gc = _unpack_rows(recv[k], like)
                for lst_c, c in zip(g_carry, gc, strict=False):
                    lst_c.append(c)
                if weighted:        # the ghosts' image counts and the sender's seam shift in periods
                    g_img.append(gc[-2])
                    g_sh.append(gc[-1])
                g_gid.append(gg)
                g_ty.append(gt)
                g_x.append(gx)
                self._recv.append((slice(start, start + gg.size), srcs[k]))
                start += gg.size
        self.n_ghost = int(sum(g.size for g in g_gid))
        self.gid = np.ascontiguousarray(np.concatenate([gid, *g_gid]))
        self.x = np.ascontiguousarray(np.concatenate([x, *g_x]).reshape(-1, d))
        self.types = np.ascontiguousarray(np.concatenate([types, *g_ty]).astype(np.int32))
        if carry:       # site weights, reference positions: owned rows, then the ghosts'
            full = [np.ascontiguousarray(np.concatenate([c, *gc]))
                    for c, gc in zip(carry, g_carry, strict=True)]
            if self.site_w is not None:
                self.site_w = full.pop(0)
            if self.X_ref is not None:
                self.X_ref = full.pop(0).reshape(-1, d)
        if weighted:
            self._img_loc = np.concatenate([image, *g_img]).reshape(-1, d)
            self._gshift = np.concatenate([np.zeros((n, d), np.int64), *g_sh]).reshape(-1, d)
        nl = self.n_loc
        self.forces = np.zeros((nl, d))
        self.energies = np.zeros(nl)
        self.f_ext = np.zeros((n, d))        # recomputed by `compute` (kept here only for its shape)
        if self.eam:
            self._rho = np.zeros(nl)
            self._fp = np.zeros(nl)
        self._channels()
        self._x_ready = False       # (`step` sets it: there `compute` follows the rebuild at once)
        t2 = time.perf_counter()
        self.stats["t_ghosts"] += t2 - t1
        # ---- local half list, filtered
        clip = None
        if self.n_ghost and self.axis == 0:      # no ghost-ghost pairs scanned (axis 0: the free cut axis)
            clip = (float(self.dec.bounds[self.rank]), float(self.dec.bounds[self.rank + 1]))
            if self.dec.free and n:     # open outer faces: owned atoms may lie beyond the box
                clip = (min(clip[0], float(x[:, 0].min())), max(clip[1], float(x[:, 0].max())))
        # the owned-atom rule applied by the build itself (no ghost-ghost pair; newton: the other rank's
        # cross pairs neither), so the list needs no filter pass unless split for the overlap
        # (newton: every ghost lies above the upper face (half shell), so every owned-ghost pair is kept)
        self.nlist.build(self.x, clip_x=clip, owned=(n, self.gid, False) if self.n_ghost else None)
        t3 = time.perf_counter()
        self.stats["t_list"] += t3 - t2
        self._filter()
        self.stats["t_filter"] += time.perf_counter() - t3
        if weighted:
            self._bond_weights()
        self.x_build = self.x[:n].copy()
        self.since_build = 0
        self.n_builds += 1
        self.stats["t_build"] += time.perf_counter() - t0

    def _filter(self) -> None:
        nl, n = self.nlist, self.n_own
        self.list_b = None
        if self.n_ghost == 0 or not self.overlap:
            self.list = _LocalList(nl.offsets, nl.neighbors, nl.shift_code, nl.order, nl.slab_start,
                                   nl.shift_table)
            return
        # rows are in local-atom order: owned rows first, then the ghost rows (one pass in kernels/neighbors);
        # overlap: the owned-owned entries (interior, computed while the ghosts' positions travel) and the
        # entries with a ghost (boundary) as two lists over the same slab order
        lists = []
        kept = self._kn.filter_local(nl.offsets, nl.neighbors, nl.shift_code, n, self.gid, False,
                                     self.overlap)
        for part, (off, nb, code) in enumerate(kept):
            order, slab_start = nl.order, nl.slab_start
            if self.overlap:   # the slab order restricted to the rows the list needs: interior, the owned
                # atoms (the kernels then never read a ghost's x or F'(rho) while receives write them);
                # boundary, the atoms with boundary entries (a few thousand of the n_loc rows)
                rows = order < n if part == 0 else (off[1:] > off[:-1])[order]
                c = np.zeros(order.size + 1, np.int64)
                np.cumsum(rows, out=c[1:])
                order, slab_start = np.ascontiguousarray(order[rows]), np.ascontiguousarray(c[slab_start])
            lists.append(_LocalList(off, nb, code, order, slab_start, nl.shift_table))
        self.list = lists[0]
        if self.overlap:
            self.list_b = lists[1]
            if not self.eam and not self._acc:
                self._fb = np.zeros_like(self.forces)
                self._eb = np.zeros_like(self.energies)

    def _bond_weights(self) -> None:
        """Bond weights of the entries of this rank's list(s) (`parallel.weights.entry_weights`; weights
        of reference pairs seen at earlier rebuilds from this rank's `BondWeightCache`)."""
        from .weights import BondWeightCache, entry_weights, local_bond_fn
        t0 = time.perf_counter()
        if getattr(self, "_bw_cache", None) is None:
            g = int(self.comm.allreduce(int(self.gid.max()) + 1 if self.gid.size else 0, "max"))
            self._bw_cache = BondWeightCache(g, self.d)
        made: list = []

        def make_fn():  # noqa: ANN202  (the local function, built once per rebuild when a weight is new)
            if not made:
                made.append(local_bond_fn(self.bond_weight_fn, self.X_ref))
            return made[0]

        lp = np.where(self.local_box.periodic, self.box.hi - self.box.lo, 0.0)
        if self._bw_cache is not None:
            self._bw_cache.n_lists = self.n_pairs
        args = (self.X_ref, self._img_loc, self._gshift, self.period, lp, self.gid, self._bw_cache)
        self.bond_w = entry_weights(make_fn, self.list, *args)
        self.bond_w_b = entry_weights(make_fn, self.list_b, *args) if self.list_b is not None else None
        self.stats["t_weights"] = self.stats.get("t_weights", 0.0) + time.perf_counter() - t0

    @property
    def n_pairs(self) -> int:
        """List entries this rank computes (interior + boundary)."""
        return self.list.n_entries + (self.list_b.n_entries if self.list_b is not None else 0)

    # ------------------------------------------------------------------ communication
    def _channels(self) -> None:
        """Channels (`comm.channel`) of the per-step ghost traffic, bound to this build's arrays (re-made
        at every rebuild): forward x (packed, shifted), EAM forward F'(rho); newton: reverse
        forces (EAM: + reverse rho). Receives of forward traffic land in place in the ghost blocks."""
        for ch in self._ch.values():
            self.comm.free(ch[0])
        self._ch = {}
        if self.size == 1:      # every rank of P > 1 takes part (a rank without ghosts may still send
            return              # boundary atoms, e.g. the top slab of a free axis in newton mode)
        def forward(a: np.ndarray, tag: int) -> tuple:
            bufs = [np.empty((idx.size,) + a.shape[1:]) for idx, _, _ in self._send]
            msgs = [(buf, dest, a[blk], src, tag + k) for k, (buf, (_, _, dest), (blk, src))
                    in enumerate(zip(bufs, self._send, self._recv, strict=True))]
            return self.comm.channel(msgs), bufs

        def reverse(a: np.ndarray, tag: int) -> tuple:
            bufs = [np.empty((idx.size,) + a.shape[1:]) for idx, _, _ in self._send]
            msgs = [(a[blk], src, buf, dest, tag + k) for k, (buf, (_, _, dest), (blk, src))
                    in enumerate(zip(bufs, self._send, self._recv, strict=True))]
            return self.comm.channel(msgs), bufs

        self._ch["x"] = forward(self.x, 0)
        self._shift_any = [bool(np.any(sh)) for _, sh, _ in self._send]
        if self.eam:
            self._ch["fp"] = forward(self._fp, 4)
        if self.newton:
            self._ch["f"] = reverse(self.forces, 8)
            if self.eam:
                self._ch["rho"] = reverse(self._rho, 12)

    def _start_x(self) -> None:
        """Pack the owned boundary positions (+ periodic shift) and start the forward exchange."""
        t0 = time.perf_counter()
        ch, bufs = self._ch["x"]
        for (idx, sh, _), buf, shifted in zip(self._send, bufs, self._shift_any, strict=True):
            self._kn.gather_rows(self.x, idx, sh, buf, shifted)       # x[idx] (+ the seam's shift)
        self.comm.start(ch)
        self.stats["t_comm"] += time.perf_counter() - t0

    def _start_fp(self) -> None:
        t0 = time.perf_counter()
        ch, bufs = self._ch["fp"]
        fp = self._fp.reshape(-1, 1)
        for (idx, sh, _), buf in zip(self._send, bufs, strict=True):
            self._kn.gather_rows(fp, idx, sh, buf.reshape(-1, 1), False)
        self.comm.start(ch)
        self.stats["t_comm"] += time.perf_counter() - t0

    def _wait(self, name: str) -> None:
        t0 = time.perf_counter()
        self.comm.wait(self._ch[name][0])
        self.stats["t_comm"] += time.perf_counter() - t0

    def _reverse(self, name: str, a: np.ndarray) -> None:
        """Ghost contributions of a (n_loc, ...) sent back to their owners and added there."""
        t0 = time.perf_counter()
        ch, bufs = self._ch[name]
        self.comm.start(ch)
        self.comm.wait(ch)
        k = 1 if a.ndim == 1 else a.shape[1]
        a2 = a.reshape(a.shape[0], k)
        for (idx, _, _), buf in zip(self._send, bufs, strict=True):
            self._kn.scatter_add(a2, idx, buf.reshape(buf.shape[0], k))
        self.stats["t_comm"] += time.perf_counter() - t0

    # ------------------------------------------------------------------ forces
    def compute(self) -> float:
        """Forces on the owned atoms and this rank's share of the potential energy (local; see
        `potential_energy` for the global sum). Starts the ghosts' position exchange itself; with
        ``overlap`` the interior entries are computed while the messages travel, then the boundary ones."""
        g = self.size > 1       # ghost traffic (collective over neighbours: also ranks without ghosts)
        ov = g and self.overlap and self.list_b is not None
        ready, self._x_ready = self._x_ready, False      # received with the rebuild check (`_check_with_x`)
        if g and not ready:
            self._start_x()
            if not ov:
                self._wait("x")
        t0 = time.perf_counter()
        lst, x, f, e, nt = self.list, self.x, self.forces, self.energies, self.n_threads
        if self.eam:
            t, ke, n = self.potential.tables, self._ke, self.n_own
            args = (lst.offsets, lst.neighbors, lst.shift_code, lst.order, lst.slab_start, lst.shift_table)
            ke.densities(x, *args, self.types, t.rhor, 1.0 / t.dr, t.cutoff ** 2, self._rho, nt, self._nel)
            if ov:
                lb = self.list_b
                args_b = (lb.offsets, lb.neighbors, lb.shift_code, lb.order, lb.slab_start, lb.shift_table)
                if not ready:
                    self.stats["t_force"] += time.perf_counter() - t0
                    self._wait("x")
                    t0 = time.perf_counter()
                ke.densities(x, *args_b, self.types, t.rhor, 1.0 / t.dr, t.cutoff ** 2, self._rho, nt,
                             self._nel, zero=False)      # accumulated (ghost rows too: newton sends them back)
            if self.newton and g:
                self.stats["t_force"] += time.perf_counter() - t0
                self._reverse("rho", self._rho)
                t0 = time.perf_counter()
            if self.site_w is None:
                ke.embedding(self._rho, self.types, t.frho, 1.0 / t.drho, t.rhomax, self._fp, e, n, nt)
            else:
                ke.embedding(self._rho, self.types, t.frho, 1.0 / t.drho, t.rhomax, self._fp, e, n, nt,
                             self.site_w)
            e[n:] = 0.0
            if g:
                self.stats["t_force"] += time.perf_counter() - t0
                self._start_fp()
                if not ov:
                    self._wait("fp")
                t0 = time.perf_counter()
            ke.forces(x, *args, self.types, t.rhor, t.z2r, 1.0 / t.dr, t.cutoff ** 2, self._fp, f, e, nt,
                      *(() if self.bond_w is None else (self.bond_w,)))
            if ov:
                self.stats["t_force"] += time.perf_counter() - t0
                self._wait("fp")
                t0 = time.perf_counter()
                ke.forces(x, *args_b, self.types, t.rhor, t.z2r, 1.0 / t.dr, t.cutoff ** 2, self._fp,
                          f, e, nt, *(() if self.bond_w_b is None else (self.bond_w_b,)), zero=False)
        else:
            self.potential.compute(x, lst, None, self.bond_w, f, e, nt)
            if ov:
                if not ready:
                    self.stats["t_force"] += time.perf_counter() - t0
                    self._wait("x")
                    t0 = time.perf_counter()
                if self._acc:     # the boundary entries added in place (kernel zero=False)
                    self.potential.compute(x, self.list_b, None, self.bond_w_b, f, e, nt, accumulate=True)
                else:             # into scratch arrays, added (potentials without an accumulating kernel)
                    self.potential.compute(x, self.list_b, None, self.bond_w_b, self._fb, self._eb, nt)
                    m = self.n_loc if self.newton else self.n_own     # full mode: ghost rows are not used
                    f[:m] += self._fb[:m]
                    e[:m] += self._eb[:m]
        self.stats["t_force"] += time.perf_counter() - t0
        if self.newton and g:
            self._reverse("f", f)
            self.energy_local = float(e.sum())
        else:
            self.energy_local = float(e[: self.n_own].sum())
        if self.thermostat is not None:
            n, th = self.n_own, self.thermostat
            gid = self.gid[:n]
            mask = np.ones(n, bool) if self._th_mask is None else self._th_mask[gid]
            self.f_ext = np.zeros((n, self.d))
            th.step = int(self.step_count)       # the serial hook count: this evaluation's noise key
            th.add_forces(self.v, self.mass, self.f_ext, self.dt, mask=mask, ids=gid)
            f[:n] += self.f_ext
        if self.langevin is not None:
            lg = self.langevin
            f[: self.n_own] += langevin_forces(self.v, self.mass, self.gid[: self.n_own], self.step_count,
                                               temperature=lg["temperature"], damp=lg["damp"], dt=lg["dt"],
                                               boltz=lg["boltz"], seed=lg["seed"])
        return self.energy_local

    # ------------------------------------------------------------------ stepping
    def due(self) -> bool:
        """Collective: one step of the rebuild policy (as `NeighborList.update`: counted in steps since the
        last build; with ``check`` a rebuild only when some atom moved more than skin/2). Without
        ``check`` the rebuild's step still reduces the in-step blow-up flag first (`needs_rebuild`, its
        verdict ignored: one Allreduce per rebuild), so no rank rebuilds alone from flown atoms."""
        self.since_build += 1
        pol, k = self.policy, self.since_build
        if k < pol.delay or k % pol.every:
            return False
        return self.needs_rebuild() or not pol.check

    def _due_with_x(self) -> bool:
        """`due` inside `step`, where `compute` follows at once: a policy check step on P > 1 ranks runs
        the check's max-Allreduce non-blocking beside the ghosts' position exchange of the coming force
        evaluation, completed by one wait (`_check_with_x`): one rendezvous per step fewer. Same decision,
        same ghost positions (bitwise): only the order of the two messages' completion differs."""
        pol = self.policy
        if not (pol.check and self.size > 1):
            return self.due()
        self.since_build += 1
        k = self.since_build
        if k < pol.delay or k % pol.every:
            return False
        return self._check_with_x()

    def _check_with_x(self) -> bool:
        """Collective: `needs_rebuild`, with the forward position exchange started before the reduction
        and both completed in one wait; the ghost rows then hold this step's positions (``_x_ready``:
        `compute` starts no second exchange). On a rebuild the exchanged rows are discarded (the rebuild
        sends new ghosts, with their current positions)."""
        self._local_check()
        self._start_x()
        t0 = time.perf_counter()
        req = self.comm.start_allreduce(self._d2, self._d2r, "max")
        self.comm.wait(self._ch["x"][0], req)
        self._x_ready = True
        self.stats["t_comm"] += time.perf_counter() - t0
        return self._verdict(self._d2r)

    def _local_check(self) -> None:
        """This rank's part of the rebuild check into ``_d2``: the largest squared displacement of its owned
        atoms since the last build (inf for a non-finite one) and 1.0 when some position is NaN."""
        n = self.n_own
        d2 = self._kn.max_displacement_sq_nan(self.x[:n], self.x_build) if n else 0.0
        nan = d2 != d2
        self._d2[0] = np.inf if nan else d2
        self._d2[1] = 1.0 if nan else 0.0

    def _verdict(self, red: np.ndarray) -> bool:
        """The rebuild decision from the reduced check ``red`` (every rank the same); raises the in-step
        blow-up on EVERY rank together (`BlowUpError` with ``collective`` and ``in_step`` set: the run loop
        saves the last good state, `run.blowup.in_step`) when some rank's owned atom is no longer finite or
        moved more than `jump2` since the last build: the rebuild (migration, wrap, cell grid) would fail
        on that rank alone while the others wait in its collectives. Nothing else changes: the same
        rebuild decisions, bitwise, when neither holds."""
        d2 = float(red[0])
        if red[1] > 0.0 or not d2 <= self.jump2:
            from ..errors import BlowUpError
            if red[1] > 0.0 or d2 == np.inf:
                err = BlowUpError("quantity x of region 'atoms' is no longer finite", step=-1, region="atoms",
                                  quantity="x")
            else:
                err = BlowUpError(f"an atom moved {d2 ** 0.5:.3g} since the last neighbour-list build (more "
                                  f"than {JUMP:.0e} box sides, {self.jump2 ** 0.5:.3g})", step=-1,
                                  region="atoms", quantity="v")
                err.moved = (d2 ** 0.5, self.jump2 ** 0.5)
            err.collective = err.in_step = True
            raise err
        return d2 > (0.5 * self.skin) ** 2

    def needs_rebuild(self) -> bool:
        """Collective: True when any atom on any rank moved more than skin/2 since the last build."""
        self._local_check()
        t0 = time.perf_counter()
        red = self.comm.allreduce_array(self._d2, "max")     # buffer Allreduce (no pickling)
        self.stats["t_comm"] += time.perf_counter() - t0
        return self._verdict(red)

    def step(self, n_steps: int, dt: float) -> None:
        """n_steps of velocity Verlet with time step dt [time] (collective)."""
        k, nt, half = self._kv, self.n_threads, 0.5 * dt
        if self.langevin is not None:
            self.langevin["dt"] = dt
        th = self.thermostat is not None
        if th and float(dt) != self.dt:
            raise ValueError(f"step dt {dt} differs from the thermostat's {self.dt}")
        for _ in range(int(n_steps)):
            n = self.n_own
            k.kick(self.v, self.forces[:n], self.inv_mass, half, nt)
            k.drift(self.x[:n], self.v, dt, nt)
            if th:   # work of the thermostat force, trapezoidal in x (Δx = Δt v½): the f⁰ half
                w0 = float(np.einsum("ij,ij->", self.f_ext, self.v))
            if self._due_with_x():      # (an in-step blow-up raises here on every rank: the step not counted)
                self.rebuild()
                # the ghost rows just received hold the owners' current positions (x + seam shift, bitwise
                # what the forward exchange would send: `neighbors.gather_rows`) and nothing moves before
                # `compute`: it sends none (not set by `rebuild` itself, whose callers may move atoms first)
                self._x_ready = self.size > 1
            self.step_count += 1        # (before `compute`: the thermostat's noise key is this step's)
            self.time = self.step_count * dt
            self.compute()
            if th:
                w1 = float(np.einsum("ij,ij->", self.f_ext, self.v))
                self.work_local += 0.5 * dt * (w0 + w1)
            k.kick(self.v, self.forces[: self.n_own], self.inv_mass, half, nt)
        if self.comm.is_mpi:
            self.stats["bytes"], self.stats["messages"] = self.comm.bytes_sent, self.comm.messages

    # ------------------------------------------------------------------ global quantities (collective)
    def potential_energy(self) -> float:
        return float(self.comm.allreduce(self.energy_local, "sum"))

    def kinetic_energy(self) -> float:
        ke = 0.5 * float(np.sum(self.mass * np.sum(self.v * self.v, axis=1)))
        return float(self.comm.allreduce(ke, "sum"))

    def n_global(self) -> int:
        return int(self.comm.allreduce(self.n_own, "sum"))

    def atom_energies(self) -> np.ndarray:
        """Collective. (n_own,) per-atom energies of the owned atoms, each the serial run's share: in newton
        mode the halves of the cross pairs that were given to ghosts are sent back to their owners here
        (only when asked for: output frames), full mode holds them already."""
        n = self.n_own
        if not (self.newton and self.size > 1):
            return self.energies[:n].copy()
        e = self.energies
        bufs = [np.empty(idx.size) for idx, _, _ in self._send]
        msgs = [(np.ascontiguousarray(e[blk]), src, buf, dest, 16 + k) for k, (buf, (_, _, dest), (blk, src))
                in enumerate(zip(bufs, self._send, self._recv, strict=True))]
        self.comm.sendrecv_many(msgs)
        out = e[:n].copy()
        for (idx, _, _), buf in zip(self._send, bufs, strict=True):
            self._kn.scatter_add(out.reshape(n, 1), idx, buf.reshape(-1, 1))
        return out

    def gather(self, root: int = 0) -> dict | None:
        """gid-sorted global arrays on ``root`` (None elsewhere): gid (N,), x (N, d) UNWRAPPED positions,
        v, forces (N, d), energies (N,) per-atom (`atom_energies`), image (N, d), f_ext (N, d) thermostat
        forces (zero without one), owner (N,) rank."""
        n = self.n_own
        mine = (self.gid[:n], self.x[:n] + self.image * self.period, self.v, self.forces[:n],
                self.atom_energies(), self.image, self.f_ext)
        parts = self.comm.gather(mine, root)
        if parts is None or self.rank != root:
            return None
        out = {k: np.concatenate([p[i] for p in parts]) for i, k in
               enumerate(("gid", "x", "v", "forces", "energies", "image", "f_ext"))}
        out["owner"] = np.concatenate([np.full(p[0].size, r) for r, p in enumerate(parts)])
        o = np.argsort(out["gid"], kind="stable")
        return {k: a[o] for k, a in out.items()}

    def load_balance(self) -> dict:
        """Collective. atoms (P,) owned per rank, ghosts (P,), pairs (P,) list entries computed;
        imbalance = max/mean of the owned atoms (1 = perfect)."""
        rows = self.comm.allgather((self.n_own, self.n_ghost, self.n_pairs))
        a = np.array(rows, dtype=np.int64).reshape(-1, 3)
        return {"atoms": a[:, 0], "ghosts": a[:, 1], "pairs": a[:, 2],
                "imbalance": float(a[:, 0].max() / max(a[:, 0].mean(), 1e-300)),
                "pair_imbalance": float(a[:, 2].max() / max(a[:, 2].mean(), 1e-300))}

    def total_migrated(self) -> int:
        return int(self.comm.allreduce(self.n_migrated, "sum"))
