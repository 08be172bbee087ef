"""Neighbour lists: cell lists feeding full Verlet lists with a skin (kernel ``neighbors``).

A `NeighborList` holds, in CSR form, every atom j within ``cutoff + skin`` of atom i (both (i, j) and
(j, i) are entries: FULL lists, so each atom sums its own force and results are bitwise independent of
the thread count). Entry e of atom i is ``neighbors[offsets[i] + e]``, with periodic image shift
``shifts[offsets[i] + e]`` (int8 per axis): the separation is ``x[j] - x[i] + shifts * L``.
Building is O(N) in time and memory.
"""

from __future__ import annotations

import numpy as np

from .._kernels import load
from .box import Box


class NeighborList:
    """Full Verlet list for positions x (n, d) in ``box``.

    Attributes
    ----------
    cutoff, skin, rlist = cutoff + skin [length]
    offsets : (n+1,) int64     CSR row pointers
    neighbors : (m,) int32     neighbour indices
    shifts : (m, d) int8       periodic image of each entry (0 on free axes)
    period : (d,) float64      L on periodic axes, 0 on free axes
    i_of_entry : (m,) int64    the owning atom of each entry (built on first use)
    x_build : (n, d)           positions at the last build
    n_builds : int
    """

    def __init__(self, box: Box, cutoff: float, skin: float, n_threads: int = 1) -> None:
        if cutoff <= 0 or skin < 0:
            raise ValueError("neighbour list needs cutoff > 0 and skin >= 0")
        self.box = box
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.rlist = self.cutoff + self.skin
        self.n_threads = int(n_threads)
        self.period = np.where(box.periodic, box.hi - box.lo, 0.0).astype(float)
        short = box.periodic & (self.period < 2.0 * self.rlist)
        if np.any(short):
            k = int(np.argmax(short))
            raise ValueError(f"periodic box length {self.period[k]:g} on axis {k} is shorter than "
                             f"2 (cutoff + skin) = {2 * self.rlist:g}: minimum image would miss neighbours")
        self._k = load("neighbors")
        self.n_builds = 0
        self.offsets = np.zeros(1, np.int64)
        self.neighbors = np.zeros(0, np.int32)
        self.shifts = np.zeros((0, box.dim), np.int8)
        self.x_build: np.ndarray | None = None
        self._i_of_entry: np.ndarray | None = None

    @property
    def n_entries(self) -> int:
        return int(self.neighbors.size)

    def _grid(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, d = x.shape
        origin = np.zeros(3)
        size = np.ones(3)
        nc = np.ones(3, dtype=np.int64)
        for k in range(d):
            if self.box.periodic[k]:
                L = self.period[k]
                m = int(np.floor(L / self.rlist))
                m = 1 if m < 3 else m
                origin[k], size[k], nc[k] = self.box.lo[k], L / m, m
            else:
                lo = float(np.min(x[:, k])) if n else 0.0
                ext = (float(np.max(x[:, k])) - lo if n else 0.0) * (1 + 1e-12) + 1e-300
                m = max(1, int(np.floor(ext / self.rlist)))
                origin[k], size[k], nc[k] = lo, max(ext / m, self.rlist), m
        # keep the cell count O(n) for sparse or far-flung free atoms
        while np.prod(nc) > 4 * n + 64:
            k = int(np.argmax(nc))
            if self.box.periodic[k] and nc[k] // 2 < 3:
                nc[k], size[k] = 1, self.period[k]
            else:
                nc[k] = max(1, nc[k] // 2)
                size[k] = (self.period[k] if self.box.periodic[k] else size[k] * 2) / (
                    nc[k] if self.box.periodic[k] else 1)
        return origin, size, nc

    def build(self, x: np.ndarray) -> None:
        """Rebuild from positions x (n, d) [length] (C-contiguous float64)."""
        x = np.ascontiguousarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.box.dim:
            raise ValueError(f"positions must have shape (n, {self.box.dim})")
        if not np.all(np.isfinite(x)):
            raise ValueError("non-finite positions")
        n, d = x.shape
        origin, size, nc = self._grid(x)
        xw = np.zeros((n, 3))
        img = np.zeros((n, 3), dtype=np.int64)
        xw[:, :d] = x
        for k in range(d):
            if self.box.periodic[k]:
                L = self.period[k]
                img[:, k] = np.floor((x[:, k] - self.box.lo[k]) / L).astype(np.int64)
                xw[:, k] = x[:, k] - img[:, k] * L
        if n and np.max(np.abs(img)) > 60:
            raise ValueError("positions lie more than 60 periods away from the box; wrap them first")
        period3 = np.concatenate([self.period, np.zeros(3 - d)])
        self.offsets, self.neighbors, self.shifts = self._k.build_full(
            xw, img, d, origin, size, period3, nc, self.rlist, self.n_threads)
        self.x_build = x.copy()
        self._i_of_entry = None
        self.n_builds += 1

    def needs_rebuild(self, x: np.ndarray) -> bool:
        """True when never built, the atom count changed, or any atom moved more than skin/2."""
        if self.x_build is None or self.x_build.shape != x.shape:
            return True
        return self._k.max_displacement_sq(x, self.x_build) > (0.5 * self.skin) ** 2

    def update(self, x: np.ndarray) -> bool:
        """Rebuild if needed; returns True when it rebuilt."""
        if self.needs_rebuild(x):
            self.build(x)
            return True
        return False

    @property
    def i_of_entry(self) -> np.ndarray:
        """(m,) int64 owning atom of each entry."""
        if self._i_of_entry is None:
            n = self.offsets.size - 1
            self._i_of_entry = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.offsets))
        return self._i_of_entry

    def separations(self, x: np.ndarray) -> np.ndarray:
        """(m, d) separation vectors x_j - x_i + shift*L of every entry for positions x."""
        i = self.i_of_entry
        return x[self.neighbors] - x[i] + self.shifts * self.period

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(i (m,), j (m,)) of every entry."""
        return self.i_of_entry, self.neighbors.astype(np.int64)
