"""Lattice constants, elastic constants, plane-strain modulus and surface energy from md/properties.py,
each against an independent computation (explicit site lists, finite differences, brute-force slabs)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from multiscale.md import properties as P
from multiscale.md.lattice import Lattice

from .ljref import RefLJ

LJ = RefLJ(cutoff=2.5, truncation="shift")


def _explicit_virial(kind: str, a: float, pot) -> float:  # noqa: ANN001
    """Σ_b φ'(r_b) r_b over explicit sites around one site (sites_in_box, not neighbor_vectors)."""
    lat = Lattice(kind, a)
    L = 3 * pot.cutoff
    d = lat.dim
    sites = lat.sites_in_box(-L * np.ones(d), L * np.ones(d))
    r = np.linalg.norm(sites, axis=1)
    r = r[(r > 1e-9) & (r < pot.cutoff)]
    return float(np.sum(pot.pair(r)[1] * r))


@pytest.mark.parametrize("kind,bracket", [("chain", (1.05, 1.2)), ("hex", (1.05, 1.2)),
                                          ("fcc", (1.45, 1.65)), ("bcc", (1.15, 1.35))])
def test_zero_stress_spacing_matches_explicit_sum(kind, bracket):
    a0 = P.zero_stress_lattice_constant(LJ, kind)
    ref = brentq(lambda a: _explicit_virial(kind, a, LJ), *bracket, xtol=1e-15, rtol=8.9e-16)
    assert abs(a0 - ref) < 1e-12
    assert np.max(np.abs(P.stress(LJ, Lattice(kind, a0)))) < 1e-12


def test_hex_lj_reference_values():
    """indent2d.md: hex LJ, r_c = 2.5σ shifted: a₀ ≈ 1.11σ."""
    a0 = P.zero_stress_lattice_constant(LJ, "hex")
    assert abs(a0 - 1.1132013035564603) < 1e-12
    # cohesive energy from an explicit site sum
    lat = Lattice("hex", a0)
    sites = lat.sites_in_box(-8 * np.ones(2), 8 * np.ones(2))
    r = np.linalg.norm(sites, axis=1)
    r = r[r > 1e-9]
    assert abs(P.cohesive_energy(LJ, lat) + 0.5 * LJ.pair(r)[0].sum()) < 1e-12


@pytest.mark.parametrize("kind", ["chain", "hex", "fcc", "bcc"])
def test_elastic_constants_match_stress_derivative(kind):
    a0 = P.zero_stress_lattice_constant(LJ, kind)
    lat = Lattice(kind, a0)
    C = P.elastic_constants(LJ, lat)
    d = lat.dim
    assert np.allclose(C, C.T, rtol=0, atol=1e-12 * np.abs(C).max())
    if kind == "bcc":     # LJ bcc is mechanically unstable (Bain path): C11 < C12
        assert C[0, 0] < C[0, 1]
    else:
        assert np.linalg.eigvalsh(C).min() > 0
    # independent: C_ijkl = ∂σ_ij/∂ε_kl at zero stress, central differences of the Cauchy stress
    pairs = {1: [(0, 0)], 2: [(0, 0), (1, 1), (0, 1)], 3: [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]}[d]
    h = 1e-6
    Cfd = np.zeros_like(C)
    for B, (k, l) in enumerate(pairs):
        E = np.zeros((d, d))
        E[k, l] = E[l, k] = 0.5 if k != l else 1.0   # engineering shear: γ = 2 ε_kl
        sp_ = P.stress(LJ, lat, np.eye(d) + h * E)
        sm = P.stress(LJ, lat, np.eye(d) - h * E)
        dsig = (sp_ - sm) / (2 * h)
        Cfd[:, B] = [dsig[i, j] for (i, j) in pairs]
    assert np.max(np.abs(C - Cfd)) < 1e-7 * np.abs(C).max()


def test_hex_isotropy_cauchy_relation_and_plane_strain_modulus():
    a0 = P.zero_stress_lattice_constant(LJ, "hex")
    C = P.elastic_constants(LJ, Lattice("hex", a0))
    c11, c12, c66 = C[0, 0], C[0, 1], C[2, 2]
    assert abs(C[1, 1] - c11) < 1e-10 and abs(c66 - (c11 - c12) / 2) < 1e-10   # isotropic in 2D
    assert abs(c12 - c66) < 1e-10                                               # Cauchy relation (pairs)
    Ep = P.plane_strain_modulus(C)
    assert abs(Ep - (c11 ** 2 - c12 ** 2) / c11) < 1e-10 * Ep
    # rotating the lattice does not change C (2D hex is isotropic)
    C30 = P.elastic_constants(LJ, Lattice("hex", a0, orient=17.0))
    assert np.max(np.abs(C30 - C)) < 1e-9


def test_elastic_constants_agree_with_fem_lattice_sums():
    from multiscale.fem.materials import lattice_sums as ls
    a0 = P.zero_stress_lattice_constant(LJ, "fcc")
    lat = Lattice("fcc", a0)
    Cfem = ls.born_constants(LJ, ls.bond_vectors(lat, LJ.cutoff), lat.volume_per_atom)
    assert np.max(np.abs(Cfem - P.elastic_constants(LJ, lat))) < 1e-8 * np.abs(Cfem).max()


def _brute_slab_energy(a: float, n_rows: int, nx: int, pot) -> float:  # noqa: ANN001
    """Energy of a hex slab of n_rows close-packed rows, nx atoms per row, periodic in x (explicit pairs)."""
    j, i = np.meshgrid(np.arange(n_rows), np.arange(nx), indexing="ij")
    X = np.stack([(i + (j % 2) / 2) * a, j * a * np.sqrt(3) / 2], axis=-1).reshape(-1, 2)
    Lx = nx * a
    dX = X[:, None, :] - X[None, :, :]
    E = 0.0
    for img in range(-2, 3):
        d = dX + np.array([img * Lx, 0.0])
        r = np.linalg.norm(d, axis=-1)
        r = r[r > 1e-9]
        E += 0.5 * pot.pair(r)[0].sum()
    return E


def test_unrelaxed_surface_energy_matches_brute_force_slab():
    a0 = P.zero_stress_lattice_constant(LJ, "hex")
    n_rows, nx = 16, 6
    e_b = P.energy_per_atom(LJ, Lattice("hex", a0))
    gamma_bf = (_brute_slab_energy(a0, n_rows, nx, LJ) - n_rows * nx * e_b) / (2 * nx * a0)
    assert abs(P.surface_energy(LJ, "hex", a0, relax=False, n_rows=n_rows) - gamma_bf) < 1e-12


def test_relaxed_surface_energy_below_unrelaxed_and_size_converged():
    a0 = P.zero_stress_lattice_constant(LJ, "hex")
    g0 = P.surface_energy(LJ, "hex", a0, relax=False)
    g1 = P.surface_energy(LJ, "hex", a0, relax=True)
    g2 = P.surface_energy(LJ, "hex", a0, relax=True, n_rows=40)
    assert 0 < g1 < g0
    assert abs(g1 - g2) < 1e-10
    assert abs(g0 - 1.018353324635978) < 1e-9 and abs(g1 - 1.017679112143778) < 1e-9


def test_griffith_k_of_hex_lj():
    h = P.hex_properties(LJ)
    assert abs(h.k_griffith - np.sqrt(2 * h.gamma_relaxed * h.e_prime)) < 1e-12
    assert 12.0 < h.k_griffith < 12.6


def test_engine_potential_gives_the_same_numbers():
    from multiscale.md.potentials import lj as lj_mod
    pot = lj_mod.LennardJones(1.0, 1.0, 2.5, "shift")
    assert abs(P.zero_stress_lattice_constant(pot, "hex") - P.zero_stress_lattice_constant(LJ, "hex")) < 1e-13


def test_eam_fcc_zero_stress_and_elastic_constants():
    from multiscale.md.potentials import eam_zhou as zhou
    from multiscale.md.potentials import make_potential
    from multiscale.units import METAL
    pot = make_potential({"type": "eam_zhou", "element": "Cu"}, METAL)
    a0 = P.zero_stress_lattice_constant(pot, "fcc", a_guess=3.6)
    lat = Lattice("fcc", a0)
    assert np.max(np.abs(P.stress(pot, lat))) < 1e-10
    C = P.elastic_constants(pot, lat)
    assert np.allclose(C, C.T, atol=1e-10 * np.abs(C).max()) and np.linalg.eigvalsh(C).min() > 0
    assert zhou is not None
