"""Replicated-data runs of coupled decks on P ranks: the atoms' pair forces split over the ranks.

A coupled (atomistic/continuum) deck under ``mpiexec -n P`` (`run/distributed.py`): every rank holds the
WHOLE model — atoms, mesh, continuum, handshake, constraint factorisation, damping band — and steps it with
the serial `integrate.verlet.VelocityVerlet`. Only the atoms' force evaluation, the dominant cost, is
divided: `SplitAtomForces` gives rank r the rows of the half neighbour list of a contiguous block of atoms
(balanced by list entries, i.e. pairs), each rank computes the weighted pair forces and energies of its
pairs into zeroed arrays, and ONE reduction (`ReplicatedComm.sum_replicated`: reduce to rank 0, broadcast)
of (forces (n, d), per-atom energies (n,), energy) gives every rank the same full arrays, bit for bit.
Everything after that (pad forces → nodes, continuum, coupling forces, loads, thermostat, the constraint
projection, the damping band, the ledger) is computed identically on every rank from identical data, so
the ranks stay in lock step with no further communication: the handshake's constraint system is solved
redundantly on every rank (it is small: the cheapest place is "everywhere", no gather/scatter).

Because each rank's state is the whole state, the run's global reductions are identities:
`ReplicatedComm.allreduce` returns its argument (the ledger, the guard, the temperatures are those of the
serial functions on the replicated state). `check_replicas` compares a checksum of the state over the ranks
(cheap; at thermo rows) and raises if the replicas drifted apart.

Results differ from one rank by the order of the force sums only: an atom's force is the sum of its rank
shares (one per rank holding one of its pairs) instead of one running sum (≤ 1e-16 relative per step).

Cost per step (measured: docs/parallel.md): the pair work / P, plus one reduce + broadcast of
n·(d + 1) + 1 doubles, plus the whole continuum/handshake/constraint work on every rank (not divided).
This is replicated data (atom decomposition), not the spatial domain decomposition of `engine.py`:
memory and the reduction grow with the total number of atoms, not with the atoms per rank.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


class ReplicatedComm:
    """The run's communicator for a replicated-data run: ``rank``/``size``/``barrier``/``gather``/... of the
    real communicator, but ``allreduce`` returns its argument (every rank holds the whole state, so the
    global value IS the local one: `run.reduce.Reduction` over it gives the serial figures on every rank).

    ``sum_replicated(a)``: Σ over ranks of a (float64 array), the same bits on every rank (reduce to rank
    0, then broadcast; an MPI allreduce may associate differently on different ranks for P > 2)."""

    is_mpi = True

    def __init__(self, comm: Any) -> None:
        self.inner = comm
        self.rank, self.size = comm.rank, comm.size
        self.t_reduce = 0.0           # seconds in sum_replicated (this rank)
        self.bytes_reduced = 0        # bytes this rank contributed to sum_replicated
        self.n_reduce = 0
        #: benchmarks: a barrier before each reduction, its time in ``t_wait`` (waiting for the slowest
        #: rank), so that ``t_reduce`` is the transfer alone
        self.measure_wait = False
        self.t_wait = 0.0

    def allreduce(self, value: Any, op: str = "sum") -> Any:  # noqa: ARG002
        return value

    def allreduce_array(self, a: np.ndarray, op: str = "sum") -> np.ndarray:  # noqa: ARG002
        return a

    def sum_replicated(self, a: np.ndarray) -> np.ndarray:
        """(m,) float64: Σ over the ranks of a, identical bits on every rank."""
        inner = getattr(self.inner, "comm", None)
        if self.measure_wait and inner is not None and self.size > 1:
            t0 = time.perf_counter()
            inner.Barrier()
            self.t_wait += time.perf_counter() - t0
        t0 = time.perf_counter()
        a = np.ascontiguousarray(a, dtype=np.float64)
        if self.size == 1 or inner is None:
            out = a
        else:
            from mpi4py import MPI
            out = np.empty_like(a) if self.rank == 0 else a   # recv buffer significant at root only
            inner.Reduce(a, out if self.rank == 0 else None, op=MPI.SUM, root=0)
            if self.rank != 0:
                out = np.empty_like(a)
            inner.Bcast(out, root=0)
        self.t_reduce += time.perf_counter() - t0
        self.bytes_reduced += a.nbytes
        self.n_reduce += 1
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _RowList:
    """The half list restricted to some rows (duck-types `NeighborList` for `Potential.compute`:
    offsets, neighbors, shift_code, order, slab_start, shift_table; other attributes from the full list)."""

    half = True

    def __init__(self, full, offsets, neighbors, shift_code) -> None:  # noqa: ANN001
        self._full = full
        self.offsets, self.neighbors, self.shift_code = offsets, neighbors, shift_code
        self.order, self.slab_start, self.shift_table = full.order, full.slab_start, full.shift_table

    @property
    def n_entries(self) -> int:
        return int(self.neighbors.size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._full, name)


class SplitAtomForces:
    """Replaces ``region.compute`` of an `md.system.AtomisticRegion` (pair potential) by the split
    evaluation of the module docstring. Every rank must call it at the same points (it is collective).

    region : the AtomisticRegion (every rank's copy of the same atoms); comm : `ReplicatedComm`."""

    def __init__(self, region, comm: ReplicatedComm) -> None:  # noqa: ANN001
        if getattr(region.potential, "many_body", False):
            raise ValueError("the split force evaluation handles pair potentials only")
        self.region, self.comm = region, comm
        self.serial_compute = region.compute
        self._key = None
        self._list: _RowList | None = None
        self._bw = None
        self.t_force = 0.0
        self.n_entries_local = 0
        region.compute = self.compute

    def _filter(self) -> None:
        """Rows of a contiguous block of atoms with about 1/P of the list's entries."""
        r = self.region
        nl = r.nlist
        off = np.asarray(nl.offsets, np.int64)
        n = off.size - 1
        total = int(off[-1])
        P, rank = self.comm.size, self.comm.rank
        # atom i belongs to the rank whose share of the entries holds the middle of its row
        mid = 0.5 * (off[:-1] + off[1:])
        owner = np.minimum((mid * P / max(total, 1)).astype(np.int64), P - 1) if total else \
            np.minimum(np.arange(n) * P // max(n, 1), P - 1)
        mine = owner == rank
        counts = np.diff(off) * mine
        new_off = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=new_off[1:])
        keep = np.repeat(mine, np.diff(off))
        self._list = _RowList(nl, np.ascontiguousarray(new_off), np.ascontiguousarray(nl.neighbors[keep]),
                              np.ascontiguousarray(nl.shift_code[keep]))
        self._bw = None if r.bond_w is None else np.ascontiguousarray(np.asarray(r.bond_w)[keep])
        self.n_entries_local = int(keep.sum())
        self._key = (nl.n_builds, id(r.bond_w))

    def compute(self, virial: bool = False, atom_energies: bool = True) -> float:
        """`AtomisticRegion.compute` with the pairs split over the ranks (collective)."""
        r = self.region
        if r.nlist.update(r.x):
            r._update_bond_weights()
        if self._key != (r.nlist.n_builds, id(r.bond_w)):
            self._filter()
        kw: dict = {"virial": r.virial} if virial else {}
        if not atom_energies:
            kw["atom_energies"] = False
        if r.types is not None:
            kw["types"] = r.types
        t0 = time.perf_counter()
        x = r.nlist.wrapped(r.x)
        e = r.potential.compute(x, self._list, r.site_w, self._bw, r.forces, r.energies, r.n_threads, **kw)
        self.t_force += time.perf_counter() - t0
        n, d = r.forces.shape
        parts = [r.forces.ravel(), r.energies, np.array([float(e)])]
        if virial:
            parts.append(np.asarray(r.virial, float).ravel())
        tot = self.comm.sum_replicated(np.concatenate(parts))
        r.forces[...] = tot[: n * d].reshape(n, d)
        r.energies[...] = tot[n * d: n * d + n]
        r.energy = float(tot[n * d + n])
        if virial:
            r.virial[...] = tot[n * d + n + 1:].reshape(np.shape(r.virial))
        return r.energy


def state_checksum(system) -> tuple[int, int]:  # noqa: ANN001
    """(xor, wrapping sum) of the 64-bit patterns of x, v, U, V: changes with any single bit."""
    x, t = np.uint64(0), np.uint64(0)
    arrays = ((system.atoms.x, system.atoms.v) if system.atoms is not None else ()) + \
        ((system.continuum.U, system.continuum.V) if system.continuum is not None else ())
    with np.errstate(over="ignore"):
        for arr in arrays:
            a = np.ascontiguousarray(arr, dtype=np.float64).view(np.uint64).ravel()
            if a.size:
                x ^= np.bitwise_xor.reduce(a)
                t += np.sum(a, dtype=np.uint64)
    return int(x), int(t)


def check_replicas(comm: ReplicatedComm, system) -> None:  # noqa: ANN001
    """Raise RuntimeError on EVERY rank (an internal error: exit 1) when the ranks' replicated states are
    no longer bitwise equal (one allgather of two integers per rank)."""
    if comm.size == 1:
        return
    sums = comm.inner.allgather(state_checksum(system))
    if any(c != sums[0] for c in sums):
        raise RuntimeError("the replicated states of the ranks differ (a rank-dependent computation)")
