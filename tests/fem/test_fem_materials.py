"""Materials: the stiffness derived from the potential (Cauchy–Born) against an independent periodic
MD-cell finite difference, symmetry / positive definiteness, the harmonic chain, and the nonlinear law."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import sqrtm

from multiscale.fem.materials.base import VOIGT_PAIRS, voigt_to_tensor
from multiscale.fem.materials.cauchy_born import CauchyBorn
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.fem.materials.lattice_sums import reference_stress
from multiscale.fem.materials.linear import Linear
from multiscale.md.lattice import Lattice
from multiscale.registry import MATERIALS

from .helpers import NumpyHarmonic, lattice_cases, periodic_cell_energy

CASES = lattice_cases()
IDS = [c[0] for c in CASES]
CASES_2D3D = [c for c in CASES if c[1].dim > 1]  # no rotations in 1D


def green_to_F(eps: np.ndarray, d: int) -> np.ndarray:
    """Symmetric stretch F = √(I + 2E) for a Voigt Green strain (engineering shears)."""
    E = np.zeros((d, d))
    for a, (i, j) in enumerate(VOIGT_PAIRS[d]):
        E[i, j] = E[j, i] = eps[a] if i == j else 0.5 * eps[a]
    return np.real(sqrtm(np.eye(d) + 2 * E))


def md_cell_stiffness(pot, lat: Lattice, reps: int = 2, h: float = 2e-3) -> np.ndarray:  # noqa: ANN001
    """C_ab = ∂²W/∂ε_a∂ε_b of the periodic-cell energy density, Richardson-extrapolated central FD."""
    d = lat.dim
    nv = len(VOIGT_PAIRS[d])

    def W(eps: np.ndarray) -> float:
        E, V = periodic_cell_energy(pot, lat, reps, green_to_F(eps, d))
        return E / V

    def hess(hh: float) -> np.ndarray:
        H = np.zeros((nv, nv))
        w0 = W(np.zeros(nv))
        for a in range(nv):
            ea = np.eye(nv)[a] * hh
            H[a, a] = (W(ea) - 2 * w0 + W(-ea)) / hh ** 2
            for b in range(a):
                eb = np.eye(nv)[b] * hh
                H[a, b] = H[b, a] = (W(ea + eb) - W(ea - eb) - W(-ea + eb) + W(-ea - eb)) / (4 * hh * hh)
        return H

    return (4 * hess(h / 2) - hess(h)) / 3


@pytest.mark.parametrize(("name", "lat", "pot"), CASES, ids=IDS)
def test_C_matches_md_cell(name, lat, pot):  # noqa: ANN001
    """Born constants from the bond list == FD stress–strain response of a periodic MD cell (≤ 1e-6)."""
    C = Linear.from_potential(pot, lat).C
    C_md = md_cell_stiffness(pot, lat)
    assert np.max(np.abs(C - C_md)) <= 1e-6 * np.max(np.abs(C)), (C, C_md)


@pytest.mark.parametrize(("name", "lat", "pot"), CASES, ids=IDS)
def test_C_symmetric_positive_definite(name, lat, pot):  # noqa: ANN001
    C = Linear.from_potential(pot, lat).C
    assert np.array_equal(C, C.T)
    assert np.linalg.eigvalsh(C).min() > 0
    T = voigt_to_tensor(C)
    assert np.allclose(T, T.transpose(2, 3, 0, 1)) and np.allclose(T, T.transpose(1, 0, 2, 3))


def test_harmonic_chain_C_equals_k_a():
    for k, a in [(1.0, 1.0), (2.5, 1.3)]:
        C = Linear.from_potential(NumpyHarmonic(k, a, 1.5 * a), Lattice("chain", a)).C
        assert C.shape == (1, 1)
        assert abs(C[0, 0] - k * a) <= 1e-12 * k * a


def test_registered_harmonic_potential_chain():
    """The MD engineer's registered harmonic potential gives the same C = k a (same object both scales)."""
    from multiscale.registry import POTENTIALS
    pot = POTENTIALS.get("harmonic")(k=3.0, r0=1.2)
    assert abs(Linear.from_potential(pot, Lattice("chain", 1.2)).C[0, 0] - 3.6) <= 1e-12 * 3.6


@pytest.mark.parametrize(("name", "lat", "pot"), CASES, ids=IDS)
def test_cauchy_born_stress_is_energy_gradient(name, lat, pot):  # noqa: ANN001
    """P = ∂W/∂F by central differences at a random finite deformation; tangent at the reference = C
    when the lattice is stress-free (P(I) = 0), else C plus the initial-stress term."""
    mat = CauchyBorn(pot, lat)
    d = lat.dim
    rng = np.random.default_rng(1)
    F = np.eye(d) + 0.03 * rng.normal(size=(d, d))
    P, W = mat.evaluate(F[None])
    h = 1e-6
    fd = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            dF = np.zeros((d, d))
            dF[i, j] = h
            fd[i, j] = (mat.evaluate((F + dF)[None])[1][0] - mat.evaluate((F - dF)[None])[1][0]) / (2 * h)
    assert np.allclose(P[0], fd, rtol=1e-7, atol=1e-7 * np.abs(mat.C).max())
    # W(I) = site energy / Ω₀ = the periodic cell's energy density
    E, V = periodic_cell_energy(pot, lat, 2, np.eye(d))
    assert abs(mat.evaluate(np.eye(d)[None])[1][0] - E / V) <= 1e-12 * abs(E / V)


@pytest.mark.parametrize(("name", "lat", "pot"), CASES_2D3D, ids=[c[0] for c in CASES_2D3D])
def test_cauchy_born_rotation_invariance(name, lat, pot):  # noqa: ANN001
    """W(QF) = W(F) and P(QF) = Q P(F) for a rotation Q (objectivity)."""
    mat = CauchyBorn(pot, lat)
    d = lat.dim
    rng = np.random.default_rng(2)
    F = np.eye(d) + 0.02 * rng.normal(size=(d, d))
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    Q *= np.sign(np.linalg.det(Q))
    P1, W1 = mat.evaluate(F[None])
    P2, W2 = mat.evaluate((Q @ F)[None])
    assert abs(W1[0] - W2[0]) <= 1e-12 * abs(W1[0])
    assert np.allclose(P2[0], Q @ P1[0], atol=1e-11 * np.abs(P1).max())


def test_reference_stress_zero_at_equilibrium_chain():
    pot = NumpyHarmonic(1.0, 1.0, 1.5)
    mat = CauchyBorn(pot, Lattice("chain", 1.0))
    assert np.abs(reference_stress(pot, mat.R, mat.omega)).max() == 0.0
    stretched = CauchyBorn(pot, Lattice("chain", 1.1))  # pre-stressed: P(I) = k (a − r0)
    assert abs(reference_stress(pot, stretched.R, stretched.omega)[0, 0] - 0.1) < 1e-14


def test_isotropic_plane_strain():
    m = Isotropic(200.0, 0.3, 2)
    lam, mu = 200 * 0.3 / (1.3 * 0.4), 200 / 2.6
    assert np.allclose(m.C, [[lam + 2 * mu, lam, 0], [lam, lam + 2 * mu, 0], [0, 0, mu]], rtol=1e-14)
    # uniaxial stress in 3D: σ_xx = E ε_xx when the lateral strains are −ν ε_xx
    m3 = Isotropic(200.0, 0.3, 3)
    eps = np.array([1e-3, -3e-4, -3e-4, 0, 0, 0])
    assert np.allclose(m3.C @ eps, [0.2, 0, 0, 0, 0, 0], atol=1e-14)


def test_registry_has_all_materials():
    assert {"linear", "isotropic", "cauchy_born"} <= set(MATERIALS.names())
    for name in ("linear", "isotropic", "cauchy_born"):
        assert MATERIALS.params_model(name).model_config["extra"] == "forbid"
