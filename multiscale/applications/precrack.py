"""``precrack``: an atomically sharp initial crack, and the crack-tip tracker that reports its advance.

The crack is the half-line behind ``tip`` (a point on the crack plane) along −e, e = (cos angle,
sin angle) the propagation direction (2D, or the x–y plane of a 3D model with a straight front along z).
Every bond whose REFERENCE segment crosses that half-line gets the bond weight 0 (it does not interact),
multiplied into whatever bond weights the model already uses (the handshake's), so the crack faces are
free surfaces from the first step. Put the tip between two bond crossings (for a hex crystal with
close-packed rows along x and origin 0: tip = (0, a₀√3/4), the plane between rows 0 and 1).

Tracker (`crack_tip`): the nearest-neighbour bonds that cross the crack line (behind and ahead of the
tip), with their crossing abscissa c along e [length] (c < 0: cut). A bond is BROKEN when it is cut or
its current length exceeds ``broken_length`` (default ``cutoff``: the potential's cut-off radius, beyond
which the pair carries no force and no energy: the criterion has a physical meaning, unlike a fraction
of the equilibrium length, at which an LJ bond still carries a good part of its peak force). The crack
tip is the largest c of the contiguous run of broken bonds that starts at the cut.

Observables: ``<label>.extension`` = tip − initial tip [length] (a₀/2 per broken bond in the hex
crystal), ``<label>.broken_run`` = number of bonds of that contiguous run ahead of the initial tip,
``<label>.broken`` = number of broken bonds ahead of the initial tip (contiguous or not: a value above
``broken_run`` means a bond ahead of the tip failed first), ``<label>.tip_bond`` = current length of the
first intact bond ahead of the tip [length] (how far the crack-tip bond is from ``broken_length``).
Adds no force and no energy.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from .._lazy import lazy_module
from ..loads.base import Load, LoadParams
from ..registry import LOADS

_spatial = lazy_module("scipy.spatial")


def crack_tip(c: np.ndarray, broken: np.ndarray) -> tuple[int, int]:
    """The crack tip of a row of bonds across the crack line.

    c : (m,) crossing abscissae along e [length], ascending; bonds with c < 0 are the cut ones (all of
    them must be flagged broken). broken : (m,) bool.
    Returns (k, n_ahead): k = index of the tip bond (the last bond of the contiguous broken run that starts
    at the first bond; −1 if the first bond is intact) and n_ahead = number of bonds of that run with
    c > 0. The bond after the tip, k + 1 (if any), is the first intact bond.
    """
    c, broken = np.asarray(c, float), np.asarray(broken, bool)
    if c.shape != broken.shape or c.ndim != 1:
        raise ValueError("crack_tip: c and broken must be (m,) arrays of the same length")
    if np.any(np.diff(c) < 0):
        raise ValueError("crack_tip: the crossing abscissae must be sorted ascending")
    intact = np.flatnonzero(~broken)
    k = (int(intact[0]) - 1) if intact.size else c.size - 1
    return k, int(np.sum(c[: k + 1] > 0))


@LOADS.register("precrack")
class PreCrack(Load):
    class Params(LoadParams):
        type: Literal["precrack"] = "precrack"
        tip: list[float] = Field(description="crack tip (x, y) on the crack plane [length]")
        angle: float = Field(0.0, description="propagation direction, degrees from +x (crack behind the tip)")
        broken_length: float | Literal["cutoff"] = Field(
            "cutoff", description="a bond across the crack line counts as broken when longer than this "
            "[length]; `cutoff`: the potential's cut-off radius (the bond carries no force)")

    def prepare(self, model) -> None:  # noqa: ANN001
        atoms = getattr(model, "atoms", None)
        if atoms is None:
            raise ValueError("precrack cuts bonds between atoms: the model has none")
        p = self.params
        if len(p.tip) != 2:
            raise ValueError("precrack tip needs the two in-plane coordinates (x, y)")
        pot = getattr(atoms, "potential", None)
        if getattr(pot, "many_body", False):
            # the bond weights cut only the pair term of a many-body potential: an EAM crack's faces keep
            # each other's electron density and collapse (review rev33 R6: 0.24 Å apart at K = 0); an
            # external engine cannot apply bond weights at all (R8)
            what = ("an external engine cannot apply bond weights" if hasattr(pot, "check_weights")
                    else "for a many-body potential they weight only the pair term, not the electron "
                    "density: the crack faces would keep attracting each other and close")
            raise ValueError(f"precrack cuts the bonds across the crack line through bond weights; {what}. "
                             "Use a pair potential (lj, morse), or make the crack by removing atoms from the "
                             "region instead")
        self._atoms = atoms
        self._r_broken = (float(atoms.potential.cutoff) if p.broken_length == "cutoff"
                          else float(p.broken_length))
        if not self._r_broken > 0:
            raise ValueError("precrack broken_length must be positive")
        t = np.deg2rad(p.angle)
        self._e, self._n = np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)])
        self._tip = np.asarray(p.tip, float)
        X = atoms.X
        old = atoms.bond_weight_fn

        def fn(i: np.ndarray, j: np.ndarray, dX: np.ndarray) -> np.ndarray:
            c = self._crossing(X[np.asarray(i, np.int64)], dX)
            w = np.ones(len(c)) if old is None else np.asarray(old(i, j, dX), float)
            return np.where(c < 0.0, 0.0, w)

        atoms.set_weights(atoms.site_w, fn)
        # nearest-neighbour bonds across the crack line, sorted by crossing abscissa
        tree = _spatial.cKDTree(X)
        dmin = float(tree.query(X[: min(len(X), 64)], k=2)[0][:, 1].min())
        pairs = np.array(sorted(tree.query_pairs(1.05 * dmin)), np.int64).reshape(-1, 2)
        c = self._crossing(X[pairs[:, 0]], X[pairs[:, 1]] - X[pairs[:, 0]]) if len(pairs) else np.zeros(0)
        ok = np.isfinite(c)
        if not np.any(ok & (c < 0)) or not np.any(ok & (c > 0)):
            raise ValueError("precrack: the crack line must have atoms bonded across it on both sides of "
                             "the tip")
        order = np.argsort(c[ok])
        self._pairs, self._c = pairs[ok][order], c[ok][order]
        self._k0 = int(np.flatnonzero(self._c < 0)[-1])          # the initial tip bond
        if self._r_broken <= dmin:
            raise ValueError(f"precrack broken_length {self._r_broken} is not longer than the nearest-"
                             f"neighbour distance {dmin}")

    def _crossing(self, Xi: np.ndarray, dX: np.ndarray) -> np.ndarray:
        """Abscissa along e where the segment Xi → Xi + dX crosses the crack line (nan if it does not)."""
        rel = Xi[:, :2] - self._tip
        s0, ds = rel @ self._n, dX[:, :2] @ self._n
        t = np.divide(-s0, ds, out=np.full(len(ds), np.nan), where=ds != 0)
        cross = (ds != 0) & (t > 0) & (t < 1)
        along = np.multiply(t, dX[:, :2] @ self._e, out=np.zeros(len(ds)), where=cross)
        return np.where(cross, rel @ self._e + along, np.nan)

    def bond_lengths(self) -> np.ndarray:
        """(m,) current lengths [length] of the tracked bonds (ordered by crossing abscissa)."""
        x = self._atoms.x
        return np.linalg.norm(x[self._pairs[:, 1], :2] - x[self._pairs[:, 0], :2], axis=1)

    def state(self) -> dict[str, float]:
        """extension [length], broken_run, broken, tip_bond [length] (module docstring)."""
        r = self.bond_lengths()
        broken = (r > self._r_broken) | (self._c < 0)
        k, run = crack_tip(self._c, broken)
        nxt = k + 1
        return {"extension": float(self._c[k] - self._c[self._k0]) if k >= 0 else float("nan"),
                "broken_run": float(run), "broken": float(np.sum(broken & (self._c > 0))),
                "tip_bond": float(r[nxt]) if nxt < r.size else float("nan")}

    def tip_position(self) -> float:
        """Current crack tip abscissa along e from ``tip`` [length] (see the module docstring)."""
        return float(self._c[self._k0] + self.state()["extension"])

    def observables(self) -> dict[str, float]:
        if not hasattr(self, "_atoms"):
            return {}
        return self._obs(**self.state())
