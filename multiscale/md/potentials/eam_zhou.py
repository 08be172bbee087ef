"""Analytic EAM of Zhou, Johnson & Wadley, Phys. Rev. B 69, 144113 (2004), tabulated by msim.

    phi(r) = A e^{-alpha(r/re-1)} / (1 + (r/re-kappa)^20) - B e^{-beta(r/re-1)} / (1 + (r/re-lambda)^20)
    f(r)   = fe e^{-beta(r/re-1)} / (1 + (r/re-lambda)^20)
    F(rho) = sum_i Fn_i (rho/rho_n - 1)^i      rho < rho_n = 0.85 rho_e
           = sum_i F_i (rho/rho_e - 1)^i       rho_n <= rho < rho_o = 1.15 rho_e
           = Fe [1 - eta ln(rho/rho_s)] (rho/rho_s)^eta    rho >= rho_o

Parameters for the fcc metals Cu and Al from the paper (same numbers as LAMMPS tools/eam_database).
The functions are tabulated on 5000-point grids and evaluated with LAMMPS's EAM splines, exactly like
a setfl file, so decks need no potential file. Metal units.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ...errors import DeckError
from ...registry import POTENTIALS, PluginParams
from .eam import TabulatedEAM
from .eam_tables import tables_from_functions

#: re fe rhoe rhos alpha beta A B kappa lambda Fn0..Fn3 F0..F3 eta Fe ; mass [g/mol]; fcc a0 [Å]
ZHOU2004 = {
    "Cu": dict(re=2.556162, fe=1.554485, rhoe=21.175871, rhos=21.175395, alpha=8.127620, beta=4.334731,
               A=0.396620, B=0.548085, kappa=0.308782, lam=0.756515,
               Fn=(-2.170269, -0.263788, 1.088878, -0.817603), F=(-2.19, 0.0, 0.561830, -2.100595),
               eta=0.310490, Fe=-2.186568, mass=63.546),
    "Al": dict(re=2.863924, fe=1.403115, rhoe=20.418205, rhos=23.195740, alpha=6.613165, beta=3.527021,
               A=0.314873, B=0.365551, kappa=0.379846, lam=0.759692,
               Fn=(-2.807602, -0.301435, 1.258562, -1.247604), F=(-2.83, 0.0, 0.622245, -2.488244),
               eta=0.785902, Fe=-2.824528, mass=26.981539),
}


def zhou_functions(p: dict):  # noqa: ANN201
    """(F(rho), f(r), phi(r)) vectorised callables of one element's parameter set."""
    re = p["re"]

    def phi(r):  # noqa: ANN001, ANN202
        s = np.asarray(r, float) / re
        return (p["A"] * np.exp(-p["alpha"] * (s - 1)) / (1 + (s - p["kappa"]) ** 20)
                - p["B"] * np.exp(-p["beta"] * (s - 1)) / (1 + (s - p["lam"]) ** 20))

    def dens(r):  # noqa: ANN001, ANN202
        s = np.asarray(r, float) / re
        return p["fe"] * np.exp(-p["beta"] * (s - 1)) / (1 + (s - p["lam"]) ** 20)

    def emb(rho):  # noqa: ANN001, ANN202
        rho = np.asarray(rho, float)
        rn, ro = 0.85 * p["rhoe"], 1.15 * p["rhoe"]
        low = sum(c * (rho / rn - 1) ** i for i, c in enumerate(p["Fn"]))
        mid = sum(c * (rho / p["rhoe"] - 1) ** i for i, c in enumerate(p["F"]))
        with np.errstate(divide="ignore", invalid="ignore"):
            x = rho / p["rhos"]
            high = p["Fe"] * (1 - p["eta"] * np.log(x)) * x ** p["eta"]
        return np.where(rho < rn, low, np.where(rho < ro, mid, high))

    return emb, dens, phi


@POTENTIALS.register("eam_zhou")
class ZhouEAM(TabulatedEAM):
    """Zhou-Johnson-Wadley (2004) analytic EAM for an fcc metal (Cu or Al), tabulated internally."""

    class Params(PluginParams):
        type: Literal["eam_zhou"] = "eam_zhou"
        element: Literal["Cu", "Al"] = Field("Cu", description="fcc metal: Cu or Al")
        cutoff: float | None = Field(None, gt=0, description="cut-off [Å]; default 2.35 r_e (6.007 Å for "
                                     "Cu), where every function is below 1e-6 of its scale")
        n_points: int = Field(5000, ge=100, description="table points for r and for rho")

    def __init__(self, element: str = "Cu", cutoff: float | None = None, n_points: int = 5000) -> None:
        p = ZHOU2004[element]
        emb, dens, phi = zhou_functions(p)
        rc = 2.35 * p["re"] if cutoff is None else float(cutoff)
        tables = tables_from_functions(element, p["mass"], emb, dens, phi, rc, rhomax=3.0 * p["rhoe"],
                                       nr=n_points, nrho=n_points)
        super().__init__(tables)
        self.element = element
        self.analytic = (emb, dens, phi)

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None):  # noqa: ANN001, ANN206
        if units is not None and getattr(units, "name", "metal") != "metal":
            raise DeckError("eam_zhou is in metal units; set `units: metal`", key="potential")
        return cls(params.element, params.cutoff, params.n_points)
