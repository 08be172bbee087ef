"""The atoms' pair forces split over the MPI ranks, the rest of the model replicated: `SplitPairForces`.

Used by both replicated-data paths: quasi-statics, fully atomistic or coupled (`run.distributed_statics`:
replicated minimiser, mesh and constraints) and coupled dynamics (`run.distributed` /
`parallel.replicated`: replicated mesh, handshake and integrator). Every rank holds the whole
`md.system.AtomisticRegion` (same positions on every rank); only its force evaluation, the cost that
grows with the atoms, is divided:

* rank r owns the contiguous block of atoms ``[bounds[r], bounds[r+1])`` (equal counts, fixed for the
  run; atoms are generated row by row, so the blocks are spatial slabs);
* every rank builds the serial `NeighborList` (same positions → the same list and the same rebuild
  schedule on every rank) and keeps the half-list entries with at least one owned atom, in the serial
  order (bond weights, e.g. of ``precrack`` or of a handshake band, filtered alike; site weights enter
  the kernel per atom and need no filtering);
* the serial pair kernel runs on that list: the force and per-atom energy of every OWNED atom receive the
  same terms in the same order as in the serial run (a pair across the block boundary is computed on
  both ranks), so they are **bitwise** the serial values — also with ``atom_energies=False`` (an owned
  atom's whole row is kept, so its share of E by pair owner is the serial one);
* one ``Allgatherv`` of the owned rows (forces (n, d) and per-atom energies (n,)) gives every rank the
  full arrays; E = Σ per-atom energies in atom order, exactly as the serial `PairPotential.compute`;
* ``virial=True`` (thermo pressure): the kernel also fills the per-atom virials (n, d·d) — owned rows
  bitwise the serial ones, for the same reason — a third ``Allgatherv`` of their owned rows, and the
  virial (d, d) is their sum over all atoms in atom order, which is exactly how the serial
  `PairPotential.compute` forms it (`pairbase.finish_virial`): bitwise the serial virial too. Only the
  evaluations that ask for the virial pay this (n·d² doubles more).

So every rank holds the serial forces, energies, energy and virial bit for bit, for any P: runs on P ranks
repeat the serial run (tests/parallel/test_mpi_statics.py, test_mpi_coupled.py) and the ranks stay in
lock step with no further communication.

In coupled dynamics (`run.distributed.setup_replicated`) the continuum's split node forces
(`parallel.split_continuum.SplitContinuum`, the ``partner``) are computed right after this rank's kernel and
gathered with the owned force and energy rows by three non-blocking Allgathervs completed by one
``Waitall``: one meeting of the ranks per evaluation, no packing copies (without a partner the two
blocking gathers are kept).

Cost per evaluation: the kernel over the kept entries (≈ 1/P of the list plus the cross entries computed
on both ranks: `load_balance` reports them), one Allgatherv of n·(d + 1) doubles (+ n·d² with the virial).
Not split (replicated on every rank): the neighbour-list build (O(n) per rebuild) and the filtering of
the list (O(entries) per rebuild). Pair potentials here; tabulated EAM in `parallel.split_eam` (the same
split with the owned densities allgathered between the density and the force pass); `split_forces`
picks the class. External engines (lammps, ase) are not split: the callers refuse them with a deck error
at ``potential``. The prologue of an evaluation (neighbour-list policy, bond weights, wrapped positions,
kernel keywords) is `AtomisticRegion.compute_prologue`, shared with the serial `compute`.
"""

from __future__ import annotations

import time

import numpy as np


def _allgather_rows(comm, local: np.ndarray, out: np.ndarray, bounds: np.ndarray) -> None:  # noqa: ANN001
    """Every rank's rows ``local`` (= out[bounds[r]:bounds[r+1]] computed on rank r) into ``out`` on every
    rank (one MPI Allgatherv; ``out`` C-contiguous float64). ``comm``: `parallel.comm.MPIComm` (or a
    wrapper forwarding ``comm``/``MPI`` to one, e.g. `parallel.replicated.ReplicatedComm`)."""
    if comm.size == 1:
        out[bounds[0]: bounds[1]] = local
        return
    width = int(np.prod(out.shape[1:], dtype=np.int64)) if out.ndim > 1 else 1
    counts = (np.diff(bounds) * width).astype(np.int64)
    displs = (bounds[:-1] * width).astype(np.int64)
    MPI = comm.MPI
    comm.comm.Allgatherv(np.ascontiguousarray(local, dtype=float),
                         [out.reshape(-1), counts.tolist(), displs.tolist(), MPI.DOUBLE])


class SplitPairForces:
    """The force evaluation of an `md.system.AtomisticRegion` (pair potential) split over the ranks of
    ``comm`` (module docstring). `install` replaces the region's ``compute`` (same signature and effect:
    fills ``forces`` (n, d), ``energies`` (n,), ``energy`` and, with ``virial=True``, ``virial`` (d, d);
    returns E [energy]). Collective: every rank must call it at the same points.

    atoms : the AtomisticRegion (every rank's copy of the same atoms); comm : `parallel.comm.MPIComm` /
    `SerialComm` or `parallel.replicated.ReplicatedComm` (size, rank, allgather, and comm/MPI for P > 1).

    Attributes: ``bounds`` (P+1,) atom-index blocks; ``stats``: seconds in the kernel (``t_force``) / in
    the gathers (``t_gather``) / in the barrier before them (``t_wait``, only with ``measure_wait``) / in
    list filtering (``t_filter``), bytes received by the gathers, force
    evaluations (``evaluations``, of which ``virial_evaluations`` with the virial), this rank's kernel
    entries (``entries``) and the serial list's (``entries_serial``)."""

    @staticmethod
    def supports(potential) -> bool:  # noqa: ANN001
        """True for the potentials this class splits: pair potentials (`md.potentials.pairbase`)."""
        from ..md.potentials.pairbase import PairPotential
        return isinstance(potential, PairPotential) and not getattr(potential, "many_body", False)

    def __init__(self, atoms, comm) -> None:  # noqa: ANN001
        if not self.supports(atoms.potential):
            raise ValueError(f"{type(self).__name__} does not split potential "
                             f"{type(atoms.potential).__name__}")
        self.atoms, self.comm = atoms, comm
        n, P = atoms.n, comm.size
        if n < P:
            raise ValueError(f"{n} atoms cannot be split over {P} ranks")
        self.bounds = (np.arange(P + 1, dtype=np.int64) * n) // P
        self.lo, self.hi = int(self.bounds[comm.rank]), int(self.bounds[comm.rank + 1])
        self._key = None
        self.list = None
        self._bw = None
        self._f = np.zeros((n, atoms.dim))
        self._e = np.zeros(n)
        self._w: np.ndarray | None = None        # (n, d*d) per-atom virial scratch, on first use
        self.stats = {"t_force": 0.0, "t_gather": 0.0, "t_wait": 0.0, "t_filter": 0.0, "bytes": 0,
                      "evaluations": 0, "virial_evaluations": 0, "entries": 0, "entries_serial": 0}
        #: benchmarks: a barrier before the gathers, its time in ``stats["t_wait"]`` (waiting for the
        #: slowest rank), so that ``t_gather`` is the transfer alone
        self.measure_wait = False
        #: a `parallel.split_continuum.SplitContinuum` whose evaluation rides on this gather (coupled
        #: runs: `run.distributed.setup_replicated`); None: forces and energies gathered alone
        self.partner = None
        self._pack = None

    def install(self) -> SplitPairForces:
        self.atoms.compute = self.compute
        self.atoms.split_forces = self
        return self

    def _filter(self) -> None:
        """The entries of the current serial list with at least one owned atom, in the serial order."""
        from .engine import _LocalList
        t0 = time.perf_counter()
        a, nl = self.atoms, self.atoms.nlist
        off, nb = nl.offsets, nl.neighbors
        n = a.n
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(off))
        keep = ((rows >= self.lo) & (rows < self.hi)) | ((nb >= self.lo) & (nb < self.hi))
        c = np.zeros(nb.size + 1, np.int64)
        np.cumsum(keep, out=c[1:])
        self.list = _LocalList(np.ascontiguousarray(c[off]), np.ascontiguousarray(nb[keep]),
                               np.ascontiguousarray(nl.shift_code[keep]), nl.order, nl.slab_start,
                               nl.shift_table)
        self._bw = None if a.bond_w is None else np.ascontiguousarray(np.asarray(a.bond_w)[keep])
        self._key = (id(nl), nl.n_builds, id(nb), id(a.bond_w))
        self.stats["entries"] = int(np.count_nonzero(keep))
        self.stats["entries_serial"] = int(nb.size)
        self.stats["t_filter"] += time.perf_counter() - t0

    def _kernel(self, x: np.ndarray, kw: dict) -> float:
        """The potential's kernel on this rank's entries: fills the owned rows of ``_f``, ``_e`` (and of
        ``kw["virial_atoms"]``) bitwise as the serial kernel does. Returns the seconds spent in
        communication inside (none for a pair potential)."""
        a = self.atoms
        a.potential.compute(x, self.list, a.site_w, self._bw, self._f, self._e, a.n_threads, **kw)
        return 0.0

    def compute(self, virial: bool = False, atom_energies: bool = True) -> float:
        """`AtomisticRegion.compute` with the kernel on this rank's entries (collective)."""
        a = self.atoms
        x, kw = a.compute_prologue(atom_energies)      # the serial prologue: list policy, wrapped x
        nl = a.nlist
        if self._key != (id(nl), nl.n_builds, id(nl.neighbors), id(a.bond_w)):
            self._filter()
        n, d = self._f.shape
        if virial:
            if self._w is None:
                self._w = np.zeros((n, d * d))
            kw["virial_atoms"] = self._w
        t0 = time.perf_counter()
        t_inner = self._kernel(x, kw)
        t1 = time.perf_counter()
        self.stats["t_gather"] += t_inner
        t0 += t_inner
        extra = None
        if self.partner is not None:          # the continuum's kernels (timed in the partner's stats)
            extra = self.partner.prefetch()
            tp = time.perf_counter()
            t0 += tp - t1
            t1 = tp
        self.stats["t_force"] += t1 - t0          # the kernel alone (before any waiting)
        if self.measure_wait and self.comm.size > 1:
            self.comm.comm.Barrier()
            tw = time.perf_counter()
            self.stats["t_wait"] += tw - t1
            t1 = tw
        lo, hi = self.lo, self.hi
        if self.partner is not None:
            self._gather_packed(extra)
        else:
            _allgather_rows(self.comm, self._f[lo:hi], a.forces, self.bounds)
            _allgather_rows(self.comm, self._e[lo:hi], a.energies, self.bounds)
        width = d + 1
        if virial:
            w_all = np.empty((n, d * d))
            _allgather_rows(self.comm, self._w[lo:hi], w_all, self.bounds)
            a.virial[...] = w_all.sum(axis=0).reshape(d, d)      # = pairbase.finish_virial
            width += d * d
            self.stats["virial_evaluations"] += 1
        t2 = time.perf_counter()
        self.stats["t_gather"] += t2 - t1
        self.stats["bytes"] += (n - (hi - lo)) * width * 8
        self.stats["evaluations"] += 1
        a.energy = float(a.energies.sum())
        return a.energy

    def _gather_packed(self, extra: np.ndarray) -> None:
        """The owned force and energy rows and the partner's packed evaluation (``extra``:
        `parallel.split_continuum.SplitContinuum.prefetch`, the continuum's node forces computed after this
        rank's pair kernel) gathered by THREE NON-BLOCKING Allgathervs completed by one ``Waitall``: each
        lands in its final array (no packing copies) and the ranks meet once per evaluation instead of
        three times (forces, energies, continuum) — the same bits as the separate gathers."""
        a, p, comm = self.atoms, self.partner, self.comm
        lo, hi = self.lo, self.hi
        precv, pcounts, pdispls = p.recv_buffer()
        if self._pack is None or self._pack[0] is not pcounts:       # the count lists (per plan)
            d = self._f.shape[1]
            b = self.bounds
            self._pack = (pcounts, (np.diff(b) * d).tolist(), (b[:-1] * d).tolist(), np.diff(b).tolist(),
                          b[:-1].tolist(), pcounts.tolist(), pdispls.tolist())
        _, fc, fd, ec, ed, pc, pd = self._pack
        if comm.size > 1:
            c, D = comm.comm, comm.MPI.DOUBLE
            reqs = [c.Iallgatherv(self._f[lo:hi], [a.forces.reshape(-1), fc, fd, D]),
                    c.Iallgatherv(self._e[lo:hi], [a.energies, ec, ed, D]),
                    c.Iallgatherv(extra, [precv, pc, pd, D])]
            comm.MPI.Request.Waitall(reqs)
        else:
            a.forces[lo:hi] = self._f[lo:hi]
            a.energies[lo:hi] = self._e[lo:hi]
            precv[:] = extra
        t0 = time.perf_counter()
        p.finish_prefetch()
        self.stats["t_gather"] -= time.perf_counter() - t0     # counted in the partner's t_gather

    def load_balance(self) -> dict:
        """Collective: owned atoms and kernel entries per rank, max/mean (entries include the cross pairs
        computed on both ranks; serial = the whole list's entries)."""
        parts = self.comm.allgather((self.hi - self.lo, self.stats["entries"])) if self.comm.size > 1 \
            else [(self.hi - self.lo, self.stats["entries"])]
        own = np.array([p[0] for p in parts], float)
        ent = np.array([p[1] for p in parts], float)
        return {"atoms": own.tolist(), "entries": ent.tolist(),
                "entries_serial": self.stats["entries_serial"],
                "atoms_max_over_mean": float(own.max() / own.mean()),
                "entries_max_over_mean": float(ent.max() / max(ent.mean(), 1.0)),
                "duplicated_entries": float(ent.sum() - self.stats["entries_serial"])}


def split_forces(atoms, comm):  # noqa: ANN001, ANN201
    """The split force evaluation for ``atoms``'s potential (not installed): `SplitPairForces` for pair
    potentials, `parallel.split_eam.SplitEAMForces` for tabulated EAM; ValueError for any other."""
    from .split_eam import SplitEAMForces
    for cls in (SplitPairForces, SplitEAMForces):
        if cls.supports(atoms.potential):
            return cls(atoms, comm)
    raise ValueError(f"no split force evaluation for potential {type(atoms.potential).__name__}")


def splittable(potential) -> bool:  # noqa: ANN001
    """True when `split_forces` splits this potential (pair potentials, tabulated EAM)."""
    from .split_eam import SplitEAMForces
    return SplitPairForces.supports(potential) or SplitEAMForces.supports(potential)


__all__ = ["SplitPairForces", "split_forces", "splittable"]
