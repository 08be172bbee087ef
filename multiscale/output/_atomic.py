"""Replace a file atomically through a private temporary file (never through a guessable name).

`atomic_write(path)` yields a text file object on a new file made by `tempfile.mkstemp` in the target's
directory (O_CREAT|O_EXCL: a symlink or file planted at any name is never followed or overwritten), then
`os.replace`s the target with it (which replaces a symlink at `path` itself, not its target). The new file
gets the permissions a plain `open(path, "w")` would give (0o666 minus the umask).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[str]]:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
