"""Checkpoints: the whole state of a run in one HDF5 file, written atomically, read back bitwise.

`state` is a nested dict whose leaves may be numpy arrays (any numeric/bool dtype, any shape), numpy
scalars, Python int (any size: PCG64 states are 128-bit), float, bool, str, bytes, None, lists/tuples of
these, and `numpy.random.Generator` objects (restored as generators with the same bit-generator state).
RNG states given as `Generator.bit_generator.state` dicts are plain nested dicts and round-trip as such.
Keys must be str without "/".

Atomic write: the file is written to a temporary name in the same directory, fsync'ed, renamed over the
target (`os.replace`), and the directory is fsync'ed; a kill at any moment leaves either the previous
checkpoint or the new one, never a torn file.

Layout: root attrs `msim_format="msim-checkpoint"`, `msim_format_version`, plus the caller's `meta`;
group `/state`, every node tagged with attribute `t` (dict, list, tuple, ndarray, npscalar, int, bigint,
float, bool, str, bytes, none, generator).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

FORMAT = "msim-checkpoint"
FORMAT_VERSION = 1
_I64 = (-(2**63), 2**63 - 1)


def _put(parent: h5py.Group, name: str, value: object) -> None:
    if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
        raise ValueError(f"checkpoint keys must be non-empty str without '/': {name!r}")
    if isinstance(value, Mapping):
        g = parent.create_group(name, track_order=True)
        g.attrs["t"] = "dict"
        for k, v in value.items():
            _put(g, k, v)
        return
    if isinstance(value, (list, tuple)):
        g = parent.create_group(name, track_order=True)
        g.attrs["t"] = "list" if isinstance(value, list) else "tuple"
        for i, v in enumerate(value):
            _put(g, str(i), v)
        return
    if isinstance(value, np.random.Generator):
        g = parent.create_group(name, track_order=True)
        g.attrs["t"] = "generator"
        _put(g, "state", value.bit_generator.state)
        return
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"checkpoint: array {name!r} has unsupported dtype {value.dtype}")
        ds = parent.create_dataset(name, data=value)
        tag = "ndarray"
    elif isinstance(value, np.generic):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"checkpoint: scalar {name!r} has unsupported dtype {value.dtype}")
        ds = parent.create_dataset(name, data=value)
        tag = "npscalar"
    elif isinstance(value, bool):
        ds, tag = parent.create_dataset(name, data=np.int8(value)), "bool"
    elif isinstance(value, int):
        if _I64[0] <= value <= _I64[1]:
            ds, tag = parent.create_dataset(name, data=np.int64(value)), "int"
        else:
            ds, tag = parent.create_dataset(name, data=str(value), dtype=h5py.string_dtype()), "bigint"
    elif isinstance(value, float):
        ds, tag = parent.create_dataset(name, data=np.float64(value)), "float"
    elif isinstance(value, str):
        ds, tag = parent.create_dataset(name, data=value, dtype=h5py.string_dtype()), "str"
    elif isinstance(value, bytes):
        ds, tag = parent.create_dataset(name, data=np.frombuffer(value, dtype=np.uint8)), "bytes"
    elif value is None:
        ds, tag = parent.create_dataset(name, data=h5py.Empty("i1")), "none"
    else:
        raise TypeError(f"checkpoint: cannot store {name!r} of type {type(value).__name__}")
    ds.attrs["t"] = tag


def _get(node: h5py.Group | h5py.Dataset) -> object:
    tag = node.attrs["t"]
    if tag in ("dict", "list", "tuple", "generator"):
        items = [(k, _get(v)) for k, v in node.items()]
        if tag == "dict":
            return dict(items)
        if tag == "generator":
            state = dict(items)["state"]
            bitgen = getattr(np.random, state["bit_generator"])()
            bitgen.state = state
            return np.random.Generator(bitgen)
        seq = [v for _, v in sorted(items, key=lambda kv: int(kv[0]))]
        return seq if tag == "list" else tuple(seq)
    if tag == "ndarray":
        return np.asarray(node[()]) if node.shape == () else node[()]
    if tag == "npscalar":
        return node[()]
    if tag == "bool":
        return bool(node[()])
    if tag == "int":
        return int(node[()])
    if tag == "bigint":
        return int(node.asstr()[()])
    if tag == "float":
        return float(node[()])
    if tag == "str":
        return node.asstr()[()]
    if tag == "bytes":
        return node[()].tobytes()
    if tag == "none":
        return None
    raise ValueError(f"unknown checkpoint tag {tag!r} at {node.name}")


def checkpoint_path(results_path: str | os.PathLike) -> Path:
    """Where a run writing `OUT.h5` keeps its checkpoint: `OUT.checkpoint.h5` (replaced atomically)."""
    from multiscale.output.paths import checkpoint_path as _path
    return _path(results_path)


def _nbytes(value: object) -> int:
    """Bytes of the arrays in a state tree (plus 1 KiB per node for HDF5's object headers)."""
    if isinstance(value, Mapping):
        return 1024 + sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return 1024 + sum(_nbytes(v) for v in value)
    return 1024 + (value.nbytes if isinstance(value, np.ndarray) else 0)


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, object],
                    meta: Mapping[str, str | int | float] | None = None) -> Path:
    """Write `state` (see module docstring) to `path` atomically; `meta` goes to root attributes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):   # left by a writer killed mid-save
        stale.unlink(missing_ok=True)
    from multiscale.output.paths import ensure_free
    ensure_free(path, _nbytes(state), "saving a checkpoint")  # DiskFullError: the old one stays intact
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["msim_format"] = FORMAT
            f.attrs["msim_format_version"] = FORMAT_VERSION
            for k, v in (meta or {}).items():
                f.attrs[k] = v
            _put(f, "state", state)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | os.PathLike, *, with_meta: bool = False):  # noqa: ANN201
    """Read a checkpoint: the state dict (and the meta dict if `with_meta`).

    A missing file or one that is not an msim checkpoint raises `multiscale.errors.DeckError` (it is a
    command-line value given by the user, `msim run --restart PATH`).
    """
    from multiscale.errors import DeckError

    path = Path(path)
    if not path.is_file():
        raise DeckError("no such checkpoint file", file=str(path))
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeckError(f"not a checkpoint (cannot open as HDF5: {exc})", file=str(path)) from None
    with f:
        if f.attrs.get("msim_format") != FORMAT or "state" not in f:
            raise DeckError("not an msim checkpoint file", file=str(path),
                            hint="checkpoints are written by `msim run` (output.checkpoint_every)")
        state = _get(f["state"])
        meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()
                if k not in ("msim_format", "msim_format_version")}
    return (state, meta) if with_meta else state
