"""Distributed-memory (MPI) execution of msim's atoms: communicator, slab decomposition, keyed random
streams. Nothing here imports mpi4py unless the process was started by an MPI launcher
(`comm.get_comm`). See docs/parallel.md."""

from .comm import MPIComm, MPIUnavailable, SerialComm, get_comm, launched_with_mpi, run_guarded
from .engine import DistributedMD, SlabDecomposition
from .streams import keyed_normal, keyed_uniform, langevin_forces

__all__ = ["DistributedMD", "MPIComm", "MPIUnavailable", "SerialComm", "SlabDecomposition", "get_comm",
           "keyed_normal", "keyed_uniform", "langevin_forces", "launched_with_mpi", "run_guarded"]
