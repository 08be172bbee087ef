"""Extended-XYZ export of the atoms frames of a results file, written with `ase.io` (ASE is the reference
implementation of the format); read back with ``ase.io.read(path, index=":")`` or opened in OVITO.

One block per frame; the comment line carries ``Lattice`` (the box, per frame if the run's box changes),
``pbc``, ``cell_origin`` (the box's lower corner, read by OVITO), ``Time``, ``Step`` and ``units`` (the
run's unit system). Columns:

- ``species`` the type name (``type_names`` of the file: the deck's ``atoms.species``, else the EAM
  element, else ``X``); names ASE does not know as elements are written as ``X`` plus a ``type_name``
  column;
- ``pos`` positions [length]: the frame's ``position`` field, else ``reference_positions + displacement``;
- ``masses`` per atom, in the run's mass unit (g/mol = ASE's amu for ``metal``);
- ``momenta`` (ASE's velocity carrier: ``atoms.get_velocities()`` = momenta / masses) in ASE units:
  for ``metal`` velocities are converted from Å/ps to Å/(ASE time unit) (× 1/(1000·ase.units.fs) =
  0.0101805), so ASE's kinetic energy equals msim's in eV; ``velo`` the same velocities in the run's units
  (Å/ps for metal: what OVITO reads as Velocity);
- ``forces`` and ``energies`` (ASE puts them into a SinglePointCalculator) [energy/length], [energy];
- every other per-atom frame field under its msim name (``displacement``, ``weight``, ...), padded to 3
  components when d < 3, then the static per-atom arrays (``ids`` -> ``id``, ``weight``, ``pad``,
  ``tied_to_mesh``, ...; ``types`` is carried by ``species``: a ``type`` column would be OVITO's type).

``units: lj``: values are written unconverted, so ASE reads σ as Å, ε as eV, m as amu and its velocity
unit (Å·√(amu/eV)) as σ/τ: consistent (ASE's kinetic energy is then msim's in ε).
2D runs: the third cell vector has length 1 [length] and pbc F on z; 1D runs likewise on y and z.
Floats are printed by ASE with 8 decimals (``%16.8f``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from multiscale.output._atomic import atomic_write
from multiscale.output.reader import ResultsReader

RENAME = {"ids": "id"}


def _pad3(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim == 2 and a.shape[1] < 3:
        return np.hstack([a, np.zeros((a.shape[0], 3 - a.shape[1]))])
    return a


def velocity_factor(units: str) -> float:
    """Factor from the run's velocity unit to ASE's: 1/(1000 fs in ASE time units) for metal, 1 for lj."""
    if units == "metal":
        import ase.units
        return 1.0 / (1000.0 * ase.units.fs)
    return 1.0


def _cell(box: tuple[np.ndarray, np.ndarray, np.ndarray] | None, d: int):  # noqa: ANN202
    """(cell (3,3), pbc (3,), origin (3,)) from the file's box; no box: a zero cell, no pbc."""
    if box is None:
        return np.zeros((3, 3)), np.zeros(3, bool), np.zeros(3)
    lo, hi, per = box
    lengths = np.concatenate([hi - lo, np.ones(3 - d)])
    return (np.diag(lengths), np.concatenate([per, np.zeros(3 - d, bool)]),
            np.concatenate([lo, np.zeros(3 - d)]))


def write_extxyz(h5_path: str | os.PathLike, out_path: str | os.PathLike,
                 frames: slice = slice(None)) -> Path:
    """Write the atoms frames `frames` of `h5_path` to `out_path` (extxyz, via ase.io); returns the path.

    Raises `DeckError` if the file has no atoms.
    """
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.data import chemical_symbols

    out_path = Path(out_path)
    with ResultsReader(h5_path) as r:
        st = r.h5["static"]
        if "atoms" not in st or "reference_positions" not in st["atoms"]:
            from multiscale.errors import DeckError
            raise DeckError("this results file holds no atoms to export", file=str(h5_path))
        a = st["atoms"]
        ref = np.asarray(a["reference_positions"][()], dtype=float)
        ref = ref.reshape(len(ref), -1)
        n, d = ref.shape
        units = str(r.provenance.get("units", "?"))
        vfac = velocity_factor(units)
        names = r.species()
        known = np.isin(names, chemical_symbols)
        symbols = np.where(known, names, "X").tolist()
        masses = r.masses()
        static_cols = {RENAME.get(k, k): a[k][()] for k in r.static_atom_names()
                       if k not in ("mass", "types")}
        posf = r.position_field()
        fields = [f for f in r.fields("atoms") if f != posf]
        images = []
        for i in range(r.nframes)[frames]:
            fr = r.frame(i)["atoms"]
            if posf is not None:
                pos = fr[posf].reshape(n, -1)
            else:
                pos = ref + (fr["displacement"].reshape(n, -1) if "displacement" in fr else 0.0)
            cell, pbc, origin = _cell(r.box(i), d)
            at = ase.Atoms(symbols=symbols, positions=_pad3(pos), cell=cell, pbc=pbc)
            if masses is not None:
                at.set_masses(masses)
            if not known.all():
                at.new_array("type_name", np.asarray(names, dtype=str))
            calc = {}
            for f in fields:
                v = fr[f].reshape(n, -1) if fr[f].ndim > 1 else fr[f]
                if f == "velocity":
                    if masses is not None:              # (files without masses: `velo` only)
                        at.set_velocities(_pad3(v) * vfac)
                    at.new_array("velo", _pad3(v))
                elif f == "force":
                    calc["forces"] = _pad3(v)
                elif f == "energy":
                    calc["energies"] = np.asarray(v, float).ravel()
                else:
                    at.new_array(f, _pad3(v) if v.ndim > 1 else np.asarray(v))
            for k, v in static_cols.items():
                if k not in at.arrays:      # a frame field of the same name (`weight`) is the column
                    at.new_array(k, np.asarray(v))
            at.info.update({"Time": float(r.times[i]), "Step": int(r.steps[i]), "units": units,
                            "cell_origin": origin})
            if calc:
                at.calc = SinglePointCalculator(at, **calc)
            images.append(at)
        with atomic_write(out_path) as fh:
            ase.io.write(fh, images, format="extxyz")
    return out_path
