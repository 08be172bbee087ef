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
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ...registry import POTENTIALS, PluginParams
from ..engines.ase_engine import AseEngine
from ..engines.base import ExternalPotential
from ..engines.cell import AseCell, reference_cell


def import_class(spec: str):  # noqa: ANN201
    """``"package.module:Class"`` -> the class (ValueError with the reason otherwise)."""
    mod, sep, name = spec.partition(":")
    if not sep or not mod or not name:
        raise ValueError(f"calculator must be 'module:Class', got {spec!r}")
    try:
        obj = importlib.import_module(mod)
    except ImportError as exc:
        raise ValueError(f"cannot import module {mod!r}: {exc}") from exc
    for part in name.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {mod!r} has no {name!r}")
        obj = getattr(obj, part)
    return obj


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
        args = dict(params.args)
        try:
            klass(**args)
        except TypeError as exc:
            raise ValueError(f"{params.calculator} does not take these args: {exc}") from exc
        return cls(lambda: klass(**args), params.symbols, params.cutoff)

    def periodic_cell(self, lattice):  # noqa: ANN001, ANN201
        """A `multiscale.md.engines.cell.AseCell` of ``lattice`` (3D; atoms of type 0) with a fresh
        calculator: energy and stress of homogeneous deformations (Cauchy–Born)."""
        L, X = reference_cell(lattice)
        return AseCell(self.factory(), np.full(len(X), self.numbers[0]), L, X)

    def cache_key(self) -> tuple:
        """Identity of this potential for the per-run caches (the calculator factory is opaque)."""
        return ("ase", id(self))

    def _new_engine(self, x, box, types):  # noqa: ANN001, ANN202
        t = np.zeros(len(x), dtype=np.int64) if types is None else np.asarray(types, dtype=np.int64)
        if len(t) and t.max() >= len(self.numbers):
            raise ValueError(f"atom type {int(t.max())} has no symbol (symbols: {self.symbols})")
        return AseEngine(self.factory(), box, x, self.numbers[t])
