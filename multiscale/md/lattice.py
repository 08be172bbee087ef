"""Bravais lattices with one atom per primitive cell: chain (1D), square and hex (2D), sc, fcc, bcc (3D);
and lattices with a basis (site filling only, no neighbour-vector lattice sums): diamond (3D, fcc with a
two-atom basis), the ordered alloys b2 (CsCl, e.g. NiAl: simple cubic with sublattices 0 = cube corners,
1 = body centre) and l12 (Cu3Au, e.g. Ni3Al: simple cubic with sublattices 0 = face centres (3 sites),
1 = cube corners), and any Bravais kind decorated with a general ``basis`` (motif offsets from every
lattice site, in units of a, crystal frame; motif site k is sublattice k).

Sublattices are what atom types are assigned to (`Lattice.sites_in_box(..., sublattice=True)`).

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
    # B2 (CsCl): simple cubic, corner + body centre on two sublattices
    "b2": (3, np.eye(3), np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])),
    # L1_2 (Cu3Au): simple cubic, three face centres (sublattice 0) + corner (sublattice 1)
    "l12": (3, np.eye(3), np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], float)),
}

#: kind -> sublattice of each conventional-cell basis site (kinds not listed: one sublattice)
_SUBLATTICE: dict[str, np.ndarray] = {"b2": np.array([0, 1]), "l12": np.array([1, 0, 0, 0])}

#: kind -> what its sublattices are (documentation and messages)
SUBLATTICE_NAMES: dict[str, tuple[str, ...]] = {"b2": ("cube corners", "body centres"),
                                                 "l12": ("face centres", "cube corners")}

#: kind -> primitive vectors in units of a (rows), crystal frame
_PRIMITIVE: dict[str, np.ndarray] = {
    "chain": np.array([[1.0]]),
    "square": np.eye(2),
    "hex": np.array([[1.0, 0.0], [0.5, _SQ3 / 2]]),
    "sc": np.eye(3),
    "bcc": 0.5 * np.array([[-1.0, 1, 1], [1, -1, 1], [1, 1, -1]]),
    "fcc": 0.5 * np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]]),
    "diamond": 0.5 * np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]]),  # of the underlying fcc lattice
    "b2": np.eye(3),
    "l12": np.eye(3),
}

#: atoms per primitive cell of the kinds with a basis (all others: 1)
_BASIS_PER_PRIMITIVE = {"diamond": 2, "b2": 2, "l12": 4}

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
    """A lattice in the lab frame (Bravais, or with a basis: see the module docstring).

    Attributes: ``kind``, ``a`` [length], ``dim``, ``rotation`` (dim, dim), ``origin`` (dim,) [length],
    ``basis`` (motif offsets (nb, dim) in units of a, crystal frame, or None).
    """

    kind: str
    a: float
    orient: object = None
    origin: tuple[float, ...] | None = None
    basis: tuple[tuple[float, ...], ...] | None = None
    rotation: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in _CELLS:
            raise ValueError(f"unknown lattice kind {self.kind!r}; known: {', '.join(_CELLS)}")
        if not self.a > 0:
            raise ValueError("lattice constant must be > 0")
        if self.basis is not None:
            b = np.asarray(self.basis, dtype=float)
            if self.kind in _BASIS_PER_PRIMITIVE:
                raise ValueError(f"`basis` decorates a Bravais lattice; {self.kind} already has a basis")
            if b.ndim != 2 or b.shape[0] < 1 or b.shape[1] != self.dim:
                raise ValueError(f"basis must be a list of {self.dim}-component offsets")
            object.__setattr__(self, "basis", tuple(tuple(float(v) for v in row) for row in b))
        object.__setattr__(self, "rotation", rotation_matrix(self.dim, self.orient))  # type: ignore[arg-type]

    @property
    def atoms_per_primitive(self) -> int:
        """Sites per primitive cell (1 for a Bravais lattice)."""
        return _BASIS_PER_PRIMITIVE.get(self.kind, 1) * (1 if self.basis is None else len(self.basis))

    @property
    def is_bravais(self) -> bool:
        """One site per primitive cell: lattice sums over `neighbor_vectors` apply."""
        return self.atoms_per_primitive == 1

    @property
    def n_sublattices(self) -> int:
        """Number of sublattices (atom types the structure can carry): motif sites, or the kind's."""
        if self.basis is not None:
            return len(self.basis)
        return int(_SUBLATTICE[self.kind].max()) + 1 if self.kind in _SUBLATTICE else 1

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
        return float(abs(np.linalg.det(self.primitive_vectors))) / self.atoms_per_primitive

    @property
    def nearest_neighbor_distance(self) -> float:
        """Shortest distance between two sites [length]."""
        if not self.is_bravais:  # a basis: the shortest site separation near the origin
            reach = self.a * (1.0 + (0.0 if self.basis is None else float(np.max(np.abs(self.basis)))))
            X = self.sites_in_box(np.full(self.dim, -reach), np.full(self.dim, reach))
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
        if not self.is_bravais:
            raise ValueError(f"{self.describe()} is not a Bravais lattice: lattice sums over neighbour "
                             "vectors "
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

    def describe(self) -> str:
        """``kind`` plus ``with a N-site basis`` when a motif decorates it."""
        return self.kind if self.basis is None else f"{self.kind} with a {len(self.basis)}-site basis"

    def sites_in_box(self, lo: np.ndarray, hi: np.ndarray, tol: float = 1e-9, sublattice: bool = False):  # noqa: ANN201
        """Every lattice site x with lo <= x < hi (componentwise, half-open, tolerance ``tol*a``).

        Returns (n, dim) [length], sorted lexicographically by (last coordinate, ..., first), i.e. row by row;
        with ``sublattice=True`` the pair (X, sub) with sub (n,) int64 the sublattice of each site.
        """
        lo = np.asarray(lo, float)
        hi = np.asarray(hi, float)
        dim = self.dim
        _, cell, basis = _CELLS[self.kind]
        sub = _SUBLATTICE.get(self.kind, np.zeros(len(basis), np.int64))
        C = self.a * cell  # conventional cell rows, crystal frame
        motif = np.zeros((1, dim)) if self.basis is None else self.a * np.asarray(self.basis, float)
        R = self.rotation
        org = self.origin_vec
        # box corners into crystal-frame cell coordinates
        grid = np.meshgrid(*[[lo[k], hi[k]] for k in range(dim)], indexing="ij")
        corners = np.array(grid).reshape(dim, -1).T
        crys = (corners - org) @ R  # lab -> crystal: R^T x  (row form: x @ R)
        frac = crys @ np.linalg.inv(C)
        reach = int(np.ceil(np.max(np.abs(motif @ np.linalg.inv(C))))) if self.basis is not None else 0
        nlo = np.floor(frac.min(axis=0)).astype(int) - 1 - reach
        nhi = np.ceil(frac.max(axis=0)).astype(int) + 1 + reach
        grids = np.meshgrid(*[np.arange(nlo[k], nhi[k] + 1) for k in range(dim)], indexing="ij")
        cells = np.stack([g.ravel() for g in grids], axis=1).astype(float)
        pts = (cells[:, None, :] + basis[None, :, :]).reshape(-1, dim) @ C
        if self.basis is None:
            labels = np.tile(sub, len(cells))
        else:   # every lattice site carries the motif; motif site k is sublattice k
            pts = (pts[:, None, :] + motif[None, :, :]).reshape(-1, dim)
            labels = np.tile(np.arange(len(motif)), len(cells) * len(basis))
        lab = pts @ R.T + org
        eps = tol * self.a
        inside = np.all((lab >= lo - eps) & (lab < hi - eps), axis=1)
        lab, labels = lab[inside], labels[inside]
        # snap round-off (keeps generated coordinates exact-looking) and sort row by row
        lab = np.where(np.abs(lab) < eps, 0.0, lab)
        order = np.lexsort(np.round(lab, 9).T)
        if sublattice:
            return np.ascontiguousarray(lab[order]), np.ascontiguousarray(labels[order], dtype=np.int64)
        return np.ascontiguousarray(lab[order])
