"""Bravais lattices with one atom per primitive cell: chain (1D), square and hex (2D), sc, fcc, bcc (3D);
and diamond (3D, fcc with a two-atom basis: site filling only, no neighbour-vector lattice sums).

Conventions (LAMMPS-like):
- ``a`` is the spacing for ``chain`` and ``square``, the nearest-neighbour distance for ``hex``, and the
  cubic lattice constant for ``sc``, ``fcc``, ``bcc`` and ``diamond``  [length].
- ``hex`` has close-packed rows along x: conventional rectangular cell (a, a√3) with basis (0,0), (½,½).
- Orientation: in 3D, ``orient`` gives the crystal (Miller) directions along lab x, y, z (orthogonal rows,
  normalised here); in 2D an angle [degrees] rotating the crystal counter-clockwise; none in 1D.
- ``origin`` shifts every site [length].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_SQ3 = np.sqrt(3.0)

#: kind -> (dim, conventional cell in units of a (rows), basis in fractional cell coordinates)
_CELLS: dict[str, tuple[int, np.ndarray, np.ndarray]] = {
    "chain": (1, np.array([[1.0]]), np.array([[0.0]])),
    "square": (2, np.eye(2), np.array([[0.0, 0.0]])),
    "hex": (2, np.array([[1.0, 0.0], [0.0, _SQ3]]), np.array([[0.0, 0.0], [0.5, 0.5]])),
    "sc": (3, np.eye(3), np.array([[0.0, 0.0, 0.0]])),
    "bcc": (3, np.eye(3), np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])),
    "fcc": (3, np.eye(3), np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], float)),
    # diamond cubic (Si, C, Ge): fcc with a two-atom basis (0,0,0), (¼,¼,¼); not a Bravais lattice
    "diamond": (3, np.eye(3), np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
                                        [0.25, 0.25, 0.25], [0.75, 0.75, 0.25], [0.75, 0.25, 0.75],
                                        [0.25, 0.75, 0.75]], float)),
}

#: kind -> primitive vectors in units of a (rows), crystal frame
_PRIMITIVE: dict[str, np.ndarray] = {
    "chain": np.array([[1.0]]),
    "square": np.eye(2),
    "hex": np.array([[1.0, 0.0], [0.5, _SQ3 / 2]]),
    "sc": np.eye(3),
    "bcc": 0.5 * np.array([[-1.0, 1, 1], [1, -1, 1], [1, 1, -1]]),
    "fcc": 0.5 * np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]]),
    "diamond": 0.5 * np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]]),  # of the underlying fcc lattice
}

#: atoms per primitive cell of the kinds with a basis (all others: 1)
_BASIS_PER_PRIMITIVE = {"diamond": 2}

LATTICE_KINDS = tuple(_CELLS)

#: `Lattice.period` gives up (irrational orientation) beyond this many multiples of the shortest candidate
PERIOD_SEARCH = 200

#: a periodic box length within this fraction of a period of a whole number of periods is accepted as that
#: whole number (round-off of the deck's digits, e.g. 10.3923 for 6·√3); beyond it: error or
#: ``box_fit: snap``
PERIOD_TOL = 1e-5


def rotation_matrix(dim: int, orient: list[list[float]] | float | None) -> np.ndarray:
    """Rotation R (dim, dim) with lab = R @ crystal. Raises ValueError for non-orthogonal orient rows."""
    if dim == 1 or orient is None:
        return np.eye(dim)
    if dim == 2:
        th = np.deg2rad(float(orient))  # type: ignore[arg-type]
        c, s = np.cos(th), np.sin(th)
        return np.array([[c, -s], [s, c]])
    rows = np.asarray(orient, dtype=float)
    if rows.shape != (3, 3):
        raise ValueError("orient must be three crystal directions (3 x 3)")
    norms = np.linalg.norm(rows, axis=1)
    if np.any(norms == 0):
        raise ValueError("orient has a zero direction")
    rows = rows / norms[:, None]
    if np.max(np.abs(rows @ rows.T - np.eye(3))) > 1e-10:
        raise ValueError("orient directions must be mutually orthogonal")
    if np.linalg.det(rows) < 0:
        raise ValueError("orient directions must form a right-handed set")
    return rows  # rows are crystal directions of lab axes: lab_i = row_i · crystal


@dataclass(frozen=True)
class Lattice:
    """A Bravais lattice in the lab frame.

    Attributes: ``kind``, ``a`` [length], ``dim``, ``rotation`` (dim, dim), ``origin`` (dim,) [length].
    """

    kind: str
    a: float
    orient: object = None
    origin: tuple[float, ...] | None = None
    rotation: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in _CELLS:
            raise ValueError(f"unknown lattice kind {self.kind!r}; known: {', '.join(_CELLS)}")
        if not self.a > 0:
            raise ValueError("lattice constant must be > 0")
        object.__setattr__(self, "rotation", rotation_matrix(self.dim, self.orient))  # type: ignore[arg-type]

    @property
    def dim(self) -> int:
        return _CELLS[self.kind][0]

    @property
    def origin_vec(self) -> np.ndarray:
        return np.zeros(self.dim) if self.origin is None else np.asarray(self.origin, float)

    @property
    def primitive_vectors(self) -> np.ndarray:
        """(dim, dim) primitive vectors as rows, lab frame [length]."""
        return self.a * _PRIMITIVE[self.kind] @ self.rotation.T

    @property
    def volume_per_atom(self) -> float:
        """Atomic volume (length, area or volume per atom in 1D/2D/3D)."""
        return float(abs(np.linalg.det(self.primitive_vectors))) / _BASIS_PER_PRIMITIVE.get(self.kind, 1)

    @property
    def nearest_neighbor_distance(self) -> float:
        """Shortest distance between two sites [length]."""
        if self.kind in _BASIS_PER_PRIMITIVE:  # a basis: the shortest site separation near the origin
            X = self.sites_in_box(np.full(self.dim, -self.a), np.full(self.dim, self.a))
            d2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
            return float(np.sqrt(np.min(d2[d2 > 1e-20 * self.a ** 2])))
        P = self.primitive_vectors
        longest = float(np.max(np.linalg.norm(P, axis=1)))
        return float(np.linalg.norm(self.neighbor_vectors(1.0001 * longest)[0]))

    def period(self, axis: int, max_multiple: int = PERIOD_SEARCH) -> float | None:
        """Shortest L > 0 such that the translation L·e_axis (lab axis) maps the lattice onto itself
        [length]; None when no lattice vector along that axis is shorter than ``max_multiple`` times
        the shortest candidate (irrational orientation, e.g. a 2D lattice turned by 10°).

        A periodic box length along ``axis`` must be a whole number of these periods, otherwise the
        sites near hi and the images of those near lo overlap or leave a gap.
        """
        if not 0 <= axis < self.dim:
            raise ValueError(f"axis {axis} out of range for a {self.dim}D lattice")
        # lab direction e_axis in fractional coordinates of the primitive vectors: f = e P^{-1}
        e = np.zeros(self.dim)
        e[axis] = 1.0
        f = e @ np.linalg.inv(self.primitive_vectors)        # L·f must be an integer vector
        k = int(np.argmax(np.abs(f)))
        step = 1.0 / abs(f[k])                                # L = m·step makes component k an integer
        for m in range(1, int(max_multiple) + 1):
            n = m * step * f
            if np.max(np.abs(n - np.round(n))) < 1e-8 * max(1.0, float(np.max(np.abs(n)))):
                return float(abs((np.round(n) @ self.primitive_vectors)[axis]))   # the lattice vector
        return None

    def periods(self) -> list[float | None]:
        """`period` of every lab axis."""
        return [self.period(k) for k in range(self.dim)]

    def neighbor_vectors(self, rcut: float) -> np.ndarray:
        """All lattice vectors R ≠ 0 with |R| < rcut, lab frame, shape (nb, dim), sorted by length."""
        if self.kind in _BASIS_PER_PRIMITIVE:
            raise ValueError(f"{self.kind} is not a Bravais lattice: lattice sums over neighbour vectors "
                             "(Cauchy-Born, elastic constants, stable dt from φ'') do not apply")
        P = self.primitive_vectors
        # bound on integer coefficients: |n_i| <= rcut * ||row_i of P^{-1}||
        inv = np.linalg.inv(P)
        nmax = np.ceil(rcut * np.linalg.norm(inv, axis=0)).astype(int) + 1
        grids = np.meshgrid(*[np.arange(-m, m + 1) for m in nmax], indexing="ij")
        n = np.stack([g.ravel() for g in grids], axis=1).astype(float)
        R = n @ P
        r = np.linalg.norm(R, axis=1)
        keep = (r > 1e-12) & (r < rcut)
        R, r = R[keep], r[keep]
        order = np.lexsort((*R.T[::-1], np.round(r, 12)))
        return R[order]

    def sites_in_box(self, lo: np.ndarray, hi: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Every lattice site x with lo <= x < hi (componentwise, half-open, tolerance ``tol*a``).

        Returns (n, dim) [length], sorted lexicographically by (last coordinate, ..., first), i.e. row by row.
        """
        lo = np.asarray(lo, float)
        hi = np.asarray(hi, float)
        dim = self.dim
        _, cell, basis = _CELLS[self.kind]
        C = self.a * cell  # conventional cell rows, crystal frame
        R = self.rotation
        org = self.origin_vec
        # box corners into crystal-frame cell coordinates
        grid = np.meshgrid(*[[lo[k], hi[k]] for k in range(dim)], indexing="ij")
        corners = np.array(grid).reshape(dim, -1).T
        crys = (corners - org) @ R  # lab -> crystal: R^T x  (row form: x @ R)
        frac = crys @ np.linalg.inv(C)
        nlo = np.floor(frac.min(axis=0)).astype(int) - 1
        nhi = np.ceil(frac.max(axis=0)).astype(int) + 1
        grids = np.meshgrid(*[np.arange(nlo[k], nhi[k] + 1) for k in range(dim)], indexing="ij")
        cells = np.stack([g.ravel() for g in grids], axis=1).astype(float)
        pts = (cells[:, None, :] + basis[None, :, :]).reshape(-1, dim) @ C
        lab = pts @ R.T + org
        eps = tol * self.a
        inside = np.all((lab >= lo - eps) & (lab < hi - eps), axis=1)
        lab = lab[inside]
        # snap round-off (keeps generated coordinates exact-looking) and sort row by row
        lab = np.where(np.abs(lab) < eps, 0.0, lab)
        order = np.lexsort(np.round(lab, 9).T)
        return np.ascontiguousarray(lab[order])
