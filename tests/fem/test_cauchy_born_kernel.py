"""The compiled Cauchy–Born kernel (``multiscale._kernels.cauchy_born``) against the NumPy lattice sum
(≤ 1e-13 relative), its stress against finite differences of its energy, thread-count independence,
the choice of path per potential, and its energy against the MD engine's for a deformed periodic cell."""

from __future__ import annotations

import numpy as np
import pytest

import multiscale.md.potentials  # noqa: F401  (registers the potentials)
from multiscale._kernels import load
from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.cauchy_born import CauchyBorn
from multiscale.fem.materials.lattice_sums import (
    half_bonds,
    kernel_energy_stress,
    kernel_spec,
    site_energy_stress,
    site_energy_stress_numpy,
)
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.eam_zhou import ZhouEAM
from multiscale.md.potentials.harmonic import HarmonicSprings
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.potentials.morse import Morse

from .helpers import NumpyLJ, ToyEAM, mesh_for


def _cases() -> list[tuple[str, Lattice, object]]:
    return [
        ("lj-cut-hex", Lattice("hex", 1.1), LennardJones(truncation="cut")),
        ("lj-shift-hex", Lattice("hex", 1.12), LennardJones(truncation="shift")),
        ("lj-smooth-fcc", Lattice("fcc", 1.55), LennardJones(truncation="smooth", cutoff=2.0)),
        ("lj-shift-chain", Lattice("chain", 1.0), LennardJones(2.0, 0.9, 2.6, "shift")),
        ("morse-cut-square", Lattice("square", 1.0), Morse(1.0, 3.0, 1.0, 2.2, "cut")),
        ("morse-shift-bcc", Lattice("bcc", 1.2), Morse(0.7, 2.5, 1.05, 2.0, "shift")),
        ("harmonic-hex", Lattice("hex", 1.0), HarmonicSprings(2.0, 1.02, 1.2)),
        ("harmonic-chain", Lattice("chain", 1.0), HarmonicSprings(1.5, 1.0, 1.5)),
        ("eam_zhou-Cu-fcc", Lattice("fcc", 3.615, orient=[[1, 1, 0], [-1, 1, 0], [0, 0, 1]]), ZhouEAM("Cu")),
        ("eam_zhou-Al-fcc", Lattice("fcc", 4.05), ZhouEAM("Al", n_points=2000)),
    ]


CASES = _cases()
IDS = [c[0] for c in CASES]


def _random_F(d: int, m: int, amp: float, seed: int) -> np.ndarray:
    """m deformation gradients I + amp·N(0,1), kept when every singular value is in [0.6, 1.6]."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < m:
        F = np.eye(d) + amp * rng.normal(size=(d, d))
        s = np.linalg.svd(F, compute_uv=False)
        if s.min() > 0.6 and s.max() < 1.6 and np.linalg.det(F) > 0:
            out.append(F)
    return np.array(out)


@pytest.mark.parametrize(("name", "lat", "pot"), CASES, ids=IDS)
@pytest.mark.parametrize("amp", [0.02, 0.25], ids=["near-I", "large"])
def test_compiled_equals_numpy(name, lat, pot, amp):  # noqa: ANN001
    mat = CauchyBorn(pot, lat)
    assert mat.path == "compiled"
    d = lat.dim
    F = _random_F(d, 60, amp, seed=len(name))
    F[0] = np.eye(d)
    E0, dE0 = site_energy_stress_numpy(pot, mat.R, F)
    E1, dE1 = site_energy_stress(pot, mat.R, F)
    assert np.all(np.isfinite(E0)) and np.all(np.isfinite(dE0))
    assert np.max(np.abs(E1 - E0)) <= 1e-13 * np.max(np.abs(E0))
    assert np.max(np.abs(dE1 - dE0)) <= 1e-13 * np.max(np.abs(dE0))
    # the material itself: P = dE/Ω₀, W = E/Ω₀
    P, W = mat.evaluate(F)
    assert np.max(np.abs(W - E0 / mat.omega)) <= 1e-13 * np.max(np.abs(E0 / mat.omega))
    assert np.max(np.abs(P - dE0 / mat.omega)) <= 1e-13 * np.max(np.abs(dE0 / mat.omega))


@pytest.mark.parametrize(("name", "lat", "pot"), CASES, ids=IDS)
def test_compiled_stress_is_energy_gradient(name, lat, pot):  # noqa: ANN001
    """P = ∂W/∂F of the compiled path by central differences (4th order) at a finite deformation."""
    mat = CauchyBorn(pot, lat)
    d = lat.dim
    F = _random_F(d, 1, 0.05, seed=7)[0]
    P, _ = mat.evaluate(F[None])
    h = 1e-4 * (1.0 if d < 3 or lat.a < 2 else 0.5)
    dF = np.zeros((d * d, 4, d, d))
    for k in range(d * d):
        for s, t in enumerate((-2, -1, 1, 2)):
            dF[k, s] = F
            dF[k, s].flat[k] += t * h
    W = mat.evaluate(dF.reshape(-1, d, d))[1].reshape(d * d, 4)
    fd = ((W[:, 0] - 8 * W[:, 1] + 8 * W[:, 2] - W[:, 3]) / (12 * h)).reshape(d, d)
    scale = max(np.abs(P).max(), np.abs(mat.C).max() * 0.05)
    assert np.max(np.abs(P[0] - fd)) <= 1e-7 * scale, (P[0], fd)


@pytest.mark.threads
@pytest.mark.parametrize(("name", "lat", "pot"), [CASES[1], CASES[2], CASES[8]], ids=[IDS[1], IDS[2], IDS[8]])
def test_thread_count_bitwise(name, lat, pot):  # noqa: ANN001
    mat = CauchyBorn(pot, lat)
    F = _random_F(lat.dim, 257, 0.1, seed=3)
    spec = kernel_spec(pot)
    Rh, mult = half_bonds(mat.R)
    E1, dE1 = kernel_energy_stress(spec, Rh, F, n_threads=1, mult=mult)
    E2, dE2 = kernel_energy_stress(spec, Rh, F, n_threads=2, mult=mult)
    E3, dE3 = kernel_energy_stress(spec, Rh, F, n_threads=3, mult=mult)
    assert np.array_equal(E1, E2) and np.array_equal(dE1, dE2)
    assert np.array_equal(E1, E3) and np.array_equal(dE1, dE3)


@pytest.mark.parametrize(("name", "lat", "pot"), [CASES[0], CASES[6], CASES[8]], ids=[IDS[0], IDS[6], IDS[8]])
def test_half_bond_list(name, lat, pot):  # noqa: ANN001
    """Bravais bond lists are exactly centrosymmetric: half list × 2 == full list × 1 (round-off); a list
    that is not centrosymmetric is kept whole."""
    mat = CauchyBorn(pot, lat)
    Rh, mult = half_bonds(mat.R)
    assert mult == 2.0 and 2 * Rh.shape[0] == mat.R.shape[0]
    full = {tuple(r) for r in mat.R}
    assert {tuple(r) for r in Rh} | {tuple(-r + 0.0) for r in Rh} == full
    spec = kernel_spec(pot)
    F = _random_F(lat.dim, 40, 0.1, seed=5)
    E2, dE2 = kernel_energy_stress(spec, Rh, F, mult=2.0)
    E1, dE1 = kernel_energy_stress(spec, mat.R, F, mult=1.0)
    assert np.max(np.abs(E2 - E1)) <= 1e-14 * np.max(np.abs(E1))
    assert np.max(np.abs(dE2 - dE1)) <= 1e-13 * np.max(np.abs(dE1))
    R_odd, m_odd = half_bonds(mat.R[1:])
    assert m_odd == 1.0 and R_odd.shape[0] == mat.R.shape[0] - 1


def test_path_choice():
    """Compiled only for potentials whose radial functions the kernel reproduces; NumPy for the rest,
    including a subclass that overrides ``pair``."""

    class Softened(LennardJones):
        def pair(self, r):  # noqa: ANN001, ANN201
            phi, dphi = super().pair(r)
            return 0.5 * phi, 0.5 * dphi

    lat = Lattice("hex", 1.1)
    assert CauchyBorn(LennardJones(), lat).path == "compiled"
    assert CauchyBorn(NumpyLJ(), lat).path == "numpy"
    assert CauchyBorn(ToyEAM(1.0, 1.6, 0.3, 2.0), Lattice("bcc", 0.99)).path == "numpy"
    soft = CauchyBorn(Softened(), lat)
    assert soft.path == "numpy"
    F = _random_F(2, 5, 0.05, seed=1)
    W_soft = soft.evaluate(F)[1]
    W_lj = CauchyBorn(LennardJones(), lat).evaluate(F)[1]
    assert np.allclose(W_soft, 0.5 * W_lj, rtol=1e-14)
    assert CauchyBorn(LennardJones(), lat, compiled=False).path == "numpy"


def test_kernel_rejects_bad_shapes():
    k = load("cauchy_born")
    R = np.eye(2)
    F = np.tile(np.eye(2), (3, 1, 1))
    par = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 2.5])
    with pytest.raises(ValueError):
        k.pair_energy_stress(F, R, 0, par, 2.5, 1.0, np.empty(2), np.empty((3, 2, 2)), 1)
    with pytest.raises(ValueError):
        k.pair_energy_stress(F, np.eye(3), 0, par, 2.5, 1.0, np.empty(3), np.empty((3, 2, 2)), 1)
    with pytest.raises(ValueError):
        k.pair_energy_stress(F, np.zeros((0, 2)), 0, par, 2.5, 1.0, np.empty(3), np.empty((3, 2, 2)), 1)
    with pytest.raises(ValueError):
        k.pair_energy_stress(F, R, 7, par, 2.5, 1.0, np.empty(3), np.empty((3, 2, 2)), 1)


@pytest.mark.parametrize("element", ["tri3", "hex8"])
def test_continuum_forces_same_on_both_paths(element):
    """A deformed mesh: energy and nodal forces of the compiled and NumPy materials agree to round-off."""
    mesh = mesh_for(element, n=3, distort=0.1, seed=2)
    d = mesh.dim
    lat, pot = (Lattice("hex", 1.12), LennardJones(truncation="shift")) if d == 2 else \
        (Lattice("fcc", 3.615), ZhouEAM("Cu", n_points=2000))
    regs = [ContinuumRegion(mesh, CauchyBorn(pot, lat, compiled=c), 1.0) for c in (True, False)]
    U = 0.03 * np.random.default_rng(4).normal(size=(mesh.n_nodes, d))
    out = []
    for reg in regs:
        reg.U[:] = U
        out.append((reg.compute(), reg.forces.copy()))
    (E1, f1), (E0, f0) = out
    assert abs(E1 - E0) <= 1e-13 * abs(E0)
    assert np.max(np.abs(f1 - f0)) <= 1e-12 * np.max(np.abs(f0))


def _md_energy_per_site(pot, lat: Lattice, cells: list[int], stretch: np.ndarray) -> float:  # noqa: ANN001
    """Energy per atom [energy] of a periodic orthorhombic cell stretched by diag(stretch), by the MD
    engine (`AtomisticRegion` with the potential's own compiled kernel)."""
    from multiscale.md.box import Box
    from multiscale.md.system import AtomisticRegion

    conv = {"hex": [lat.a, lat.a * np.sqrt(3.0)], "fcc": [lat.a] * 3, "square": [lat.a] * 2}[lat.kind]
    hi = np.array(conv[:lat.dim]) * np.array(cells)
    X = lat.sites_in_box(np.zeros(lat.dim), hi)
    reg = AtomisticRegion(X * stretch, 1.0, pot, Box(np.zeros(lat.dim), hi * stretch, [True] * lat.dim),
                          skin=0.1)
    return reg.compute() / X.shape[0]


@pytest.mark.parametrize(("lat", "pot", "cells"), [
    (Lattice("hex", 1.1), LennardJones(truncation="smooth"), [6, 4]),
    (Lattice("square", 1.0), Morse(1.0, 3.0, 1.0, 2.2, "shift"), [6, 6]),
    (Lattice("fcc", 3.615), ZhouEAM("Cu", n_points=2000), [4, 4, 4]),
], ids=["lj-smooth-hex", "morse-square", "eam_zhou-fcc"])
def test_site_energy_equals_md_engine(lat, pot, cells):  # noqa: ANN001
    """E_site(F) of the compiled lattice sum = the MD engine's energy per atom of the same homogeneously
    stretched periodic crystal (same potential object, the MD side through its own kernel)."""
    mat = CauchyBorn(pot, lat)
    d = lat.dim
    for stretch in (np.ones(d), np.array([1.03, 0.98, 1.01][:d])):
        E_md = _md_energy_per_site(pot, lat, cells, stretch)
        W = mat.evaluate(np.diag(stretch)[None])[1][0]
        assert abs(W * mat.omega - E_md) <= 1e-12 * abs(E_md), (W * mat.omega, E_md)
