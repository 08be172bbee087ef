"""The handshake region H: geometry → blending weights α (continuum) and β = 1 − α (atoms), pads.

docs/physics.md §1–3. The atomistic core is a shape A (``multiscale.geometry``, ``shape.distance(X)``
= 0 inside A, the Euclidean distance outside [length]); H is the shell of width ``w`` around it::

    s(X) = clip(dist_A(X) / w, 0, 1),    α(X) = blend(s),    β(X) = 1 − α(X)

Weights are partitions of unity in the integral sense:

- atom weight ``β̄_a`` = average of β over the atom's cell: in 1D the hat function of one lattice spacing
  (integrated exactly for the polynomial blends: Gauss quadrature split at the breakpoints where the
  distance crosses 0 and w); in 2D/3D the primitive cell centred on the atom, sampled with a tensor Gauss
  rule of ``n_sub`` points per direction (cells tile space, so Σ_a β̄_a V_cell = ∫β up to quadrature);
- bond weight ``w_ab`` = average of β along the reference bond (Gauss quadrature split at breakpoints);
- the continuum uses α per quadrature point through ``ContinuumRegion.set_blend(handshake.alpha, n_sub)``.

Atoms with β̄ = 0 within ``r_cut + skin`` of a weighted atom are pad atoms (slaved to the mesh, no mass,
no weight); atoms further out are dropped (`classify`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._kernels import load as _load_kernel
from .._lazy import lazy_module
from ..geometry.base import Shape
from ..geometry.compiled import compile_shape
from .blending import Blend, get_blend
from .blending.cubic import CubicBlend
from .blending.linear import LinearBlend
from .blending.quintic import QuinticBlend

_spatial = lazy_module("scipy.spatial")

#: samples per segment used to locate breakpoints before bisection
_N_SCAN = 16
_N_BISECT = 52
_MAX_CROSS = 6
#: segments per batch of `Handshake.segment_average` (bounds its work arrays to ~100 MB)
_CHUNK = 1 << 16
#: the blends the compiled kernel evaluates (its ``blend`` codes); others go through NumPy
_BLEND_CODES = {LinearBlend: 0, CubicBlend: 1, QuinticBlend: 2}
_WEIGHT_CODES = {"uniform": 0, "up": 1, "down": 2}


@dataclass
class AtomClasses:
    """Result of `Handshake.classify` for candidate sites X (n, d).

    weights : (n,) β̄ of every candidate (dimensionless)
    keep : (n,) bool, atoms the AtomisticRegion must hold (weighted or pad)
    pad : (n,) bool, pad atoms (β̄ = 0, within r_cut + skin of a weighted atom)
    n_weighted, n_pad, n_dropped : counts
    """

    weights: np.ndarray
    keep: np.ndarray
    pad: np.ndarray
    n_weighted: int
    n_pad: int
    n_dropped: int


class Handshake:
    """Blending geometry around an atomistic core.

    Parameters
    ----------
    shape : object with ``distance(X (m, d)) -> (m,)`` [length] (0 inside the atomistic core)
    width : float [length], the handshake width w > 0
    blend : name ("linear" | "cubic" | "quintic") or a `Blend` instance
    n_gauss : Gauss points per sub-segment for hat/bond averages (exact for the built-in blends in 1D)
    n_sub : Gauss points per direction for the 2D/3D atom-cell averages
    compiled : use the compiled fields and averages (kernels/handshake_geom.pyx) when the shape and the
               blend have a compiled form (the same numbers); False = the NumPy code throughout
    """

    def __init__(self, shape, width: float, blend="cubic", *, n_gauss: int = 6, n_sub: int = 4,  # noqa: ANN001
                 compiled: bool = True) -> None:
        if not width > 0:
            raise ValueError(f"handshake width must be > 0, got {width}")
        self.shape = shape
        self.width = float(width)
        self.blend: Blend = get_blend(blend)
        self.n_gauss = int(n_gauss)
        self.n_sub = int(n_sub)
        self._gx, self._gw = np.polynomial.legendre.leggauss(self.n_gauss)
        # Shortcut of the averages (see `_sure`): a registered shape's signed distance is 1-Lipschitz
        # (primitives exact, union/difference min/max of 1-Lipschitz functions), so its values at two
        # points bound it on the segment between them; used only when β is exactly 1 / 0 at s = 0 / 1.
        self._sd = shape.signed_distance if isinstance(shape, Shape) else None
        self._convex = self._sd is not None and bool(getattr(shape, "convex", False))
        self._exact_ends = (1.0 - float(self.blend.value(np.zeros(1))[0]) == 1.0
                            and 1.0 - float(self.blend.value(np.ones(1))[0]) == 0.0)
        # Compiled fields and segment averages (kernels/handshake_geom.pyx) for a shape made of the
        # registered primitives and a registered blend: the same arithmetic as the NumPy code below
        # (bitwise for boxes, balls and their unions/differences); other shapes or blends use NumPy.
        # (the kernel's quadrature scratch holds 7·32 terms: more Gauss points than 32 take the NumPy path)
        fits = 7 * self.n_gauss <= 224
        self._prog = compile_shape(shape) if compiled and isinstance(shape, Shape) and fits else None
        self._blend_code = _BLEND_CODES.get(type(self.blend))
        self._geom = _load_kernel("handshake_geom") if self._prog is not None else None
        self._ts = np.linspace(0.0, 1.0, _N_SCAN + 1)
        if self._geom is not None:
            self._sd = self._signed_distance

    def _signed_distance(self, X: np.ndarray) -> np.ndarray:
        """(m,) the shape's signed distance [length] (compiled when X is (m, dim))."""
        out = self._field(np.atleast_2d(np.asarray(X, float)), 3)
        return np.asarray(self.shape.signed_distance(X), float) if out is None else out

    def _field(self, X: np.ndarray, kind: int) -> np.ndarray | None:
        """Compiled field at X (m, d) (kind 0 distance, 1 α, 2 β, 3 signed distance; see the kernel), or
        None when the shape or the blend has no compiled form or X is not (m, dim)."""
        if self._geom is None or (kind in (1, 2) and self._blend_code is None):
            return None
        X = np.asarray(X, float)
        if X.ndim != 2 or X.shape[1] != self.shape.dim:
            return None
        out = np.empty(X.shape[0])
        self._geom.field(np.ascontiguousarray(X), *self._prog, self.width,
                         -1 if self._blend_code is None else self._blend_code, kind, out)
        return out

    # ------------------------------------------------------------------ pointwise fields
    def distance(self, X: np.ndarray) -> np.ndarray:
        """(m,) distance [length] of each point from the atomistic core (0 inside)."""
        X = np.atleast_2d(np.asarray(X, float))
        out = self._field(X, 0)
        return np.asarray(self.shape.distance(X), float) if out is None else out

    def s(self, X: np.ndarray) -> np.ndarray:
        """(m,) normalised coordinate clip(dist/w, 0, 1)."""
        return np.clip(self.distance(X) / self.width, 0.0, 1.0)

    def alpha(self, X: np.ndarray) -> np.ndarray:
        """(m,) continuum weight α(X) ∈ [0, 1] at points X (m, d). Pass this to ``set_blend``."""
        out = self._field(np.atleast_2d(np.asarray(X, float)), 1)
        return self.blend.value(self.s(X)) if out is None else out

    def beta(self, X: np.ndarray) -> np.ndarray:
        """(m,) atomistic weight β(X) = 1 − α(X)."""
        out = self._field(np.atleast_2d(np.asarray(X, float)), 2)
        return 1.0 - self.alpha(X) if out is None else out

    def alpha_on_balls(self, C: np.ndarray, R: np.ndarray) -> np.ndarray:
        """(m,) α on balls of centres C (m, d) and radii R (m,) [length] where it is certainly constant:
        0.0 on balls certainly inside the core, 1.0 on balls certainly at distance ≥ w, NaN elsewhere
        (and everywhere when the shape is not a registered `Shape` or the blend's end values are not
        exactly 0 and 1). The constants are the values `alpha` returns at every point of the ball
        (bit for bit), so a caller may skip evaluating α there (`ContinuumRegion.set_blend`)."""
        C = np.atleast_2d(np.asarray(C, float))
        R = np.asarray(R, float).reshape(-1)
        out = np.full(C.shape[0], np.nan)
        ends = self.blend.value(np.array([0.0, 1.0]))
        if not (ends[0] == 0.0 and ends[1] == 1.0):
            return out
        core, cont, _ = self._sure(C, C, R)
        out[core] = 0.0
        out[cont] = 1.0
        return out

    def alpha_axes(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
        """(m, d) bool: for point sets whose coordinates lie in [lo, hi] (m, d) [length], the axes along
        which `alpha` does not depend on the coordinate: with a single box core (compiled), an axis c
        whose interval lies strictly inside the box's (lo_c, hi_c) adds +0.0 to the box's distance sum
        (its q_c < 0), so α is a function of the other coordinates only, bit for bit (the argument of
        the bond-weight classes, kernels/handshake_geom.pyx `_segment_key`). None when α has no such
        form (another shape or blend, or the NumPy path): callers then evaluate α everywhere."""
        if (self._geom is None or self._blend_code is None or self._prog is None
                or not (self._prog[0].shape[0] == 1 and int(self._prog[0][0, 0]) == 1)):
            return None
        ops, par = self._prog
        d = self.shape.dim
        blo, bhi = par[int(ops[0, 1]):int(ops[0, 1]) + d], par[int(ops[0, 1]) + d:int(ops[0, 1]) + 2 * d]
        lo, hi = np.atleast_2d(np.asarray(lo, float)), np.atleast_2d(np.asarray(hi, float))
        if lo.shape[1] != d or not (np.all(np.abs(blo) < 1e300) and np.all(np.abs(bhi) < 1e300)):
            return None
        mg = 1e-12 * (1.0 + np.abs(lo) + np.abs(hi))
        return (lo - mg > blo) & (hi + mg < bhi)

    def in_handshake(self, X: np.ndarray) -> np.ndarray:
        """(m,) bool: points outside the open atomistic core (distance > 0, or on the core's boundary).

        Applied to weighted atoms this selects the atoms of H that enter the constraints: every weighted
        atom from the core's edge (β = 1) to the last atom whose cell reaches into H."""
        d = self.distance(X)
        X = np.atleast_2d(np.asarray(X, float))
        inside_core_edge = d <= 0.0
        if np.any(inside_core_edge):
            # points inside the core count only on its boundary
            sd = getattr(self.shape, "signed_distance", None)
            if sd is not None:
                tol = 1e-9 * self.width
                inside_core_edge &= np.asarray(sd(X)) >= -tol
        return (d > 0.0) | inside_core_edge

    # ------------------------------------------------------------------ averages
    def _breaks(self, P0: np.ndarray, D: np.ndarray, t0: np.ndarray, t1: np.ndarray,
                level: float) -> np.ndarray:
        """Bisection for the t in [t0, t1] where dist(P0 + t D) crosses ``level`` (predicate dist > level)."""
        lo, hi = t0.copy(), t1.copy()
        f_lo = self.distance(P0 + lo[:, None] * D) > level
        for _ in range(_N_BISECT):
            mid = 0.5 * (lo + hi)
            f_mid = self.distance(P0 + mid[:, None] * D) > level
            same = f_mid == f_lo
            lo = np.where(same, mid, lo)
            hi = np.where(same, hi, mid)
        return 0.5 * (lo + hi)

    def _sure(self, P0: np.ndarray, P1: np.ndarray, reach: np.ndarray,
              sd01: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(core (m,), cont (m,), inside (m,)) bool: every point within ``reach`` (m,) [length] of the
        midpoint of P0 (m, d) and P1 (m, d) — a segment (reach = half its length) or a cell around a
        centre (P0 = P1, reach = its circumradius) — is certainly inside the core (distance 0, β = 1) /
        certainly at distance ≥ w (β = 0) / certainly inside H (0 < distance < w: no breakpoint).

        With sd 1-Lipschitz, sd ≤ (sd0 + sd1)/2 + reach and sd ≥ (sd0 + sd1)/2 − reach on that set
        (for a segment: the tent bound min(sd0 + tL, sd1 + (1−t)L)). A margin of 1e-9 (w + reach) plus
        1e-12 of the coordinates keeps round-off of the sample points from deciding. All False when
        the shape is not a registered `Shape` or the blend is not exactly 0/1 at its ends.
        ``sd01``: the signed distances at P0 and P1 when the caller has them (to within round-off)."""
        m = P0.shape[0]
        if self._sd is None or not self._exact_ends or m == 0:
            z = np.zeros(m, bool)
            return z, z.copy(), z.copy()
        if sd01 is None:
            sd01 = (np.asarray(self._sd(P0), float), np.asarray(self._sd(P1), float))
        sd = 0.5 * (sd01[0] + sd01[1])
        tol = 1e-9 * (self.width + reach) + 1e-12 * (1.0 + np.max(np.abs(P0), axis=1))
        return (sd + reach < -tol, sd - reach > self.width + tol,
                (sd - reach > tol) & (sd + reach < self.width - tol))

    def segment_average(self, P0: np.ndarray, P1: np.ndarray, weight: str = "uniform",
                        sd01: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """∫₀¹ ω(t) β(P0 + t (P1 − P0)) dt for m segments (P0, P1: (m, d)); returns (m,).

        ``weight``: "uniform" (ω = 1), "up" (ω = 2t) or "down" (ω = 2(1 − t)); each ω integrates to 1.
        The segment is split where the distance crosses 0 and w (found by bisection) and each piece is
        integrated with Gauss–Legendre, so piecewise-polynomial β along a straight distance is exact.
        """
        P0 = np.atleast_2d(np.asarray(P0, float))
        P1 = np.atleast_2d(np.asarray(P1, float))
        m = P0.shape[0]
        if m > _CHUNK:   # bounded work arrays (each segment is computed on its own: same bits)
            return np.concatenate([self.segment_average(
                P0[k:k + _CHUNK], P1[k:k + _CHUNK], weight,
                None if sd01 is None else (sd01[0][k:k + _CHUNK], sd01[1][k:k + _CHUNK]))
                for k in range(0, m, _CHUNK)])
        out = np.empty(m)
        if m == 0:
            return out
        D = P1 - P0
        if self._sd is not None and self._exact_ends and sd01 is None:
            sd01 = (np.asarray(self._sd(P0), float), np.asarray(self._sd(P1), float))
        core, cont, inside = self._sure(P0, P1, 0.5 * np.sqrt(np.sum(D * D, axis=1)), sd01)
        if self._convex and sd01 is not None:
            # a convex core holds every segment whose two ends it holds; with the margin of `_sure`
            # (far above the round-off of the sample points) the scan below would find every sample in
            # the core and return 1.0: the same value without the scan
            tol = 1e-9 * self.width + 1e-12 * (1.0 + np.maximum(np.max(np.abs(P0), axis=1),
                                                                 np.max(np.abs(P1), axis=1)))
            core |= (sd01[0] < -tol) & (sd01[1] < -tol)
        out[core] = 1.0
        out[cont] = 0.0
        rest = np.flatnonzero(~(core | cont | inside))
        if self._geom is not None and self._blend_code is not None:
            # the same per-segment arithmetic, compiled: scan, bisection and quadrature of each segment
            ins = np.flatnonzero(inside)
            rows = np.concatenate([ins, rest]).astype(np.int64)
            if rows.size == 0:
                return out
            if weight not in _WEIGHT_CODES:
                raise ValueError(f"unknown weight {weight!r}")
            scan = np.concatenate([np.zeros(ins.size, np.uint8), np.ones(rest.size, np.uint8)])
            self._geom.segment_average(np.ascontiguousarray(P0), np.ascontiguousarray(P1), rows, scan,
                                       *self._prog, self.width, self._blend_code, _WEIGHT_CODES[weight],
                                       self._ts, self._gx, self._gw, out)
            return out
        P0all, Dall = P0, D
        P0, D = P0[rest], D[rest]
        ts = np.linspace(0.0, 1.0, _N_SCAN + 1)
        pts = P0[:, None, :] + ts[None, :, None] * D[:, None, :]
        dist = self.distance(pts.reshape(-1, P0.shape[1])).reshape(rest.size, _N_SCAN + 1)
        all_core = np.all(dist <= 0.0, axis=1)
        all_cont = np.all(dist >= self.width, axis=1)
        out[rest[all_core]] = 1.0
        out[rest[all_cont]] = 0.0
        mixed = np.flatnonzero(~(all_core | all_cont))
        # segments certainly inside H (0 < dist < w all along) cross no level: the scan would find no
        # breakpoint, so they join with the padding roots only (the same arithmetic per segment)
        ins = np.flatnonzero(inside)
        if mixed.size + ins.size == 0:
            return out
        P0m = np.concatenate([P0all[ins], P0[mixed]])
        Dm = np.concatenate([Dall[ins], D[mixed]])
        dm = dist[mixed]
        mixed = np.concatenate([ins, rest[mixed]])
        mm = mixed.size
        # crossing points of the levels 0 and w (at most _MAX_CROSS per segment; convex shapes have ≤ 4)
        roots = np.ones((mm, _MAX_CROSS))
        rs, trs = [], []
        for level in (0.0, self.width):
            pr = dm > level
            r, kk = np.nonzero(pr[:, 1:] != pr[:, :-1])
            r = r + ins.size
            if r.size:
                rs.append(r)
                trs.append(self._breaks(P0m[r], Dm[r], ts[kk], ts[kk + 1], level))
        if rs:
            r, tr = np.concatenate(rs), np.concatenate(trs)
            order = np.argsort(r, kind="stable")
            r, tr = r[order], tr[order]
            first = np.searchsorted(r, r, side="left")
            rank = np.arange(len(r)) - first
            ok = rank < _MAX_CROSS
            roots[r[ok], rank[ok]] = tr[ok]
        roots.sort(axis=1)
        edges = np.concatenate([np.zeros((mm, 1)), roots, np.ones((mm, 1))], axis=1)
        lo, hi = edges[:, :-1], edges[:, 1:]
        half = 0.5 * (hi - lo)
        mid = 0.5 * (hi + lo)
        t = mid[:, :, None] + half[:, :, None] * self._gx[None, None, :]  # (mm, pieces, g)
        wq = half[:, :, None] * self._gw[None, None, :]
        if weight == "up":
            wq = wq * 2.0 * t
        elif weight == "down":
            wq = wq * 2.0 * (1.0 - t)
        elif weight != "uniform":
            raise ValueError(f"unknown weight {weight!r}")
        # β only on pieces of non-zero length (the padding roots at t = 1 give empty pieces, whose terms
        # are wq = +0 times β ≥ 0: +0 whatever β, so 0 there gives the same sum bit for bit)
        beta = np.zeros(t.shape)
        r, k = np.nonzero(half > 0.0)
        X = P0m[r][:, None, :] + t[r, k][..., None] * Dm[r][:, None, :]
        beta[r, k] = self.beta(X.reshape(-1, P0.shape[1])).reshape(r.size, -1)
        out[mixed] = np.sum(wq * beta, axis=(1, 2))
        return out

    def atom_weights(self, X: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """β̄_a (n,) for atoms at reference positions X (n, d).

        cell : (d, d) primitive vectors (rows) [length]. 1D: β̄ = average of β under the hat function of
        half-width |cell| centred on the atom (exact); 2D/3D: average over the primitive cell centred on
        the atom with ``n_sub`` Gauss points per direction.
        """
        X = np.atleast_2d(np.asarray(X, float))
        cell = np.atleast_2d(np.asarray(cell, float))
        n, d = X.shape
        if d == 1:
            a = abs(float(cell[0, 0]))
            left = self.segment_average(X - a, X, "up")
            right = self.segment_average(X, X + a, "down")
            return 0.5 * (left + right)
        g, gw = np.polynomial.legendre.leggauss(self.n_sub)
        g, gw = 0.5 * g, 0.5 * gw  # on [-1/2, 1/2]
        grids = np.meshgrid(*([g] * d), indexing="ij")
        T = np.stack([q.ravel() for q in grids], axis=1)  # (ns, d)
        W = np.prod(np.meshgrid(*([gw] * d), indexing="ij"), axis=0).ravel()
        offs = T @ cell  # (ns, d)
        core, cont, _ = self._sure(X, X, np.full(n, float(np.max(np.sqrt(np.sum(offs * offs, axis=1))))))
        w = np.empty(n)
        w[core] = 1.0
        w[cont] = 0.0
        rest = np.flatnonzero(~(core | cont))
        if rest.size == 0:
            return w
        pts = X[rest][:, None, :] + offs[None, :, :]
        beta = self.beta(pts.reshape(-1, d)).reshape(rest.size, -1)
        # Σ_k β_k W_k in a fixed order per atom (elementwise products and sums, no BLAS): β̄ of a site is a
        # function of the site alone. `beta @ W` (OpenBLAS dgemv) rounds the last (rows mod 4) rows, and
        # each thread's chunk's last rows, in another kernel: a site's β̄ depended on its place in X and
        # on OPENBLAS_NUM_THREADS, and a rank's own sites could not reproduce it (parallel/rank_sites.py)
        wr = beta[:, 0] * W[0]
        for k in range(1, W.size):
            wr += beta[:, k] * W[k]
        # cells entirely in the core / in the continuum give exact 1 / 0
        wr[np.all(beta == 1.0, axis=1)] = 1.0
        wr[np.all(beta == 0.0, axis=1)] = 0.0
        w[rest] = wr
        return w

    def bond_weights(self, Xi: np.ndarray, dX: np.ndarray) -> np.ndarray:
        """(m,) average of β along reference bonds from Xi (m, d) to Xi + dX (m, d)."""
        Xi = np.atleast_2d(np.asarray(Xi, float))
        return self.segment_average(Xi, Xi + np.atleast_2d(np.asarray(dX, float)), "uniform")

    def bond_weight_fn(self, X_ref: np.ndarray):  # noqa: ANN201
        """A ``bond_weight_fn(i (m,), j (m,), dX (m, d)) -> (m,)`` for ``AtomisticRegion.set_weights``.

        X_ref : (n, d) reference positions of the region's atoms. Uses atom i's reference position and the
        reference bond vector dX (so periodic images are handled by the caller's dX). With a compiled
        shape and blend the function carries ``fn.symmetric(i, j, dX)``, the pair's weight symmetric in
        i, j bitwise (kernels/handshake_geom.pyx ``bond_weights``): for a bond without image shift
        (dX = (X_j − X_i) + 0.0) fn along ONE canonical direction a → b, a the end with the
        lexicographically smaller coordinates, i.e. fn(a, b, (X_b − X_a) + 0.0), the same bits as this
        NumPy function there; for any other dX ½ [fn(i, j, dX) + fn(j, i, −dX)]. The average along the
        canonical direction differs from that of both directions at round-off only (measured on the bench
        decks of benchmarks/bench_coupled.py: at most 1 ulp of the weight), for half the work.
        """
        X_ref = np.asarray(X_ref, float)
        sd_ref = None if self._sd is None else np.asarray(self._sd(X_ref), float)

        def fn(i: np.ndarray, j: np.ndarray, dX: np.ndarray) -> np.ndarray:
            i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
            P0 = X_ref[i]
            dX = np.atleast_2d(np.asarray(dX, float))
            P1 = P0 + dX
            sd01 = None
            if sd_ref is not None:
                # the far end is atom j itself unless the bond crosses a periodic boundary; the bound of
                # `_sure` has margin for the round-off of X_i + (X_j − X_i)
                sd1 = sd_ref[j].copy()
                img = np.flatnonzero(np.max(np.abs(P1 - X_ref[j]), axis=1, initial=0.0)
                                     > 1e-13 * (1.0 + np.max(np.abs(P1), axis=1, initial=0.0)))
                if img.size:
                    sd1[img] = self._sd(P1[img])
                sd01 = (sd_ref[i], sd1)
            return self.segment_average(P0, P1, "uniform", sd01)

        if self._geom is not None and self._blend_code is not None and sd_ref is not None:
            X_c = np.ascontiguousarray(X_ref)

            def symmetric(i: np.ndarray, j: np.ndarray, dX: np.ndarray | None,
                          n_threads: int = 1, cache: bool = True) -> np.ndarray:
                """(m,) pair weights in one compiled pass: fn along the canonical direction for bonds
                without image shift, ½ [fn(i, j, dX) + fn(j, i, −dX)] for the others (see above; the same
                bits for (i, j) and (j, i) and for any ``n_threads``). ``dX`` None: the bonds without image
                shift, dX = (X_j − X_i) + 0.0 formed in the kernel (the same values as the gathers,
                without them). ``cache``: bonds of the same class along a single box's faces and edges
                computed once (the kernel's ``cache``; the same bits); False computes every bond."""
                i = np.ascontiguousarray(i, dtype=np.int64)
                j = np.ascontiguousarray(j, dtype=np.int64)
                from_X = dX is None
                if from_X:
                    if i.size and (min(int(i.min()), int(j.min())) < 0
                                   or max(int(i.max()), int(j.max())) >= X_c.shape[0]):
                        raise IndexError("bond_weight_fn.symmetric: atom index out of range")
                    dX = np.zeros((0, X_c.shape[1]))
                dX = np.ascontiguousarray(np.atleast_2d(np.asarray(dX, float)))
                out = np.empty(i.size)
                self._geom.bond_weights(X_c, sd_ref, i, j, dX, *self._prog, self.width, self._blend_code,
                                        int(self._exact_ends), int(self._convex), self._ts, self._gx,
                                        self._gw, out, int(n_threads), int(from_X), int(cache))
                return out

            fn.symmetric = symmetric
        if self._convex and sd_ref is not None and X_ref.size:
            # both atoms inside a convex core by more than the margin of the convex-core shortcut (in
            # `segment_average` and the kernel: 1e-9 w + 1e-12 (1 + max |coordinate| of the two ends)):
            # both directions return exactly 1.0, so their average is 1.0. The margin here, with 2e-12
            # and the largest coordinate of any atom, covers the far end X_i + (X_j − X_i) (within a few
            # ulps of X_j, whose signed distance the function then uses) of every pair without an image
            # shift; the caller (`AtomisticRegion._update_bond_weights`) gives pairs across a periodic
            # boundary to the function.
            big = float(np.max(np.abs(X_ref)))
            margin = 1e-9 * self.width + 2e-12 * (1.0 + big)
            deep = sd_ref < -margin

            def certain_unit(i: np.ndarray, j: np.ndarray) -> np.ndarray:
                """(m,) bool: pairs (i, j) without image shift whose weight is certainly exactly 1.0."""
                return deep[i] & deep[j]

            fn.certain_unit = certain_unit
        return fn

    # ------------------------------------------------------------------ classification and checks
    def classify(self, X: np.ndarray, cell: np.ndarray, reach: float) -> AtomClasses:
        """Split candidate lattice sites X (n, d) into weighted, pad and dropped atoms.

        reach : r_cut + skin [length]; pads are β̄ = 0 sites within reach of a weighted site.
        """
        X = np.atleast_2d(np.asarray(X, float))
        w = self.atom_weights(X, cell)
        weighted = w > 0.0
        pad = np.zeros(len(X), bool)
        cand = np.flatnonzero(~weighted)
        if cand.size and np.any(weighted):
            near = weighted
            if self._sd is not None and self._exact_ends and self._blend_code is not None:
                # only weighted sites near the continuum can be within reach of a candidate: a site of β̄ = 0
                # has every point of its cell (circumradius r) at distance ≥ w from the core (β = 0 there:
                # the linear / cubic / quintic blend is 1 only at s = 1, up to its round-off), so with sd
                # 1-Lipschitz its own sd ≥ w − r and a site within reach of it has sd ≥ w − r − reach; the
                # margin (0.01 w + r) covers the round-off generously. The tree then holds the sites near
                # the handshake's outer edge, not the whole core (the same pads: the same nearest-site test
                # on the sites that can pass).
                cell_m = np.atleast_2d(np.asarray(cell, float))
                r = 0.5 * float(np.sum(np.sqrt(np.sum(cell_m * cell_m, axis=1))))
                sd = np.asarray(self._sd(X), float)
                near = weighted & (sd > self.width - 2.0 * r - 0.01 * self.width - reach)
            tree = _spatial.cKDTree(X[near])
            dist, _ = tree.query(X[cand], k=1, distance_upper_bound=reach * (1 + 1e-12))
            pad[cand[np.isfinite(dist)]] = True
        keep = weighted | pad
        return AtomClasses(weights=w, keep=keep, pad=pad, n_weighted=int(weighted.sum()),
                           n_pad=int(pad.sum()), n_dropped=int((~keep).sum()))

    def check_geometry(self, cutoff: float, skin: float, element_size: float | None = None) -> None:
        """Raise ValueError when the handshake is narrower than cut-off + skin or than one element."""
        need = float(cutoff) + float(skin)
        if self.width < need:
            raise ValueError(f"handshake width {self.width:g} is smaller than the potential cut-off plus "
                             f"neighbour skin {need:g} (= {cutoff:g} + {skin:g}); widen the handshake")
        if element_size is not None and self.width < element_size:
            # a width of one element printed "2.8 is smaller than ... 2.8" (rev32 F5: the size is 2.8 + round-off)
            w, e = f"{self.width:.10g}", f"{element_size:.10g}"
            if w == e:
                e += f" (larger by {element_size - self.width:.2g}, the round-off of the mesh's spacing)"
            raise ValueError(f"handshake width {w} is smaller than the element size "
                             f"{e} of the mesh across it; widen the handshake or refine the "
                             "mesh")
