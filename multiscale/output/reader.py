"""Read-only access to msim results files (layout: `output/hdf5.py`), for inspect, plot and export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from multiscale.output._superblock import status_flags
from multiscale.output.hdf5 import FORMAT, read_tree

from .._lazy import lazy_module

h5py = lazy_module("h5py")

POSITION_FIELDS = ("position", "positions")
#: static/atoms datasets that are not per-atom quantities: indexed by type, or the XDMF vertex list
NOT_FIELDS = ("type_names", "type_masses", "index")


def _user_error(message: str, path: str | os.PathLike, hint: str | None = None) -> Exception:
    from multiscale.errors import DeckError
    return DeckError(message, file=str(path), hint=hint)


def _checkpoint_position(f) -> str:  # noqa: ANN001 - an open h5py.File
    """'step N' / 'after load stage N' of a checkpoint file, or 'unknown step'."""
    try:
        if "state/integrator/step" in f:
            return f"step {int(f['state/integrator/step'][()])}"
        if "state/next_stage" in f:
            return f"after load stage {int(f['state/next_stage'][()]) - 1}"
    except Exception:  # noqa: BLE001 - a damaged checkpoint: the message needs no position
        pass
    return "unknown step"


class ResultsReader:
    """Read-only view of a results file (also of a killed run's file, without modifying it).

    Raises `multiscale.errors.DeckError` if the file is missing, not HDF5 or not an msim results file.
    `.clean` is False for a file whose writer was killed (opened in SWMR read mode). Tables are cut to
    their complete rows (`len(step)`).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise _user_error("no such results file", path)
        self.clean = True
        try:
            self.clean = status_flags(self.path) == 0
            self._file = h5py.File(self.path, "r") if self.clean else h5py.File(self.path, "r", swmr=True)
        except (OSError, ValueError) as exc:
            if not self.clean:
                raise _user_error("the file was left open for writing by a killed run and cannot be read as "
                                  f"it is ({exc})", path,
                                  hint="`msim export FILE --format xdmf --repair` clears its flags") from None
            raise _user_error(f"not an HDF5 file ({exc})", path) from None
        fmt = self._file.attrs.get("msim_format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt == "msim-checkpoint":       # OUT.checkpoint.h5, OUT.lastgood.h5: a state, not frames
            at = _checkpoint_position(self._file)
            self._file.close()
            raise _user_error(f"a checkpoint ({at}), not a results file: it holds the exact state to go on "
                              "from, no frames", path,
                              hint=f"continue it with `msim run DECK -o OUT.h5 --restart {path}` (the same "
                              f"deck) or start a new run from it with `--from {path}` (e.g. with `--steps 1` "
                              "and `position`/`velocity` in output.fields to look at the state in frame 0)")
        if fmt != FORMAT:
            self._file.close()
            raise _user_error("not an msim results file (no msim_format attribute)" if fmt is None else
                              f"not an msim results file (msim_format {fmt!r})", path,
                              hint="results files are written by `msim run`")

    # ------------------------------------------------------------------ metadata
    @property
    def provenance(self) -> dict:
        """Root attributes: msim_version, units, seed, deck_text, start_time, host, restarts (a list)."""
        out = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self._file.attrs.items()}
        out["restarts"] = json.loads(out.get("restarts", "[]"))
        if "seed" in out:
            out["seed"] = int(out["seed"])
        return out

    def static(self, group: str | None = None) -> dict:
        """Static data as a nested dict (datasets -> arrays, attributes -> values)."""
        g = self._file["static"]
        if group is not None:
            if group not in g:
                raise _user_error(f"no static group {group!r} (has: {', '.join(g) or 'none'})", self.path)
            g = g[group]
        return read_tree(g)

    def mesh(self) -> tuple[np.ndarray, dict[str, tuple[str, np.ndarray]]] | None:
        """(nodes (N,d), {block: (element_type, connectivity (ne,nen))}) or None without a mesh."""
        if "mesh" not in self._file["static"]:
            return None
        m = self._file["static/mesh"]
        types = dict(m["element_types"].attrs) if "element_types" in m else {}
        blocks = {}
        for name, conn in (m["connectivity"].items() if "connectivity" in m else []):
            etype = types.get(name, conn.attrs.get("element_type"))
            blocks[name] = (etype.decode() if isinstance(etype, bytes) else str(etype), conn[()])
        return m["nodes"][()], blocks

    # ------------------------------------------------------------------ tables
    def rows(self, table: str) -> int:
        g = self._file[table]
        return g["step"].shape[0] if "step" in g else 0

    @property
    def nframes(self) -> int:
        return self.rows("frames")

    @property
    def steps(self) -> np.ndarray:
        return self._file["frames/step"][()] if self.nframes else np.zeros(0, np.int64)

    @property
    def times(self) -> np.ndarray:
        return self._file["frames/time"][: self.nframes] if self.nframes else np.zeros(0)

    def fields(self, kind: str) -> list[str]:
        """Names of the frame fields of `kind` ("atoms" | "nodes")."""
        g = self._file["frames"]
        return sorted(g[kind]) if kind in g else []

    def position_field(self) -> str | None:
        """Name of the atoms frame field holding current positions ("position" or "positions"), if any."""
        return next((f for f in POSITION_FIELDS if f in self.fields("atoms")), None)

    def static_atom_names(self) -> list[str]:
        """Static numeric per-atom datasets of shape (n,) (ids, types, mass, weight, pad, ...)."""
        if "atoms" not in self._file["static"] or "reference_positions" not in self._file["static/atoms"]:
            return []
        a = self._file["static/atoms"]
        n = a["reference_positions"].shape[0]
        return [k for k, v in a.items() if isinstance(v, h5py.Dataset) and v.shape == (n,)
                and v.dtype.kind in "iufb" and k not in NOT_FIELDS]

    def type_names(self) -> list[str]:
        """Name of each atom type (index = the `types` value): /static/atoms/type_names, or for files
        written before it existed the `species` attribute ("Cu" or "Cu,Ag"), else ["X"]."""
        a = self._file["static/atoms"] if "atoms" in self._file["static"] else None
        if a is None:
            return []
        if "type_names" in a:
            return [str(x) for x in a["type_names"].asstr()[()]]
        sp = a.attrs.get("species")
        if sp is not None:
            sp = sp.decode() if isinstance(sp, bytes) else str(sp)
            return sp.split(",")
        return ["X"]

    def species(self) -> np.ndarray:
        """(n,) str: the type name of every atom, `type_names[types]`. Files without `type_names` (older
        versions): one `species` name for every atom, or a comma-separated list naming the sorted
        distinct `types` values in order; "X" without either."""
        a = self._file["static/atoms"]
        n = a["reference_positions"].shape[0]
        types = a["types"][()] if "types" in a else np.zeros(n, np.int64)
        names = self.type_names()
        if "type_names" not in a:
            if len(names) == 1:
                return np.full(n, names[0], dtype=object)
            uniq = np.unique(types)
            if len(names) < len(uniq):
                raise _user_error(f"species {names} name fewer kinds than the {len(uniq)} atom types",
                                  self.path)
            return np.asarray(names, dtype=object)[np.searchsorted(uniq, types)]
        if n and (types.min() < 0 or types.max() >= len(names)):
            raise _user_error(f"atom types {int(types.min())}…{int(types.max())} but only {len(names)} type "
                              f"names {names}", self.path)
        return np.asarray(names, dtype=object)[types] if n else np.zeros(0, object)

    def masses(self) -> np.ndarray | None:
        """(n,) per-atom mass in user units [mass] (/static/atoms/mass), None if absent."""
        a = self._file["static/atoms"]
        return a["mass"][()].astype(float) if "mass" in a else None

    def box(self, frame: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(lo (d,), hi (d,), periodic (d,) bool) [length] of the atoms' box at `frame`: the frame's own
        /frames/box/{lo,hi} when the run wrote them (a box that changes), else /static/box; None if the
        file has no box (continuum-only runs, files of older versions)."""
        st = self._file["static"]
        if "box" not in st:
            return None
        lo, hi = st["box/lo"][()].astype(float), st["box/hi"][()].astype(float)
        per = st["box/periodic"][()].astype(bool) if "periodic" in st["box"] else np.zeros(len(lo), bool)
        if frame is not None and "box" in self._file["frames"]:
            n = self.nframes
            i = frame + n if frame < 0 else frame
            lo = self._file["frames/box/lo"][i].astype(float)
            hi = self._file["frames/box/hi"][i].astype(float)
        return lo, hi, per

    def field(self, kind: str, name: str, frames: int | slice = slice(None)) -> np.ndarray:
        """Field `name` of `kind`: (F, n, d) / (F, n) for a slice of frames, (n, d) / (n,) for one frame."""
        if name not in self.fields(kind):
            raise _user_error(f"no {kind} field {name!r} (has: {', '.join(self.fields(kind)) or 'none'})",
                              self.path)
        ds = self._file[f"frames/{kind}/{name}"]
        n = self.nframes
        if isinstance(frames, slice):
            return ds[:n][frames] if frames != slice(None) else ds[:n]
        i = frames + n if frames < 0 else frames
        if not 0 <= i < n:
            raise IndexError(f"frame {frames} out of range ({n} frames)")
        return ds[i]

    def frame(self, i: int) -> dict:
        """{"step", "time", "atoms": {field: array}, "nodes": {field: array}} of frame `i`."""
        n = self.nframes
        i = i + n if i < 0 else i
        return {"step": int(self._file["frames/step"][i]), "time": float(self._file["frames/time"][i]),
                **{k: {f: self.field(k, f, i) for f in self.fields(k)} for k in ("atoms", "nodes")}}

    def table(self, table: str) -> dict[str, np.ndarray]:
        """All columns of "thermo" or "observables" (step, time included), cut to complete rows."""
        g = self._file[table]
        n = self.rows(table)
        out: dict[str, np.ndarray] = {}
        g.visititems(lambda name, ds: out.__setitem__(name, ds[:n]) if isinstance(ds, h5py.Dataset) else None)
        return out

    def thermo(self) -> dict[str, np.ndarray]:
        return self.table("thermo")

    def observables(self) -> dict[str, np.ndarray]:
        return self.table("observables")

    @property
    def h5(self) -> h5py.File:
        """The underlying read-only h5py file (for dataset paths, e.g. the XDMF writer)."""
        return self._file

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResultsReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
