"""Lennard-Jones 12-6 pair potential with plain, shifted or force-shifted (smooth) truncation."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..._kernels import load
from ...registry import POTENTIALS, PluginParams
from .pairbase import PairPotential

_MODES = {"cut": 0, "shift": 1, "smooth": 2}


@POTENTIALS.register("lj")
class LennardJones(PairPotential):
    """``phi(r) = 4 eps [(sigma/r)^12 - (sigma/r)^6]`` for r < cutoff.

    truncation: ``cut`` (phi jumps at rc), ``shift`` (phi - phi(rc): continuous energy), ``smooth``
    (LAMMPS lj/smooth/linear: phi(r) - phi(rc) - (r - rc) phi'(rc), continuous energy and force).
    """

    class Params(PluginParams):
        type: Literal["lj"] = "lj"
        epsilon: float = Field(1.0, gt=0, description="well depth [energy]")
        sigma: float = Field(1.0, gt=0, description="zero-crossing distance [length]")
        cutoff: float = Field(2.5, gt=0, description="cut-off radius [length] (default 2.5, i.e. 2.5 sigma "
                              "in lj units)")
        truncation: Literal["cut", "shift", "smooth"] = Field("cut", description="cut | shift | smooth")

    accumulates = True      # kernels/pair_lj.pyx: zero=False

    def __init__(self, epsilon: float = 1.0, sigma: float = 1.0, cutoff: float = 2.5,
                 truncation: str = "cut") -> None:
        if truncation not in _MODES:
            raise ValueError(f"unknown truncation {truncation!r}")
        self.epsilon, self.sigma, self.cutoff = float(epsilon), float(sigma), float(cutoff)
        self.truncation = truncation
        self._mode = _MODES[truncation]
        s6 = (self.sigma / self.cutoff) ** 6
        self._phi_c = 4 * self.epsilon * (s6 * s6 - s6) if self._mode >= 1 else 0.0
        self._dphi_c = -self.epsilon * (48 * s6 * s6 - 24 * s6) / self.cutoff if self._mode == 2 else 0.0
        self._k = load("pair_lj")

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None):  # noqa: ANN001, ANN206
        return cls(params.epsilon, params.sigma, params.cutoff, params.truncation)

    def pair(self, r):  # noqa: ANN001, ANN201
        r = np.asarray(r, dtype=float)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            s6 = (self.sigma / r) ** 6
            phi = 4 * self.epsilon * (s6 * s6 - s6) - self._phi_c - (r - self.cutoff) * self._dphi_c
            dphi = -self.epsilon * (48 * s6 * s6 - 24 * s6) / r - self._dphi_c
        inside = r < self.cutoff
        return np.where(inside, phi, 0.0), np.where(inside, dphi, 0.0)

    def _kernel_params(self) -> tuple:
        return (self.epsilon, self.sigma, self.cutoff, self._mode)
