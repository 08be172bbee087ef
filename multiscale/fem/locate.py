"""Point location in a mesh: which element contains each point, and its reference coordinates."""

from __future__ import annotations

import numpy as np

from .._lazy import lazy_module
from .mesh import Mesh

_spatial = lazy_module("scipy.spatial")


class Locator:
    """Finds the element containing points X (m, d): KD-tree over element centroids for candidates, the
    element's inverse map for the test, and a bounding-box scan for the few points the candidates miss."""

    def __init__(self, mesh: Mesh, k: int = 16) -> None:
        self.mesh = mesh
        cents, self._bid, self._eid, lo, hi = [], [], [], [], []
        for b, blk in enumerate(mesh.blocks):
            Xe = mesh.nodes[blk.conn]
            cents.append(Xe.mean(axis=1))
            lo.append(Xe.min(axis=1))
            hi.append(Xe.max(axis=1))
            self._bid.append(np.full(len(blk), b))
            self._eid.append(np.arange(len(blk)))
        self._bid = np.concatenate(self._bid)
        self._eid = np.concatenate(self._eid)
        self._lo, self._hi = np.concatenate(lo), np.concatenate(hi)
        self._tree = _spatial.cKDTree(np.concatenate(cents))
        self._k = int(min(k, self._bid.size))
        self._tol = 1e-9 * float(np.max(np.ptp(mesh.nodes, axis=0)) or 1.0)

    def _try(self, X: np.ndarray, gidx: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
        """Reference coords (m, d) of X in global elements gidx (m,), and whether inside."""
        xi = np.full(X.shape, np.nan)
        ok = np.zeros(X.shape[0], bool)
        for b, blk in enumerate(self.mesh.blocks):
            sel = np.nonzero(self._bid[gidx] == b)[0]
            if not sel.size:
                continue
            el = blk.element
            Xe = self.mesh.nodes[blk.conn[self._eid[gidx[sel]]]]
            x = el.inverse_map(Xe, X[sel])
            xi[sel] = x
            ok[sel] = el.contains(x, tol) & np.all(np.isfinite(x), axis=1)
        return xi, ok

    def inside(self, X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """(m,) bool: whether each point X (m, d) lies in an element of the mesh (the search of `locate`,
        without raising for points outside: in a hole, beyond the boundary)."""
        return self._search(np.atleast_2d(np.asarray(X, float)), tol)[0] >= 0

    def locate(self, X: np.ndarray, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(block (m,), element (m,), ξ (m, d)). Raises ValueError naming points outside the mesh."""
        X = np.atleast_2d(np.asarray(X, float))
        if X.shape[1] != self.mesh.dim:
            raise ValueError(f"points have {X.shape[1]} coordinates, the mesh is {self.mesh.dim}D")
        if X.shape[0] == 0:             # no points (e.g. a handshake without pad atoms)
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, self.mesh.dim))
        found, xi = self._search(X, tol)
        bad = np.nonzero(found < 0)[0]
        if bad.size:
            show = "; ".join(f"#{i} {np.array2string(X[i], precision=6)}" for i in bad[:5])
            raise ValueError(f"{bad.size} point(s) outside the mesh: {show}"
                             + (" ..." if bad.size > 5 else ""))
        return self._bid[found], self._eid[found], xi

    def _search(self, X: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
        """(global element (m,), -1 where none contains the point; ξ (m, d)) of points X (m, d)."""
        m = X.shape[0]
        found = np.full(m, -1, np.int64)
        xi = np.zeros((m, self.mesh.dim))
        if m == 0:
            return found, xi
        if self._k > 2 and m:
            # first the nearest centroid of the points where it is unique (computed distance strictly below
            # the second's: the first candidate of the k-nearest query below); most points are in that
            # element. The inverse map is per point, so the same ξ as in the loop below
            dist2, cand2 = self._tree.query(X, k=2)
            one = np.flatnonzero(dist2[:, 0] < dist2[:, 1])
            if one.size:
                x, ok = self._try(X[one], cand2[one, 0], tol)
                found[one[ok]] = cand2[one[ok], 0]
                xi[one[ok]] = x[ok]
        rest = np.flatnonzero(found < 0)
        if rest.size:
            _, cand = self._tree.query(X[rest], k=self._k)
            cand = cand.reshape(rest.size, -1)
            for j in range(cand.shape[1]):
                sub = np.nonzero(found[rest] < 0)[0]
                if not sub.size:
                    break
                todo = rest[sub]
                x, ok = self._try(X[todo], cand[sub, j], tol)
                found[todo[ok]] = cand[sub[ok], j]
                xi[todo[ok]] = x[ok]
        for p in np.nonzero(found < 0)[0]:  # rare: bounding-box scan
            inbox = np.nonzero(np.all((self._lo <= X[p] + self._tol) & (self._hi >= X[p] - self._tol),
                                      axis=1))[0]
            if inbox.size:
                x, ok = self._try(np.repeat(X[p:p + 1], inbox.size, axis=0), inbox, tol)
                if np.any(ok):
                    i = int(np.argmax(ok))
                    found[p], xi[p] = inbox[i], x[i]
        return found, xi
