"""Site and bond weights of the handshake on the spatial engine (`parallel.engine.DistributedMD`).

The weighted energy of the atoms (docs/physics.md §2) is ``E = Σ_a w_a F(ρ_a) + Σ_{a<b} w_ab φ(r_ab)``,
the serial `md.system.AtomisticRegion` with ``set_weights(site_w, bond_weight_fn)``. On the engine:

* **site weights** w_a (β̄_a) are a per-atom column like the mass: migrated with their atom at a rebuild
  and sent with the ghosts (`DistributedMD` keeps ``site_w`` (n_loc,), owned rows first). EAM reads
  them in its embedding pass (w F(ρ), w F'(ρ)); w F'(ρ) of a ghost comes from its owner with the
  per-step F'(ρ) exchange. Pair potentials have no site term.
* **bond weights** w_ab are computed by every rank for the entries of ITS filtered local list at each
  rebuild (`entry_weights`; pairs seen at an earlier rebuild come from the rank's `BondWeightCache`,
  keyed by reference pair like the serial region's cache), from the REFERENCE positions X_ref
  (n_loc, d) that travel with the atoms like the site weights, with the function the serial region uses — e.g.
  ``coupling.handshake.Handshake.bond_weight_fn`` (its compiled ``symmetric`` kernel,
  kernels/handshake_geom.pyx) — built on the local reference positions. The reference bond vector is
  formed with the serial arithmetic, ``dX = (X_j − X_i) + s`` with the serial list's shift vector s
  (``s = k L − (I_j L − I_i L)`` in the serial list's unwrapped frame: k the image shift between the
  positions wrapped at the build, I the atoms' image counts), and the symmetric weight
  ½[fn(i, j, dX) + fn(j, i, −dX)] is unchanged by swapping the pair (dX → −dX exactly), so a pair across
  a slab face gets bitwise the same weight on both ranks and in the serial run (tests/parallel/
  test_mpi_spatial.py checks a weighted force evaluation of coupled decks' atoms on 2 ranks against the
  serial one).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def local_bond_fn(factory: Callable, X_ref: np.ndarray) -> Callable:
    """``factory(X_ref (k, d)) -> fn(i, j, dX)`` (e.g. ``Handshake.bond_weight_fn``) applied to this
    rank's local reference positions (owned + ghost rows, NOT shifted by the periodic seam)."""
    return factory(np.ascontiguousarray(X_ref, dtype=float))


class BondWeightCache:
    """This rank's bond weights by REFERENCE pair, as `AtomisticRegion` caches them: the key of an entry
    is the unordered pair of global ids {a, b} with the integer image shift of b relative to a in the
    serial list's frame (sign flipped with the pair). A weight is a pure function of its key, so a
    cached weight has the bits of a fresh computation; after a rebuild only pairs this rank never saw
    (new neighbours, migrated atoms, new ghosts) are computed. Reset when it holds more than 4x the
    entries of the current lists (pairs long gone)."""

    B = 31          #: image shifts |m| ≤ B per axis are cached (larger: computed afresh)

    def __init__(self, n_global: int, d: int) -> None:
        self.n_global, self.d = int(n_global), int(d)
        #: entries of ALL of this rebuild's lists (interior + boundary with ``overlap``): the reset compares
        #: with it, not with the list just evaluated (the small boundary list would drop the interior's keys)
        self.n_lists = 0
        base = 2 * self.B + 1
        self.usable = self.n_global * self.n_global * base ** self.d < 2 ** 62
        self.keys = np.zeros(0, np.int64)
        self.vals = np.zeros(0)
        self.hits = self.misses = 0

    def key(self, ga: np.ndarray, gb: np.ndarray, m: np.ndarray) -> np.ndarray | None:
        """(e,) int64 keys of entries with global ids ga, gb and integer reference shifts m (e, d); None
        when a shift is too large to encode."""
        if not self.usable or (m.size and int(np.max(np.abs(m))) > self.B):
            return None
        flip = gb < ga
        a, b = np.where(flip, gb, ga), np.where(flip, ga, gb)
        sh = np.where(flip[:, None], -m, m) + self.B
        code = np.zeros(len(ga), np.int64)
        base = 2 * self.B + 1
        for k in range(self.d):
            code = code * base + sh[:, k]
        return (a * self.n_global + b) * base ** self.d + code

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weights (e,) with the hits filled, miss (e,) bool)."""
        w = np.empty(keys.size)
        if self.keys.size == 0:
            return w, np.ones(keys.size, bool)
        pos = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        hit = self.keys[pos] == keys
        w[hit] = self.vals[pos[hit]]
        return w, ~hit

    def add(self, keys: np.ndarray, w: np.ndarray, n_current: int) -> None:
        if self.keys.size > 4 * max(n_current, self.n_lists, 1):
            self.keys, self.vals = np.zeros(0, np.int64), np.zeros(0)
        k, first = np.unique(keys, return_index=True)
        allk = np.concatenate([self.keys, k])
        allv = np.concatenate([self.vals, w[first]])
        o = np.argsort(allk, kind="stable")
        self.keys, self.vals = allk[o], allv[o]


def entry_weights(make_fn: Callable, lst, X_ref: np.ndarray, image: np.ndarray,  # noqa: ANN001
                  gshift: np.ndarray, period: np.ndarray, local_period: np.ndarray,
                  gid: np.ndarray | None = None, cache: BondWeightCache | None = None,
                  certain: bool = True) -> np.ndarray:
    """(m,) bond weights of the m entries of a local half list (`engine._LocalList`).

    make_fn : ``make_fn() -> fn(i, j, dX) -> (e,)`` over local indices (`local_bond_fn`; called only when
        some weight is not cached), optionally with ``fn.symmetric``
    X_ref : (n_loc, d) reference positions [length] of the local atoms (ghosts unshifted)
    image : (n_loc, d) int64 image counts of the local atoms at the build (unwrapped x = wrapped x + I L)
    gshift : (n_loc, d) int64 periodic-seam shift of each local row in periods (0 for owned atoms, ±1 along
        the cut axis for a ghost sent across the seam)
    period : (d,) box periods (0 on free axes); local_period : (d,) the periods of the local list's box
    gid : (n_loc,) global ids and cache : `BondWeightCache` (both or neither): reuse the weights of
        reference pairs seen at earlier rebuilds
    certain : entries without an image shift that ``fn.certain_unit(i, j)`` (e.g.
        `Handshake.bond_weight_fn`'s: both atoms deep inside a convex core) declares exactly 1.0 take 1.0 without the cache or the
        function (the value the function returns for them: the same bits); they are neither keyed nor
        cached, so the cache and the rebuild's temporaries follow the handshake's pairs, not all pairs
    """
    m = int(lst.neighbors.size)
    if m == 0:
        return np.zeros(0)
    n_loc, d = X_ref.shape
    i = np.repeat(np.arange(n_loc, dtype=np.int64), np.diff(lst.offsets))
    j = lst.neighbors.astype(np.int64)
    per = local_period > 0
    # a periodic axis or a seam shift: the entries' image shifts (else every k is 0 and every s is +0.0:
    # not formed for all m entries, only for those left after the certain unit weights)
    seam = bool(np.any(per) or np.any(period != 0.0) or np.any(gshift))
    k = sv = None
    if seam:
        # the image shift of each entry between positions wrapped at the build, in whole periods
        sv_loc = lst.shift_table[lst.shift_code, :d]
        k = np.zeros((m, d), np.int64)
        if np.any(per):
            k[:, per] = np.rint(sv_loc[:, per] / local_period[per]).astype(np.int64)
        k += gshift[j] - gshift[i]
        # the serial list's shift vector in its frame (AtomisticRegion lists unwrapped x): k L − (I_j L − I_i L)
        shift_img = image * period
        sv = k * period - (shift_img[j] - shift_img[i])
    full, rest = None, None       # (m,) weights of every entry, when some are certainly 1.0 (filled below)
    fn0 = make_fn() if certain else None
    unit_fn = getattr(fn0, "certain_unit", None)
    if unit_fn is not None:
        # pairs without an image shift whose weight is certainly exactly 1.0 (both atoms deep inside a
        # convex core): 1.0 without the cache or the kernel, as `AtomisticRegion._update_bond_weights`
        unit = np.asarray(unit_fn(i, j), bool)
        if seam:
            unit &= ~np.any(sv != 0.0, axis=1)
        if np.any(unit):
            full = np.ones(m)
            rest = np.flatnonzero(~unit)
            i, j = i[rest], j[rest]
            if seam:
                k, sv = k[rest], sv[rest]
            if rest.size == 0:
                return full
    if not seam:
        k, sv = np.zeros((i.size, d), np.int64), np.zeros((i.size, d))
    keys = None
    if cache is not None:
        keys = cache.key(gid[i], gid[j], k - (image[j] - image[i]))
    if keys is not None:
        w, miss = cache.lookup(keys)
        sel = np.flatnonzero(miss)
        cache.hits += keys.size - sel.size
        cache.misses += sel.size
        if sel.size == 0:
            return _scatter(full, rest, w)
        i, j, k, sv = i[sel], j[sel], k[sel], sv[sel]
    dX = np.take(X_ref, j, axis=0) - np.take(X_ref, i, axis=0)
    dX += sv
    fn = make_fn()
    sym = getattr(fn, "symmetric", None)
    if sym is not None:
        wm = np.asarray(sym(i, j, dX), float)
    else:
        wm = 0.5 * (np.asarray(fn(i, j, dX), float) + np.asarray(fn(j, i, -dX), float))
    if wm.shape != i.shape:
        raise ValueError("the bond weight function must return one weight per bond")
    if keys is None:
        return _scatter(full, rest, wm)
    w[sel] = wm
    cache.add(keys[sel], wm, keys.size)
    return _scatter(full, rest, w)


def _scatter(full: np.ndarray | None, rest: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    """The weights of every entry: ``w`` itself, or ``w`` written at ``rest`` into ``full`` (1.0
    elsewhere)."""
    if full is None:
        return np.ascontiguousarray(w)
    full[rest] = w
    return full
