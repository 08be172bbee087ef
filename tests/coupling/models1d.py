"""Small NumPy 1D models with the AtomisticRegion / ContinuumRegion contracts (ARCHITECTURE.md), used to
test the coupler independently of the MD and FE engines: a nearest-neighbour harmonic chain and a bar2
mesh with exact (breakpoint-split) α-weighted element stiffness and lumped mass."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class Chain1D:
    """Harmonic nearest-neighbour chain: E = Σ_bonds w_b ½ k (x_{i+1} − x_i − a)²."""

    def __init__(self, X: np.ndarray, mass: float = 1.0, k: float = 1.0, a: float = 1.0) -> None:
        self.X = np.ascontiguousarray(np.asarray(X, float).reshape(-1, 1))
        n = len(self.X)
        self.x = self.X.copy()
        self.v = np.zeros((n, 1))
        self.forces = np.zeros((n, 1))
        self.energies = np.zeros(n)
        self.mass = np.full(n, float(mass))
        self.k, self.a = float(k), float(a)
        self.site_w = np.ones(n)
        self.bond_w = np.ones(n - 1)

    def set_weights(self, site_w, bond_weight_fn) -> None:  # noqa: ANN001
        self.site_w = np.asarray(site_w, float).copy()
        if bond_weight_fn is None:
            self.bond_w = np.ones(len(self.X) - 1)
        else:
            i = np.arange(len(self.X) - 1)
            self.bond_w = np.asarray(bond_weight_fn(i, i + 1, self.X[1:] - self.X[:-1]), float)

    def compute(self) -> float:
        x = self.x[:, 0]
        stretch = x[1:] - x[:-1] - (self.X[1:, 0] - self.X[:-1, 0])
        t = self.k * self.bond_w * stretch
        f = np.zeros(len(x))
        f[:-1] += t
        f[1:] -= t
        self.forces[:, 0] = f
        e = 0.5 * self.k * self.bond_w * stretch**2
        self.energies[:] = 0.0
        self.energies[:-1] += 0.5 * e
        self.energies[1:] += 0.5 * e
        return float(e.sum())


class Bar1D:
    """Linear bar2 mesh, stiffness EA, density rho (mass/length); α integrated exactly per element."""

    def __init__(self, nodes: np.ndarray, EA: float = 1.0, rho: float = 1.0) -> None:
        self.nodes = np.ascontiguousarray(np.asarray(nodes, float).reshape(-1, 1))
        N = len(self.nodes)
        self.U = np.zeros((N, 1))
        self.V = np.zeros((N, 1))
        self.forces = np.zeros((N, 1))
        self.EA, self.rho = float(EA), float(rho)
        x = self.nodes[:, 0]
        self.h = np.diff(x)
        self.qp_positions = (0.5 * (x[1:] + x[:-1]))[:, None]
        self.qp_volumes = self.h.copy()
        self.alpha_qp = np.ones(N - 1)
        self.lumped_mass = np.zeros(N)

    def set_blend(self, alpha_fn, n_sub: int = 8) -> None:  # noqa: ANN001
        x = self.nodes[:, 0]
        g, w = np.polynomial.legendre.leggauss(8)
        ne = len(x) - 1
        a_el = np.zeros(ne)
        m_l = np.zeros(ne)
        m_r = np.zeros(ne)
        for e in range(ne):
            # sub-intervals split at n_sub equal pieces (exact for polynomial α when breakpoints are nodes)
            edges = np.linspace(x[e], x[e + 1], n_sub + 1)
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                pts = 0.5 * (lo + hi) + 0.5 * (hi - lo) * g
                al = alpha_fn(pts[:, None])
                ww = 0.5 * (hi - lo) * w
                a_el[e] += ww @ al
                t = (pts - x[e]) / (x[e + 1] - x[e])
                m_l[e] += ww @ (al * (1 - t))
                m_r[e] += ww @ (al * t)
        self.alpha_qp = a_el / self.h
        self.lumped_mass = np.zeros(len(x))
        self.lumped_mass[:-1] += self.rho * m_l
        self.lumped_mass[1:] += self.rho * m_r

    def compute(self) -> float:
        U = self.U[:, 0]
        strain = np.diff(U) / self.h
        t = self.EA * self.alpha_qp * strain
        f = np.zeros(len(U))
        f[:-1] += t
        f[1:] -= t
        self.forces[:, 0] = f
        return float(np.sum(0.5 * self.EA * self.alpha_qp * strain**2 * self.h))

    def interpolation_matrix(self, points: np.ndarray) -> sp.csr_matrix:
        p = np.asarray(points, float).reshape(-1)
        x = self.nodes[:, 0]
        e = np.clip(np.searchsorted(x, p, side="right") - 1, 0, len(x) - 2)
        t = (p - x[e]) / (x[e + 1] - x[e])
        if np.any((t < -1e-12) | (t > 1 + 1e-12)):
            raise ValueError("point outside the mesh")
        rows = np.repeat(np.arange(len(p)), 2)
        cols = np.stack([e, e + 1], axis=1).ravel()
        vals = np.stack([1 - t, t], axis=1).ravel()
        M = sp.csr_matrix((vals, (rows, cols)), shape=(len(p), len(x)))
        M.eliminate_zeros()
        return M

    def stable_dt(self) -> float:
        return float(np.min(self.h) / np.sqrt(self.EA / self.rho))
