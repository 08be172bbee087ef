"""Explicit dynamics with the shared Verlet kernels: wave speeds of pulses against √(C/ρ) of the
potential-derived stiffness, and the stable time step against the exact critical step."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

from multiscale._kernels import load
from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.fem.materials.linear import Linear
from multiscale.md.lattice import Lattice
from multiscale.registry import MESHES

from .helpers import NumpyLJ, ToyEAM, mesh_for

VERLET = load("verlet")


def run_pulse(reg: ContinuumRegion, comp: int, x0: float, sigma: float, t_marks: list[float]) -> list[float]:
    """Gaussian displacement pulse in component ``comp`` (zero initial velocity: two half pulses), motion
    restricted to that component; returns the centroid of u² over x > x0 at the times t_marks."""
    X = reg.nodes[:, 0]
    reg.U[:] = 0.0
    reg.V[:] = 0.0
    reg.U[:, comp] = np.exp(-((X - x0) ** 2) / (2 * sigma**2))
    inv_m = 1.0 / reg.lumped_mass
    dt = 0.5 * reg.stable_dt()
    mask = np.zeros(reg.U.shape[1])
    mask[comp] = 1.0

    def forces() -> None:
        reg.compute()
        reg.forces *= mask  # rollers: the other components stay zero

    forces()
    t, out = 0.0, []
    right = X > x0
    for tm in t_marks:
        n = int(round((tm - t) / dt))
        for _ in range(n):
            VERLET.kick(reg.V, reg.forces, inv_m, 0.5 * dt, 1)
            VERLET.drift(reg.U, reg.V, dt, 1)
            forces()
            VERLET.kick(reg.V, reg.forces, inv_m, 0.5 * dt, 1)
        t += n * dt
        w = reg.U[right, comp] ** 2
        out.append((float(np.sum(w * X[right]) / np.sum(w)), t))
    return out


def strip_mesh(d: int, h: float, length: float):  # noqa: ANN201
    gen = {1: "bar", 2: "rectangle", 3: "box"}[d]
    G = MESHES.get(gen)
    return G.build(G.Params(lo=[0.0] * d, hi=[length] + [h] * (d - 1), size=h))


CASES = [(1, Lattice("chain", 1.1), NumpyLJ(cutoff=2.5)),
         (2, Lattice("hex", 1.1), NumpyLJ(cutoff=2.5)),
         (3, Lattice("fcc", 1.14), ToyEAM(1.0, 1.6, 0.3, 2.0))]


@pytest.mark.parametrize(("d", "lat", "pot"), CASES, ids=["1d", "2d", "3d"])
def test_wave_speeds(d, lat, pot):
    """Longitudinal and transverse pulse speeds along x within 1e-3 of √(Q_ii) (acoustic tensor of C/ρ);
    measured 1.8e-4 … 2.3e-4 (h = 0.5: mesh dispersion and peak tracking)."""
    mat = Linear.from_potential(pot, lat)
    rho = 1.0 / lat.volume_per_atom
    h, L, x0, sigma = 0.5, 500.0, 150.0, 8.0
    reg = ContinuumRegion(strip_mesh(d, h, L), mat, rho)
    from multiscale.fem.materials.base import voigt_to_tensor
    Q = voigt_to_tensor(mat.C)[:, 0, :, 0] / rho
    assert np.allclose(Q, np.diag(np.diag(Q)), atol=1e-9 * Q.max())
    for comp in range(d):
        c = np.sqrt(Q[comp, comp])
        (p1, t1), (p2, t2) = run_pulse(reg, comp, x0, sigma, [40.0 / c, 120.0 / c])
        c_meas = (p2 - p1) / (t2 - t1)
        assert abs(c_meas / c - 1) < 1e-3, (comp, c_meas, c)  # measured <= 2.3e-4 (README: ~4x headroom)


def exact_dt(reg: ContinuumRegion) -> float:
    K = reg.stiffness_matrix().toarray()
    m = np.repeat(reg.lumped_mass, reg.mesh.dim)
    lam = sla.eigvalsh(K / np.sqrt(np.outer(m, m)))[-1]
    return 2.0 / np.sqrt(lam)


def test_stable_dt_bar_exact():
    mesh = strip_mesh(1, 0.25, 10.0)
    reg = ContinuumRegion(mesh, Isotropic(4.0, 0.0, 1), density=1.0)
    assert reg.stable_dt() == pytest.approx(0.25 / 2.0, rel=1e-13)
    assert reg.stable_dt() <= exact_dt(reg) * (1 + 1e-12)


@pytest.mark.parametrize("elem", ["tri3", "quad4", "tet4", "hex8"])
def test_stable_dt_is_safe_and_tight(elem):
    mesh = mesh_for(elem, n=3, distort=0.2)
    reg = ContinuumRegion(mesh, Isotropic(4.0, 0.3, mesh.dim), density=1.0)
    reg.set_blend(lambda X: np.clip(X[:, 0] / 2, 0.05, 1), n_sub=2)
    dt, ex = reg.stable_dt(), exact_dt(reg)
    assert dt <= ex * (1 + 1e-12) and dt >= 0.5 * ex
