"""Neighbour lists: cell lists feeding half Verlet lists with a skin (kernels ``cellscan``, ``neighbors``).

A `NeighborList` holds, in CSR form, every pair (i, j) within ``cutoff + skin`` ONCE, under one of its
atoms (entry e of atom i is ``neighbors[offsets[i] + e]``), with the code of its periodic image
``shift_code[e]`` (uint16): the separation is ``x[j] - x[i] + shift_table[shift_code[e], :d]``.
The neighbour of a pair is never in a lower cell layer (along the last axis) than its owner, so force
kernels apply Newton's third law slab by slab (even slabs in parallel, then odd ones, each slab
serially): results are bitwise independent of the thread count. Bond weights ``bond_w`` are aligned
with the entries. Inside each row the entries within ``cutoff`` come first, then the skin entries
(the kernels' cut-off test is then a well-predicted branch). Building is O(N) in time and memory
(cells of about half the list radius, 3D stencil of at most 63 cells, scanned as at most 13 runs of
consecutive atoms).

Wrapping (``wrap=True``, used by `AtomisticRegion`): positions given to `build`/`update` may be unwrapped
(continuous trajectories, any number of box lengths away). At each build every atom's periodic image
``image = floor((x - lo) / L)`` (n, d) int64 is recorded and the list is built for the wrapped positions
``x - image·L`` (in [lo, hi) at the build, at most skin/2 outside until the next one), which force kernels
must receive: `wrapped` returns them. `shift_vectors`, `shifts` and `separations` stay in the frame of
the positions the caller passed, so reference-bond and displacement code needs no change. Without
wrapping, positions spread over more than ~20 (3D) box lengths cannot be listed (the uint16 image code).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._kernels import load
from .box import Box

# Scratch rows of the one-pass build (n x cap int64 words, ~8 cap bytes per atom) above this size: the
# list is built in two passes instead (count, then write), measured ~1.5x the build time for ~6 cap bytes
# per atom less peak memory (benchmarks/bench_memory.py).
LEAN_SCRATCH_BYTES = 64 * 2**20
_EMPTY_OFFSETS = np.zeros(1, np.int64)
_EMPTY_NEIGH = np.zeros(0, np.int32)
_EMPTY_CODE = np.zeros(0, np.uint16)
_EMPTY_TMP = np.zeros(1, np.int64)
_OFFSET = 0.3819660112501051   # (3 - sqrt 5) / 2


@dataclass(frozen=True)
class NeighborPolicy:
    """When `NeighborList.update` rebuilds (LAMMPS ``neigh_modify every N delay D check yes|no``).

    Steps are counted in `update` calls (one per force evaluation, i.e. one per MD step) since the last
    build. At a step with ``steps >= delay`` and ``steps % every == 0`` the list is rebuilt, if
    ``check`` only when some atom moved more than skin/2 since the last build. The default
    (every 1, delay 0, check True) is the safe one: a check at every step.

    RISK: with ``check=False`` (or every/delay > 1) atoms may cross more than skin/2 between two
    builds; pairs entering the cut-off are then missed (wrong forces, energy drift), exactly as in
    LAMMPS. Such builds are counted in `NeighborList.n_dangerous` (check False: some atom had moved
    more than skin/2 at the build; check True: the build came at the first step a check was allowed
    after delay/every > 1, so the threshold may have been crossed earlier — LAMMPS's definition).
    """

    every: int = 1
    delay: int = 0
    check: bool = True

    def __post_init__(self) -> None:
        if int(self.every) < 1 or int(self.delay) < 0:
            raise ValueError("neighbour policy needs every >= 1 and delay >= 0")

    @classmethod
    def make(cls, spec: NeighborPolicy | Mapping | None) -> NeighborPolicy:
        """From a policy, a mapping {every, delay, check} (deck section, pydantic model) or None."""
        if spec is None:
            return cls()
        if isinstance(spec, cls):
            return spec
        if not isinstance(spec, Mapping):
            spec = {k: getattr(spec, k) for k in ("every", "delay", "check") if hasattr(spec, k)}
        return cls(int(spec.get("every", 1)), int(spec.get("delay", 0)), bool(spec.get("check", True)))


class NeighborList:
    """Half Verlet list for positions x (n, d) in ``box``.

    Attributes
    ----------
    cutoff, skin, rlist = cutoff + skin [length]
    offsets : (n+1,) int64     CSR row pointers;  neighbors : (m,) int32
    shift_code : (m,) uint16   image of each entry;  shift_table : (ncodes, 3) float64 its shift vector
    shifts : (m, d) int        integer image shifts (derived, for inspection)
    order : (n,) int64         atoms sorted by cell (last axis slowest)
    slab_start : (nslab+1,)    slab s = order[slab_start[s]:slab_start[s+1]]: layers of cells along the
                               last axis; a pair's neighbour is in its owner's slab or the next one
    period : (d,) float64      L on periodic axes, 0 on free axes
    x_build : (n, d) positions of the last build (as passed: unwrapped when wrapping);  n_builds : int
    wrap : bool;  image : (n, d) int64 periodic image of each atom at the last build (zeros without wrap)
    policy : `NeighborPolicy` (when `update` rebuilds);  since_build : update calls since the last build
    n_dangerous : builds at which pairs may have been missed (see `NeighborPolicy`)
    """

    half = True

    def __init__(self, box: Box, cutoff: float, skin: float, n_threads: int = 1,
                 policy: NeighborPolicy | Mapping | None = None, wrap: bool = False) -> None:
        self.policy = NeighborPolicy.make(policy)
        self.wrap = bool(wrap) and bool(np.any(box.periodic))
        self.image = np.zeros((0, box.dim), np.int64)
        self._shift = np.zeros((0, box.dim))          # image * period (n, d) [length]
        self._xw = np.zeros((0, box.dim))             # wrapped positions buffer
        self._any_image = False
        self.since_build = 0
        self.n_dangerous = 0
        if cutoff <= 0 or skin < 0:
            raise ValueError("neighbour list needs cutoff > 0 and skin >= 0")
        self.box = box
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.rlist = self.cutoff + self.skin
        self.n_threads = int(n_threads)
        self.period = np.where(box.periodic, box.hi - box.lo, 0.0).astype(float)
        self._periodic_u8 = np.ascontiguousarray(box.periodic, dtype=np.uint8)
        short = box.periodic & (self.period < 2.0 * self.rlist)
        if np.any(short):
            k = int(np.argmax(short))
            raise ValueError(f"periodic box length {self.period[k]:g} on axis {k} is shorter than "
                             f"2 (cutoff + skin) = {2 * self.rlist:g}: minimum image would miss neighbours")
        self._k = load("cellscan")
        self._kn = load("neighbors")
        self._grid_cache: tuple | None = None
        self._rows_cache: dict = {}     # `_grid`: stencil rows per (reach, cell size, rlist)
        self.n_builds = 0
        self.offsets = np.zeros(1, np.int64)
        self.neighbors = np.zeros(0, np.int32)
        self.shift_code = np.zeros(0, np.uint16)
        self.shift_table = np.zeros((1, 3))
        self._B = 0
        self.order = np.zeros(0, np.int64)
        self.slab_start = np.zeros(2, np.int64)
        self._reach = [0, 0, 0]
        self.x_build: np.ndarray | None = None
        self._i_of_entry: np.ndarray | None = None
        self._cap = 0
        self._tmp = np.zeros(0, np.int64)
        self._work: tuple | None = None

    @property
    def n_entries(self) -> int:
        return int(self.neighbors.size)

    # ------------------------------------------------------------------ grid
    def _axis(self, k: int, ext: float, periodic: bool, coarsen: int, last: bool) -> tuple[float, int, int]:
        """(cell size, cells, stencil reach) along one axis.

        Along the last (slab) axis of a periodic box the cell count is 2 x (a multiple of 4, or 2 for
        small boxes) slabs of width >= rlist, so that each slab phase holds an even number of equal
        slabs (balanced over 2 threads). The layout never depends on the thread count.
        """
        rl = self.rlist
        r0 = 2   # rlist/2 cells (measured: rlist/4 cells along axis 0 cut candidates 15 %, not the time)
        if periodic:
            if last and coarsen == 1:
                nslab = int(math.floor(ext / rl))
                nslab -= nslab % (4 if nslab >= 8 else 2)   # 4k: phases split evenly over 2 threads
                if nslab >= 4:
                    return ext / (2 * nslab), 2 * nslab, 2
            for reach in sorted({r0, 2, 1}, reverse=True):
                m = int(math.floor(ext / (rl / reach))) // coarsen
                if m >= 2 * reach + 1:
                    return ext / m, m, reach
            return ext, 1, 0
        m = max(1, int(math.floor(ext / (rl / r0))) // coarsen)
        return max(ext / m, rl / r0), m, (r0 if m > 1 else 0)

    def _grid(self, x: np.ndarray, clip_x: tuple[float, float] | None = None):  # noqa: ANN202
        n, d = x.shape
        origin, size = np.zeros(3), np.ones(3)
        nc = np.ones(3, dtype=np.int64)
        reach = [0, 0, 0]
        coarsen = 1
        while True:
            for k in range(d):
                if self.box.periodic[k]:
                    size[k], nc[k], reach[k] = self._axis(k, self.period[k], True, coarsen, k == d - 1)
                    # grid offset by an irrational fraction of a cell: perfect-lattice planes then do
                    # not sit on cell boundaries (even slabs, balanced threads)
                    origin[k] = self.box.lo[k] + _OFFSET * size[k] if nc[k] > 1 else self.box.lo[k]
                elif k == 0 and clip_x is not None and coarsen == 1 and n:
                    origin[k], size[k], nc[k], reach[k] = self._aligned(x[:, 0], *clip_x)
                else:
                    lo = float(np.min(x[:, k])) if n else 0.0
                    ext = (float(np.max(x[:, k])) - lo if n else 0.0) * (1 + 1e-12) + 1e-300
                    origin[k] = lo
                    size[k], nc[k], reach[k] = self._axis(k, ext, False, coarsen, k == d - 1)
            if np.prod(nc) <= 4 * n + 64 or coarsen > 2**20:
                break
            coarsen *= 2   # keep the cell count O(n) for sparse or far-flung free atoms
        self._reach = reach
        key = (tuple(reach), tuple(size.tolist()), self.rlist)
        rows = self._rows_cache.get(key)
        if rows is None:    # a free axis re-grids at every build, with the same cell sizes (a distributed
            st = []         # rank's slab): the stencil rows are made once per (reach, size)
            for o in itertools.product(*[range(-r, r + 1) for r in reach]):
                gap = sum((max(abs(o[k]) - 1, 0) * size[k]) ** 2 for k in range(3))
                if gap < self.rlist ** 2 and o[::-1] >= (0, 0, 0):   # half stencil (z, y, x order)
                    st.append(o)
            rows = self._rows(np.ascontiguousarray(st, dtype=np.int64))
            if len(self._rows_cache) >= 8:
                self._rows_cache.clear()
            self._rows_cache[key] = rows
        return origin, size, nc, rows

    def _aligned(self, x0: np.ndarray, lo: float, hi: float) -> tuple[float, float, int, int]:
        """(origin, cell size, cells, reach) of a free axis 0 whose cell faces lie just outside lo and hi
        (by 1e-9 (hi - lo)): the cells covering [lo, hi] hold no atom outside it, so a clipped build
        (``clip_x``) scans no pair of two atoms outside it. Cells of at least rlist/2, as `_axis`."""
        r0 = 2
        w = float(hi) - float(lo)
        m_in = max(1, int(math.floor(w / (self.rlist / r0))))
        delta = 1e-9 * w
        size = (w + 2 * delta) / m_in
        xmin, xmax = float(np.min(x0)), float(np.max(x0))
        k_lo = max(0, int(math.ceil((float(lo) - delta - xmin) / size)))
        origin = float(lo) - delta - k_lo * size
        m = max(1, int(math.floor((xmax - origin) / size)) + 1)
        return origin, size, m, (r0 if m > 1 else 0)

    def _rows(self, stencil: np.ndarray) -> np.ndarray:
        """(nrows, 4) int64 rows (o1, o2, o0_lo, o0_hi) of the half stencil along axis 0 (each row a
        contiguous range of o0), ordered by (o2, o1)."""
        rows: dict[tuple[int, int], list[int]] = {}
        for o0, o1, o2 in stencil.tolist():
            rows.setdefault((o2, o1), []).append(o0)
        out = []
        for (o2, o1), o0s in sorted(rows.items()):
            lo, hi = min(o0s), max(o0s)
            if sorted(o0s) != list(range(lo, hi + 1)):
                raise AssertionError("stencil row is not contiguous")
            out.append((o1, o2, lo, hi))
        return np.ascontiguousarray(out, dtype=np.int64)

    # ------------------------------------------------------------------ build
    def build(self, x: np.ndarray, image: np.ndarray | None = None,
              clip_x: tuple[float, float] | None = None, owned: tuple | None = None) -> None:
        """Rebuild from positions x (n, d) [length] (C-contiguous float64). With wrapping, ``image``
        (n, d) int imposes the periodic images (restart) instead of ``floor((x - lo) / L)``.
        clip_x: (lo, hi) [length] along a FREE axis 0: pairs of two atoms both outside the cells that
        cover [lo, hi] are not listed (a distributed rank's ghost-ghost pairs, parallel/engine.py; every
        pair with an atom inside is). The cell grid along axis 0 is then aligned with lo and hi (cell
        faces just outside them), so that no cell holds atoms of both sides.
        owned: (n_own, key (n,) int64, newton) of a distributed rank (atoms n_own.. are ghosts): pairs of
        two ghosts are never listed; with newton an owned-ghost pair only when key[owned] < key[ghost]
        (kernels/cellscan ``owned``: the list `neighbors.filter_local` would keep, without the pass)."""
        x_in = np.ascontiguousarray(x, dtype=float)
        if x_in.ndim != 2 or x_in.shape[1] != self.box.dim:
            raise ValueError(f"positions must have shape (n, {self.box.dim})")
        if not np.isfinite(np.sum(x_in)):
            if not np.all(np.isfinite(x_in)):
                raise ValueError("non-finite positions")
        x = self._set_images(x_in, image)
        n, d = x.shape
        if self._grid_cache is not None:            # all axes periodic: the grid does not depend on x
            origin, size, nc, rows = self._grid_cache
        else:
            origin, size, nc, rows = self._grid(x, clip_x)
            if bool(np.all(self.box.periodic)):
                self._grid_cache = (origin, size, nc, rows)
        period3 = np.concatenate([self.period, np.zeros(3 - d)])
        clip = None
        if clip_x is not None:
            if self.box.periodic[0]:
                raise ValueError("clip_x needs a free axis 0")
            inv = 1.0 / float(size[0])      # the kernel's binning arithmetic (monotone: atoms in [lo, hi]
            clip = tuple(int(np.floor((float(c) - float(origin[0])) * inv)) for c in clip_x)   # land inside)
        if self._cap == 0:
            vol = np.prod([self.period[k] if self.box.periodic[k] else max(np.ptp(x[:, k]) if n else 0,
                                                                          self.rlist) for k in range(d)])
            ball = {1: 2.0, 2: math.pi, 3: 4.0 * math.pi / 3.0}[d] * self.rlist ** d
            self._cap = int(1.5 * 0.5 * n / max(vol, 1e-300) * ball) + 16
        # the old list is not needed by the build: release it first (a lower memory peak)
        self.offsets, self.neighbors, self.shift_code = _EMPTY_OFFSETS, _EMPTY_NEIGH, _EMPTY_CODE
        lean = 8 * n * self._cap > LEAN_SCRATCH_BYTES
        ntot = int(np.prod(nc))
        if lean:     # large systems: the binning scratch is not kept either (lower resident memory)
            self._work = None
        elif self._work is None or self._work[0].shape[0] != n or self._work[6].shape[0] != ntot + 1:
            self._work = self._k.work_arrays(n, ntot)     # binning scratch kept between builds (no page
            #                                               faults: measured ~10 % of a 2D build)
        for _ in range(3):
            if lean:     # large systems: count, then write the list directly (no n x cap scratch rows)
                self._tmp = _EMPTY_TMP
            elif self._tmp.size < n * self._cap:   # scratch kept between builds (no page faults)
                self._tmp = np.empty(int(1.2 * n * self._cap) + 1, dtype=np.int64)
            out, need, B = self._k.build_half(x, origin, size, period3, nc, rows, self.rlist, self.cutoff,
                                              self._cap, self._tmp, self.n_threads, lean, self._work, clip,
                                              owned)
            if out is not None:
                break
            self._cap = need + 8
        self.offsets, self.neighbors, self.shift_code, self.order, cell_start = out
        if B != self._B:
            base = 2 * B + 1
            c = np.arange(base ** d)
            s_int = np.stack([(c // base ** k) % base - B for k in range(d)], axis=1)
            tab = np.zeros((base ** d, 3))
            tab[:, :d] = s_int * self.period
            self.shift_table, self._B = tab, B
        self._cap = max(self._cap, need + 8)
        # slabs of layers of cells along the last axis, at least `reach` layers thick, even count when
        # periodic (so that slab nslab-1 and slab 0 are never processed in the same phase)
        layers, reach = int(nc[d - 1]), max(self._reach[d - 1], 1)
        nslab = max(1, layers // reach) if layers > 1 else 1
        if self.box.periodic[d - 1] and nslab > 1 and nslab % 2:
            nslab -= 1
        per_layer = int(np.prod(nc[: d - 1])) if d > 1 else 1
        first_layer = np.array([s * reach for s in range(nslab)] + [layers], dtype=np.int64)
        self.slab_start = np.ascontiguousarray(cell_start[first_layer * per_layer])
        if self.x_build is None or self.x_build.shape != x_in.shape:
            self.x_build = x_in.copy()
        else:
            self.x_build[...] = x_in
        self._i_of_entry = None
        self.n_builds += 1
        self.since_build = 0

    def _set_images(self, x: np.ndarray, image: np.ndarray | None) -> np.ndarray:
        """Record the periodic images of x and return the positions to list (wrapped, or x itself)."""
        n, d = x.shape
        if not self.wrap:
            if self.image.shape != (n, d):
                self.image = np.zeros((n, d), np.int64)
            return x
        if self._shift.shape != (n, d):
            self._shift = np.zeros((n, d))
        if image is None:     # floor((x - lo) / L) on periodic axes, shift = image L: one pass
            img = np.empty((n, d), np.int64)
            self._any_image = bool(self._kn.set_images(x, np.ascontiguousarray(self.box.lo, dtype=float),
                                                       self.period, self._periodic_u8, img, self._shift))
        else:
            img = np.array(image, dtype=np.int64, copy=True).reshape(n, d)
            img[:, ~self.box.periodic] = 0
            self._any_image = bool(np.any(img))
            np.multiply(img, self.period, out=self._shift)
        self.image = img
        if self._xw.shape != (n, d):
            self._xw = np.zeros((n, d))
        return self.wrapped(x)

    def wrapped(self, x: np.ndarray) -> np.ndarray:
        """Positions for the force kernels: ``x - image·L`` (n, d) with the images of the last build (x
        itself without wrapping or when every image is 0, so the result is bitwise the old one). The
        returned array is an internal buffer overwritten by the next call."""
        if not self._any_image:
            return x
        np.subtract(x, self._shift, out=self._xw)
        return self._xw

    def invalidate(self) -> None:
        """Make the next `update` build (keeps the scratch memory): like a LAMMPS ``run`` set-up."""
        self.x_build = None

    def needs_rebuild(self, x: np.ndarray) -> bool:
        """True when never built, the atom count changed, or any atom moved more than skin/2."""
        if self.x_build is None or self.x_build.shape != x.shape:
            return True
        return self._kn.max_displacement_sq(x, self.x_build) > (0.5 * self.skin) ** 2

    def update(self, x: np.ndarray) -> bool:
        """One step of the rebuild policy (`NeighborPolicy`; default: rebuild when any atom moved more
        than skin/2). Always builds when never built or the atom count changed. Returns True when it
        rebuilt."""
        if self.x_build is None or self.x_build.shape != x.shape:
            self.build(x)
            return True
        pol = self.policy
        self.since_build += 1
        k = self.since_build
        if k < pol.delay or k % pol.every:
            return False
        if pol.check:
            if not self.needs_rebuild(x):
                return False
            first = max(pol.delay, pol.every)
            first = -(-first // pol.every) * pol.every       # first step a check was allowed
            if k == first and first > 1:
                self.n_dangerous += 1
        elif self.needs_rebuild(x):
            self.n_dangerous += 1
        self.build(x)
        return True

    # ------------------------------------------------------------------ helpers
    @property
    def i_of_entry(self) -> np.ndarray:
        """(m,) int64 owning atom of each entry."""
        if self._i_of_entry is None:
            n = self.offsets.size - 1
            self._i_of_entry = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.offsets))
        return self._i_of_entry

    @property
    def shifts(self) -> np.ndarray:
        """(m, d) integer image shift of every entry: separation x_j - x_i + shifts * period, x in the frame
        passed to `build` (with wrapping: the kernels' code shift minus image_j - image_i)."""
        base = 2 * self._B + 1
        c = self.shift_code.astype(np.int64)
        s = np.stack([(c // base ** k) % base - self._B for k in range(self.box.dim)], axis=1)
        if self.wrap and self._any_image:
            s = s - (self.image[self.neighbors] - self.image[self.i_of_entry])
        return s

    def shift_vectors(self) -> np.ndarray:
        """(m, d) image shift vector of every entry [length], in the frame of the positions passed to
        `build` (so ``x[j] - x[i] + shift`` is the separation for those positions)."""
        sv = self.shift_table[self.shift_code, : self.box.dim]
        if self.wrap and self._any_image:
            sv = sv - (self._shift[self.neighbors] - self._shift[self.i_of_entry])
        return sv

    def separations(self, x: np.ndarray) -> np.ndarray:
        """(m, d) separation vectors x_j - x_i + shift of every entry for positions x."""
        return x[self.neighbors] - x[self.i_of_entry] + self.shift_vectors()

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(i (m,), j (m,)) of every entry (each unordered pair once)."""
        return self.i_of_entry, self.neighbors.astype(np.int64)
