"""Analysis of quasi-static indentation runs: the first load drop and the coupled-vs-reference comparison
of ``docs/problems/indent2d.md`` (max over d up to the first drop of |P − P_ref| / max P_ref; first drop
at the same depth step).

Crack: `size_extrapolation` (K_adv/K_G of crystals of three sizes → the large-size limit).

Arrays: ``depth`` (n,) [length], ``load`` (n,) [force = energy/length], one entry per load stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def first_load_drop(load: np.ndarray, rtol: float = 1e-3) -> int | None:
    """Index i of the first stage whose load is below the previous stage's by more than ``rtol`` times
    the largest |load| reached so far (a dislocation nucleation shows as a drop of several %; the
    tolerance only screens minimiser noise). None when the load never drops."""
    P = np.asarray(load, float)
    for i in range(1, P.size):
        if P[i] < P[i - 1] - rtol * float(np.max(np.abs(P[:i]))):
            return i
    return None


@dataclass
class Comparison:
    """Outcome of `compare_force_depth`.

    ``max_error``: max |P − P_ref| / max P_ref over the compared stages (before the first drop of either
    curve, or all common stages when neither drops); ``n_compared``: number of those stages;
    ``drop_ref`` / ``drop``: index of the first drop (None if none) and ``depth_drop_ref`` / ``depth_drop``
    the corresponding depths [length]; ``same_drop``: both drop at the same stage (or neither drops).
    """

    max_error: float
    n_compared: int
    drop_ref: int | None
    drop: int | None
    depth_drop_ref: float | None
    depth_drop: float | None
    same_drop: bool

    def text(self) -> str:
        def f(d: float | None) -> str:
            return "none" if d is None else f"{d:.4g}"
        return (f"force-depth error {100 * self.max_error:.3f} % of max P_ref over {self.n_compared} stages; "
                f"first drop at d = {f(self.depth_drop)} (reference {f(self.depth_drop_ref)})"
                f"{'' if self.same_drop else ' -- NOT the same step'}")


def compare_force_depth(depth_ref: np.ndarray, load_ref: np.ndarray, depth: np.ndarray, load: np.ndarray,
                        rtol: float = 1e-3) -> Comparison:
    """Compare a force–depth curve with a reference on their common depths (matched to 1e-9)."""
    dr, Pr = np.asarray(depth_ref, float), np.asarray(load_ref, float)
    d, P = np.asarray(depth, float), np.asarray(load, float)
    n = min(dr.size, d.size)
    if n == 0 or not np.allclose(dr[:n], d[:n], atol=1e-9, rtol=0.0):
        raise ValueError("the two runs do not have the same depth steps")
    dr, Pr, d, P = dr[:n], Pr[:n], d[:n], P[:n]
    i_ref, i = first_load_drop(Pr, rtol), first_load_drop(P, rtol)
    stop = min(x for x in (i_ref, i, n) if x is not None)
    scale = float(np.max(np.abs(Pr[:stop]))) if stop else 1.0
    err = float(np.max(np.abs(P[:stop] - Pr[:stop]))) / max(scale, 1e-300) if stop else 0.0
    return Comparison(err, int(stop), i_ref, i, None if i_ref is None else float(dr[i_ref]),
                      None if i is None else float(d[i]), i_ref == i)


def force_depth(path: str | Path, label: str = "indenter") -> tuple[np.ndarray, np.ndarray]:
    """(depth (n,), load (n,)) of an msim results file, from the indenter's observables."""
    from ..output.reader import ResultsReader
    with ResultsReader(path) as r:
        obs = r.observables()
    return np.asarray(obs[f"{label}.depth"], float), np.asarray(obs[f"{label}.load"], float)


# ------------------------------------------------------------------------------------------------ crack
def size_extrapolation(sizes: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """Fit v(L) = v∞ + b·L^(−p) exactly through three points (L₁ < L₂ < L₃, v monotone and convex in L,
    e.g. K_adv/K_G of crack crystals of half-width L); returns (v∞, b, p).

    p solves (v₁ − v₂)/(v₂ − v₃) = (L₁^−p − L₂^−p)/(L₂^−p − L₃^−p) (bracketed in 0.01 … 20, Brent);
    raises ValueError when the three values are not monotone with decreasing steps."""
    from scipy.optimize import brentq
    L, v = np.asarray(sizes, float), np.asarray(values, float)
    if L.shape != (3,) or v.shape != (3,) or not (0 < L[0] < L[1] < L[2]):
        raise ValueError("size_extrapolation needs three sizes 0 < L1 < L2 < L3 and three values")
    d1, d2 = v[0] - v[1], v[1] - v[2]
    if d1 == 0 or d1 * d2 <= 0 or abs(d2) >= abs(d1) * (L[2] - L[1]) / (L[1] - L[0]):
        raise ValueError("values not monotone with a decaying finite-size correction")
    q = d1 / d2

    def f(p: float) -> float:
        a, b, c = L ** -p
        return (a - b) / (b - c) - q

    lo, hi = 0.01, 20.0
    if f(lo) * f(hi) > 0:
        raise ValueError("no exponent p in 0.01 … 20 fits the three values")
    p = float(brentq(f, lo, hi, xtol=1e-14))
    a, b_, c = L ** -p
    b = d1 / (a - b_)
    return float(v[0] - b * a), float(b), p
