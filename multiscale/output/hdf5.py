"""Streaming HDF5 results writer: every completed output step survives a SIGKILL.

File layout (all arrays in the deck's unit system, masses too (not msim's internal force-mass units);
`n` atoms, `N` nodes, `d` dimension, `F` frames, `T` thermo rows, `B` observable rows)::

    /                        attrs: msim_format="msim-results", msim_format_version=1, msim_version, units,
                                    seed (absent if None), deck_text, start_time (UTC ISO 8601), host,
                                    restarts (JSON list of {"time", "host", "msim_version",
                                    "decomposition"}),
                                    decomposition (JSON {"ranks", "path": "serial" | "replicated" |
                                    "spatial", "requested": the --decompose value, "kind", and when
                                    ``auto`` fell back to replicated "spatial_refused_at" (deck key),
                                    "spatial_refusal"}: `run.distributed.Decomposition.record`),
                                    provenance (continued runs: JSON list, oldest first, of
                                    {"file", "step", "time", "start_time", "deck_sha256"})
    /static/<group>/...      written once: ndarray -> dataset, str/int/float -> attribute, dict -> subgroup
                             e.g. /static/atoms/{reference_positions (n,d), ids (n,), types (n,), mass (n,),
                             weight (n,), type_names (ntypes,) str, type_masses (ntypes,) [mass],
                             index (n,) = 0…n-1 (the XDMF's vertex cells)},
                             /static/box/{lo (d,), hi (d,) [length], periodic (d,) int8 (1 = periodic)},
                             /static/run attrs kind ("dynamics" | "quasistatic": then a frame's time is
                             its load-stage index), integrator,
                             /static/mesh/{nodes (N,d), connectivity/<block> (ne,nen) int64,
                             element_types (group with one str attr per block: "quad4"...), alpha_qp (nq,),
                             lumped_mass (N,) [mass],
                             node_sets/<name> (k,) int64}
    /frames/step (F,) int64, /frames/time (F,) float64
    /frames/atoms/<field>    (F, n, d) or (F, n)     e.g. displacement, velocity, force, energy, weight
    /frames/nodes/<field>    (F, N, d) or (F, N)     e.g. displacement, velocity
    /frames/box/{lo,hi}      (F, d)                  only if the box changes during the run
    /thermo/step (T,), /thermo/time (T,), /thermo/<name> (T,)            energy ledger terms
    /observables/step (B,), /observables/time (B,), /observables/<name> (B, *shape)

Every group with a `step` dataset is a *table*: its row count is `len(step)`. A row is appended by
resizing and writing every column, flushing, then writing `time` and `step` and flushing again, so a row
is visible only once all of its columns are on disk; columns may be one row longer than `step` after a
kill and readers cut them to `len(step)`. Rows are appended in SWMR mode (superblock v3): HDF5 then
orders its metadata writes so that the file on disk is consistent at every instant. Everything else
(creating the file, a table's first row, a restart's truncation) is done on a copy that atomically
replaces the file (`_structure`). A killed writer leaves the superblock's "open for write" flags set;
`ResultsReader` opens such a file read-only in SWMR mode without changing it, and `repair()` clears the
flags (as `h5clear -s`) so other tools open it. `OUT.h5.lock` (flock) keeps a second writer out.

Full disk: before every append (and structure change) the writer checks that the file system has room
for what the row may allocate (whole chunks when a row starts a new one, a compressed chunk every row,
the copy of a structure change) plus `paths.SPARE_BYTES`; if not, `paths.DiskFullError` (ENOSPC) is
raised before anything is written and the file stays complete. If a write still fails (someone else
filled the disk meanwhile), the file is abandoned as a killed writer would leave it (`_abandon`: HDF5's
descriptor is pointed at /dev/null before closing, since closing after ENOSPC crashed the interpreter);
SWMR ordering keeps every complete row readable. The lock is released in every case.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import shutil
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multiscale._lazy import lazy_module
from multiscale.output._lock import WriterLock, is_live, repair
from multiscale.output._superblock import clear_status_flags, status_flags
from multiscale.output.paths import DiskFullError, ensure_free, free_bytes

h5py = lazy_module("h5py")

FORMAT = "msim-results"
FORMAT_VERSION = 1
TABLES = ("frames", "thermo", "observables")
_CHUNK_BYTES = 1 << 20
COPY_LIMIT = 256 << 20     # bytes: structure changes of larger files are made in place


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _chunks(item_shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Chunk shape of a column with rows of `item_shape`: about 1 MiB, whole rows when they fit."""
    item_bytes = int(np.prod(item_shape, dtype=np.int64)) * itemsize
    if item_bytes <= _CHUNK_BYTES:
        return (int(max(1, min(1024, _CHUNK_BYTES // max(item_bytes, 1)))), *item_shape)
    nchunks = -(-item_bytes // _CHUNK_BYTES)
    return (1, -(-item_shape[0] // nchunks), *item_shape[1:])


def _datasets(group: h5py.Group) -> list[h5py.Dataset]:
    out: list[h5py.Dataset] = []
    group.visititems(lambda _name, obj: out.append(obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def _write_tree(group: h5py.Group, tree: Mapping, compression: str | None) -> None:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            _write_tree(group.require_group(key), value, compression)
        elif isinstance(value, (str, bytes, int, float, bool, np.generic)):
            parent, _, name = key.rpartition("/")
            (group.require_group(parent) if parent else group).attrs[name] = value
        else:
            arr = np.asarray(value)
            if arr.dtype.kind == "U":
                arr = arr.astype(h5py.string_dtype())
            kw = {"compression": compression, "shuffle": True} if compression and arr.size > 1 else {}
            group.create_dataset(key, data=arr, **kw)


def _leaves(tree: Mapping) -> Iterator[object]:
    for v in tree.values():
        if isinstance(v, Mapping):
            yield from _leaves(v)
        elif not isinstance(v, (str, bytes)):
            yield v


def read_tree(group: h5py.Group) -> dict:
    """Nested dict of a group: datasets -> ndarray, attributes -> values, subgroups -> dicts."""
    out: dict = {}
    for name, attr in group.attrs.items():
        out[name] = attr.decode() if isinstance(attr, bytes) else attr
    for name, item in group.items():
        if isinstance(item, h5py.Group):
            out[name] = read_tree(item)
        else:
            data = item[()]
            if item.dtype.kind == "O":
                data = item.asstr()[()]
            out[name] = data
    return out


def _trees_equal(a, b) -> str | None:  # noqa: ANN001
    """Path of the first difference between two static trees, or None."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
            return ""
        if set(a) != set(b):
            return f"keys {sorted(set(a) ^ set(b))}"
        for k in a:
            diff = _trees_equal(a[k], b[k])
            if diff is not None:
                return f"{k}/{diff}" if diff else k
        return None
    aa, bb = np.asarray(a), np.asarray(b)
    if aa.dtype.kind in "OUS" or bb.dtype.kind in "OUS":
        return None if np.array_equal(aa.astype(str), bb.astype(str)) else ""
    return None if aa.shape == bb.shape and np.array_equal(aa, bb, equal_nan=True) else ""


def _nest(flat: Mapping[str, object]) -> dict:
    """{"mesh/nodes": x} -> {"mesh": {"nodes": x}} (so path keys and nested dicts compare alike)."""
    out: dict = {}
    for key, value in flat.items():
        parts = key.split("/")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = _nest(value) if isinstance(value, Mapping) else value
    return out


def _is_enospc(exc: BaseException) -> bool:
    """True for an error caused by a full file system (Python's OSError or HDF5's message)."""
    return getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in str(exc)


def _abandon(f: h5py.File) -> None:
    """Close `f` without writing anything more to it, as a killed writer would leave it.

    After a failed write (a full disk) HDF5 still holds dirty metadata and fails again on close; h5py's
    close then leaves identifiers half released and the interpreter crashes at exit (seen: SIGSEGV after
    "No space left on device"). Pointing the file's descriptor at /dev/null first lets HDF5 close cleanly
    while the file on disk stays as it was at the failure: the state of a SIGKILL at that instant, which
    the SWMR write order keeps readable (every complete row)."""
    with contextlib.suppress(Exception):
        fd = f.id.get_vfd_handle()
        nul = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(nul, fd)
        finally:
            os.close(nul)
    with contextlib.suppress(Exception):
        f.close()


def _copy_new(src: Path, dst: Path) -> None:
    """Copy `src` to a new file `dst` (O_EXCL, O_NOFOLLOW: never into an existing file or a symlink)."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with open(src, "rb") as fi, os.fdopen(fd, "wb") as fo:
        shutil.copyfileobj(fi, fo, 4 << 20)


def _open_swmr_write(path: Path) -> h5py.File:
    """Open for appending directly in SWMR-write mode (no instant with plain "open for write" flags,
    which would stop SWMR readers if the writer were killed right then)."""
    h5f, h5p = h5py.h5f, h5py.h5p
    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
    fid = h5f.open(os.fsencode(path), h5f.ACC_RDWR | h5f.ACC_SWMR_WRITE, fapl=fapl)
    return h5py.File(fid)


class _Column:
    """A row-appendable dataset with its row shape, dtype and memory dataspace cached."""

    __slots__ = ("ds", "shape", "dtype", "mspace", "rows_per_chunk", "block_bytes", "compressed")

    def __init__(self, ds: h5py.Dataset) -> None:
        self.ds, self.shape, self.dtype = ds, ds.shape[1:], ds.dtype
        self.mspace = h5py.h5s.create_simple((1, *self.shape))
        self.rows_per_chunk = int(ds.chunks[0]) if ds.chunks else 1
        self.block_bytes = self.rows_per_chunk * int(np.prod(self.shape, dtype=np.int64)) * ds.dtype.itemsize
        self.compressed = ds.compression is not None

    @staticmethod
    def first_block(arr: np.ndarray) -> int:
        """Bytes of the first row block of a new column with rows like `arr` (its chunks, allocated whole)."""
        chunk = _chunks(arr.shape, arr.dtype.itemsize)
        return int(chunk[0]) * int(arr.nbytes) if tuple(chunk[1:]) == arr.shape else int(arr.nbytes)

    def bytes_to_add(self, i: int) -> int:
        """File space writing row i may allocate (upper bound): the chunks of its row block when row i
        starts one (HDF5 allocates whole chunks), every time for compressed columns (rewritten chunks)."""
        return self.block_bytes if self.compressed or i % self.rows_per_chunk == 0 else 0

    def put(self, i: int, arr: np.ndarray) -> None:
        """Grow to i+1 rows and write row i (low-level h5py: ~6x less overhead than `ds[i] = arr`)."""
        self.ds.id.set_extent((i + 1, *self.shape))
        fspace = self.ds.id.get_space()
        fspace.select_hyperslab((i, *[0] * len(self.shape)), (1, *self.shape))
        data = np.ascontiguousarray(arr, dtype=self.dtype).reshape(1, *self.shape)
        self.ds.id.write(self.mspace, fspace, data)


@dataclass
class _Table:
    cols: dict[str, _Column]
    step: _Column
    time: _Column
    n: int
    last: int | None


class ResultsWriter:
    """Append-only results file; see the module docstring for the layout.

    Parameters: `path` of the .h5 file; `deck_text` the deck as given; `units` "metal" | "lj"; `seed` of the
    run (None if none); `msim_version`; `static` {group: {name: array | str | number | dict}} written once
    under /static; `compression` None | "gzip" | "lzf" for frames and static arrays; `append=True` reopens
    an existing file for a restart (its static data must equal `static`, if given): call
    `truncate_after(step_of_checkpoint)` before writing, so the restarted run appends without duplicates.
    `attrs`: extra root attributes of a new file (e.g. ``provenance`` of a continued run).
    `decomposition`: the run's path over MPI ranks (`run.distributed.Decomposition.record`): the root
    attribute ``decomposition`` of a new file, and the ``decomposition`` of a restart's ``restarts`` entry.
    """

    def __init__(self, path: str | os.PathLike, *, deck_text: str, units: str, seed: int | None,
                 msim_version: str, static: Mapping[str, Mapping] | None,
                 compression: str | None = None, append: bool = False,
                 attrs: Mapping[str, str | int | float] | None = None,
                 decomposition: Mapping | None = None) -> None:
        self.path = Path(path)
        self.compression = compression
        self._file: h5py.File | None = None
        self._tables: dict[str, _Table] = {}
        self._lock: WriterLock | None = None
        if append and not self.path.exists():
            raise FileNotFoundError(f"cannot append to {self.path}: no such file")
        self._lock = WriterLock(self.path)
        try:
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):   # left by a killed writer
                stale.unlink(missing_ok=True)
            if append:
                clear_status_flags(self.path)
            static_bytes = sum(np.asarray(v).nbytes for v in _leaves(static or {}))
            with self._structure(create=not append, extra_bytes=static_bytes) as f:
                if append:
                    self._check_append(f, static, msim_version, decomposition)
                else:
                    self._create(f, deck_text, units, seed, msim_version, static)
                    f.attrs.update(dict(attrs or {}))
                    if decomposition is not None:
                        f.attrs["decomposition"] = json.dumps(dict(decomposition))
        except BaseException:
            if self._file is not None:
                _abandon(self._file)
                self._file = None
            self._lock.release()
            raise

    def _create(self, f: h5py.File, deck_text: str, units: str, seed: int | None, msim_version: str,
                static: Mapping[str, Mapping] | None) -> None:
        f.attrs.update({"msim_format": FORMAT, "msim_format_version": FORMAT_VERSION,
                        "msim_version": msim_version, "units": units, "deck_text": deck_text,
                        "start_time": _now(), "host": socket.gethostname(), "restarts": "[]"})
        if seed is not None:
            f.attrs["seed"] = int(seed)
        _write_tree(f.require_group("static"), static or {}, self.compression)
        for t in TABLES:
            f.require_group(t)

    def _check_append(self, f: h5py.File, static: Mapping[str, Mapping] | None, msim_version: str,
                      decomposition: Mapping | None = None) -> None:
        if f.attrs.get("msim_format") != FORMAT:
            raise ValueError(f"{self.path} is not an msim results file")
        if static:
            diff = _trees_equal(read_tree(f["static"]), _nest(static))
            if diff is not None:
                raise ValueError(f"{self.path}: static data differ from this run's at static/{diff}: "
                                 "refusing to append results of a different model")
        restarts = json.loads(f.attrs.get("restarts", "[]"))
        entry = {"time": _now(), "host": socket.gethostname(), "msim_version": msim_version}
        if decomposition is not None:
            entry["decomposition"] = dict(decomposition)
        restarts.append(entry)
        f.attrs["restarts"] = json.dumps(restarts)

    # ------------------------------------------------------------------ structure changes
    @contextlib.contextmanager
    def _structure(self, create: bool = False, extra_bytes: int = 0) -> Iterator[h5py.File]:
        """Change the file's structure (create it, add or shrink datasets, attributes) atomically.

        Rows are appended in SWMR mode, which keeps the file consistent at every instant, but SWMR does
        not cover creating objects (a writer killed then can leave a broken file: seen in tests). So
        structure changes are made on a copy, `.OUT.h5.<pid>.tmp`, which replaces the file with
        `os.replace` once complete and closed: a kill at any moment leaves the old file or the new one.
        Files larger than `COPY_LIMIT` bytes are changed in place instead (small risk, rare: a table first
        written late in a long run, or the truncation of a restart).

        The copy is created exclusively (never through a symlink planted under its name), and only when
        the file system has room for it plus `extra_bytes` (else `DiskFullError`, nothing written).
        """
        self._tables.clear()
        size = 0 if create else self.path.stat().st_size
        in_place = not create and size > COPY_LIMIT
        ensure_free(self.path, (0 if in_place else size) + extra_bytes,
                    "creating the results file" if create else "a structure change of the results file")
        if self._file is not None:
            self._file.close()
            self._file = None
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.unlink(missing_ok=True)
                f = h5py.File(tmp, "w-", libver="latest")          # O_EXCL
            elif in_place:
                f = h5py.File(self.path, "r+", libver="latest")
            else:
                tmp.unlink(missing_ok=True)
                _copy_new(self.path, tmp)
                f = h5py.File(tmp, "r+", libver="latest")
            try:
                yield f
                f.close()
            except BaseException as exc:
                _abandon(f)
                if _is_enospc(exc):
                    raise DiskFullError(self.path, size + extra_bytes, free_bytes(self.path),
                                        "a structure change of the results file") from None
                raise
            if not in_place:
                os.replace(tmp, self.path)
        except OSError as exc:
            if _is_enospc(exc) and not isinstance(exc, DiskFullError):
                raise DiskFullError(self.path, size + extra_bytes, free_bytes(self.path),
                                    "a structure change of the results file") from None
            raise
        finally:
            tmp.unlink(missing_ok=True)
            if self.path.exists():
                self._file = _open_swmr_write(self.path)

    def _table(self, table: str) -> _Table | None:
        """Cached handles of a table's datasets (dropped whenever the file is reopened)."""
        t = self._tables.get(table)
        if t is None and "step" in self._file[table]:
            g = self._file[table]
            cols = {ds.name[len(g.name) + 1:]: _Column(ds) for ds in _datasets(g)}
            step_ds, time_ds = cols.pop("step"), cols.pop("time")
            n = step_ds.ds.shape[0]
            t = _Table(cols, step_ds, time_ds, n, int(step_ds.ds[n - 1]) if n else None)
            self._tables[table] = t
        return t

    def _rows(self, table: str) -> int:
        t = self._table(table)
        return t.n if t is not None else 0

    def last_step(self, table: str = "frames") -> int | None:
        """Step of the last complete row of `table` ("frames" | "thermo" | "observables"), None if empty."""
        t = self._table(table)
        return t.last if t is not None else None

    def columns(self, table: str) -> dict[str, np.ndarray]:
        """{name: rows} of the complete rows of `table` held by the file (e.g. a restart reading back the
        observables of the stages before it); {} if the table is empty."""
        with self._structure() as f:
            g = f[table]
            if "step" not in g:
                return {}
            n = len(g["step"])
            out: dict[str, np.ndarray] = {}
            g.visititems(lambda name, obj: out.__setitem__(name, obj[:n])
                         if isinstance(obj, h5py.Dataset) and name not in ("step", "time") else None)
            return out

    # ------------------------------------------------------------------ appending rows
    def _append(self, table: str, step: int, time: float, columns: dict[str, np.ndarray]) -> None:
        assert self._file is not None, "writer is closed"
        t = self._table(table)
        if t is None:
            first = sum(_Column.first_block(arr) for arr in columns.values()) + 2 * 1024 * 8
            with self._structure(extra_bytes=first) as f:
                g = f[table]
                for name, arr in columns.items():
                    kw = ({"compression": self.compression, "shuffle": True}
                          if self.compression and table == "frames" else {})
                    g.create_dataset(name, shape=(0, *arr.shape), maxshape=(None, *arr.shape),
                                     dtype=arr.dtype, chunks=_chunks(arr.shape, arr.dtype.itemsize), **kw)
                g.create_dataset("time", shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
                g.create_dataset("step", shape=(0,), maxshape=(None,), dtype="i8", chunks=(1024,))
            t = self._table(table)
        elif t.cols.keys() != columns.keys():
            raise ValueError(f"{table}: this row has columns {sorted(columns)} but the file has "
                             f"{sorted(t.cols)}; every row of a table must carry the same columns")
        if t.last is not None and step <= t.last:
            raise ValueError(f"{table}: step {step} is not after the last step on file ({t.last}); "
                             "after a restart call truncate_after(step) and do not re-emit that step")
        n = t.n
        for name, arr in columns.items():
            if t.cols[name].shape != arr.shape:
                raise ValueError(f"{table}/{name}: shape {arr.shape} differs from the file's "
                                 f"{t.cols[name].shape}")
        need = sum(c.bytes_to_add(n) for c in (*t.cols.values(), t.time, t.step))
        ensure_free(self.path, need, f"appending {table} row {n} (step {step})")
        try:
            for name, arr in columns.items():
                t.cols[name].put(n, arr)
            self._file.flush()
            t.time.put(n, np.array(time, dtype=np.float64))
            t.step.put(n, np.array(step, dtype=np.int64))
            self._file.flush()
        except Exception as exc:
            # the file's state in HDF5's cache is unknown now: leave it as a killed writer would
            _abandon(self._file)
            self._file = None
            self._tables.clear()
            if _is_enospc(exc):
                raise DiskFullError(self.path, need, free_bytes(self.path),
                                    f"appending {table} row {n} (step {step})") from None
            raise
        t.n, t.last = n + 1, step

    def write_frame(self, step: int, time: float, atoms: Mapping[str, np.ndarray] | None = None,
                    nodes: Mapping[str, np.ndarray] | None = None,
                    box: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Append a frame: per-atom fields (n,d) or (n,), per-node fields (N,d) or (N,); `box` (lo (d,),
        hi (d,)) [length] for runs whose box changes (otherwise /static/box holds it).

        Every frame must carry the same fields with the same shapes; steps must increase.
        """
        cols: dict[str, np.ndarray] = {}
        if box is not None:
            cols["box/lo"], cols["box/hi"] = (np.asarray(b, dtype=np.float64) for b in box)
        for kind, fields in (("atoms", atoms), ("nodes", nodes)):
            for name, value in (fields or {}).items():
                cols[f"{kind}/{name}"] = np.ascontiguousarray(value)
        self._append("frames", int(step), float(time), cols)

    def write_thermo(self, step: int, time: float, values: Mapping[str, float]) -> None:
        """Append an energy-ledger row: {term: value [energy]} (kinetic_atoms, ..., total)."""
        cols = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        self._append("thermo", int(step), float(time), cols)

    def write_observables(self, step: int, time: float, values: Mapping[str, object]) -> None:
        """Append a row of observables: scalars or fixed-shape arrays (e.g. indenter force (d,))."""
        self._append("observables", int(step), float(time),
                     {k: np.array(v, dtype=np.float64, order="C") for k, v in values.items()})

    # ------------------------------------------------------------------ restart
    def truncate_after(self, step: int) -> dict[str, int]:
        """Drop every row with a step > `step` from every table; returns the rows kept per table."""
        kept: dict[str, int] = {}
        with self._structure() as f:
            for t in TABLES:
                g = f[t]
                if "step" not in g:
                    kept[t] = 0
                    continue
                steps = g["step"][()]
                n = int(np.searchsorted(steps, step, side="right"))
                for ds in _datasets(g):
                    ds.resize(n, axis=0)
                kept[t] = n
        return kept

    # ------------------------------------------------------------------ lifetime
    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Close the file and release the lock. A close that fails (a full disk) leaves the file as a
        killed writer would (readable, every complete row) and raises `DiskFullError` / the error."""
        f, self._file = self._file, None
        self._tables.clear()
        try:
            if f is not None:
                try:
                    f.close()
                except Exception as exc:
                    _abandon(f)
                    if _is_enospc(exc):
                        raise DiskFullError(self.path, 0, free_bytes(self.path), "closing") from None
                    raise
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_clean(path: str | os.PathLike) -> bool:
    """False if the file was left open for write (a killed or still running writer)."""
    return status_flags(path) == 0




__all__ = ["ResultsWriter", "read_tree", "is_clean", "is_live", "repair", "FORMAT", "TABLES"]
