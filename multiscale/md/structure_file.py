"""Atomistic structures from files (``atoms.file``): extxyz, LAMMPS data, POSCAR and everything else
``ase.io.read`` reads, turned into msim's reference positions, box, species and masses.

Conventions (metal units: Å, amu = g/mol, as ASE):

- the box is the file's cell, which must be orthogonal and aligned with x, y, z (a triclinic cell is
  refused); its lower corner is the cell origin (LAMMPS data ``xlo ylo zlo``: ASE's ``celldisp``; an extxyz
  ``cell_origin`` as msim writes it), else 0;
- periodicity is the file's ``pbc`` unless the deck gives ``atoms.boundary``; a periodic axis needs a cell
  length on that axis; positions on periodic axes are wrapped into [lo, hi);
- species are the chemical symbols, except: an extxyz ``type_name`` column (msim's own output, for names
  that are no element) and, for LAMMPS data, ``species`` from the deck naming types 1, 2, ... (ASE otherwise
  guesses elements from the ``Masses`` section);
- masses per atom from the file (an extxyz ``masses`` column, LAMMPS ``Masses``, else ASE's standard
  atomic masses); all atoms of one species must have the same mass;
- velocities, when the file holds them (a LAMMPS data ``Velocities`` section, read in metal units Å/ps;
  extxyz ``momenta``, msim's own export included), in Å/ps (ASE's velocity unit converted:
  v [Å/ps] = v_ase · 1000 · ase.units.fs); the deck's ``atoms.velocity`` replaces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: a cell's off-diagonal component below this fraction of its longest edge counts as zero
ORTHO_TOL = 1e-9


class StructureError(ValueError):
    """A structure file that msim cannot use (message names the problem; the caller adds file and key)."""


@dataclass
class Structure:
    """What a structure file gives.

    X (n, 3) positions [Å]; lo, hi (3,) the box [Å]; periodic (3,) bool; cell_given (3,) bool (the file's
    cell has a length on that axis); symbols (n,) species names; masses (n,) [amu = g/mol].
    """

    X: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    periodic: np.ndarray
    cell_given: np.ndarray
    symbols: list[str]
    masses: np.ndarray
    #: (n, 3) [Å/ps] the file's velocities, None when the file holds none
    V: np.ndarray | None = None


def known_formats() -> list[str]:
    """The names ``ase.io`` accepts as ``format``."""
    from ase.io.formats import ioformats
    return sorted(ioformats)


def read_structure(path: str | Path, fmt: str | None = None, species: list[str] | None = None,
                   boundary: list[str] | None = None) -> Structure:
    """Read ``path`` with ``ase.io.read`` (one frame: the last when the file holds several) and check it
    (see the module docstring). Raises `StructureError` (message only) or `FileNotFoundError`."""
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(str(path))
    if fmt is not None and fmt not in known_formats():
        from ..registry import did_you_mean
        hint = did_you_mean(fmt, known_formats()) or ""
        raise StructureError(f"unknown structure format {fmt!r} (ase.io formats: extxyz, lammps-data, vasp, "
                             f"xyz, cif, ...){' ' + hint if hint else ''}")
    kw = {}
    if fmt == "lammps-data" or (fmt is None and (path.suffix in (".data", ".lmp")
                                                 or path.name.startswith("data."))):
        fmt = "lammps-data"
        kw["units"] = "metal"
    try:
        atoms = ase.io.read(path, index=-1, format=fmt, **kw)
    except Exception as exc:  # noqa: BLE001 - ase.io raises anything on a malformed file
        what = type(exc).__name__
        msg = str(exc).splitlines()[0][:200] if str(exc) else what
        if "unknown file" in msg.lower() or "could not determine" in msg.lower():
            raise StructureError(f"cannot tell the format of the structure file ({msg}): give `format:` "
                                 "(extxyz, lammps-data, vasp, ...)") from None
        raise StructureError(f"cannot read the structure file as {fmt or 'its guessed format'}: {what}: "
                             f"{msg}") from None
    n = len(atoms)
    if n == 0:
        raise StructureError("the structure file holds no atoms")
    X = np.array(atoms.get_positions(), dtype=float)
    if not np.all(np.isfinite(X)):
        raise StructureError("the structure file holds non-finite positions")
    cell = np.array(atoms.cell[:], dtype=float)
    lengths = np.linalg.norm(cell, axis=1)
    scale = max(float(lengths.max()), 1.0)
    off = cell - np.diag(np.diag(cell))
    if np.max(np.abs(off)) > ORTHO_TOL * scale or np.any(np.diag(cell) < 0):
        raise StructureError("the file's cell is not orthogonal and aligned with x, y, z (a triclinic or "
                             f"rotated cell: {np.round(cell, 6).tolist()}); msim boxes are orthogonal")
    L = np.diag(cell).copy()
    origin = np.zeros(3)
    disp = np.asarray(atoms.get_celldisp(), float).ravel()
    if disp.size == 3 and np.any(disp != 0):
        origin = disp
    elif "cell_origin" in atoms.info:
        origin = np.asarray(atoms.info["cell_origin"], float).ravel()[:3]
    elif fmt == "lammps-data":
        # ase's reader keeps the positions in the file's frame but sets no origin for `xlo xhi` boxes (only
        # for the general-triclinic `avec` header): take xlo, ylo, zlo from the header (rev32 F0: a box
        # from −7.12 was wrapped into [0, L), every deck region then selected other atoms)
        origin = _lammps_data_lo(path)
    cell_given = L > 0
    periodic = np.array(atoms.pbc, bool)
    if boundary is not None:
        periodic = np.array([b == "p" for b in boundary], bool)
    bad = [k for k in range(3) if periodic[k] and not cell_given[k]]
    if bad:
        raise StructureError(f"axis {'xyz'[bad[0]]} is periodic but the file's cell has no length along it")
    lo = origin.copy()
    hi = origin + L
    for k in range(3):
        if periodic[k]:       # wrap into [lo, hi)
            X[:, k] = lo[k] + np.mod(X[:, k] - lo[k], L[k])
            X[:, k] = np.where(X[:, k] >= hi[k], lo[k], X[:, k])
    symbols = _symbols(atoms, species)
    masses = np.array(atoms.get_masses(), dtype=float)
    V = None
    if atoms.has("momenta"):
        from ase.units import fs
        V = np.ascontiguousarray(np.asarray(atoms.get_velocities(), float) * (1000.0 * fs))   # Å/ps
        if not np.all(np.isfinite(V)):
            raise StructureError("the structure file holds non-finite velocities")
    return Structure(X=np.ascontiguousarray(X), lo=lo, hi=hi, periodic=periodic, cell_given=cell_given,
                     symbols=symbols, masses=masses, V=V)


def _lammps_data_lo(path: Path) -> np.ndarray:
    """(3,) the ``xlo ylo zlo`` of a LAMMPS data file's header [Å] (0 where a line is missing)."""
    import re
    lo = np.zeros(3)
    pat = re.compile(r"^\s*(\S+)\s+(\S+)\s+([xyz])lo\s+[xyz]hi\b")
    with open(path, errors="replace") as fh:
        next(fh, None)                              # the first line is a comment
        for line in fh:
            if re.match(r"^\s*[A-Z][a-z]", line):     # the first section (Masses, Atoms, ...): header done
                break
            m = pat.match(line)
            if m:
                try:
                    lo["xyz".index(m.group(3))] = float(m.group(1))
                except ValueError:
                    pass
    return lo


def _symbols(atoms, species: list[str] | None) -> list[str]:  # noqa: ANN001
    """Species names per atom (see the module docstring)."""
    if species is not None:
        if "type" not in atoms.arrays:
            raise StructureError("`species` names the numbered atom types of a LAMMPS data file; this file "
                                 "names its species itself: remove `species`")
        t = np.asarray(atoms.arrays["type"], int)
        if t.min() < 1 or t.max() > len(species):
            raise StructureError(f"the data file has atom types {int(t.min())}..{int(t.max())}; `species` "
                                 f"names {len(species)}")
        return [species[k - 1] for k in t]
    if "type_name" in atoms.arrays:
        return [str(s) for s in atoms.arrays["type_name"]]
    return list(atoms.get_chemical_symbols())


def type_masses(symbols: list[str], masses: np.ndarray, names: list[str]) -> list[float]:
    """One mass per name from per-atom masses; StructureError when one species has several masses."""
    sym = np.asarray(symbols)
    out = []
    for name in names:
        m = masses[sym == name]
        if np.ptp(m) > 1e-9 * max(float(m.max()), 1.0):
            raise StructureError(f"atoms of species {name} have different masses in the file ({m.min():.8g} "
                                 f"to {m.max():.8g}); give `mass:`")
        out.append(float(m[0]))
    return out
