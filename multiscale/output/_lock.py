"""One live writer per results file: `OUT.h5.lock`, flock'ed while a ResultsWriter has the file open.

The lock file is opened without following symlinks (``O_NOFOLLOW``; created with ``O_EXCL`` when absent)
and must be a regular file with a single link, so a symlink or hard link planted under the lock's name
cannot make msim write into another file. It is removed on release while still locked; a process that
opened it just before (and so locks a file that no longer has a name) notices that the file at the lock's
name is no longer the one it locked and starts again, so two processes never both hold the lock.

`reserve(path)` takes the lock for the whole of `msim run` (checks, model building, the run); the
`ResultsWriter` then opened on the same file in the same process adopts the reservation instead of
locking again, so no other msim run can slip in between the checks and the writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

from multiscale.output._superblock import clear_status_flags
from multiscale.output.paths import lock_path as _lock_path

_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_RESERVED: dict[str, WriterLock] = {}      # lock path -> reservation held by this process


def _refuse(results: Path, lock: Path, why: str) -> Exception:
    from multiscale.errors import DeckError
    return DeckError(f"unsafe lock file {lock}: {why}; refusing to use it", file=str(results),
                     hint=f"remove {lock} (it is not msim's) or give this run another output file (-o)")


def _open_lock(results: Path, lock: Path) -> int:
    """Open (or create) the lock file without following symlinks; refuse anything but a plain file."""
    for _attempt in range(1000):
        try:
            fd = os.open(lock, _FLAGS | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                fd = os.open(lock, _FLAGS)
            except FileNotFoundError:
                continue                      # removed in between by the releasing holder: create it
            except OSError as exc:            # ELOOP: a symlink; ENXIO: a socket...
                raise _refuse(results, lock, "it is a symbolic link" if os.path.islink(lock)
                              else f"cannot open it ({exc.strerror})") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            os.close(fd)
            raise _refuse(results, lock, "it is not a regular file" if not stat.S_ISREG(st.st_mode)
                          else f"it has {st.st_nlink} hard links (another file's contents)")
        head = os.pread(fd, 64, 0)
        if head and not head.startswith(b"pid "):
            os.close(fd)
            raise _refuse(results, lock, "it is not an msim lock file (it holds other data)")
        return fd                             # st_nlink 0: removed meanwhile; the caller checks
    raise _refuse(results, lock, "it keeps appearing and disappearing")


class WriterLock:
    """`OUT.h5.lock`, flock'ed by the one live writer (the kernel drops it when the writer dies, even by
    SIGKILL). HDF5's own locks cannot serve: SWMR writing releases them, and the file flags of a killed
    writer look like those of a live one."""

    def __init__(self, path: Path, *, reservation: bool = False) -> None:
        self.results = Path(path)
        self.path = _lock_path(self.results)
        self.fd = -1
        self._adopted: WriterLock | None = None
        self.in_use = False
        key = os.path.abspath(self.path)
        held = _RESERVED.get(key)
        if held is not None and not reservation and not held.in_use and held.fd >= 0:
            held.in_use = True                # the writer of the run that reserved this file
            self._adopted, self.fd = held, held.fd
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _attempt in range(1000):
            fd = _open_lock(self.results, self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                os.close(fd)
                from multiscale.errors import DeckError
                who = holder or "unknown process"
                raise DeckError(f"another msim run is writing this results file ({who})",
                                file=str(path), hint="give this run another output file (-o)") from None
            try:
                now = os.stat(self.path, follow_symlinks=False)
            except FileNotFoundError:
                now = None
            st = os.fstat(fd)
            if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                break
            os.close(fd)                      # locked a file its holder had just removed: again
        else:
            raise _refuse(self.results, self.path, "it keeps being replaced while msim locks it")
        self.fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        except OSError:                       # e.g. a full disk: leave no lock behind
            self.release()
            raise
        if reservation:
            _RESERVED[key] = self

    def release(self) -> None:
        if self._adopted is not None:
            self._adopted.in_use = False
            self._adopted, self.fd = None, -1
            return
        if self.fd >= 0:
            _RESERVED.pop(os.path.abspath(self.path), None)
            try:                              # remove the name only if it is still our file (locked)
                now = os.stat(self.path, follow_symlinks=False)
                st = os.fstat(self.fd)
                if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                    os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self.fd)
            self.fd = -1


@contextlib.contextmanager
def reserve(path: str | os.PathLike) -> Iterator[WriterLock]:
    """Hold the writer lock of `path` for a whole run; the ResultsWriter of this process adopts it."""
    lock = WriterLock(Path(path), reservation=True)
    try:
        yield lock
    finally:
        lock.release()


def is_live(path: str | os.PathLike) -> bool:
    """True while a ResultsWriter (in any process on this host's file system) has `path` open."""
    lock = _lock_path(Path(path))
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:                           # absent, or a symlink (never msim's)
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
