"""A restart (``--restart CKPT``) or a continuation (``--from FILE[:STEP]``) of the spatial path read by
global id: each rank gets its own atoms' rows, no rank reads the per-atom arrays whole (issue 14, the per-rank
build; docs/parallel.md "Restart rows per rank").

Today (`run.spatial.SpatialIntegrator.set_state`, `SpatialState.apply_origin`) every rank loads the whole
checkpoint (`output.checkpoint.load_checkpoint`) or origin (`output.continuation.read_origin`) and writes x, v
into its serial arrays before the atoms are redistributed; the engine then takes its owned rows (x, v by
global id; a restart's thermostat forces ``fext_atoms`` by global id, `parallel.spatial_operators`) and every
rank the replicated rows (the touched copy's x, v; the damping band's v). The engine recomputes the forces
and accelerations, so the checkpoint's ``f_atoms`` / ``acc_atoms`` are not read.

Here:

* `verify_checkpoint` (rank 0; every rank gets the verdict): the checks of `load_checkpoint` — the user
  block's SHA-256 of the file, format and version, the state's SHA-256 (`output.checkpoint.state_checksum`)
  — streamed: the per-atom arrays are hashed in row blocks, never held whole (O(block) memory);
* `read_checkpoint_rows`: the small entries of the state (clock, U, V, energies, the operators', method's and
  parts' states: everything but the per-atom arrays `PER_ATOM`) on every rank, and the rank's rows of the
  per-atom arrays it asks for, by global id;
* `read_results_rows`: a results file's frame (``--from OUT.h5[:STEP]``): the rank's rows of the atoms'
  displacement (x = X + u, X the file's reference positions) or position, and velocity; U, V whole (mesh);
* `reference_mismatch`: `run.checkpoints.model_mismatch`'s check of the recorded reference sites over the
  ranks' rows (one allgather of each rank's worst row; the serial message);
* `owned_gids`: the ownership today's restart gives the engine (owner of the checkpoint's x along axis 0),
  read in blocks, for a caller that keeps it (a caller owning by reference position, `RankSites`, reads its
  rows and lets the engine migrate the atoms that moved across a slab face).

Two ways to get the rows (``mode``): ``"rows"`` (default) — each rank opens the file read-only and reads the
row blocks of ``block`` rows that hold one of its global ids (contiguous hyperslabs, picked in memory:
O(block · w + m · w) per rank, the blocks read ≈ the rank's share when its ids are clustered); ``"scatter"``
— rank 0 reads each array whole and sends every rank its rows (what "rank 0 reads" costs: O(n · w) on rank 0,
one message per rank and array). Measured on the 2D bench (docs/parallel.md): ``rows`` is the cheaper.

Collective: every rank calls with the same path and keys (its own ``gids``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._lazy import lazy_module

h5py = lazy_module("h5py")

__all__ = ["PER_ATOM", "RankRows", "owned_gids", "read_checkpoint_rows", "read_results_rows", "reference_mismatch",
           "verify_checkpoint"]

#: the per-atom arrays of a dynamics checkpoint: paths under /state (first axis: the atoms, global-id order)
PER_ATOM = ("integrator/x", "integrator/v", "integrator/acc_atoms", "integrator/fext_atoms",
            "integrator/f_atoms", "integrator/atoms.x_build", "integrator/atoms.image",
            "model/reference_positions")
#: what a spatial restart reads per atom (`SpatialIntegrator.set_state`): positions, velocities, the
#: thermostat's forces, and the reference sites for the model check (`run.checkpoints.model_mismatch`)
RESTART_KEYS = ("integrator/x", "integrator/v", "integrator/fext_atoms", "model/reference_positions")
#: rows per block read (and hashed): 2¹⁶ rows of 3 float64 = 1.5 MiB
BLOCK = 1 << 16


@dataclass
class RankRows:
    """One rank's share of a checkpoint or a results frame.

    gid : (m,) int64 the rank's global ids, as given; rows : {key: (m, ...) array} the rows at ``gid`` of each
    per-atom array asked for (bitwise the file's, in the file's dtype; a checkpoint's keys are paths under
    /state, e.g. ``"integrator/x"``); state : the checkpoint's state without the per-atom arrays (`PER_ATOM`:
    absent keys), or for a results frame {"U", "V", "step", "time"}; meta : the checkpoint's root attributes;
    n_atoms : the file's number of atoms.
    """

    gid: np.ndarray
    rows: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    n_atoms: int = 0


# ----------------------------------------------------------------------------- verification (streamed)
def _digest_node(h: "hashlib._Hash", node, block: int) -> None:  # noqa: ANN001, UP037
    """`output.checkpoint._digest` of ``_get(node)``, read from the file: array datasets hashed in row blocks
    (`_digest_array`'s record: the same digest as the whole array's)."""
    import struct

    from ..output.checkpoint import _digest, _get
    tag = node.attrs["t"]
    if tag in ("dict", "list", "tuple"):
        items = list(node.items())
        if tag != "dict":
            items.sort(key=lambda kv: int(kv[0]))
        h.update(("dict" if tag == "dict" else tag).encode() + b"\0" + struct.pack("<Q", 8)
                 + struct.pack("<Q", len(items)))
        for k, v in items:
            if tag == "dict":
                kb = str(k).encode("utf-8", "surrogatepass")
                h.update(b"key\0" + struct.pack("<Q", len(kb)) + kb)
            _digest_node(h, v, block)
        return
    if tag == "ndarray" and node.shape != () and node.shape[0] > block:
        dt = node.dtype
        head = f"{dt.str}{tuple(node.shape)}".encode()
        nbytes = int(np.prod(node.shape)) * dt.itemsize
        h.update(b"ndarray\0" + struct.pack("<Q", len(head) + nbytes) + head)
        for s in range(0, node.shape[0], block):
            h.update(np.ascontiguousarray(node[s:s + block]).reshape(-1).view(np.uint8))
        return
    _digest(h, _get(node))


def _check_file(path: Path, block: int) -> dict:
    """Rank 0's checks (module docstring); returns the meta dict. Raises `DeckError` as `load_checkpoint`."""
    import json

    from ..errors import DeckError
    from ..output.checkpoint import FORMAT, FORMAT_VERSION, _plain, check_file_digest
    check_file_digest(path, piece=1 << 20)
    where = str(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeckError(f"not a checkpoint (cannot open as HDF5: {exc})", file=where) from None
    try:
        with f:
            fmt = f.attrs.get("msim_format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != FORMAT or "state" not in f:
                raise DeckError("not an msim checkpoint file (checkpoints are written by `msim run` with "
                                "output.checkpoint_every)", file=where)
            version = int(f.attrs.get("msim_format_version", 0))
            if version != FORMAT_VERSION:
                raise DeckError(f"checkpoint format version {version}, this msim reads version "
                                f"{FORMAT_VERSION} only (the file was written by another msim version)",
                                file=where)
            stored = f.attrs.get("state_sha256")
            stored = stored.decode() if isinstance(stored, bytes) else stored
            meta = {k: _plain(v) for k, v in f.attrs.items()
                    if k not in ("msim_format", "msim_format_version", "state_sha256")}
            h = hashlib.sha256()
            _digest_node(h, f["state"], block)
    except DeckError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file is the file's fault (as load_checkpoint)
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise DeckError(f"damaged checkpoint: HDF5 cannot read it ({type(exc).__name__}: {reason})",
                        file=where) from None
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    if not isinstance(stored, str) or h.hexdigest() != stored:
        raise DeckError("damaged checkpoint: the checksum of its state does not match (the file was "
                        "changed after it was written)", file=where)
    return meta


def verify_checkpoint(path: str | Path, comm, block: int = BLOCK) -> dict:  # noqa: ANN001
    """Collective: rank 0 makes `load_checkpoint`'s checks streamed (module docstring); every rank returns
    the meta dict or raises the same `DeckError`."""
    from .comm import root_decides
    got: dict = {}

    def check() -> None:
        got["meta"] = _check_file(Path(path), block)

    root_decides(comm, check)
    return comm.bcast(got.get("meta"), 0) if comm.size > 1 else got["meta"]


# ----------------------------------------------------------------------------- rows by global id
def _rows_blocks(ds, gid: np.ndarray, block: int, frame: int | None = None) -> np.ndarray:  # noqa: ANN001
    """Rows ``gid`` of dataset ``ds`` (first axis the atoms; with ``frame`` the second, ds[frame] the frame):
    the blocks of ``block`` rows holding a requested id read as contiguous hyperslabs and picked."""
    n = ds.shape[0] if frame is None else ds.shape[1]
    tail = ds.shape[1:] if frame is None else ds.shape[2:]
    out = np.empty((gid.size, *tail), ds.dtype)
    if not gid.size:
        return out
    if int(gid.min()) < 0 or int(gid.max()) >= n:
        raise ValueError(f"global ids outside [0, {n}) for {ds.name}")
    order = np.argsort(gid, kind="stable")
    g = gid[order]
    b = g // block
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    ends = np.r_[starts[1:], g.size]
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        b0 = int(b[s]) * block
        b1 = min(b0 + block, n)
        buf = ds[b0:b1] if frame is None else ds[frame, b0:b1]
        out[order[s:e]] = buf[g[s:e] - b0]
        del buf
    return out


def _small_state(node, skip: set[str], prefix: str = ""):  # noqa: ANN001, ANN202
    """`output.checkpoint._get` of the state without the datasets at the paths in ``skip``."""
    from ..output.checkpoint import _get
    tag = node.attrs["t"]
    if tag == "dict":
        out = {}
        for k, v in node.items():
            p = f"{prefix}{k}"
            if p in skip:
                continue
            out[k] = _small_state(v, skip, p + "/")
        return out
    return _get(node)


def read_checkpoint_rows(path: str | Path, gid: np.ndarray, comm,  # noqa: ANN001
                         keys: tuple[str, ...] = RESTART_KEYS, mode: str = "rows", block: int = BLOCK,
                         verify: bool = True) -> RankRows:
    """This rank's rows of a checkpoint (module docstring). Collective.

    path : the checkpoint; gid (m,) int64 : this rank's global ids (any order; rows come back in that
    order); keys : per-atom arrays to read (paths under /state among `PER_ATOM`; missing ones, such as
    ``model/reference_positions`` of an older checkpoint, are left out of ``rows``);
    mode : "rows" | "scatter"; verify : `verify_checkpoint` first (rank 0 streams the file once).
    ValueError for keys not in `PER_ATOM` or ids out of range; `DeckError` for a damaged file.
    """
    gid = np.asarray(gid, np.int64).reshape(-1)
    bad = [k for k in keys if k not in PER_ATOM]
    if bad:
        raise ValueError(f"not per-atom checkpoint arrays: {', '.join(bad)} (known: {', '.join(PER_ATOM)})")
    if mode not in ("rows", "scatter"):
        raise ValueError(f"mode must be 'rows' or 'scatter', not {mode!r}")
    meta = verify_checkpoint(path, comm, block) if verify else {}
    skip = set(PER_ATOM)
    out = RankRows(gid=gid, meta=meta)
    root = comm.rank == 0
    if mode == "rows" or comm.size == 1:
        with h5py.File(path, "r") as f:
            st = f["state"]
            out.state = _small_state(st, skip)
            out.n_atoms = int(st["integrator/x"].shape[0]) if "integrator/x" in st else 0
            for k in keys:
                if k in st and st[k].shape and st[k].shape[0] == out.n_atoms:
                    out.rows[k] = _rows_blocks(st[k], gid, block)
        return out
    # scatter: rank 0 reads whole arrays and sends each rank its rows
    gids = comm.gather(gid, 0)
    if root:
        with h5py.File(path, "r") as f:
            st = f["state"]
            small = _small_state(st, skip)
            n_atoms = int(st["integrator/x"].shape[0]) if "integrator/x" in st else 0
            present = [k for k in keys if k in st and st[k].shape and st[k].shape[0] == n_atoms]
            arrays = {}
            for k in present:
                arrays[k] = st[k][()]
        for g in gids:
            if g.size and (int(g.min()) < 0 or int(g.max()) >= n_atoms):
                raise ValueError(f"global ids outside [0, {n_atoms})")
        sends = {r: {k: a[g] for k, a in arrays.items()} for r, g in enumerate(gids)}
        head = (small, n_atoms)
    else:
        sends, head = {}, None
    small, n_atoms = comm.bcast(head, 0)
    got = comm.exchange(sends)
    out.state, out.n_atoms, out.rows = small, n_atoms, got[0]
    return out


def read_results_rows(path: str | Path, gid: np.ndarray, comm, step: int | None = None,  # noqa: ANN001
                      block: int = BLOCK) -> RankRows:
    """This rank's rows of a results file's frame (``--from OUT.h5[:STEP]``; default the last frame).
    Collective only in that every rank reads the same file. ``rows``: ``x`` (X + displacement, or position
    when the frame holds no displacement; the free boxes of the spatial path need no unwrapping), ``v``
    (absent when the frame has no velocity), ``reference`` (the file's reference positions); ``state``:
    U, V (N, d) (absent without a mesh), ``step``, ``time``. Rows as float64, as `read_origin` gives them.
    ValueError when the step has no frame or the frame lacks positions."""
    del comm
    gid = np.asarray(gid, np.int64).reshape(-1)
    out = RankRows(gid=gid)
    with h5py.File(path, "r") as f:
        fr = f["frames"]
        nf = int(fr["step"].shape[0])
        steps = fr["step"][()]
        if nf == 0:
            raise ValueError("the results file holds no frame")
        if step is None:
            i = nf - 1
        else:
            hit = np.flatnonzero(steps == step)
            if not hit.size:
                raise ValueError(f"no frame at step {step}")
            i = int(hit[-1])
        out.state = {"step": int(steps[i]), "time": float(fr["time"][i])}
        atoms = fr["atoms"] if "atoms" in fr else {}
        X = f["static/atoms/reference_positions"] if "static/atoms/reference_positions" in f else None
        if X is not None:
            out.n_atoms = int(X.shape[0])
            ref = _rows_blocks(X, gid, block).astype(float)
            out.rows["reference"] = ref
            if "displacement" in atoms:
                out.rows["x"] = ref + _rows_blocks(atoms["displacement"], gid, block, i)
            elif "position" in atoms:
                out.rows["x"] = np.array(_rows_blocks(atoms["position"], gid, block, i), float)
            else:
                raise ValueError("the frame holds no atoms position or displacement")
            if "velocity" in atoms:
                out.rows["v"] = np.array(_rows_blocks(atoms["velocity"], gid, block, i), float)
        nodes = fr["nodes"] if "nodes" in fr else {}
        if "displacement" in nodes:
            out.state["U"] = np.array(nodes["displacement"][i], float)
        if "velocity" in nodes:
            out.state["V"] = np.array(nodes["velocity"][i], float)
    return out


def reference_mismatch(recorded: np.ndarray | None, X: np.ndarray, gid: np.ndarray, n_recorded: int,
                       n_model: int, comm) -> str | None:  # noqa: ANN001
    """`run.checkpoints.model_mismatch`'s rule for the atoms over the ranks' rows (collective): why the
    reference positions a checkpoint recorded (this rank's rows ``recorded`` (m, d), e.g.
    ``rows["model/reference_positions"]``; None: not recorded, nothing to compare) are not this model's
    (``X`` (m, d) the rank's reference positions [length], ``gid`` (m,) their ids), or None. A different
    atom count (``n_recorded`` the file's, ``n_model`` the model's) or a position more than
    1e-9 · (1 + max |X|) off; the message names the atom (global id) with the largest deviation, as the
    serial check does (ties: the smallest id)."""
    if n_recorded != n_model:
        return (f"the checkpoint's model has {n_recorded} atoms in {np.shape(X)[-1]}D, this deck's "
                f"{n_model}")
    if recorded is None:
        return None
    a, b = np.asarray(recorded, float), np.asarray(X, float)
    gid = np.asarray(gid, np.int64).reshape(-1)
    dev = np.max(np.abs(a - b), axis=1) if b.size else np.zeros(0)
    k = -1
    if dev.size:
        top = np.flatnonzero(dev == dev.max())
        k = int(top[np.argmin(gid[top])])            # ties: the smallest id (the serial argmax's first)
    mine = (float(dev[k]) if k >= 0 else -1.0, int(gid[k]) if k >= 0 else -1,
            a[k].tolist() if k >= 0 else [], b[k].tolist() if k >= 0 else [],
            float(np.max(np.abs(b))) if b.size else 0.0)
    alls = comm.allgather(mine) if comm.size > 1 else [mine]
    scale = max(x[4] for x in alls)
    worst = max(alls, key=lambda x: (x[0], -x[1]))
    if worst[0] > 1e-9 * (1.0 + scale):
        return (f"the atom reference positions differ from this deck's by up to {worst[0]:.3g} (atom "
                f"{worst[1]}: {np.round(worst[2], 6).tolist()} there, {np.round(worst[3], 6).tolist()} here)")
    return None


def owned_gids(path: str | Path, dec, rank: int, key: str = "state/integrator/x",  # noqa: ANN001
               axis: int = 0, block: int = BLOCK) -> np.ndarray:
    """(m,) int64 increasing global ids of the atoms whose coordinate ``axis`` of ``key`` (a checkpoint's
    current positions, default) lies in slab ``rank`` of ``dec`` (`parallel.engine.SlabDecomposition`:
    ``dec.owner``): the ownership today's restart gives the engine (`SpatialCoupled`: owner of x along
    axis 0), read in blocks of ``block`` rows — O(n) reading, O(block + m) memory. Not collective."""
    out = []
    with h5py.File(path, "r") as f:
        ds = f[key]
        for s in range(0, ds.shape[0], block):
            x = ds[s:s + block, axis]
            out.append(s + np.flatnonzero(np.asarray(dec.owner(x)) == rank))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)
