"""Shared helpers of the continuum tests: NumPy reference potentials, meshes per element type, an
independent periodic-cell lattice energy."""

from __future__ import annotations

import numpy as np

from multiscale.fem import Mesh
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.base import Potential
from multiscale.registry import MESHES


class _RadialOnly(Potential):
    """Test potentials: radial functions only (the continuum never calls compute)."""

    @classmethod
    def from_params(cls, params, units, deck_dir=None):  # noqa: ANN001, ANN206
        raise NotImplementedError("test potential")

    def compute(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise NotImplementedError("test potential: radial functions only")


class NumpyLJ(_RadialOnly):
    """Lennard-Jones, energy-shifted at the cut-off: φ = 4ε[(σ/r)^12 − (σ/r)^6] − φ(rc)."""

    def __init__(self, eps: float = 1.0, sigma: float = 1.0, cutoff: float = 2.5) -> None:
        self.eps, self.sigma, self.cutoff = eps, sigma, cutoff
        self._shift = self._raw(np.array(cutoff))[0]

    def _raw(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s6 = (self.sigma / r) ** 6
        return 4 * self.eps * (s6 * s6 - s6), 4 * self.eps * (-12 * s6 * s6 + 6 * s6) / r

    def pair(self, r):  # noqa: ANN001, ANN201
        r = np.asarray(r, float)
        inside = r < self.cutoff
        rr = np.where(inside, r, 1.0)
        e, de = self._raw(rr)
        return np.where(inside, e - self._shift, 0.0), np.where(inside, de, 0.0)


class NumpyHarmonic(_RadialOnly):
    """φ = k/2 (r − r0)² for r < cutoff."""

    def __init__(self, k: float = 1.0, r0: float = 1.0, cutoff: float = 1.5) -> None:
        self.k, self.r0, self.cutoff = k, r0, cutoff

    def pair(self, r):  # noqa: ANN001, ANN201
        r = np.asarray(r, float)
        inside = r < self.cutoff
        return (np.where(inside, 0.5 * self.k * (r - self.r0) ** 2, 0.0),
                np.where(inside, self.k * (r - self.r0), 0.0))


class ToyEAM(_RadialOnly):
    """A smooth many-body potential: Morse pair (D = 1, α = 3, r0), ρ(r) = exp(−β(r − r0)), 𝓕(ρ) = −A√ρ,
    pair and density tapered to zero between 0.85·rc and rc by the C2 polynomial 1 − 10t³ + 15t⁴ − 6t⁵."""

    many_body = True

    def __init__(self, r0: float = 1.0, cutoff: float = 1.9, A: float = 0.5, beta: float = 2.0) -> None:
        self.r0, self.cutoff, self.beta, self.A = r0, cutoff, beta, A

    def _s(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rs = 0.85 * self.cutoff
        t = np.clip((r - rs) / (self.cutoff - rs), 0.0, 1.0)
        s = 1 - 10 * t**3 + 15 * t**4 - 6 * t**5
        ds = (-30 * t**2 + 60 * t**3 - 30 * t**4) / (self.cutoff - rs)
        return s, ds

    def pair(self, r):  # noqa: ANN001, ANN201
        r = np.asarray(r, float)
        e = np.exp(-3 * (r - self.r0))
        p, dp = e * e - 2 * e, -6 * e * e + 6 * e
        s, ds = self._s(r)
        return p * s, dp * s + p * ds

    def density(self, r):  # noqa: ANN001, ANN201
        r = np.asarray(r, float)
        f = np.exp(-self.beta * (r - self.r0))
        s, ds = self._s(r)
        return f * s, -self.beta * f * s + f * ds

    def embedding(self, rho):  # noqa: ANN001, ANN201
        rho = np.asarray(rho, float)
        sq = np.sqrt(np.maximum(rho, 1e-300))
        return -self.A * sq, -0.5 * self.A / sq


#: (lattice, potential) pairs per dimension used by the material tests
def lattice_cases() -> list[tuple[str, Lattice, Potential]]:
    return [
        ("chain-harmonic", Lattice("chain", 1.0), NumpyHarmonic(2.0, 1.0, 1.5)),
        ("chain-lj", Lattice("chain", 1.1), NumpyLJ(cutoff=2.5)),
        ("hex-lj", Lattice("hex", 1.1), NumpyLJ(cutoff=2.5)),
        ("square-harmonic", Lattice("square", 1.0), NumpyHarmonic(1.0, 1.0, 1.5)),
        ("fcc-lj", Lattice("fcc", 1.55), NumpyLJ(cutoff=2.0)),
        ("bcc-eam", Lattice("bcc", 0.99), ToyEAM(1.0, 1.6, 0.3, 2.0)),
        ("fcc-eam-rot", Lattice("fcc", 1.14, orient=[[1, 1, 0], [-1, 1, 0], [0, 0, 1]]),
         ToyEAM(1.0, 1.6, 0.3, 2.0)),
    ]


def periodic_cell_energy(potential, lattice: Lattice, reps: int, F: np.ndarray) -> tuple[float, float]:  # noqa: ANN001
    """Energy [energy] and reference volume of a periodic supercell of ``reps`` conventional cells per axis
    (axis-aligned lattice), homogeneously deformed by F: a brute-force sum over atoms and periodic images,
    independent of `Lattice.neighbor_vectors`."""
    d = lattice.dim
    prim = lattice.primitive_vectors
    # a periodic box: an integer multiple of a supercell spanned by lattice vectors
    L = reps * prim  # rows: box vectors, each a lattice vector
    n = reps ** d
    idx = np.stack(np.meshgrid(*[np.arange(reps)] * d, indexing="ij"), -1).reshape(-1, d)
    X = idx @ prim
    x = X @ F.T
    Lx = L @ F.T
    diam = float(np.sum(np.linalg.norm(Lx, axis=1)))
    nimg = int(np.ceil((potential.cutoff + diam) / np.linalg.svd(Lx, compute_uv=False).min()))
    shifts = np.stack(np.meshgrid(*[np.arange(-nimg, nimg + 1)] * d, indexing="ij"), -1).reshape(-1, d) @ Lx
    E = 0.0
    rho = np.zeros(n)
    for i in range(n):
        dr = (x[None, :, :] + shifts[:, None, :] - x[i]).reshape(-1, d)
        r = np.linalg.norm(dr, axis=1)
        r = r[(r > 1e-9) & (r < potential.cutoff * 1.0000001)]
        E += 0.5 * potential.pair(r)[0].sum()
        rho[i] = potential.density(r)[0].sum()
    if potential.many_body:
        E += potential.embedding(rho)[0].sum()
    return float(E), float(abs(np.linalg.det(L)))


def mesh_for(element: str, n: int = 3, distort: float = 0.0, seed: int = 0) -> Mesh:
    """A small mesh of ``element`` on [0, 3]^d (n elements per side), interior nodes randomly moved by
    ``distort`` × element size."""
    gen, dim = {"bar2": ("bar", 1), "tri3": ("rectangle", 2), "quad4": ("rectangle", 2),
                "tet4": ("box", 3), "hex8": ("box", 3)}[element]
    G = MESHES.get(gen)
    kw = dict(lo=[0.0] * dim, hi=[3.0] * dim, size=3.0 / n)
    if gen != "bar":
        kw["element"] = element
    m = G.build(G.Params(**kw))
    if distort:
        rng = np.random.default_rng(seed)
        X = m.nodes.copy()
        interior = np.all((X > 1e-9) & (X < 3 - 1e-9), axis=1)
        X[interior] += distort * (3.0 / n) * rng.uniform(-1, 1, (interior.sum(), dim))
        m = Mesh(X, m.blocks, m.node_sets, m.face_sets)
    return m
