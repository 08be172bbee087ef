# cython: language_level=3
"""Set-up kernels of the handshake geometry (multiscale.coupling.handshake): the blending field at points
and the averages of β along segments (bond weights), for the registered shapes and blends.

A shape is given as a small post-order program (``multiscale.geometry.compiled.compile_shape``):
``ops`` (k, 3) int64 rows (op code, offset of its parameters in ``par``, number of operands) and ``par``
(float64). Op codes and parameters (d = space dimension):

====  =========  ===================================================================
1     box        lo (d), hi (d)                      as ``BoxShape.signed_distance``
2     ball       centre (d), radius                  ``|x − c| − r`` (sphere, 2D cylinder)
3     cylinder3  centre (3), axis (3), radius, half length (< 0: infinite)
4     halfspace  point (d), unit normal (d)
5     union      k operands: min                     as ``UnionShape``
6     difference k operands: max(sd_0, −sd_1, …)     as ``DifferenceShape``
====  =========  ===================================================================

Blends (``blend``): 0 linear α = s, 1 cubic α = s²(3 − 2s), 2 quintic α = s³(10 + s(−15 + 6s)), each
with the same operations in the same order as its NumPy ``_value``; s = clip(dist / w, 0, 1),
dist = max(sd, 0), β = 1 − α.

`segment_average` is the per-segment arithmetic of ``Handshake.segment_average`` (NumPy) in the same
order: the scan of dist at ``ts`` (17 samples), bisection (52 halvings) of each sampled sign change of
``dist > level`` for level 0 then w (at most 6 roots kept, in that order), the roots sorted, Gauss
quadrature of β on the 7 pieces (empty pieces give +0 terms), the 7·g terms summed as NumPy's pairwise
sum does. For the box, ball and union/difference of them the values are bitwise NumPy's; the cylinder
and the half-space use dot products that NumPy takes from BLAS (round-off differences). Compiled with
``-ffp-contract=off`` (no fused multiply-adds: the same roundings as NumPy).

A single box (the common core) takes three certified shortcuts that leave every predicate and term as
computed above (the same bits, `tests/coupling/test_handshake_compiled.py`): the exact signed distance
along a segment is convex and |D|-Lipschitz in t, and the computed one is within ``eb`` of it
(`_one_segment`); so scan samples that chord/Lipschitz bounds decide are not evaluated (`_box_scan`),
bisection steps outside a window around the crossing found by regula falsi and checked at its two ends
take the known side without evaluating (`_box_root`), and Gauss points certainly in the core (β = 1)
or at distance ≥ w (β = 0) are not evaluated.

Set-up only (once per run), ``nogil``; segments are independent, so ``prange(num_threads=n)`` gives the
same bits for any thread count.
"""

cimport cython
from cython.parallel cimport prange
from libc.math cimport sqrt, fabs, hypot, isnan, isinf, INFINITY
from libc.stdint cimport int64_t, int32_t, uint64_t
from libc.string cimport memcpy

import numpy as np

cdef double _FMAX = 1.7976931348623157e308

DEF MAX_STACK = 32
DEF MAX_CROSS = 6
DEF N_BISECT = 52
DEF MAX_TERMS = 7 * 32
#: `bond_weights`' cache of segment classes (see `_segment_key`): at most this many distinct keys per call
DEF KEY_LIMIT = 1 << 17
DEF KEY_SLOTS = 1 << 18
DEF KEY_W = 7


cdef inline double _npmax(double a, double b) noexcept nogil:
    # np.maximum: NaN propagates, otherwise the larger (a on ties)
    if isnan(a) or isnan(b):
        return a + b
    return a if a >= b else b


cdef inline double _npmin(double a, double b) noexcept nogil:
    if isnan(a) or isnan(b):
        return a + b
    return a if a <= b else b


cdef inline double _box_sd(const double* lo, const double* hi, int d, const double* x) noexcept nogil:
    """The box's signed distance of x (d,) [length], lo/hi (d,): op 1 of `_sd` and the single-box fast path."""
    cdef double a, b, q, p, ss = 0.0, top = 0.0
    cdef int kk
    for kk in range(d):
        a = lo[kk] - x[kk]
        b = x[kk] - hi[kk]
        if isnan(a) or isnan(b):
            q = -INFINITY
        else:
            q = a if a >= b else b
            if isinf(q):
                q = _FMAX if q > 0 else -_FMAX
        p = q if q > 0.0 else 0.0
        if kk == 0:
            ss = p * p
            top = q
        else:
            ss = ss + p * p
            top = _npmax(top, q)
    return sqrt(ss) + _npmin(top, 0.0)


cdef inline double _box_sd_fin(const double* lo, const double* hi, int d, const double* x) noexcept nogil:
    """`_box_sd` for finite lo, hi, x with |values| < 1e300 (no NaN, no overflow): the same operations
    and results without the NaN/infinity handling."""
    cdef double a, b, q, p, ss, top
    cdef int kk
    a = lo[0] - x[0]
    b = x[0] - hi[0]
    q = a if a >= b else b
    p = q if q > 0.0 else 0.0
    ss = p * p
    top = q
    for kk in range(1, d):
        a = lo[kk] - x[kk]
        b = x[kk] - hi[kk]
        q = a if a >= b else b
        p = q if q > 0.0 else 0.0
        ss = ss + p * p
        top = top if top >= q else q
    return sqrt(ss) + (top if top <= 0.0 else 0.0)


cdef double _sd(const int64_t[:, ::1] ops, const double[::1] par, int d, const double* x) noexcept nogil:
    """Signed distance of the point x (d,) [length]."""
    cdef double stack[MAX_STACK]
    cdef int sp = 0, k, nc, i, kk
    cdef int64_t op, off
    cdef double q, a, b, p, ss, top, v, h, r0, r1, r2, rad, axial
    for k in range(ops.shape[0]):
        op = ops[k, 0]
        off = ops[k, 1]
        nc = <int>ops[k, 2]
        if op == 1:
            v = _box_sd(&par[off], &par[off + d], d, x)
        elif op == 2:
            ss = 0.0
            for kk in range(d):
                a = x[kk] - par[off + kk]
                if kk == 0:
                    ss = a * a
                else:
                    ss = ss + a * a
            v = sqrt(ss) - par[off + d]
        elif op == 3:
            r0 = x[0] - par[off]
            r1 = x[1] - par[off + 1]
            r2 = x[2] - par[off + 2]
            h = r0 * par[off + 3] + r1 * par[off + 4] + r2 * par[off + 5]
            a = r0 - h * par[off + 3]
            b = r1 - h * par[off + 4]
            q = r2 - h * par[off + 5]
            rad = sqrt(a * a + b * b + q * q) - par[off + 6]
            if par[off + 7] < 0.0:
                v = rad
            else:
                axial = fabs(h) - par[off + 7]
                v = hypot(_npmax(rad, 0.0), _npmax(axial, 0.0)) + _npmin(_npmax(rad, axial), 0.0)
        elif op == 4:
            v = 0.0
            for kk in range(d):
                if kk == 0:
                    v = (x[kk] - par[off + kk]) * par[off + d + kk]
                else:
                    v = v + (x[kk] - par[off + kk]) * par[off + d + kk]
        elif op == 5:
            v = stack[sp - nc]
            for i in range(1, nc):
                v = _npmin(v, stack[sp - nc + i])
            sp = sp - nc
        else:
            v = stack[sp - nc]
            for i in range(1, nc):
                v = _npmax(v, -stack[sp - nc + i])
            sp = sp - nc
        stack[sp] = v
        sp = sp + 1
    return stack[0]


cdef inline double _dist(const int64_t[:, ::1] ops, const double[::1] par, int d,
                         const double* x) noexcept nogil:
    cdef double s
    if ops.shape[0] == 1 and ops[0, 0] == 1:        # a single box: the common core
        s = _box_sd(&par[ops[0, 1]], &par[ops[0, 1] + d], d, x)
    else:
        s = _sd(ops, par, d, x)
    return _npmax(s, 0.0)


cdef inline double _alpha_of_dist(double dist, double w, int blend) noexcept nogil:
    cdef double s = dist / w
    # np.clip(s, 0, 1) (twice: Handshake.s, then Blend.value; idempotent)
    if s < 0.0:
        s = 0.0
    if s > 1.0:
        s = 1.0
    if blend == 0:
        return s
    elif blend == 1:
        return s * s * (3.0 - 2.0 * s)
    else:
        return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))


cdef double _pairwise(const double* a, Py_ssize_t n) noexcept nogil:
    """NumPy's pairwise summation of a[0:n] (8 accumulators, blocks of 128)."""
    cdef Py_ssize_t i, n2
    cdef double r0, r1, r2, r3, r4, r5, r6, r7, res
    if n < 8:
        res = 0.0
        for i in range(n):
            res = res + a[i]
        return res
    elif n <= 128:
        r0 = a[0]
        r1 = a[1]
        r2 = a[2]
        r3 = a[3]
        r4 = a[4]
        r5 = a[5]
        r6 = a[6]
        r7 = a[7]
        i = 8
        while i < n - (n % 8):
            r0 = r0 + a[i]
            r1 = r1 + a[i + 1]
            r2 = r2 + a[i + 2]
            r3 = r3 + a[i + 3]
            r4 = r4 + a[i + 4]
            r5 = r5 + a[i + 5]
            r6 = r6 + a[i + 6]
            r7 = r7 + a[i + 7]
            i = i + 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res = res + a[i]
            i = i + 1
        return res
    else:
        n2 = n // 2
        n2 = n2 - n2 % 8
        return _pairwise(a, n2) + _pairwise(a + n2, n - n2)


@cython.boundscheck(False)
@cython.wraparound(False)
def field(const double[:, ::1] X, const int64_t[:, ::1] ops, const double[::1] par, double width,
          int blend, int kind, double[::1] out, int n_threads=1):
    """Pointwise fields at X (m, d) into out (m,): kind 0 distance max(sd, 0) [length], 1 α, 2 β = 1 − α,
    3 the signed distance [length]."""
    cdef Py_ssize_t m = X.shape[0], i
    cdef int d = <int>X.shape[1]
    cdef double dist
    if out.shape[0] != m or d < 1 or d > 3:
        raise ValueError("field: shape mismatch")
    with nogil:
        for i in prange(m, num_threads=n_threads, schedule="static"):
            if kind == 3:
                out[i] = _sd(ops, par, d, &X[i, 0])
            else:
                dist = _dist(ops, par, d, &X[i, 0])
                if kind == 0:
                    out[i] = dist
                elif kind == 1:
                    out[i] = _alpha_of_dist(dist, width, blend)
                else:
                    out[i] = 1.0 - _alpha_of_dist(dist, width, blend)


@cython.boundscheck(False)
@cython.wraparound(False)
def segment_average(const double[:, ::1] P0, const double[:, ::1] P1, const int64_t[::1] rows,
                    const unsigned char[::1] scan, const int64_t[:, ::1] ops, const double[::1] par,
                    double width, int blend, int weight, const double[::1] ts, const double[::1] gx,
                    const double[::1] gw, double[::1] out, int n_threads=1):
    """out[rows[k]] = ∫₀¹ ω(t) β(P0 + t (P1 − P0)) dt for the segments ``rows`` (P0, P1: (m, d)).

    scan[k] = 1: scan dist at ``ts`` (all samples in the core → 1.0, all at ≥ w → 0.0, else breakpoints
    by bisection); 0: the segment is certainly inside H (no breakpoint). weight: 0 uniform, 1 up (2t),
    2 down (2(1 − t)). ts (ns,), gx, gw (g,) Gauss–Legendre nodes/weights on [−1, 1]; 7·g ≤ 224."""
    cdef Py_ssize_t nr = rows.shape[0], k
    cdef int d = <int>P0.shape[1]
    cdef int ns = <int>ts.shape[0], g = <int>gx.shape[0]
    if (P1.shape[0] != P0.shape[0] or P1.shape[1] != d or scan.shape[0] != nr or d < 1 or d > 3
            or gw.shape[0] != g or 7 * g > MAX_TERMS or ns < 2 or ns > 64 or out.shape[0] != P0.shape[0]):
        raise ValueError("segment_average: shape mismatch")
    with nogil:
        for k in prange(nr, num_threads=n_threads, schedule="dynamic", chunksize=256):
            out[rows[k]] = _one_segment(&P0[rows[k], 0], &P1[rows[k], 0], scan[k], ops, par, d, width,
                                        blend, weight, ts, gx, gw)


cdef void _box_scan(const double* p0, const double* D, int d, const double* blo, const double* bhi,
                    const double[::1] ts, double w, double eb, double* sdv, unsigned char* kn,
                    unsigned char* pz, unsigned char* pw, unsigned char* pge) noexcept nogil:
    """The scan of a single box: pz[i] = (dist > 0), pw[i] = (dist > w), pge[i] = (dist >= w) at the
    samples ts[i], dist = max(F, 0), F the computed signed distance (``_box_at``), each the value the
    plain scan computes. F is taken at both ends (kn = 1, sdv = F); an inner sample is taken only when
    bounds do not decide its three predicates: f (exact, on the line) is convex, so f ≤ the chord of the
    last sample taken before it and the end (+ eb), and |D|-Lipschitz, so f ≥ each of those two values
    − |D| |Δt| (− eb); |F − f| ≤ eb (`_one_segment`). Margins cover the round-off of the bounds."""
    cdef int ns = <int>ts.shape[0], i, l = 0, r = ns - 1
    cdef double dn = 0.0, c, m, up, low, tl, tr, ti, v
    cdef int k
    for k in range(d):
        dn = dn + D[k] * D[k]
    dn = sqrt(dn) * (1.0 + 1e-15) + 1e-300
    for i in range(ns):
        kn[i] = 0
    sdv[0] = _box_at(p0, D, d, blo, bhi, ts[0])
    sdv[r] = _box_at(p0, D, d, blo, bhi, ts[r])
    kn[0] = 1
    kn[r] = 1
    tr = ts[r]
    for i in range(ns):
        if 0 < i < r:
            tl = ts[l]
            ti = ts[i]
            c = sdv[l] + (sdv[r] - sdv[l]) * ((ti - tl) / (tr - tl))
            m = eb + 64.0 * 1.1102230246251565e-16 * (1.0 + fabs(sdv[l]) + fabs(sdv[r]) + dn)
            up = c + m
            low = _npmax(sdv[l] - dn * (ti - tl), sdv[r] - dn * (tr - ti)) - m
            if not (up < INFINITY and low > -INFINITY):
                pass
            elif low > w + eb:
                pz[i] = 1
                pw[i] = 1
                pge[i] = 1
                continue
            elif up < -eb:
                pz[i] = 0
                pw[i] = 0
                pge[i] = 0
                continue
            elif low > eb and up < w - eb:
                pz[i] = 1
                pw[i] = 0
                pge[i] = 0
                continue
            sdv[i] = _box_at(p0, D, d, blo, bhi, ti)
            kn[i] = 1
        v = _npmax(sdv[i], 0.0)
        pz[i] = v > 0.0
        pw[i] = v > w
        pge[i] = v >= w
        if kn[i] and i < r:
            l = i


cdef inline double _box_at(const double* p0, const double* D, int d, const double* blo, const double* bhi,
                           double t) noexcept nogil:
    """The box's signed distance at p0 + t D, the point built as in the bisection."""
    cdef double x[3]
    cdef int c
    for c in range(d):
        x[c] = p0[c] + t * D[c]
    return _box_sd_fin(blo, bhi, d, x)


cdef void _box_root(const double* p0, const double* D, int d, const double* blo, const double* bhi,
                    double lo, double hi, double s_lo, double s_hi, double level, double eb, bint f_lo,
                    double* wa, double* wb) noexcept nogil:
    """A certified window (wa, wb) ⊂ (lo, hi) around the crossing of ``sd > level`` for a single box:
    the computed predicate is f_lo at every t in [lo, wa] and (not f_lo) at every t in [wb, hi], so the
    bisection takes those steps without evaluating the shape (the same steps, the same bits).

    f(t) = the exact signed distance on the line p0 + t D is convex (a box is convex), and the computed
    value F(t) (``_box_at``, the bisection's own point) is within eb of f(t). With f_lo False (sd rising
    through the level): F(lo) < level − 2eb and F(wa) < level − 2eb give f < level − eb on [lo, wa]
    (convexity: f ≤ the larger end value), hence F ≤ level there; F(wb) > level + 2eb with f(wa) < f(wb)
    makes f rising beyond wb (convexity: slopes increase), so F > level on [wb, hi]. f_lo True is the
    mirror image (F(hi) < level − 2eb). The crossing is estimated by regula falsi (Illinois) on F;
    whenever a condition fails the window stays empty (wa = wb = −1: every step evaluated)."""
    cdef double ta = lo, tb = hi, ga = s_lo - level, gb = s_hi - level, t = 0.0, gt, dl, fa, fb
    cdef int it, side = 0, att, ok
    wa[0] = -1.0
    wb[0] = -1.0
    if f_lo:
        if not (s_hi < level - 2.0 * eb):
            return
    else:
        if not (s_lo < level - 2.0 * eb):
            return
    if not (ga * gb < 0.0):
        return
    for it in range(40):
        t = (ta * gb - tb * ga) / (gb - ga)
        if not (t > ta and t < tb):
            t = 0.5 * (ta + tb)
        gt = _box_at(p0, D, d, blo, bhi, t) - level
        if fabs(gt) <= 2.0 * eb or tb - ta <= 1e-15:
            break
        if (gt > 0.0) == (gb > 0.0):
            tb = t
            gb = gt
            if side == -1:
                ga = 0.5 * ga
            side = -1
        else:
            ta = t
            ga = gt
            if side == 1:
                gb = 0.5 * gb
            side = 1
    if not (tb > ta):
        return
    # half-width: a few multiples of eb over the local slope, at least a few ulps of t
    dl = 8.0 * eb * (tb - ta) / fabs(gb - ga) + 8.0 * 2.220446049250313e-16
    ok = 0
    for att in range(6):
        fa = s_lo
        fb = s_hi
        if t - dl > lo:
            fa = _box_at(p0, D, d, blo, bhi, t - dl)
        if t + dl < hi:
            fb = _box_at(p0, D, d, blo, bhi, t + dl)
        if f_lo:
            ok = fa > level + 2.0 * eb and fb < level - 2.0 * eb
        else:
            ok = fa < level - 2.0 * eb and fb > level + 2.0 * eb
        if ok:
            break
        dl = 16.0 * dl
    if not ok:
        return
    wa[0] = t - dl if t - dl > lo else lo
    wb[0] = t + dl if t + dl < hi else hi


cdef double _one_segment(const double* p0, const double* p1, int scan, const int64_t[:, ::1] ops,
                         const double[::1] par, int d, double w, int blend, int weight,
                         const double[::1] ts, const double[::1] gx, const double[::1] gw) noexcept nogil:
    cdef double D[3]
    cdef double x[3]
    cdef double dist[64]
    cdef double roots[MAX_CROSS]
    cdef double edges[MAX_CROSS + 2]
    cdef double terms[MAX_TERMS]
    cdef int ns = <int>ts.shape[0], g = <int>gx.shape[0]
    cdef int i, kk, nroot = 0, lev, it, all_core, all_cont, c, pc
    cdef double sdv[64]
    cdef unsigned char kn[64]
    cdef unsigned char pz[64]
    cdef unsigned char pw[64]
    cdef unsigned char pge[64]
    cdef double kt[64]
    cdef double kv[64]
    cdef int nk = 0, j = 0
    cdef double dn = 0.0, mc
    cdef double level, lo, hi, mid, t, half, wq, tmp, wa, wb, eb = 0.0
    cdef bint f_lo, f_mid, a, b
    cdef int box = ops.shape[0] == 1 and ops[0, 0] == 1
    for c in range(d):
        D[c] = p1[c] - p0[c]
    if box:
        # E of `_box_root`: |computed signed distance at p0 + t D − exact one on the line| ≤ eb, t ∈ [0, 1]
        # (the point's two roundings and the box formula's: ≲ 16 u (1 + M) with M the largest |lo|, |hi|,
        # |p0| plus |D|; 64 u taken); non-finite input: no window
        tmp = 0.0
        for c in range(d):
            tmp = tmp + fabs(par[ops[0, 1] + c]) + fabs(par[ops[0, 1] + d + c]) + fabs(p0[c]) + fabs(D[c])
        eb = 64.0 * 1.1102230246251565e-16 * (1.0 + tmp)
        if not (tmp < 1e300):     # also: no overflow, no NaN (`_box_sd_fin`)
            box = 0
    if scan:
        all_core = 1
        all_cont = 1
        if box:
            _box_scan(p0, D, d, &par[ops[0, 1]], &par[ops[0, 1] + d], ts, w, eb, sdv, kn, pz, pw, pge)
        else:
            for i in range(ns):
                for c in range(d):
                    x[c] = p0[c] + ts[i] * D[c]
                dist[i] = _dist(ops, par, d, x)
                pz[i] = dist[i] > 0.0
                pw[i] = dist[i] > w
                pge[i] = dist[i] >= w
        for i in range(ns):
            if pz[i]:         # not (dist <= 0)
                all_core = 0
            if not pge[i]:
                all_cont = 0
        if all_core:
            return 1.0
        if all_cont:
            return 0.0
        for lev in range(2):
            level = 0.0 if lev == 0 else w
            for kk in range(ns - 1):
                a = pz[kk] if lev == 0 else pw[kk]
                b = pz[kk + 1] if lev == 0 else pw[kk + 1]
                if a == b:
                    continue
                lo = ts[kk]
                hi = ts[kk + 1]
                f_lo = a          # dist at P0 + lo D: the scan's sample (the same point, the same value)
                wa = -1.0         # certified window (wa, wb): see `_box_root`; empty = evaluate every step
                wb = -1.0
                if box:
                    for i in range(kk, kk + 2):     # the bracket ends' values (the scan's, where it took them)
                        if not kn[i]:
                            sdv[i] = _box_at(p0, D, d, &par[ops[0, 1]], &par[ops[0, 1] + d], ts[i])
                            kn[i] = 1
                    _box_root(p0, D, d, &par[ops[0, 1]], &par[ops[0, 1] + d], lo, hi, sdv[kk], sdv[kk + 1],
                              level, eb, f_lo, &wa, &wb)
                for it in range(N_BISECT):
                    mid = 0.5 * (lo + hi)
                    if mid == lo or mid == hi:
                        # the bracket is one float wide: the predicate at mid is that at lo (f_lo) or at
                        # hi (not f_lo, an invariant of the bisection): the step changes nothing
                        continue
                    if mid <= wa:     # certified: the predicate there is the bracket start's
                        lo = mid
                        continue
                    if mid >= wb and wb >= 0.0:
                        hi = mid
                        continue
                    for c in range(d):
                        x[c] = p0[c] + mid * D[c]
                    if box:
                        f_mid = _npmax(_box_sd_fin(&par[ops[0, 1]], &par[ops[0, 1] + d], d, x), 0.0) > level
                    else:
                        f_mid = _dist(ops, par, d, x) > level
                    if f_mid == f_lo:
                        lo = mid
                    else:
                        hi = mid
                if nroot < MAX_CROSS:
                    roots[nroot] = 0.5 * (lo + hi)
                    nroot = nroot + 1
    for i in range(nroot, MAX_CROSS):
        roots[i] = 1.0
    # insertion sort (values in [0, 1]: the same order as np.sort)
    for i in range(1, MAX_CROSS):
        tmp = roots[i]
        kk = i - 1
        while kk >= 0 and roots[kk] > tmp:
            roots[kk + 1] = roots[kk]
            kk = kk - 1
        roots[kk + 1] = tmp
    edges[0] = 0.0
    for i in range(MAX_CROSS):
        edges[i + 1] = roots[i]
    edges[MAX_CROSS + 1] = 1.0
    # a single box after a scan: a Gauss point certainly in the core (F ≤ 0: β = 1 exactly) or certainly
    # at distance ≥ w (β = 0 exactly), by the bounds of `_box_scan` on the samples taken, is not evaluated
    nk = 0
    if box and scan:
        for i in range(ns):
            if kn[i]:
                kt[nk] = ts[i]
                kv[nk] = sdv[i]
                nk = nk + 1
        dn = 0.0
        for c in range(d):
            dn = dn + D[c] * D[c]
        dn = sqrt(dn) * (1.0 + 1e-15) + 1e-300
    j = 0
    for pc in range(MAX_CROSS + 1):
        lo = edges[pc]
        hi = edges[pc + 1]
        half = 0.5 * (hi - lo)
        mid = 0.5 * (hi + lo)
        for i in range(g):
            t = mid + half * gx[i]
            wq = half * gw[i]
            if weight == 1:
                wq = wq * 2.0 * t
            elif weight == 2:
                wq = wq * 2.0 * (1.0 - t)
            if half > 0.0:
                if nk >= 2 and t >= kt[0] and t <= kt[nk - 1]:
                    while j + 2 < nk and kt[j + 1] <= t:
                        j = j + 1
                    while j > 0 and kt[j] > t:
                        j = j - 1
                    mc = eb + 64.0 * 1.1102230246251565e-16 * (1.0 + fabs(kv[j]) + fabs(kv[j + 1]) + dn)
                    if kt[j + 1] > kt[j]:
                        if kv[j] + (kv[j + 1] - kv[j]) * ((t - kt[j]) / (kt[j + 1] - kt[j])) + mc < -eb:
                            terms[pc * g + i] = wq * 1.0
                            continue
                        if _npmax(kv[j] - dn * (t - kt[j]), kv[j + 1] - dn * (kt[j + 1] - t)) - mc > w + eb:
                            terms[pc * g + i] = wq * 0.0
                            continue
                for c in range(d):
                    x[c] = p0[c] + t * D[c]
                if box:
                    tmp = _npmax(_box_sd_fin(&par[ops[0, 1]], &par[ops[0, 1] + d], d, x), 0.0)
                else:
                    tmp = _dist(ops, par, d, x)
                terms[pc * g + i] = wq * (1.0 - _alpha_of_dist(tmp, w, blend))
            else:
                terms[pc * g + i] = wq * 0.0
    return _pairwise(terms, (MAX_CROSS + 1) * g)


cdef double _directed(const double* p0, const double* p1, double sd0, double sd1, int sure, int convex,
                      const int64_t[:, ::1] ops, const double[::1] par, int d, double w, int blend,
                      const double[::1] ts, const double[::1] gx, const double[::1] gw) noexcept nogil:
    """``Handshake.segment_average(P0, P1, "uniform", (sd0, sd1))`` of one segment: the bounds of
    ``Handshake._sure`` and its convex-core shortcut, then `_one_segment`."""
    cdef double D[3]
    cdef double rr = 0.0, reach = 0.0, sd = 0.0, tol = 0.0, m0 = 0.0, m1 = 0.0
    cdef int c
    for c in range(d):
        D[c] = p1[c] - p0[c]
        rr = D[c] * D[c] if c == 0 else rr + D[c] * D[c]
        m0 = _npmax(m0, fabs(p0[c])) if c > 0 else fabs(p0[c])
        m1 = _npmax(m1, fabs(p1[c])) if c > 0 else fabs(p1[c])
    if sure:
        reach = 0.5 * sqrt(rr)
        sd = 0.5 * (sd0 + sd1)
        tol = 1e-9 * (w + reach) + 1e-12 * (1.0 + m0)
        if sd + reach < -tol:
            return 1.0
    if convex:
        if sd0 < -(1e-9 * w + 1e-12 * (1.0 + _npmax(m0, m1))) and sd1 < -(1e-9 * w + 1e-12 * (1.0 + _npmax(m0, m1))):
            return 1.0
    if sure:
        if sd - reach > w + tol:
            return 0.0
        if (sd - reach > tol) and (sd + reach < w - tol):
            return _one_segment(p0, p1, 0, ops, par, d, w, blend, 0, ts, gx, gw)
    return _one_segment(p0, p1, 1, ops, par, d, w, blend, 0, ts, gx, gw)


cdef double _bond(const double[:, ::1] X, const double[::1] sdX, int64_t ii, int64_t jj,
                  const double[:, ::1] dX, Py_ssize_t k, const int64_t[:, ::1] ops, const double[::1] par,
                  int d, double width, int blend, int sure, int convex, const double[::1] ts,
                  const double[::1] gx, const double[::1] gw, int from_X) noexcept nogil:
    """The weight of one bond (`bond_weights`); the segment end points are locals of this call, so the
    prange over bonds shares no scratch between threads. from_X = 1: dX_k is (X_j − X_i) + 0.0, formed
    here (what the caller's gathers and ``+= 0.0`` give; ``dX`` not read).

    A bond without image shift (dX_k bitwise (X_j − X_i) + 0.0) is one segment, X_i to X_j: its average
    is computed ONCE, along the canonical direction from the end whose coordinates are lexicographically
    smaller, a → b, as f(a, b, (X_b − X_a) + 0.0) (the same function of the same bits for (i, j) and
    (j, i): symmetric in i, j bitwise). Formerly ½ [f(i, j, dX) + f(j, i, −dX)]: the two directions
    differ at round-off only (Gauss points mirrored, roots bisected from the other end), at twice the
    cost. A bond across a periodic boundary (any other dX_k: the two directions are segments at
    different places) keeps ½ [f(i, j, dX) + f(j, i, −dX)]."""
    cdef double P0[3]
    cdef double P1[3]
    cdef double Q1[3]
    cdef double DX[3]
    cdef double sd1, sdq, a, b, dmax, pmax, v
    cdef int c, plain = 1
    cdef int64_t lo, hi
    for c in range(d):
        v = (X[jj, c] - X[ii, c]) + 0.0
        if from_X:
            DX[c] = v
        else:
            DX[c] = dX[k, c]
            if DX[c] != v:
                plain = 0
    if plain:
        # the canonical direction lo → hi: lo the end with the lexicographically smaller coordinates
        lo, hi = ii, jj
        for c in range(d):
            if X[jj, c] != X[ii, c]:
                if X[jj, c] < X[ii, c]:
                    lo, hi = jj, ii
                break
        dmax = 0.0
        pmax = 0.0
        for c in range(d):
            P0[c] = X[lo, c]
            P1[c] = P0[c] + ((X[hi, c] - X[lo, c]) + 0.0)
            dmax = _npmax(dmax, fabs(P1[c] - X[hi, c]))
            pmax = _npmax(pmax, fabs(P1[c]))
        sd1 = sdX[hi]
        if dmax > 1e-13 * (1.0 + pmax):
            sd1 = _sd(ops, par, d, P1)
        return _directed(P0, P1, sdX[lo], sd1, sure, convex, ops, par, d, width, blend, ts, gx, gw)
    # i → j
    dmax = 0.0
    pmax = 0.0
    for c in range(d):
        P0[c] = X[ii, c]
        P1[c] = P0[c] + DX[c]
        dmax = _npmax(dmax, fabs(P1[c] - X[jj, c]))
        pmax = _npmax(pmax, fabs(P1[c]))
    sd1 = sdX[jj]
    if dmax > 1e-13 * (1.0 + pmax):
        sd1 = _sd(ops, par, d, P1)
    a = _directed(P0, P1, sdX[ii], sd1, sure, convex, ops, par, d, width, blend, ts, gx, gw)
    # j → i
    dmax = 0.0
    pmax = 0.0
    for c in range(d):
        P0[c] = X[jj, c]
        Q1[c] = P0[c] + (-DX[c])
        dmax = _npmax(dmax, fabs(Q1[c] - X[ii, c]))
        pmax = _npmax(pmax, fabs(Q1[c]))
    sdq = sdX[ii]
    if dmax > 1e-13 * (1.0 + pmax):
        sdq = _sd(ops, par, d, Q1)
    b = _directed(P0, Q1, sdX[jj], sdq, sure, convex, ops, par, d, width, blend, ts, gx, gw)
    return 0.5 * (a + b)


cdef inline uint64_t _bits(double v) noexcept nogil:
    cdef uint64_t u
    memcpy(&u, &v, 8)
    return u


cdef inline int _canonical(const double[:, ::1] X, int64_t ii, int64_t jj, const double[:, ::1] dX,
                           Py_ssize_t k, int d, int from_X, double* P0, double* P1) noexcept nogil:
    """The end points `_bond` takes for a bond without image shift (P0 = X_lo, P1 = X_lo + ((X_hi −
    X_lo) + 0.0), lo the lexicographically smaller end); returns 0 (P0, P1 not set) for a bond with an
    image shift."""
    cdef int c
    cdef int64_t lo = ii, hi = jj
    if not from_X:
        for c in range(d):
            if dX[k, c] != (X[jj, c] - X[ii, c]) + 0.0:
                return 0
    for c in range(d):
        if X[jj, c] != X[ii, c]:
            if X[jj, c] < X[ii, c]:
                lo, hi = jj, ii
            break
    for c in range(d):
        P0[c] = X[lo, c]
        P1[c] = P0[c] + ((X[hi, c] - X[lo, c]) + 0.0)
    return 1


cdef inline int _segment_key(const double* P0, const double* P1, int d, const double* blo,
                             const double* bhi, uint64_t* key) noexcept nogil:
    """The class of a segment P0 → P1 whose bond weight against a single box [blo, bhi] is one function
    of the class (key[0:KEY_W]); returns 0 when the segment has no class (no axis inside, below).

    An axis c is *inside* when both ends lie in (blo_c, bhi_c) with a margin of 1e-12 (1 + |P0_c| +
    |P1_c|), far above the round-off of any point P0_c + t (P1_c − P0_c), t ∈ [0, 1], the kernel
    evaluates: at every such point q_c = max(blo_c − x_c, x_c − bhi_c) < 0, so axis c adds p_c² = +0.0
    to `_box_sd_fin`'s sum and the distance max(sd, 0) is a function of the other axes' coordinates only
    (the sum of their p² in axis order, sqrt, +0.0 when the sum is 0). Every predicate and term of the
    plain scan, bisection and quadrature (which the certified shortcuts reproduce) depends on the
    points only through that distance, and on the other axes' P0_c, P1_c only through D_c = P1_c − P0_c
    and P0_c + t D_c: segments with the same inside axes and the same bits of P0_c, P1_c on the other
    axes have the same weight, bit for bit. key: the inside-axis mask, then P0_c, P1_c bits of the
    other axes (0 for the inside ones)."""
    cdef int c, mask = 0
    cdef double mg, a, b
    for c in range(d):
        a = P0[c] if P0[c] <= P1[c] else P1[c]
        b = P1[c] if P0[c] <= P1[c] else P0[c]
        mg = 1e-12 * (1.0 + fabs(P0[c]) + fabs(P1[c]))
        if a - mg > blo[c] and b + mg < bhi[c]:
            mask = mask | (1 << c)
    if mask == 0:
        return 0
    key[0] = <uint64_t>mask
    for c in range(3):
        if c < d and not (mask & (1 << c)):
            key[1 + 2 * c] = _bits(P0[c])
            key[2 + 2 * c] = _bits(P1[c])
        else:
            key[1 + 2 * c] = 0
            key[2 + 2 * c] = 0
    return 1


cdef inline uint64_t _key_hash(const uint64_t* key) noexcept nogil:
    cdef uint64_t h = 1469598103934665603ULL
    cdef int c
    for c in range(KEY_W):
        h = (h ^ key[c]) * 1099511628211ULL
        h = h ^ (h >> 29)
    return h


@cython.boundscheck(False)
@cython.wraparound(False)
def bond_weights(const double[:, ::1] X, const double[::1] sdX, const int64_t[::1] i, const int64_t[::1] j,
                 const double[:, ::1] dX, const int64_t[:, ::1] ops, const double[::1] par, double width,
                 int blend, int sure, int convex, const double[::1] ts, const double[::1] gx,
                 const double[::1] gw, double[::1] out, int n_threads=1, int from_X=0, int cache=1):
    """out (m,) = the weights of the bonds (i, j, dX), f = ``Handshake.bond_weight_fn``'s function, the
    average of β along the reference segment X_i → X_i + dX (m, d): f along the canonical direction for a
    bond without image shift, ½ [f(i, j, dX) + f(j, i, −dX)] otherwise (`_bond`), with the signed
    distances sdX (n,) of the atoms X (n, d) at the ends (the far end's recomputed when it is not the
    atom itself: a periodic image), `_directed` per direction, in the same arithmetic as the NumPy code.
    ``from_X`` = 1: dX is (X_j − X_i) + 0.0 (no image shift), formed per bond; the ``dX`` argument is
    then not read (any (·, d) array, e.g. (0, d)).

    ``cache`` = 1 and a single box: bonds without image shift are grouped by `_segment_key` (a lattice's
    bonds along a face of the box differ only by translations parallel to it, which do not change the
    weight); one bond of each class is computed and its weight copied to the others — the same bits as
    computing each (`tests/coupling/test_bond_weight_classes.py`). Keys are looked up serially in a hash
    table (at most KEY_LIMIT classes per call; bonds beyond are computed on their own); the computations
    run in the prange, so the result is the same for any thread count. 0: every bond computed.
    Returns the number of classes computed (0 without the cache)."""
    cdef Py_ssize_t m = i.shape[0], k, nu = 0, s, u
    cdef int d = <int>X.shape[1], c
    cdef int use = 0
    cdef double P0[3]
    cdef double P1[3]
    cdef uint64_t key[KEY_W]
    cdef uint64_t h
    cdef const double* blo = NULL
    cdef const double* bhi = NULL
    cdef int32_t[::1] rep
    cdef int32_t[::1] slot
    cdef uint64_t[:, ::1] ukey
    cdef int64_t[::1] urep
    cdef double[::1] uval
    if (j.shape[0] != m or (not from_X and dX.shape[0] != m) or dX.shape[1] != d or out.shape[0] != m
            or d < 1 or d > 3
            or sdX.shape[0] != X.shape[0] or 7 * gx.shape[0] > MAX_TERMS or gw.shape[0] != gx.shape[0]
            or ts.shape[0] < 2 or ts.shape[0] > 64):
        raise ValueError("bond_weights: shape mismatch")
    if cache and m > 1 and ops.shape[0] == 1 and ops[0, 0] == 1:
        use = 1
        for c in range(d):
            if not (fabs(par[ops[0, 1] + c]) < 1e300 and fabs(par[ops[0, 1] + d + c]) < 1e300):
                use = 0
    if not use:
        with nogil:
            for k in prange(m, num_threads=n_threads, schedule="dynamic", chunksize=1024):
                out[k] = _bond(X, sdX, i[k], j[k], dX, k, ops, par, d, width, blend, sure, convex, ts, gx,
                               gw, from_X)
        return 0
    blo = &par[ops[0, 1]]
    bhi = &par[ops[0, 1] + d]
    rep = np.empty(m, np.int32)
    slot = np.full(KEY_SLOTS, -1, np.int32)
    ukey = np.empty((KEY_LIMIT, KEY_W), np.uint64)
    urep = np.empty(KEY_LIMIT, np.int64)
    with nogil:
        for k in range(m):
            rep[k] = -1
            if i[k] < 0 or j[k] < 0 or i[k] >= X.shape[0] or j[k] >= X.shape[0]:
                continue
            if not _canonical(X, i[k], j[k], dX, k, d, from_X, P0, P1):
                continue
            if not _segment_key(P0, P1, d, blo, bhi, key):
                continue
            h = _key_hash(key) & (KEY_SLOTS - 1)
            while True:
                u = slot[h]
                if u < 0:
                    if nu < KEY_LIMIT:
                        slot[h] = <int32_t>nu
                        for c in range(KEY_W):
                            ukey[nu, c] = key[c]
                        urep[nu] = k
                        rep[k] = <int32_t>nu
                        nu = nu + 1
                    break
                s = 0
                for c in range(KEY_W):
                    if ukey[u, c] != key[c]:
                        s = 1
                        break
                if s == 0:
                    rep[k] = <int32_t>u
                    break
                h = (h + 1) & (KEY_SLOTS - 1)
    uval = np.empty(max(nu, 1))
    with nogil:
        for u in prange(nu, num_threads=n_threads, schedule="dynamic", chunksize=64):
            k = urep[u]
            uval[u] = _bond(X, sdX, i[k], j[k], dX, k, ops, par, d, width, blend, sure, convex, ts, gx, gw,
                            from_X)
        for k in prange(m, num_threads=n_threads, schedule="dynamic", chunksize=1024):
            if rep[k] < 0:
                out[k] = _bond(X, sdX, i[k], j[k], dX, k, ops, par, d, width, blend, sure, convex, ts, gx,
                               gw, from_X)
            else:
                out[k] = uval[rep[k]]
    return nu
