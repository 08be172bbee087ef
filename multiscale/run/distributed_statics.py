"""Quasi-statics (``integrator.type: fire | lbfgs | precon_lbfgs``) of a fully atomistic deck on P > 1 MPI
ranks: the forces and energy are computed distributed, the minimiser is replicated.

Choice: **replicated minimiser, distributed forces.** Every rank holds the whole serial model (every
rank builds it from the deck anyway), the stacked dof vector q and the minimiser's vectors, and runs the
identical minimiser (`integrate.minimize`, same convergence test: max |projected free force| < ftol),
the identical loads (`fixed`, `indenter`, `kfield`, `precrack`, ... on the full arrays: no observable
needs a reduction) and the identical preconditioner (`precon_lbfgs`: each rank factorises the same
stiffness matrix). Only the force evaluation — the cost that grows with the atoms — is split:

* rank r owns the contiguous block of atoms ``[bounds[r], bounds[r+1])`` (equal counts, fixed for the
  run; atoms are generated row by row, so the blocks are spatial slabs);
* every rank builds the serial `NeighborList` (same positions → the same list and the same rebuild
  schedule on every rank) and keeps the half-list entries with at least one owned atom, in the serial
  order (bond weights, e.g. of ``precrack``, filtered alike);
* the serial pair kernel runs on that list: the force and per-atom energy of every OWNED atom receive the
  same terms in the same order as in the serial run (a pair across the block boundary is computed on
  both ranks), so they are **bitwise** the serial values;
* one ``Allgatherv`` of the owned rows (forces (n, d) and per-atom energies (n,)) gives every rank the
  full arrays; E = Σ per-atom energies in atom order, exactly as the serial `PairPotential.compute`.

So the 2-rank run repeats the serial run bit for bit (tests/parallel/test_mpi_statics.py checks it),
independent of P, and a statics checkpoint (the serial one, written by rank 0) restarts on any P.

Why replicated and not distributed vectors with reduced dot products: the minimisers are O(n) vector
algebra per iteration against an O(n · neighbours) force evaluation; distributing the vectors saves
memory (n·d doubles per vector, ~7 of them for L-BFGS with m = 5 history pairs: 10⁶ atoms in 3D,
~24 MB per vector — affordable on every rank up to ~10⁷ atoms) but every dot product / norm then costs an
allreduce (FIRE: 3 per iteration, L-BFGS: 2m + 4), and every sum would depend on P — the reduction
order changes the rounding of each dot product, so iterates drift apart by 1e-16 per step and a
convergence test can flip at a different iteration. Replicated, the cost per force evaluation is one
Allgatherv of n·(d+1) doubles (10⁶ atoms in 3D: 32 MB, ~15-30 ms at 1-2 GB/s shared memory, against
~0.5-1 s of LJ force kernel on one core), the results do not depend on P at all, and the serial code
paths (loads, predictor, ghost-corrected stages, checkpoints) run unchanged.

Costs that are NOT split (they are replicated): the neighbour-list build (every rank builds the whole
list: O(n) per rebuild, ~25 % of a serial force evaluation when it happens, and statics rebuilds only
every few iterations), the minimiser's vector algebra O(n), and ``precon_lbfgs``'s SuperLU of the whole
stiffness matrix (once per run). Beyond a few ranks the list build is the first of these to dominate
(`load_balance` reports the entries per rank, including the duplicated cross entries).

Coupled statics (``continuum`` / ``handshake``) stays refused: the replicated mesh of the coupled
dynamics work (another engineer's) would drop in here the same way — the continuum forces are already
computed on every rank's replicated copy and q stays replicated — once the atoms' pad/handshake
weights (``site_w``, ``bond_w``) are filtered alongside the list (``bond_w`` is, ``site_w`` enters the
kernel per atom and needs no filtering) and the coupling's energy terms are checked to be assembled
from replicated data only. Not done here.

Only pair potentials are split (the statics decks use LJ); many-body potentials (EAM) need the density
pass of every owned atom's neighbours and an exchange of F'(ρ) (`parallel.engine` does it for dynamics):
refused with a deck error at ``potential``.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import BlowUpError


def check_statics_distributable(model, deck, size: int) -> None:  # noqa: ANN001
    """Raise a `DeckError` at the deck key that keeps this statics deck from running on ``size`` ranks (no
    communication: every rank reaches the same verdict)."""
    from ..md.potentials.pairbase import PairPotential
    cfg = deck.config
    why = (f"`mpiexec -n {size} msim run` runs quasi-statics of fully atomistic decks with pair potentials "
           "only; run this deck on one rank (plain `msim run`)")
    if cfg.continuum is not None or model.continuum is not None:
        raise deck.error("continuum", f"a deck with a continuum cannot run on {size} MPI ranks yet: {why}")
    if getattr(cfg, "handshake", None) is not None:
        raise deck.error("handshake", f"a coupled deck cannot run on {size} MPI ranks yet: {why}")
    if model.atoms is None:
        raise deck.error("atoms", f"the deck has no atoms: {why}")
    if not isinstance(model.potential, PairPotential):
        raise deck.error("potential", f"potential type '{cfg.potential.type}' is not distributed in "
                         f"quasi-statics (pair potentials are): {why}")
    if model.atoms.n < size:
        raise deck.error("atoms", f"{model.atoms.n} atoms cannot be split over {size} ranks")


def _allgather_rows(comm, local: np.ndarray, out: np.ndarray, bounds: np.ndarray) -> None:  # noqa: ANN001
    """Every rank's rows ``local`` (= out[bounds[r]:bounds[r+1]] computed on rank r) into ``out`` on every
    rank (one MPI Allgatherv; rows of out are C-contiguous float64)."""
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
    """The force evaluation of an `md.system.AtomisticRegion` split over the ranks of ``comm`` (module
    docstring). `install` replaces the region's ``compute`` (same signature and effect: fills ``forces``
    (n, d), ``energies`` (n,), ``energy``; returns E [energy]).

    Attributes: ``bounds`` (P+1,) atom-index blocks; ``stats``: seconds in the kernel / in the gather /
    in list filtering, bytes received by the gather, force evaluations."""

    def __init__(self, atoms, comm) -> None:  # noqa: ANN001
        self.atoms, self.comm = atoms, comm
        n, P = atoms.n, comm.size
        self.bounds = (np.arange(P + 1, dtype=np.int64) * n) // P
        self.lo, self.hi = int(self.bounds[comm.rank]), int(self.bounds[comm.rank + 1])
        self._key = None
        self.list = None
        self._bw = None
        self._f = np.zeros((n, atoms.dim))
        self._e = np.zeros(n)
        self.stats = {"t_force": 0.0, "t_gather": 0.0, "t_filter": 0.0, "bytes": 0, "evaluations": 0,
                      "entries": 0, "entries_serial": 0}

    def install(self) -> SplitPairForces:
        self.atoms.compute = self.compute
        self.atoms.split_forces = self
        return self

    def _filter(self) -> None:
        """The entries of the current serial list with at least one owned atom, in the serial order."""
        from ..parallel.engine import _LocalList
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
        self._bw = None if a.bond_w is None else np.ascontiguousarray(a.bond_w[keep])
        self._key = (id(nl), nl.n_builds, id(nb), id(a.bond_w))
        self.stats["entries"] = int(np.count_nonzero(keep))
        self.stats["entries_serial"] = int(nb.size)
        self.stats["t_filter"] += time.perf_counter() - t0

    def compute(self, virial: bool = False, atom_energies: bool = True) -> float:
        """`AtomisticRegion.compute` with the kernel on this rank's entries (collective)."""
        a = self.atoms
        if virial:
            raise NotImplementedError("the virial is not computed by the split force evaluation")
        if a.nlist.update(a.x):
            a._update_bond_weights()
        nl = a.nlist
        if self._key != (id(nl), nl.n_builds, id(nl.neighbors), id(a.bond_w)):
            self._filter()
        kw: dict = {} if a.types is None else {"types": a.types}
        x = nl.wrapped(a.x)
        t0 = time.perf_counter()
        a.potential.compute(x, self.list, a.site_w, self._bw, self._f, self._e, a.n_threads, **kw)
        t1 = time.perf_counter()
        lo, hi = self.lo, self.hi
        _allgather_rows(self.comm, self._f[lo:hi], a.forces, self.bounds)
        _allgather_rows(self.comm, self._e[lo:hi], a.energies, self.bounds)
        t2 = time.perf_counter()
        self.stats["t_force"] += t1 - t0
        self.stats["t_gather"] += t2 - t1
        self.stats["bytes"] += (a.forces.size + a.energies.size - (hi - lo) * (a.dim + 1)) * 8
        self.stats["evaluations"] += 1
        a.energy = float(a.energies.sum())
        return a.energy

    def load_balance(self) -> dict:
        """Collective: owned atoms and kernel entries per rank, max/mean (entries include the cross pairs
        computed on both ranks; serial = the whole list's entries)."""
        parts = self.comm.allgather((self.hi - self.lo, self.stats["entries"]))
        own = np.array([p[0] for p in parts], float)
        ent = np.array([p[1] for p in parts], float)
        return {"atoms": own.tolist(), "entries": ent.tolist(),
                "entries_serial": self.stats["entries_serial"],
                "atoms_max_over_mean": float(own.max() / own.mean()),
                "entries_max_over_mean": float(ent.max() / max(ent.mean(), 1.0)),
                "duplicated_entries": float(ent.sum() - self.stats["entries_serial"])}


def distribute_statics(model, comm) -> SplitPairForces:  # noqa: ANN001
    """Split the force evaluation of ``model.atoms`` over ``comm`` (after `check_statics_distributable`)."""
    return SplitPairForces(model.atoms, comm).install()


class RootFields:
    """`run.fields.Fields` whose ``frame()`` is assembled on rank 0 only (ranks > 0 hold the same state
    but write nothing: (None, None), as `run.distributed.DistributedFields` gives them); the rest of the
    interface (``static``, ``species``, ...) is the wrapped object's."""

    def __init__(self, fields, comm) -> None:  # noqa: ANN001
        self.fields, self.comm = fields, comm

    def frame(self) -> tuple[dict | None, dict | None]:
        return self.fields.frame() if self.comm.rank == 0 else (None, None)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.fields, name)


def run_statics_distributed(sim, writer, path, n: int, ck_state, origin, progress: str) -> None:  # noqa: ANN001
    """`run.statics.run_statics` on every rank (replicated minimiser; rank 0 writes). A blow-up is found
    at the same point on every rank (the state is bitwise the same everywhere), so it is a collective
    verdict: every rank raises it, rank 0 has saved OUT.lastgood.h5, and `cli._run_mpi` exits 3 on all."""
    from .statics import run_statics
    try:
        run_statics(sim, writer, path, n, ck_state, origin, progress)
    except BlowUpError as exc:
        exc.collective = True
        raise


__all__ = ["RootFields", "SplitPairForces", "check_statics_distributable", "distribute_statics",
           "run_statics_distributed"]
