"""Replicated-data runs of coupled decks on P ranks: the atoms' forces split over the ranks.

A coupled (atomistic/continuum) deck under ``mpiexec -n P`` (`run/distributed.py`): every rank holds the
WHOLE model — atoms, mesh, continuum, handshake, constraint factorisation, damping band — and steps it with
the serial `integrate.verlet.VelocityVerlet`. Only the atoms' force evaluation, the dominant cost, is
divided, by `parallel.split_forces.split_forces` (the same split as the quasi-statics of
`run.distributed_statics`): rank r runs the serial pair kernel on the half-list entries with at least one
atom of its block, and one ``Allgatherv`` of the owned rows of forces and per-atom energies (and of the
per-atom virials when the virial is asked for) gives every rank the serial arrays, bit for bit; tabulated
EAM (`parallel.split_eam`) allgathers the owned densities between its density and force passes. The
continuum's node forces are split too (`parallel.split_continuum.SplitContinuum`: each rank the nodes of
its blocks of whole 256-node chunks, bitwise the serial ones), and their packed buffer rides on the atoms'
Allgatherv (`SplitPairForces.partner`): one collective per force evaluation.
Everything after that (pad forces → nodes, coupling forces, loads, thermostat, the constraint
projection, the damping band, the ledger) is computed identically on every rank from identical data, so
the ranks stay in lock step with no further communication: the handshake's constraint system is solved
redundantly on every rank (it is small: the cheapest place is "everywhere", no gather/scatter).

Because each rank's state is the whole state, the run's global reductions are identities:
`ReplicatedComm.allreduce` returns its argument (the ledger, the guard, the temperatures are those of the
serial functions on the replicated state). `check_replicas` compares a checksum of the state over the ranks
(cheap; at thermo rows, and after every converged stage of a quasi-static run) and raises if the
replicas drifted apart.

The forces, energies and virial being the serial bits, the run repeats the serial run (tests/parallel/
test_mpi_coupled.py compares to 1e-12).

Cost per step: the pair work / P (plus the block-boundary pairs, computed on both ranks), the continuum's
node work / P (plus the boundary elements of non-uniform α on both ranks), one Allgatherv of
n·(d + 1) + N·d doubles (+ chunk and element energies), plus the handshake/constraint work, the pads,
the kick/drift of every atom and node and the ledger on every rank (not divided; docs/parallel.md
"Coupled decks on P ranks" gives the measured shares and the cost model).
This is replicated data (atom decomposition), not the spatial domain decomposition of `engine.py`:
memory and the gather grow with the total number of atoms, not with the atoms per rank.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ReplicatedComm:
    """The run's communicator for a replicated-data run: ``rank``/``size``/``barrier``/``gather``/
    ``allgather``/``comm``/``MPI``... of the real communicator (`SplitPairForces` gathers through them),
    but ``allreduce`` returns its argument (every rank holds the whole state, so the global value IS the
    local one: `run.reduce.Reduction` over it gives the serial figures on every rank)."""

    is_mpi = True

    def __init__(self, comm: Any) -> None:
        self.inner = comm
        self.rank, self.size = comm.rank, comm.size

    def allreduce(self, value: Any, op: str = "sum") -> Any:  # noqa: ARG002
        return value

    def allreduce_array(self, a: np.ndarray, op: str = "sum") -> np.ndarray:  # noqa: ARG002
        return a

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def state_checksum(system) -> tuple[int, int]:  # noqa: ANN001
    """(xor, wrapping sum) of the 64-bit patterns of x, v, U, V: changes with any single bit."""
    return bits_checksum(((system.atoms.x, system.atoms.v) if system.atoms is not None else ())
                         + ((system.continuum.U, system.continuum.V) if system.continuum is not None else ()))


def bits_checksum(arrays) -> tuple[int, int]:  # noqa: ANN001
    """(xor, wrapping sum) of the 64-bit patterns of the float64 ``arrays``: changes with any single bit."""
    x, t = np.uint64(0), np.uint64(0)
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
