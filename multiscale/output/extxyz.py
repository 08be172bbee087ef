"""Extended-XYZ export of the atoms frames of a results file (ASE `ase.io.read(path, index=":")`, OVITO).

One block per frame::

    n
    Properties=species:S:1:pos:R:3:velo:R:3:forces:R:3:energies:R:1:... Time=t Step=s units=metal pbc="T F F"
    Cu  x y z  vx vy vz ...

Positions are `reference_positions + displacement` (or the frame's `position` field if the run wrote
one), padded to 3 components with zeros when d < 3, as are all d-component per-atom fields. Column names
follow the tools' conventions: velocity -> velo, force -> forces, energy -> energies (ASE puts forces and
energies into a SinglePointCalculator), others keep their msim name; the static per-atom arrays
follow (ids -> id, types -> type, others by name). Species: the static atoms attribute `species` (one
symbol, or one per type in `types` order as a comma-separated list "Cu,Ag"), otherwise "X". A box
(static `box` group with `lo`, `hi`, `periodic`) gives `Lattice` and `pbc`. Floats: 17 significant digits.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from multiscale.output.reader import ResultsReader

RENAME = {"velocity": "velo", "force": "forces", "energy": "energies", "ids": "id", "types": "type"}


def _pad3(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2 and a.shape[1] < 3:
        return np.hstack([a, np.zeros((a.shape[0], 3 - a.shape[1]))])
    return a


def _species(atoms_static: dict, n: int) -> np.ndarray:
    sp = atoms_static.get("species")
    if sp is None:
        return np.full(n, "X")
    if isinstance(sp, str) and "," not in sp:
        return np.full(n, sp)
    names = sp.split(",") if isinstance(sp, str) else [str(s) for s in np.ravel(sp)]
    types = np.asarray(atoms_static.get("types", np.ones(n, int)))
    uniq = np.unique(types)
    if len(names) < len(uniq):
        raise ValueError(f"species {names} name fewer kinds than the {len(uniq)} atom types")
    lookup = dict(zip(uniq.tolist(), names, strict=False))
    return np.array([lookup[t] for t in types.tolist()])


def write_extxyz(h5_path: str | os.PathLike, out_path: str | os.PathLike,
                 frames: slice = slice(None)) -> Path:
    """Write the atoms frames `frames` of `h5_path` to `out_path` (extxyz); returns the path.

    Raises `DeckError` if the file has no atoms.
    """
    out_path = Path(out_path)
    with ResultsReader(h5_path) as r:
        st = r.static()
        if "atoms" not in st or "reference_positions" not in st["atoms"]:
            from multiscale.errors import DeckError
            raise DeckError("this results file holds no atoms to export", file=str(h5_path))
        a = st["atoms"]
        ref = np.asarray(a["reference_positions"], dtype=float)
        ref = ref.reshape(len(ref), -1)
        n = len(ref)
        species = _species(a, n)
        static_cols = [(RENAME.get(k, k), np.asarray(a[k])) for k in r.static_atom_names()]
        header_extra = f'units={r.provenance.get("units", "?")}'
        if "box" in st:
            lo, hi = np.asarray(st["box"]["lo"], float), np.asarray(st["box"]["hi"], float)
            per = np.asarray(st["box"].get("periodic", np.zeros(len(lo), bool)), bool)
            lengths = np.concatenate([hi - lo, np.ones(3 - len(lo))]) if len(lo) < 3 else hi - lo
            pbc = np.concatenate([per, np.zeros(3 - len(per), bool)])
            lat = np.diag(lengths).ravel()
            header_extra += ' Lattice="' + " ".join(repr(float(v)) for v in lat) + '"'
            header_extra += ' pbc="' + " ".join("T" if p else "F" for p in pbc) + '"'
        posf = r.position_field()
        fields = [f for f in r.fields("atoms") if f != posf]
        idx = range(r.nframes)[frames]
        tmp = out_path.with_name(out_path.name + ".tmp")
        with open(tmp, "w") as fh:
            for i in idx:
                fr = r.frame(i)["atoms"]
                if posf is not None:
                    pos = fr[posf].reshape(n, -1)
                else:
                    pos = ref + (fr["displacement"].reshape(n, -1) if "displacement" in fr else 0.0)
                cols = [("pos", _pad3(pos))]
                cols += [(RENAME.get(f, f), _pad3(fr[f].reshape(n, -1) if fr[f].ndim > 1 else fr[f]))
                         for f in fields]
                cols += static_cols
                props, fmts, blocks = ["species:S:1"], ["%s"], [species[:, None].astype(object)]
                for name, arr in cols:
                    arr2 = arr.reshape(n, -1)
                    kind = "I" if arr2.dtype.kind in "iub" else "R"
                    props.append(f"{name}:{kind}:{arr2.shape[1]}")
                    fmts += ["%d" if kind == "I" else "%.17g"] * arr2.shape[1]
                    blocks.append(arr2.astype(object))
                table = np.hstack(blocks)
                fmt = " ".join(fmts)
                fh.write(f"{n}\nProperties={':'.join(props)} Time={float(r.times[i])!r} "
                         f"Step={int(r.steps[i])} {header_extra}\n")
                fh.writelines(fmt % tuple(row) + "\n" for row in table)
        os.replace(tmp, out_path)
    return out_path
