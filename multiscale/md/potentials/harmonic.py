"""Harmonic springs between near neighbours (exact linear lattice dynamics for wave tests)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..._kernels import load
from ...registry import POTENTIALS, PluginParams
from .pairbase import PairPotential


@POTENTIALS.register("harmonic")
class HarmonicSprings(PairPotential):
    """``phi(r) = k/2 (r - r0)^2`` for r < cutoff (put the cut-off between two neighbour shells).

    In 1D with k = r0 = 1, cutoff 1.5 and unit masses this is exactly the linear chain m = k = a = 1.
    """

    class Params(PluginParams):
        type: Literal["harmonic"] = "harmonic"
        k: float = Field(1.0, gt=0, description="spring constant [energy/length^2]")
        r0: float = Field(1.0, gt=0, description="rest length [length] (the nearest-neighbour distance)")
        cutoff: float | None = Field(None, gt=0, description="cut-off [length], between the first and "
                                     "second neighbour shells; default 1.5 r0 (chain/square/sc; use ~1.2 r0 "
                                     "for hex/fcc/bcc nearest neighbours)")

    def __init__(self, k: float = 1.0, r0: float = 1.0, cutoff: float | None = None) -> None:
        self.k, self.r0 = float(k), float(r0)
        self.cutoff = float(cutoff) if cutoff is not None else 1.5 * self.r0
        if self.cutoff <= self.r0:
            raise ValueError("harmonic cut-off must exceed r0")
        self._k = load("pair_harmonic")

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None):  # noqa: ANN001, ANN206
        return cls(params.k, params.r0, params.cutoff)

    def pair(self, r):  # noqa: ANN001, ANN201
        r = np.asarray(r, dtype=float)
        inside = r < self.cutoff
        return (np.where(inside, 0.5 * self.k * (r - self.r0) ** 2, 0.0),
                np.where(inside, self.k * (r - self.r0), 0.0))

    def _kernel_params(self) -> tuple:
        return (self.k, self.r0, self.cutoff)
