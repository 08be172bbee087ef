"""Fast Cauchy–Born W(F) of an external-engine potential: a polynomial in the Green strain, fitted once per
run to the engine's periodic cell, with the exact engine evaluation outside its stated range.

`cauchy_born_engine.EngineCauchyBorn` evaluates the engine's periodic cell for every distinct F (~1–2 ms
per F for SNAP Cu's 4-atom cell): too slow for a mesh whose thousands of quadrature points all move. Here::

    W(E) = W₀ + S₀·γ + ½ γ·C·γ + Σ_{3 ≤ |k| ≤ order} c_k (e/r)^k            [energy/length^d]

E = ½(FᵀF − I) the Green strain, e (nv,) its tensor components (xx yy zz yz xz xy in 3D; xx yy xy in 2D),
γ the engineering Voigt strain (shears 2e), r = ``strain_range``. W₀ = W(I) and S₀ (the second Piola
stress at F = I) are the engine's own values, C (Voigt) the engine's finite-difference elastic constants
(`cauchy_born_engine.cached_elastic_constants`), so W, the reference stress and the reference tangent
are the exact engine route's. The higher coefficients c_k (all monomials of degree 3 … ``order`` of the
nv scaled strains) are a least-squares fit to the exact engine values of W and ∂W/∂e at ``n_fit`` points
E with ‖E‖_F ≤ r (a fixed-seed set: uniform in the ball, plus its surface and the ±axes). Stress
``S_ij = ∂W/∂E_ij`` (symmetric), ``P = F S`` [energy/length^d].

Range: a point with ‖E‖_F > r is evaluated by the exact engine cell (`EngineCauchyBorn._one`, counted in
``fallbacks``), so the fit is never extrapolated. The fit's accuracy is MEASURED at construction on
``n_check`` further random points of the ball (other seed) against the exact engine: ``fit_error`` =
{"W": max|ΔW| / max|W − W₀|, "P": max‖ΔP‖_max / max‖P‖_max} over those points, and construction fails
(ValueError) if either exceeds ``max_error``.

Measured (SNAP Cu ``Cu_Zuo_JPCA2020``, fcc at its zero-stress a₀ = 3.63376 Å, cube cell, r = 0.04,
order 5 (the deck defaults), 400 fit points; tests/fem/test_cauchy_born_poly.py): construction check
W 1.8e-4, P 5.1e-4; 40 random F = R U (rotations included) inside the ball: W 1.3e-4 of the largest
strain energy, P 4.3e-4 of the largest |P|; at r = 0.03 W 3.4e-5, P 1.3e-4; at r = 0.05 W 2.9e-4,
P 1.0e-3 (order 6: 3.3e-5, 2.4e-4). Cost 10–60 µs per quadrature point on the loaded 2-core machine
(vs ~2 ms per distinct F for the exact cell unloaded, 60 ms at load 15: ratio 150–1000).
Construction costs n_fit + n_check engine evaluations plus one least-squares solve (~1 s unloaded).
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

from .base import VOIGT_PAIRS
from .cauchy_born_engine import EngineCauchyBorn

#: per-run cache of fits: key -> (coefficient vector (K,), gradient coefficients (K, nv), fit_error)
_FIT_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray, dict]] = {}


class Monomials:
    """All monomials of degree ``lo`` … ``hi`` in nv variables, evaluated by products along a tree (each
    monomial = a lower one × one variable), with their exact partial derivatives.

    ``exps`` (K, nv) int exponents; ``values(x (m, nv)) -> M (m, K0)`` of ALL monomials of degree 0 … hi
    (K0 ≥ K); ``index`` (K,) positions of the fitted monomials in M; ``deriv`` (nv, K) position in M of
    ∂m_k/∂x_v / e_kv (the monomial with one power of x_v less), −1 where e_kv = 0."""

    def __init__(self, nv: int, lo: int, hi: int) -> None:
        all_exps = [tuple([0] * nv)]
        for deg in range(1, hi + 1):
            for combo in combinations_with_replacement(range(nv), deg):
                e = [0] * nv
                for v in combo:
                    e[v] += 1
                all_exps.append(tuple(e))
        self.pos = {e: i for i, e in enumerate(all_exps)}
        self.parent = np.zeros(len(all_exps), np.int64)
        self.var = np.zeros(len(all_exps), np.int64)
        for i, e in enumerate(all_exps[1:], start=1):
            v = max(k for k in range(nv) if e[k] > 0)
            p = list(e)
            p[v] -= 1
            self.parent[i], self.var[i] = self.pos[tuple(p)], v
        self.nv, self.n_all = nv, len(all_exps)
        self.exps = np.array([e for e in all_exps if lo <= sum(e) <= hi], np.int64)
        self.index = np.array([self.pos[tuple(e)] for e in self.exps], np.int64)
        self.deriv = np.full((nv, len(self.exps)), -1, np.int64)
        for k, e in enumerate(self.exps):
            for v in range(nv):
                if e[v] > 0:
                    p = list(e)
                    p[v] -= 1
                    self.deriv[v, k] = self.pos[tuple(p)]

    def values(self, x: np.ndarray) -> np.ndarray:
        """M (m, n_all): every monomial of degree ≤ hi at the points x (m, nv)."""
        return self.values_t(x).T

    def values_t(self, x: np.ndarray) -> np.ndarray:
        """Mᵀ (n_all, m), C-contiguous (each monomial one contiguous row: the fast layout)."""
        xt = np.ascontiguousarray(x.T)
        M = np.empty((self.n_all, x.shape[0]))
        M[0] = 1.0
        par, var = self.parent, self.var
        for i in range(1, self.n_all):
            np.multiply(M[par[i]], xt[var[i]], out=M[i])
        return M

    def design(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A (m, K) fitted monomials, D (m, nv, K) their derivatives ∂/∂x_v) at x (m, nv)."""
        M = self.values(x)
        A = M[:, self.index]
        D = np.zeros((x.shape[0], self.nv, len(self.exps)))
        for v in range(self.nv):
            ok = self.deriv[v] >= 0
            D[:, v, ok] = M[:, self.deriv[v, ok]] * self.exps[ok, v][None, :]
        return A, D

    def folded(self, c: np.ndarray) -> np.ndarray:
        """(n_all, 1 + nv): coefficients on ALL monomials of the polynomial Σ c_k m_k (column 0) and of its
        partial derivatives ∂/∂x_v (columns 1 …), so that values(x) @ folded gives both in one product."""
        out = np.zeros((self.n_all, 1 + self.nv))
        out[self.index, 0] = c
        for v in range(self.nv):
            ok = self.deriv[v] >= 0
            np.add.at(out[:, 1 + v], self.deriv[v, ok], c[ok] * self.exps[ok, v])
        return out


def _ball_points(rng: np.random.Generator, n: int, nv: int, r: float, shear: np.ndarray) -> np.ndarray:
    """n points (n, nv) uniform in the ball ‖E‖_F ≤ r (E the symmetric tensor whose independent components
    they are: off-diagonal entries, ``shear`` = 2, count twice in ‖E‖_F²)."""
    return _surface(rng, n, nv, r, shear) * (rng.uniform(0.0, 1.0, n) ** (1.0 / nv))[:, None]


class PolynomialEngineCauchyBorn(EngineCauchyBorn):
    """Engine Cauchy–Born with a fitted polynomial W(E) (module docstring). ``path`` = "engine-poly"."""

    path = "engine-poly"

    def __init__(self, potential, lattice, tol: float = 1e-8, strain_range: float = 0.05,  # noqa: ANN001
                 order: int = 5, n_fit: int = 400, n_check: int = 100, max_error: float = 1e-3,
                 cache_size: int = 200_000) -> None:
        super().__init__(potential, lattice, tol, cache_size)
        if not 3 <= order <= 6:
            raise ValueError(f"polynomial order {order}: must be 3 … 6")
        d = self.dim
        self.pairs = VOIGT_PAIRS[d]
        self.nv = len(self.pairs)
        self.r, self.order = float(strain_range), int(order)
        self.mono = Monomials(self.nv, 3, self.order)
        self.shear = np.array([1.0 if i == j else 2.0 for i, j in self.pairs])
        self.W0, self.S0 = self._exact_WS(np.zeros(self.nv))
        key = (potential.cache_key(), repr(lattice.kind), float(lattice.a), repr(lattice.orient),
               float(tol), self.r, self.order, int(n_fit), int(n_check))
        hit = _FIT_CACHE.get(key)
        if hit is None:
            hit = self._fit(int(n_fit), int(n_check))
            _FIT_CACHE[key] = hit
        self.coef, self.fit_error = hit[0], dict(hit[1])
        self._fold = self.mono.folded(self.coef)
        if self.fit_error["W"] > max_error or self.fit_error["P"] > max_error:
            raise ValueError(f"polynomial Cauchy–Born fit of order {order} over |E| ≤ {self.r:g}: "
                             f"measured error W {self.fit_error['W']:.2e}, P {self.fit_error['P']:.2e} "
                             f"> {max_error:g} "
                             "(raise the order or narrow the strain range)")
        self.fallbacks = 0

    # ---- exact engine values in strain variables
    def _F_of(self, e: np.ndarray) -> np.ndarray:
        d = self.dim
        E = np.zeros((d, d))
        for v, (i, j) in enumerate(self.pairs):
            E[i, j] = E[j, i] = e[v]
        w, V = np.linalg.eigh(np.eye(d) + 2.0 * E)
        return (V * np.sqrt(w)[None, :]) @ V.T

    def _exact_WS(self, e: np.ndarray) -> tuple[float, np.ndarray]:
        """(W, g (nv,) = ∂W/∂e_v) from the exact engine cell at the Green strain e (tensor components)."""
        F = self._F_of(e)
        P, W = EngineCauchyBorn._one(self, F)
        S = np.linalg.solve(F, P)
        S = 0.5 * (S + S.T)
        return float(W), np.array([S[i, j] for i, j in self.pairs]) * self.shear

    def _low(self, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(W (m,), ∂W/∂e (m, nv)) of the fixed terms W₀ + S₀·γ + ½ γ·C·γ at e (m, nv)."""
        g = e * self.shear[None, :]
        Cg = g @ self.C
        W = self.W0 + e @ self.S0 + 0.5 * np.einsum("ma,ma->m", g, Cg)
        return W, self.S0[None, :] + Cg * self.shear[None, :]

    def _fit(self, n_fit: int, n_check: int) -> tuple[np.ndarray, dict]:
        rng = np.random.default_rng(20261206)
        nv, r = self.nv, self.r
        axes = np.concatenate([np.eye(nv), -np.eye(nv)]) * r / np.sqrt(self.shear)[None, :]
        pts = np.concatenate([_ball_points(rng, n_fit - n_fit // 4 - 2 * nv, nv, r, self.shear),
                              _surface(rng, n_fit // 4, nv, r, self.shear), axes])
        WS = [self._exact_WS(e) for e in pts]
        W = np.array([w for w, _ in WS])
        G = np.array([g for _, g in WS])
        Wl, Gl = self._low(pts)
        A, D = self.mono.design(pts / r)
        # rows: W residuals, and r·∂W/∂e residuals (same units: energy/length^d)
        rows = np.concatenate([A, D.reshape(-1, A.shape[1])])
        rhs = np.concatenate([W - Wl, (r * (G - Gl)).ravel()])
        scale = np.max(np.abs(rows), axis=0)
        coef = np.linalg.lstsq(rows / scale[None, :], rhs, rcond=None)[0] / scale
        # measured accuracy on independent points
        chk = _ball_points(np.random.default_rng(424242), n_check, nv, r, self.shear)
        chk[: n_check // 4] = _surface(np.random.default_rng(4343), n_check // 4, nv, r, self.shear)
        fold = self.mono.folded(coef)
        errW, errP, maxW, maxP = 0.0, 0.0, 0.0, 0.0
        for e in chk:
            F = self._F_of(e)
            Pe, We = EngineCauchyBorn._one(self, F)
            Pf, Wf = self._poly(F[None], fold)
            errW, maxW = max(errW, abs(Wf[0] - We)), max(maxW, abs(We - self.W0))
            errP, maxP = max(errP, float(np.max(np.abs(Pf[0] - Pe)))), max(maxP, float(np.max(np.abs(Pe))))
        self._cache.clear()
        return coef, {"W": errW / maxW, "P": errP / maxP, "points": int(n_check)}

    # ---- fast evaluation
    def _green(self, F: np.ndarray) -> np.ndarray:
        """Green strain E = ½(FᵀF − I) (m, d, d) of F (m, d, d)."""
        return 0.5 * (np.einsum("mki,mkj->mij", F, F) - np.eye(self.dim)[None])

    def _poly(self, F: np.ndarray, fold: np.ndarray, E: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(P (m, d, d), W (m,)) of the polynomial at F (m, d, d); E = `_green` (F) when the caller has it."""
        m, d = F.shape[0], self.dim
        if E is None:
            E = self._green(F)
        e = np.stack([E[:, i, j] for i, j in self.pairs], axis=1)
        Wl, Gl = self._low(e)
        out = fold.T @ self.mono.values_t(e / self.r)     # (1 + nv, m)
        W = Wl + out[0]
        g = Gl + out[1:].T / self.r          # ∂W/∂e_v
        S = np.empty((m, d, d))
        for v, (i, j) in enumerate(self.pairs):
            S[:, i, j] = S[:, j, i] = g[:, v] / self.shear[v]
        return np.einsum("mik,mkj->mij", F, S), W

    def evaluate(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P (m, d, d) and W (m,) [energy/length^d] for F (m, d, d): the polynomial where ‖E‖_F ≤ r, the
        exact engine elsewhere."""
        F = np.ascontiguousarray(F, dtype=float)
        m, d = F.shape[0], self.dim
        if m == 0:
            return np.empty((0, d, d)), np.empty(0)
        E = self._green(F)                   # once: the polynomial's variable and the ball test
        P, W = self._poly(F, self._fold, E)
        out = np.flatnonzero(np.sqrt(np.einsum("mij,mij->m", E, E)) > self.r)
        if out.size:
            self.fallbacks += int(out.size)
            Po, Wo = EngineCauchyBorn.evaluate(self, F[out])
            P[out], W[out] = Po, Wo
        return P, W


def _surface(rng: np.random.Generator, n: int, nv: int, r: float, shear: np.ndarray) -> np.ndarray:
    """n points (n, nv) on the sphere ‖E‖_F = r."""
    g = rng.standard_normal((n, nv))
    g /= np.sqrt((g * g * shear).sum(axis=1))[:, None]
    return g * r
