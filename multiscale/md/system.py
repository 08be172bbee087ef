"""`AtomisticRegion`: atoms, their potential, weights and neighbour list (ARCHITECTURE.md contract).

Energy (docs/physics.md §2): ``E = Σ_a w_a F(ρ_a) + Σ_{a<b} w_ab φ(r_ab)`` with site weights w_a (β̄_a) and
bond weights w_ab; all 1 = plain MD. Pad atoms are atoms with site weight 0 whose positions the coupler
sets; they are ordinary neighbours.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .box import Box
from .neighbors import NeighborList, NeighborPolicy

BondWeightFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class AtomisticRegion:
    """Atoms of one region.

    Parameters
    ----------
    X : (n, d) reference positions [length]
    mass : (n,) or scalar, INTERNAL force-mass units (``units.mass_to_internal``)
    potential : a `multiscale.md.potentials.base.Potential`
    box : `Box` (periodic / free axes)
    skin : neighbour skin [length]; lists are rebuilt when any atom moved more than skin/2
    neighbor : rebuild policy, `NeighborPolicy` or mapping {every, delay, check} (None = check every step,
        rebuild when any atom moved more than skin/2)
    types : (n,) int element indices for multi-element potentials (None = all 0)
    n_threads : OpenMP threads of the kernels (results do not depend on it)

    Periodic boxes: ``x`` is the UNWRAPPED position (continuous in time: what the integrator moves, so
    ``x - X`` is the true displacement and equals the time integral of v). At every neighbour rebuild
    the list records each atom's periodic image (``image`` (n, d) int64, ``x = x_wrapped + image·L``)
    and the potential is evaluated at ``x - image·L`` (within skin/2 of the box), so runs of any length
    never spread the list over many periodic images. `wrapped_positions` gives x wrapped into [lo, hi).

    Attributes
    ----------
    X, x, v, forces : (n, d) float64 (x starts as a copy of X, v at 0)
    energies : (n,) weighted per-atom energies [energy] (Σ energies = E)
    mass : (n,) internal masses;  site_w : (n,) or None;  bond_w : (n_entries,) or None
    nlist : `NeighborList`;  energy : last E;  virial : (d, d) after ``compute(virial=True)``
    """

    def __init__(self, X, mass, potential, box: Box, skin: float, types=None, n_threads: int = 1,  # noqa: ANN001
                 neighbor: NeighborPolicy | dict | None = None) -> None:
        X = np.array(X, dtype=float, order="C", copy=True)
        if X.ndim != 2 or X.shape[1] != box.dim:
            raise ValueError(f"X must have shape (n, {box.dim})")
        n, d = X.shape
        self.X = X
        self.x = X.copy()
        self.v = np.zeros((n, d))
        self.forces = np.zeros((n, d))
        self.energies = np.zeros(n)
        self.mass = np.ascontiguousarray(np.broadcast_to(np.asarray(mass, float), (n,)).copy())
        self.potential = potential
        self.box = box
        self.types = None if types is None else np.ascontiguousarray(types, dtype=np.int32)
        if self.types is not None and self.types.shape != (n,):
            raise ValueError("types must have shape (n,)")
        if self.types is not None and not getattr(potential, "many_body", False) and np.any(self.types):
            raise ValueError(f"potential {type(potential).__name__} has a single atom type")
        self.n_threads = int(n_threads)
        self.nlist = NeighborList(box, potential.cutoff, skin, self.n_threads, policy=neighbor, wrap=True)
        self.site_w: np.ndarray | None = None
        self.bond_weight_fn: BondWeightFn | None = None
        self.bond_w: np.ndarray | None = None
        self._bw_keys = np.zeros(0, np.int64)
        self._bw_vals = np.zeros(0)
        self._bw_unsorted = False
        self.energy = 0.0
        self.virial = np.zeros((d, d))

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def dim(self) -> int:
        return self.X.shape[1]

    def set_weights(self, site_w, bond_weight_fn: BondWeightFn | None) -> None:  # noqa: ANN001
        """Site weights (n,) (None = 1) and ``bond_weight_fn(i (m,), j (m,), dX (m, d)) -> (m,)``.

        The function gets REFERENCE bond vectors dX = X_j - X_i (periodic image of the current list
        entry); the weight used is the symmetric average ½[fn(i, j, dX) + fn(j, i, -dX)] so that
        w_ij = w_ji exactly. It must be a pure function of (i, j, dX): weights are cached per reference
        pair (i, j, image shift), and after a neighbour rebuild only pairs never seen since the last
        `set_weights` are passed to it. None = all bond weights 1. A function with an attribute
        ``symmetric(i, j, dX) -> (m,)`` (in one call, weights symmetric in i, j bitwise: that average, or
        one equal to it at round-off, e.g. `Handshake.bond_weight_fn`'s) is used through it; one with an
        attribute ``certain_unit(i, j) -> (m,) bool`` (pairs whose average is certainly exactly 1.0 when they
        have no image shift, e.g. both atoms deep inside a convex core) is not called for those pairs.
        """
        if site_w is not None:
            site_w = np.ascontiguousarray(site_w, dtype=float)
            if site_w.shape != (self.n,):
                raise ValueError(f"site_w must have shape ({self.n},)")
        self.site_w = site_w
        self.bond_weight_fn = bond_weight_fn
        self.bond_w = None
        self._bw_keys = np.zeros(0, np.int64)   # cache of the weights, sorted pair keys (`_bond_keys`)
        self._bw_vals = np.zeros(0)
        self._bw_unsorted = False
        if self.nlist.x_build is not None:
            self._update_bond_weights()

    #: image shifts encoded in the cache keys: |shift| ≤ _KEY_B per axis (larger: no caching)
    _KEY_B = 31

    def _bond_keys(self, i: np.ndarray, j: np.ndarray,
                   entries: np.ndarray | None = None) -> np.ndarray | None:
        """(m,) int64 key of each list entry's REFERENCE pair: the unordered pair {i, j} with the integer
        image shift of j relative to i (sign flipped with the pair), or None when it does not fit.
        ``entries``: the list entries i, j are of (None: all, in order)."""
        n, d = self.n, self.dim
        base = 2 * self._KEY_B + 1
        if n * n * base**d >= 2**62:
            return None
        if not np.any(self.box.periodic):   # no image shifts: the key of {i, j} alone
            key = np.minimum(i, j)
            key *= n
            key += np.maximum(i, j)
            return key
        flip = j < i
        a, b = np.where(flip, j, i), np.where(flip, i, j)
        key = a * n + b
        sh = self.nlist.shifts if entries is None else self.nlist.shifts[entries]
        if sh.size and int(np.max(np.abs(sh))) > self._KEY_B:
            return None
        sh = np.where(flip[:, None], -sh, sh) + self._KEY_B
        code = np.zeros(len(i), np.int64)
        for k in range(d):
            code = code * base + sh[:, k]
        return key * base**d + code

    def _update_bond_weights(self) -> None:
        """Bond weights of the current list entries. The weight of a pair depends only on its reference
        bond (i, j, image shift), so computed weights are cached by that key: after a rebuild only pairs
        never seen before call ``bond_weight_fn`` (the same call on the same reference vectors, hence
        the same bits as computing every entry afresh). `set_weights` clears the cache. Entries whose
        weight is certainly exactly 1.0 (``bond_weight_fn.certain_unit``: both atoms deep inside a convex
        core, the value the function returns for them) take 1.0 before the cache: they skip the keys, the
        cache, the bond vectors and the call, so that the update costs the handshake's pairs plus one
        boolean gather per entry, not a sort of every pair of the model."""
        if self.bond_weight_fn is None:
            self.bond_w = None
            return
        i, j = self.nlist.pairs()
        m_all = len(i)
        periodic = bool(np.any(self.box.periodic))
        sv = self.nlist.shift_vectors() if periodic else None
        sub = None          # the list entries that go through the cache and the function (None: all)
        unit_fn = getattr(self.bond_weight_fn, "certain_unit", None)
        if unit_fn is not None and m_all:
            unit = np.asarray(unit_fn(i, j), bool)
            if periodic and unit.any():     # pairs across a periodic boundary always take the function
                unit &= ~np.any(sv != 0.0, axis=1)
            if unit.any():
                sub = np.flatnonzero(~unit)
                i, j = i[sub], j[sub]
                if periodic:
                    sv = sv[sub]
        m = len(i)
        keys = self._bond_keys(i, j, sub)
        w = np.empty(m)
        if keys is None:
            miss = np.arange(m)
        else:
            self._sort_bond_cache()
            ck = self._bw_keys
            if ck.size:
                pos = np.minimum(np.searchsorted(ck, keys), ck.size - 1)
                hit = ck[pos] == keys
                w[hit] = self._bw_vals[pos[hit]]
                miss = np.flatnonzero(~hit)
            else:
                miss = np.arange(m)
        if miss.size:
            ic, jc = (i, j) if miss.size == m else (i[miss], j[miss])
            sym = getattr(self.bond_weight_fn, "symmetric", None)   # both directions in one pass
            if sym is not None and not periodic:
                # no periodic axis: dX = (X_j − X_i) + 0.0 formed by the kernel (the values of the gathers
                # below, without the (m, d) arrays)
                dX = None
            else:
                # X_j - X_i: np.take gathers the rows several times faster than X[jm] (the same values)
                dX = np.take(self.X, jc, axis=0) - np.take(self.X, ic, axis=0)
                if periodic:
                    dX += sv if miss.size == m else sv[miss]
                else:   # no periodic axis: every shift vector is +0.0, added as a scalar (the same bits)
                    dX += 0.0
            if sym is not None:
                wm = np.asarray(sym(ic, jc, dX), float)
            else:
                wm = 0.5 * (np.asarray(self.bond_weight_fn(ic, jc, dX), float)
                            + np.asarray(self.bond_weight_fn(jc, ic, -dX), float))
            if wm.shape != ic.shape:
                raise ValueError("bond_weight_fn must return one weight per bond")
            if miss.size == m:
                w = wm
            else:
                w[miss] = wm
            if keys is not None:
                if self._bw_keys.size > 4 * max(m, 1):   # mostly pairs long gone (diffusion): start afresh
                    self._bw_keys, self._bw_vals = np.zeros(0, np.int64), np.zeros(0)
                if self._bw_keys.size == 0:
                    # first fill (set-up): kept unsorted, `_sort_bond_cache` sorts it when first looked up
                    # (at the first neighbour rebuild; the same arrays as sorting here)
                    self._bw_keys, self._bw_vals = (keys if miss.size == m else keys[miss]), wm
                    self._bw_unsorted = True
                else:
                    km, order = np.unique(keys[miss], return_index=True)
                    allk = np.concatenate([self._bw_keys, km])
                    allv = np.concatenate([self._bw_vals, wm[order]])
                    o = np.argsort(allk, kind="stable")
                    self._bw_keys, self._bw_vals = allk[o], allv[o]
        if sub is not None:
            w_all = np.ones(m_all)
            w_all[sub] = w
            self.bond_w = w_all
            # `_bond_w_rows` of these weights from the non-unit entries alone (the unit entries are 1, not 0):
            # the same array as its two cumulative sums over every entry
            n = self.n
            ln = np.diff(self.nlist.offsets)
            rows = (np.bincount(i[w != 1.0], minlength=n) > 0).astype(np.uint8)
            rows[(ln > 0) & (np.bincount(i, minlength=n) == ln)
                 & (np.bincount(i[w != 0.0], minlength=n) == 0)] = 2
            self._bw_rows, self._bw_rows_of = np.ascontiguousarray(rows), self.bond_w
            return
        self.bond_w = np.ascontiguousarray(w)

    def _sort_bond_cache(self) -> None:
        """Sort the weight cache by key (unique keys, first occurrence) if the first fill left it unsorted."""
        if getattr(self, "_bw_unsorted", False):
            km, order = np.unique(self._bw_keys, return_index=True)
            self._bw_keys, self._bw_vals = km, self._bw_vals[order]
            self._bw_unsorted = False

    def rebuild(self) -> None:
        """Force a neighbour-list rebuild (and bond-weight update) from the current positions."""
        self.nlist.build(self.x)
        self._update_bond_weights()

    def compute(self, virial: bool = False, atom_energies: bool = True) -> float:
        """Weighted energy E [energy] of ``self.x``; fills ``forces``, ``energies`` (and ``virial``).

        First one step of the neighbour-list policy (default: rebuild when any atom moved more than
        skin/2 since the last build; see `NeighborPolicy`).
        ``atom_energies=False`` is faster: ``energies`` then only partitions E (each pair's energy to
        the atom holding it in the half list) instead of the symmetric per-atom shares.
        """
        x, kw = self.compute_prologue(atom_energies)
        if virial:
            kw["virial"] = self.virial
        if self.bond_w is not None and getattr(self.potential, "takes_bond_w_rows", False):
            kw["bond_w_rows"] = self._bond_w_rows()
        self.energy = self.potential.compute(x, self.nlist, self.site_w, self.bond_w, self.forces,
                                             self.energies, self.n_threads, **kw)
        return self.energy

    def compute_prologue(self, atom_energies: bool = True) -> tuple[np.ndarray, dict]:
        """What every force evaluation of these atoms does before the kernel — `compute` and the split
        evaluations of `multiscale.parallel.split_forces` alike: one step of the neighbour-list policy
        (rebuild and bond-weight update when due), then the positions the potential is evaluated at,
        ``x - image·L`` (n, d) [length] (x itself while no atom left the box), and the kernel keywords
        that do not depend on where the results go (``types``, ``atom_energies``)."""
        if self.nlist.update(self.x):
            self._update_bond_weights()
        kw: dict = {}
        if not atom_energies:
            kw["atom_energies"] = False
        if self.types is not None:
            kw["types"] = self.types
        return self.nlist.wrapped(self.x), kw

    def _bond_w_rows(self) -> np.ndarray:
        """(n,) uint8: 1 for the list rows (owner atoms) holding a bond weight ≠ 1, 2 for the non-empty rows
        whose weights are all exactly 0 (a coupled model's pad-pad bonds), 0 for the others, for the current
        ``bond_w`` (recomputed when the weights array is replaced, i.e. after a rebuild or `set_weights`):
        the 2D pair kernels skip reading the weights of 0-rows (the bulk of a coupled model's atoms) and
        skip 2-rows altogether (they would add exact zeros); other kernels treat 2 as 1."""
        bw = self.bond_w
        if getattr(self, "_bw_rows_of", None) is not bw:
            off = self.nlist.offsets
            c = np.concatenate([[0], np.cumsum(bw != 1.0)])
            z = np.concatenate([[0], np.cumsum(bw != 0.0)])
            ln = off[1:] - off[:-1]
            rows = ((c[off[1:]] - c[off[:-1]]) > 0).astype(np.uint8)
            rows[(ln > 0) & (z[off[1:]] == z[off[:-1]])] = 2
            self._bw_rows = np.ascontiguousarray(rows)
            self._bw_rows_of = bw
        return self._bw_rows

    @property
    def image(self) -> np.ndarray:
        """(n, d) int64 periodic image of each atom at the last neighbour build (0 on free axes)."""
        return self.nlist.image

    def wrapped_positions(self) -> np.ndarray:
        """(n, d) current positions wrapped into [lo, hi) on periodic axes (a copy) [length]."""
        return self.box.wrap(self.x)

    def kinetic_energy(self, weighted: bool = False) -> float:
        """½ Σ m_a |v_a|² [energy] (times the site weights when ``weighted``)."""
        m = self.mass * (self.site_w if (weighted and self.site_w is not None) else 1.0)
        return 0.5 * float(np.sum(m * np.sum(self.v * self.v, axis=1)))

    def get_state(self) -> dict:
        """Checkpoint state beyond x and v: the positions of the last neighbour build and the steps since
        (so that a restart rebuilds the same list, on the same schedule, and continues bitwise) and the
        periodic image counts of that build (``image`` (n, d) int64)."""
        xb = self.nlist.x_build
        return {"x_build": np.zeros((0, self.dim)) if xb is None else xb.copy(),
                "since_build": np.int64(self.nlist.since_build),
                "image": np.zeros((0, self.dim), np.int64) if xb is None else self.nlist.image.copy()}

    def set_state(self, state: dict) -> None:
        xb = np.asarray(state["x_build"], float)
        if xb.shape[0]:
            img = state.get("image")
            img = None if img is None or np.shape(img) != xb.shape else np.asarray(img, np.int64)
            self.nlist.build(np.ascontiguousarray(xb), image=img)
            self._update_bond_weights()
            if "since_build" in state:
                self.nlist.since_build = int(state["since_build"])
