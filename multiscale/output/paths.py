"""Where a run writes, in one place: the results file and the files named after it, and the checks made
before a run starts (so that a bad output location is a user mistake, exit 2, before the model is built).

A run writing ``OUT.h5`` (any name ``DIR/STEM.SUFFIX``) owns::

    DIR/STEM.SUFFIX            results (HDF5, `output/hdf5.py`)
    DIR/STEM.xdmf              ParaView sidecar (`output/xdmf.py`), DIR/STEM.mesh.xdmf with a mesh
    DIR/STEM.checkpoint.h5     checkpoint (`output/checkpoint.py`, ``output.checkpoint_every``)
    DIR/STEM.lastgood.h5       last good state after a blow-up
    DIR/STEM.SUFFIX.lock       the one-writer lock (`output/_lock.py`)

`check_output` refuses (DeckError, exit 2): an output name that is one of these files of the same run
(``-o res.xdmf``), any of these files being one of the run's inputs (the deck, files the deck names, the
checkpoint given to ``--restart``; compared as resolved paths and by inode, not as strings), an existing
file at the output path unless ``overwrite`` (or a restart, which continues its own results file), a file
that is not an msim results file even then unless ``overwrite``, a directory, an empty name, a location
that cannot be written (read-only mount, ``/proc``, missing permissions: a probe file is created and
removed), and a file system without room for the start of the run (`check_free_space`).

While a run writes, `ensure_free` is called before every append and every checkpoint: when the file system
lacks the room for it, `DiskFullError` (an OSError with errno ENOSPC) is raised before anything is
written, so the results file and the last checkpoint stay complete and readable.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from multiscale.errors import DeckError

#: bytes kept free beyond what a write needs: HDF5 metadata (chunk index, object headers, superblock)
SPARE_BYTES = 256 << 10


class DiskFullError(OSError):
    """The file system holding an output file lacks the room for the next write (errno ENOSPC).

    `needed` and `free` in bytes; `path` the file that was to be written. Raised before writing, so the
    file is left complete; the CLI prints `str(exc)` (one line) and exits with status 1."""

    def __init__(self, path: str | os.PathLike, needed: int, free: int, what: str = "write") -> None:
        self.path, self.needed, self.free, self.what = Path(path), int(needed), int(free), what
        self.detail = (f"{what} needs {_size(needed)} free, {_size(free)} available "
                       f"(free {_size(max(needed - free, 0))} more)")
        super().__init__(errno.ENOSPC, f"no space left on device for {path}: {self.detail}", str(path))

    def __str__(self) -> str:
        return self.strerror or ""


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


# ---------------------------------------------------------------------------------------- names
def sidecar_path(results: str | os.PathLike) -> Path:
    """The ParaView sidecar of `results`: ``STEM.xdmf``."""
    return Path(results).with_suffix(".xdmf")


def mesh_sidecar_path(results: str | os.PathLike) -> Path:
    """The mesh sidecar of `results` (written with a mesh): ``STEM.mesh.xdmf``."""
    x = sidecar_path(results)
    return x.with_name(x.stem + ".mesh.xdmf")


def checkpoint_path(results: str | os.PathLike) -> Path:
    """The checkpoint of `results`: ``STEM.checkpoint.h5`` (replaced atomically)."""
    p = Path(results)
    return p.with_name(p.stem + ".checkpoint.h5")


def lastgood_path(results: str | os.PathLike) -> Path:
    """The last good state of a run that blew up: ``STEM.lastgood.h5`` (a checkpoint)."""
    p = Path(results)
    return p.with_name(p.stem + ".lastgood.h5")


def lock_path(results: str | os.PathLike) -> Path:
    """The one-writer lock of `results`: ``NAME.lock``."""
    p = Path(results)
    return p.with_name(p.name + ".lock")


def companions(results: str | os.PathLike) -> dict[str, Path]:
    """Every file a run writing `results` creates next to it, by what it is."""
    return {"XDMF sidecar": sidecar_path(results), "mesh XDMF sidecar": mesh_sidecar_path(results),
            "checkpoint": checkpoint_path(results), "last-good state": lastgood_path(results),
            "lock file": lock_path(results)}


def results_path(deck, output: str | os.PathLike | None) -> Path:  # noqa: ANN001
    """The results file of a run of `deck`: `output` (``-o``), else the deck's ``output.file``, else
    ``<deck file stem>.h5`` in the working directory."""
    if output is not None:
        if str(output).strip() == "":
            raise DeckError("the output file name is empty",
                            hint="give a file name with -o, e.g. -o results.h5")
        return Path(output)
    name = deck.config.output.file
    if name is not None:
        if not name.strip():
            raise deck.error("output.file", "the output file name is empty",
                             hint="give a file name, e.g. file: results.h5")
        return Path(name)
    return Path(f"{Path(deck.name).stem}.h5")


# ---------------------------------------------------------------------------------------- inputs
def _strings(tree: object) -> Iterable[tuple[str, str]]:
    if isinstance(tree, Mapping):
        for k, v in tree.items():
            for key, s in _strings(v):
                yield (f"{k}.{key}" if key else str(k)), s
    elif isinstance(tree, list | tuple):
        for i, v in enumerate(tree):
            for key, s in _strings(v):
                yield (f"[{i}].{key}" if key else f"[{i}]").replace(".[", "["), s
    elif isinstance(tree, str):
        yield "", tree


def deck_inputs(deck) -> dict[str, Path]:  # noqa: ANN001
    """Files a run of `deck` reads: the deck itself and every existing file the deck names (any string
    value that is the name of a file, relative to the deck's folder or absolute; output.file excluded).
    Keys say what each is ("the deck", "potential.file", ...)."""
    out: dict[str, Path] = {}
    if deck.path is not None:
        out["the deck"] = Path(deck.path)
    for key, s in _strings(deck.data):
        if key == "output.file" or not s or "\n" in s or len(s) > 4096:
            continue
        p = Path(s).expanduser()
        if not p.is_absolute():
            p = deck.directory / p
        try:
            if p.is_file():
                out[key] = p
        except OSError:
            continue
    return out


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if `a` and `b` name the same file: same resolved path, or (both existing) same inode."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):
        pass
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def is_results_file(path: str | os.PathLike) -> bool:
    """True if `path` is an HDF5 file written by msim (root attribute msim_format="msim-results")."""
    import h5py

    from multiscale.output._superblock import status_flags
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89HDF\r\n\x1a\n":
                return False
        kw = {"swmr": True} if status_flags(path) else {}
        with h5py.File(path, "r", **kw) as f:
            return f.attrs.get("msim_format") == "msim-results"
    except Exception:  # noqa: BLE001 - anything unreadable is not a results file
        return False


_EXPECTED = {"XDMF sidecar": "XDMF sidecar", "mesh XDMF sidecar": "XDMF sidecar", "checkpoint": "checkpoint",
             "last-good state": "checkpoint"}
_KIND_TEXT = {"results": "an msim results file", "other": "not msim's", "checkpoint": "an msim checkpoint",
              "XDMF sidecar": "an XDMF file"}


def _kind(path: Path) -> str:
    """What an existing file is: "results", "checkpoint" (also a last-good state), "XDMF sidecar", "other"."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return "other"
    if head.startswith(b"<?xml") and b"Xdmf" in head:
        return "XDMF sidecar"
    if is_results_file(path):
        return "results"
    if head.startswith(b"msim-checkpoint sha256 "):      # checkpoints: digest in the HDF5 user block
        return "checkpoint"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        import h5py
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("msim_format") == "msim-checkpoint":
                    return "checkpoint"
        except Exception:  # noqa: BLE001
            pass
    return "other"


# ---------------------------------------------------------------------------------------- checks
def check_output(results: str | os.PathLike, *, inputs: Mapping[str, Path], restart: str | os.PathLike | None
                 = None, overwrite: bool = False) -> Path:
    """Refuse (DeckError) an output that would destroy data or cannot be written; see the module docstring.

    Returns the results path. Does not check free space (`check_free_space`, once the model's size is
    known)."""
    if str(results).strip() == "":
        raise DeckError("the output file name is empty", hint="give a file name with -o, e.g. -o results.h5")
    path = Path(results)
    if path.name in ("", ".", "..") or str(results).endswith(os.sep):
        raise DeckError(f"the output file name names a directory: {results}",
                        hint="give a file name with -o, e.g. -o results.h5")
    where = str(path)
    # 1. the results must not be one of its own companions (-o res.xdmf: the sidecar would replace it)
    for what, p in companions(path).items():
        if p.name == path.name:
            raise DeckError(f"the output file would be overwritten by the run's own {what} ({p.name})",
                            file=where, hint="name the results file *.h5 (e.g. -o results.h5)")
    # 2. neither the results nor a companion may be one of the run's inputs
    ins = dict(inputs)
    if restart is not None:
        ins["the --restart checkpoint"] = Path(restart)
    for what_in, inp in ins.items():
        if same_file(path, inp):
            raise DeckError(f"the output file is an input of this run ({what_in}: {inp}); refusing to "
                            "overwrite it", file=where, hint="give the results another name with -o")
        for what, p in companions(path).items():
            if what in ("checkpoint", "last-good state") and what_in == "the --restart checkpoint":
                continue  # read once at the start; a restart from OUT.checkpoint.h5 keeps checkpointing there
            if same_file(p, inp):
                raise DeckError(f"the run's {what} {p} would overwrite an input of this run ({what_in}: "
                                f"{inp})", file=where, hint="give the results another name with -o")
    # 3. a companion must not replace an existing file of another kind (someone's results, notes)
    if not overwrite:
        for what, p in companions(path).items():
            if what == "lock file" or not os.path.lexists(p):
                continue
            if restart is not None and what == "checkpoint" and same_file(p, restart):
                continue
            kind = _kind(p)
            if kind != _EXPECTED[what]:
                raise DeckError(f"the run's {what} {p} would replace an existing file that is "
                                f"{_KIND_TEXT.get(kind, kind)}", file=where,
                                hint="give the results another name with -o, or --overwrite to replace it")
    # 4. the output path itself
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        why = (exc.strerror or str(exc))
        raise DeckError(f"cannot use the output location: {why[:1].lower() + why[1:]}", file=where,
                        hint="choose a writable location with -o") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise DeckError("the output path is a directory", file=where,
                            hint=f"give a file name inside it, e.g. -o {path / 'results.h5'}")
        if not stat.S_ISREG(st.st_mode):
            raise DeckError("the output path exists and is not a regular file", file=where)
        if restart is None and not overwrite:
            kind = "an msim results file" if is_results_file(path) else "a file that is not msim results"
            raise DeckError(f"the output file exists ({kind}); refusing to overwrite it", file=where,
                            hint="give another name with -o, or --overwrite to replace it")
    _check_writable(path)
    return path


def _nearest_dir(path: Path) -> Path:
    d = path.absolute().parent
    while not d.exists() and d != d.parent:
        d = d.parent
    return d


def _check_writable(path: Path) -> None:
    """Create and remove a probe file where the results will go (the parent, or the nearest existing
    ancestor when the folders are still to be made)."""
    where = str(path)
    d = _nearest_dir(path)
    if not d.is_dir():
        raise DeckError(f"cannot create the output file: {d} is not a directory", file=where)
    probe = d / f".msim-probe-{os.getpid()}.tmp"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        reason = {errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                  errno.EPERM: "operation not permitted"}.get(exc.errno, exc.strerror)
        raise DeckError(f"cannot write in {d}: {reason}", file=where,
                        hint="choose a writable location with -o") from None
    try:
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        except OSError as exc:
            raise DeckError(f"cannot write in {d}: {exc.strerror}", file=where,
                            hint="free some space or choose another location with -o") from None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)


def free_bytes(path: str | os.PathLike) -> int:
    """Bytes an unprivileged process may still write on the file system holding `path` (or the nearest
    existing ancestor folder)."""
    p = Path(path)
    d = p if p.is_dir() else _nearest_dir(p)
    st = os.statvfs(d)
    return int(st.f_bavail) * int(st.f_frsize)


def ensure_free(path: str | os.PathLike, needed: int, what: str = "write") -> None:
    """Raise `DiskFullError` unless `needed` + SPARE_BYTES bytes are free where `path` is written."""
    need = int(needed) + SPARE_BYTES
    free = free_bytes(path)
    if free < need:
        raise DiskFullError(path, need, free, what)


def start_bytes(n_atoms: int, n_nodes: int, dim: int, fields: Iterable[str], checkpoint: bool,
                itemsize: int = 8) -> int:
    """Bytes the start of a run needs (an estimate): the static data and the first thermo/observables
    rows, twice (the file is copied when the first frame's table is made), the first frame (its
    columns' first chunks, allocated whole) and one checkpoint (positions, velocities, forces)."""
    from multiscale.output.hdf5 import _chunks
    first = 0
    for n, node in ((n_atoms, False), (n_nodes, True)):
        if not n:
            continue
        for f in fields:
            comps = dim * dim if node and f in ("stress", "strain") else (1 if f in ("energy", "weight")
                                                                          else dim)
            shape = (n, comps) if comps > 1 else (n,)
            chunk = _chunks(shape, itemsize)
            nb = itemsize
            for c in chunk:
                nb *= c
            first += nb
    static = (n_atoms * (dim + 6) + n_nodes * (2 * dim + 8)) * itemsize
    tables = 24 * 1024 * itemsize      # thermo + observables: ~24 columns, first chunks of 1024 rows
    ck = 3 * (n_atoms + n_nodes) * dim * itemsize if checkpoint else 0
    return 2 * (static + tables) + first + ck


def check_free_space(results: str | os.PathLike, needed: int) -> None:
    """DeckError (exit 2, before the run starts) when fewer than `needed` + SPARE_BYTES bytes are free."""
    try:
        ensure_free(results, needed, "the start of the run (static data, first frame, a checkpoint)")
    except DiskFullError as exc:
        raise DeckError(f"no space left on device: {exc.detail}", file=str(results),
                        hint="free some space or choose another location with -o") from None


__all__ = ["DiskFullError", "SPARE_BYTES", "sidecar_path", "mesh_sidecar_path", "checkpoint_path",
           "lastgood_path", "lock_path", "companions", "results_path", "deck_inputs", "same_file",
           "is_results_file", "check_output", "free_bytes", "ensure_free", "start_bytes",
           "check_free_space"]
