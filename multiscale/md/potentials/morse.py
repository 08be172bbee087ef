"""Morse pair potential."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..._kernels import load
from ...registry import POTENTIALS, PluginParams
from .pairbase import PairPotential


@POTENTIALS.register("morse")
class Morse(PairPotential):
    """``phi(r) = D [exp(-2 alpha (r - r0)) - 2 exp(-alpha (r - r0))]`` for r < cutoff (LAMMPS `morse`).

    truncation ``cut`` (plain) or ``shift`` (phi - phi(cutoff)).
    """

    class Params(PluginParams):
        type: Literal["morse"] = "morse"
        D: float = Field(gt=0, description="well depth [energy]")
        alpha: float = Field(gt=0, description="stiffness parameter [1/length]")
        r0: float = Field(gt=0, description="equilibrium distance [length]")
        cutoff: float = Field(gt=0, description="cut-off radius [length]")
        truncation: Literal["cut", "shift"] = Field("cut", description="cut | shift")

    def __init__(self, D: float, alpha: float, r0: float, cutoff: float, truncation: str = "cut") -> None:
        self.D, self.alpha, self.r0, self.cutoff = float(D), float(alpha), float(r0), float(cutoff)
        if truncation not in ("cut", "shift"):
            raise ValueError(f"unknown truncation {truncation!r}")
        self.truncation = truncation
        e = np.exp(-self.alpha * (self.cutoff - self.r0))
        self._shift = self.D * (e * e - 2 * e) if truncation == "shift" else 0.0
        self._k = load("pair_morse")

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None):  # noqa: ANN001, ANN206
        return cls(params.D, params.alpha, params.r0, params.cutoff, params.truncation)

    def pair(self, r):  # noqa: ANN001, ANN201
        r = np.asarray(r, dtype=float)
        e = np.exp(-self.alpha * (r - self.r0))
        inside = r < self.cutoff
        phi = self.D * (e * e - 2 * e) - self._shift
        dphi = -2 * self.D * self.alpha * (e * e - e)
        return np.where(inside, phi, 0.0), np.where(inside, dphi, 0.0)

    def _kernel_params(self) -> tuple:
        return (self.D, self.alpha, self.r0, self.cutoff, self._shift)
