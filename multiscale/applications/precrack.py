"""``precrack``: an atomically sharp initial crack, and the crack-tip tracker that reports its advance.

The crack is the half-line behind ``tip`` (a point on the crack plane) along −e, e = (cos angle,
sin angle) the propagation direction (2D, or the x–y plane of a 3D model with a straight front along z).
Every bond whose REFERENCE segment crosses that half-line gets the bond weight 0 (it does not interact),
multiplied into whatever bond weights the model already uses (the handshake's), so the crack faces are
free surfaces from the first step. Put the tip between two bond crossings (for a hex crystal with
close-packed rows along x and origin 0: tip = (0, a₀√3/4), the plane between rows 0 and 1).

Tracker: the nearest-neighbour bonds that cross the crack line (behind and ahead of the tip), with their
crossing abscissa c along e [length] (c < 0: cut). A bond is open when it is cut or longer than
``break_factor`` times its reference length; the crack tip is the largest c of the contiguous run of open
bonds that starts at the cut. Observables: ``<label>.extension`` = tip − initial tip [length] (a₀/2 per
broken bond pair in the hex crystal), ``<label>.open_ahead`` = number of open bonds with c > 0.
Adds no force and no energy.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy.spatial import cKDTree

from ..loads.base import Load, LoadParams
from ..registry import LOADS


@LOADS.register("precrack")
class PreCrack(Load):
    class Params(LoadParams):
        type: Literal["precrack"] = "precrack"
        tip: list[float] = Field(description="crack tip (x, y) on the crack plane [length]")
        angle: float = Field(0.0, description="propagation direction, degrees from +x (crack behind the tip)")
        break_factor: float = Field(1.5, gt=1.0, description="a bond across the crack line is open when "
                                    "longer than this times its reference length")

    def prepare(self, model) -> None:  # noqa: ANN001
        atoms = getattr(model, "atoms", None)
        if atoms is None:
            raise ValueError("precrack cuts bonds between atoms: the model has none")
        p = self.params
        if len(p.tip) != 2:
            raise ValueError("precrack tip needs the two in-plane coordinates (x, y)")
        self._atoms = atoms
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
        tree = cKDTree(X)
        dmin = float(tree.query(X[: min(len(X), 64)], k=2)[0][:, 1].min())
        pairs = np.array(sorted(tree.query_pairs(1.05 * dmin)), np.int64).reshape(-1, 2)
        c = self._crossing(X[pairs[:, 0]], X[pairs[:, 1]] - X[pairs[:, 0]]) if len(pairs) else np.zeros(0)
        ok = np.isfinite(c)
        if not np.any(ok & (c < 0)) or not np.any(ok & (c > 0)):
            raise ValueError("precrack: the crack line must have atoms bonded across it on both sides of "
                             "the tip")
        order = np.argsort(c[ok])
        self._pairs, self._c = pairs[ok][order], c[ok][order]
        self._r0 = np.linalg.norm(X[self._pairs[:, 1]] - X[self._pairs[:, 0]], axis=1)
        self._tip0 = float(self._c[self._c < 0].max())

    def _crossing(self, Xi: np.ndarray, dX: np.ndarray) -> np.ndarray:
        """Abscissa along e where the segment Xi → Xi + dX crosses the crack line (nan if it does not)."""
        rel = Xi[:, :2] - self._tip
        s0, ds = rel @ self._n, dX[:, :2] @ self._n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -s0 / ds
        cross = (ds != 0) & (t > 0) & (t < 1)
        return np.where(cross, rel @ self._e + t * (dX[:, :2] @ self._e), np.nan)

    def tip_position(self) -> float:
        """Current crack tip abscissa along e from ``tip`` [length] (see the module docstring)."""
        x = self._atoms.x
        r = np.linalg.norm(x[self._pairs[:, 1], :2] - x[self._pairs[:, 0], :2], axis=1)
        open_ = (r > self.params.break_factor * self._r0) | (self._c < 0)
        intact = np.flatnonzero(~open_)
        first_intact = self._c[intact[0]] if intact.size else np.inf
        return float(np.max(self._c[open_ & (self._c < first_intact)], initial=self._tip0))

    def observables(self) -> dict[str, float]:
        if not hasattr(self, "_atoms"):
            return {}
        x = self._atoms.x
        r = np.linalg.norm(x[self._pairs[:, 1], :2] - x[self._pairs[:, 0], :2], axis=1)
        ahead = self._c > 0
        n_open = int(np.sum(r[ahead] > self.params.break_factor * self._r0[ahead]))
        return self._obs(extension=self.tip_position() - self._tip0, open_ahead=float(n_open))
