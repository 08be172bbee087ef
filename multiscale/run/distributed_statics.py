"""Quasi-statics (``integrator.type: fire | lbfgs | precon_lbfgs``) of a fully atomistic or coupled deck on
P > 1 MPI ranks: the forces and energy are computed distributed, the minimiser is replicated.

Choice: **replicated minimiser, distributed forces.** Every rank holds the whole serial model (every
rank builds it from the deck anyway), the stacked dof vector q and the minimiser's vectors, and runs the
identical minimiser (`integrate.minimize`, same convergence test: max |projected free force| < ftol),
the identical loads (`fixed`, `indenter`, `kfield`, `precrack`, ... on the full arrays: no observable
needs a reduction) and the identical preconditioner (`precon_lbfgs`: each rank factorises the same
stiffness matrix). Only the force evaluation — the cost that grows with the atoms — is split:

* `parallel.split_forces.SplitPairForces` (the same class as the coupled dynamics' split, see its module
  docstring): rank r owns a contiguous block of atoms, keeps the serial half-list entries with at least
  one owned atom in the serial order, runs the serial pair kernel and one ``Allgatherv`` of the owned
  rows of forces and per-atom energies: every rank holds the serial forces and energies bit for bit.

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

Coupled statics (``continuum`` / ``handshake``: indent2d, indent3d, crack2d_coupled) runs the same way:
the mesh, the handshake weights, the pad atoms, the constraint rows, the continuum forces and the
coupling terms are computed on every rank from the replicated q (as in the coupled dynamics,
`parallel.replicated`); ``site_w`` enters the kernels per atom and ``bond_w`` is filtered with the list,
so the atoms' weighted forces are the serial ones too.

Pair potentials split by `parallel.split_forces.SplitPairForces`, tabulated EAM (funcfl, setfl, eam/fs,
`eam_zhou`) by `parallel.split_eam.SplitEAMForces` (owned densities allgathered between the density and
the force pass). External engines (lammps, ase) are refused with a deck error at ``potential``.
"""

from __future__ import annotations

from ..errors import BlowUpError
from ..parallel.split_forces import SplitPairForces, split_forces


def check_statics_distributable(model, deck, size: int) -> None:  # noqa: ANN001
    """Raise a `DeckError` at the deck key that keeps this statics deck from running on ``size`` ranks (no
    communication: every rank reaches the same verdict). Fully atomistic and coupled decks run (the mesh,
    handshake and constraints replicated); the atoms' potential must be split by
    `parallel.split_forces.split_forces` (pair potentials, tabulated EAM)."""
    from ..parallel.split_forces import splittable
    cfg = deck.config
    why = (f"`mpiexec -n {size} msim run` runs quasi-statics with pair potentials (lj, morse, harmonic) and "
           "tabulated EAM (eam, eam_zhou), with or without a continuum; run this deck on one rank "
           "(plain `msim run`)")
    if model.atoms is None:
        raise deck.error("atoms", f"the deck has no atoms (a continuum alone is not split over ranks): "
                         f"{why}")
    if not splittable(model.potential):
        raise deck.error("potential", f"potential type '{cfg.potential.type}' is not distributed in "
                         f"quasi-statics (external engines are not split over ranks): {why}")
    if model.atoms.n < size:
        raise deck.error("atoms", f"{model.atoms.n} atoms cannot be split over {size} ranks")


def distribute_statics(model, comm):  # noqa: ANN001, ANN201
    """Split the force evaluation of ``model.atoms`` over ``comm`` (after `check_statics_distributable`;
    `parallel.split_forces.split_forces`, the same split as the coupled dynamics') and, for a coupled
    deck, the continuum's node forces (`parallel.split_continuum.SplitContinuum`, carried by the atoms'
    Allgatherv, as in the coupled dynamics)."""
    from ..parallel.split_continuum import SplitContinuum
    split = split_forces(model.atoms, comm).install()
    if SplitContinuum.supports(model.continuum, getattr(model.system, "method", None)):
        split.partner = SplitContinuum(model.continuum, comm).install()
    return split


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
    """`run.statics.run_statics` on every rank (replicated minimiser; rank 0 writes). After every converged
    stage the ranks' states are compared bitwise (`parallel.replicated.check_replicas`: x, v, U, V; one
    allgather of two integers): a rank-dependent computation stops every rank (exit 1). A blow-up is found
    at the same point on every rank (the state is bitwise the same everywhere), so it is a collective
    verdict: every rank raises it, rank 0 has saved OUT.lastgood.h5, and `cli._run_mpi` exits 3 on all."""
    from ..parallel.replicated import ReplicatedComm, check_replicas
    from .statics import run_statics
    comm = ReplicatedComm(sim.reduce.comm)
    try:
        run_statics(sim, writer, path, n, ck_state, origin, progress,
                    after_stage=lambda i: check_replicas(comm, sim.model.system))
    except BlowUpError as exc:
        exc.collective = True
        raise


__all__ = ["RootFields", "SplitPairForces", "check_statics_distributable", "distribute_statics",
           "run_statics_distributed"]
