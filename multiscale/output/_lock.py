"""One live writer per results file: `OUT.h5.lock`, flock'ed while a ResultsWriter has the file open."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from multiscale.output._superblock import clear_status_flags


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


class WriterLock:
    """`OUT.h5.lock`, flock'ed by the one live writer (the kernel drops it when the writer dies, even by
    SIGKILL). HDF5's own locks cannot serve: SWMR writing releases them, and the file flags of a killed
    writer look like those of a live one."""

    def __init__(self, path: Path) -> None:
        self.path = _lock_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 200, 0).decode(errors="replace").strip()
            os.close(self.fd)
            from multiscale.errors import DeckError
            raise DeckError(f"another msim run is writing this results file ({holder or 'unknown process'})",
                            file=str(path), hint="give this run another output file (-o)") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self.fd)
            self.fd = -1


def is_live(path: str | os.PathLike) -> bool:
    """True while a ResultsWriter (in any process on this host's file system) has `path` open."""
    lock = _lock_path(Path(path))
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def repair(path: str | os.PathLike) -> bool:
    """Make the file of a killed run openable by any HDF5 tool (`h5clear -s`). True if it was needed.

    Refuses (RuntimeError) while a writer is live."""
    if is_live(path):
        raise RuntimeError(f"{path} is being written by a running msim; not touching it")
    return clear_status_flags(path)
