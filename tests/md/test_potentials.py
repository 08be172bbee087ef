"""Invariants of every registered potential: finite-difference forces (with random site and bond
weights), Σf = 0, per-atom energies, virial, NumPy reference, thread-count independence."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale import plugins
from multiscale.md.box import Box
from multiscale.md.neighbors import NeighborList
from multiscale.registry import POTENTIALS

from .refcodes import lammps_potential_dir, random_config
from .reference import reference
from .samples import SAMPLES, sample_potential

plugins.load_all()
#: msim's own potentials (weights, radial functions, kernels). External engines (``external = True``:
#: lammps, ase) take unit weights only and have no radial functions: tests/md/test_engine_*.py
NAMES = [n for n in POTENTIALS.names() if not getattr(POTENTIALS.get(n), "external", False)]


def test_every_potential_has_a_sample():
    assert set(NAMES) <= set(SAMPLES), f"add a sample for {set(NAMES) - set(SAMPLES)} in samples.py"


def _setup(name, d, seed=0, periodic=True):
    pot, a, jitter = sample_potential(name)
    rng = np.random.default_rng(seed)
    ncell = int(np.ceil(2 * (pot.cutoff + 0.5) / a)) + 1
    if d == 3:
        ncell = max(ncell, 3)
    x, box = random_config(rng, d, ncell, a, jitter, periodic)
    return pot, x, box, rng


def _weights(rng, n, nl):
    site_w = rng.uniform(0.0, 1.0, n)
    site_w[rng.choice(n, max(1, n // 8), replace=False)] = 0.0   # pad-like atoms
    W = rng.uniform(0.0, 1.0, (n, n))
    W = 0.5 * (W + W.T)
    i, j = nl.pairs()
    return site_w, W, np.ascontiguousarray(W[i, j])


def _energy(pot, x, nl, site_w, bond_w):
    f = np.zeros_like(x)
    e = np.zeros(len(x))
    return pot.compute(x, nl, site_w, bond_w, f, e, 1), f, e


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_forces_match_finite_differences_with_weights(name, d):
    pot, x, box, rng = _setup(name, d, seed=d)
    nl = NeighborList(box, pot.cutoff, 0.5)
    nl.build(x)
    site_w, _, bond_w = _weights(rng, len(x), nl)
    E, f, e = _energy(pot, x, nl, site_w, bond_w)
    assert np.isclose(e.sum(), E, rtol=1e-13, atol=0)
    h = 1e-5 * (pot.cutoff / 2.5)
    atoms = rng.choice(len(x), min(len(x), 12), replace=False)
    fd = np.zeros((len(atoms), d))
    for a_i, a in enumerate(atoms):
        for k in range(d):
            xp = x.copy()
            xp[a, k] += h
            xm = x.copy()
            xm[a, k] -= h
            fd[a_i, k] = -(_energy(pot, xp, nl, site_w, bond_w)[0]
                           - _energy(pot, xm, nl, site_w, bond_w)[0]) / (2 * h)
    scale = np.abs(f).max()
    assert np.max(np.abs(fd - f[atoms])) <= 2e-6 * scale, np.max(np.abs(fd - f[atoms])) / scale


@pytest.mark.threads
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_kernel_matches_numpy_reference_and_threads_bitwise(name, d):
    pot, x, box, rng = _setup(name, d, seed=10 + d)
    nl1 = NeighborList(box, pot.cutoff, 0.4, n_threads=1)
    nl1.build(x)
    nl2 = NeighborList(box, pot.cutoff, 0.4, n_threads=2)
    nl2.build(x)
    assert np.array_equal(nl1.neighbors, nl2.neighbors) and np.array_equal(nl1.shifts, nl2.shifts)
    site_w, W, bond_w = _weights(rng, len(x), nl1)
    out = []
    for nl, nt in ((nl1, 1), (nl2, 2)):
        f = np.zeros_like(x)
        e = np.zeros(len(x))
        E = pot.compute(x, nl, site_w, bond_w, f, e, nt)
        out.append((E, f, e))
    assert out[0][0] == out[1][0]
    assert np.array_equal(out[0][1], out[1][1]) and np.array_equal(out[0][2], out[1][2])
    Er, fr, er = reference(pot, x, box, site_w, W)
    E, f, e = out[0]
    assert abs(E - Er) <= 1e-12 * np.abs(er).sum()
    assert np.max(np.abs(f - fr)) <= 1e-12 * np.abs(fr).max()
    assert np.max(np.abs(e - er)) <= 1e-12 * np.abs(er).max()


@pytest.mark.parametrize("name", NAMES)
def test_total_force_vanishes_in_periodic_bulk(name):
    pot, x, box, rng = _setup(name, 3, seed=5)
    nl = NeighborList(box, pot.cutoff, 0.3)
    nl.build(x)
    for site_w, bond_w in ((None, None), _weights(rng, len(x), nl)[::2]):
        _, f, _ = _energy(pot, x, nl, site_w, bond_w)
        assert np.all(np.abs(f.sum(axis=0)) <= 1e-11 * np.abs(f).max() * len(x))


@pytest.mark.parametrize("name", NAMES)
def test_virial_is_minus_strain_derivative(name):
    """Free cluster: dE/dε_ab of x -> (1 + ε) x equals -W_ab (general, non-symmetric ε)."""
    pot, x, box, rng = _setup(name, 3, seed=7, periodic=False)
    nl = NeighborList(box, pot.cutoff, 0.5)
    nl.build(x)
    W = np.zeros((3, 3))
    f = np.zeros_like(x)
    e = np.zeros(len(x))
    pot.compute(x, nl, None, None, f, e, 1, virial=W)
    assert np.allclose(W, W.T, rtol=0, atol=1e-12 * np.abs(W).max())
    assert np.allclose(W, x.T @ f, rtol=0, atol=1e-10 * np.abs(W).max())
    h = 1e-6
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] = h
            Ep = _energy(pot, np.ascontiguousarray(x @ (np.eye(3) + eps).T), nl, None, None)[0]
            Em = _energy(pot, np.ascontiguousarray(x @ (np.eye(3) - eps).T), nl, None, None)[0]
            assert abs((Ep - Em) / (2 * h) + W[a, b]) <= 1e-6 * np.abs(W).max()


def test_eam_two_element_setfl_finite_differences():
    from multiscale.md.potentials.eam import EAMFile

    pot = EAMFile.from_file(lammps_potential_dir() / "AlCu.eam.alloy")
    rng = np.random.default_rng(3)
    x, box = random_config(rng, 3, 6, 2.6, 0.05, True)
    types = rng.integers(0, 2, len(x)).astype(np.int32)
    nl = NeighborList(box, pot.cutoff, 0.3)
    nl.build(x)
    sw, _, bw = _weights(rng, len(x), nl)

    def energy(xx):
        f = np.zeros_like(xx)
        e = np.zeros(len(xx))
        return pot.compute(xx, nl, sw, bw, f, e, 2, types=types), f

    E, f = energy(x)
    h = 1e-5
    for a in rng.choice(len(x), 6, replace=False):
        for k in range(3):
            xp, xm = x.copy(), x.copy()
            xp[a, k] += h
            xm[a, k] -= h
            assert abs(-(energy(xp)[0] - energy(xm)[0]) / (2 * h) - f[a, k]) <= 2e-6 * np.abs(f).max()


def test_harmonic_is_exactly_the_linear_chain():
    """m = k = a = 1: f_i = u_{i+1} - 2 u_i + u_{i-1}, E = ½ Σ (u_{i+1} - u_i)²
    (to the round-off of x = X + u)."""
    from multiscale.md.potentials.harmonic import HarmonicSprings

    n = 40
    rng = np.random.default_rng(0)
    X = np.arange(n, dtype=float)[:, None]
    u = rng.uniform(-0.2, 0.2, (n, 1))
    box = Box([0.0], [float(n)], [True])
    pot = HarmonicSprings(1.0, 1.0, 1.5)
    nl = NeighborList(box, pot.cutoff, 0.3)
    x = X + u
    nl.build(x)
    E, f, _ = _energy(pot, x, nl, None, None)
    du = np.roll(u[:, 0], -1) - u[:, 0]
    assert np.allclose(f[:, 0], np.roll(u[:, 0], -1) - 2 * u[:, 0] + np.roll(u[:, 0], 1), rtol=0, atol=1e-13)
    assert np.isclose(E, 0.5 * np.sum(du**2), rtol=1e-14)


def test_radial_functions_are_vectorised_and_consistent():
    for name in NAMES:
        pot, a, _ = sample_potential(name)
        r = np.linspace(0.8 * a, pot.cutoff * 0.999, 200).reshape(20, 10)
        phi, dphi = pot.pair(r)
        assert phi.shape == r.shape and dphi.shape == r.shape
        h = 1e-6
        num = (pot.pair(r + h)[0] - pot.pair(r - h)[0]) / (2 * h)
        assert np.allclose(num, dphi, rtol=1e-5, atol=1e-6 * np.abs(dphi).max())
        assert np.all(pot.pair(np.array([pot.cutoff * 1.01]))[0] == 0)
        if pot.many_body:
            rho, drho = pot.density(r)
            assert np.allclose((pot.density(r + h)[0] - pot.density(r - h)[0]) / (2 * h), drho,
                               rtol=1e-5, atol=1e-6 * np.abs(drho).max())
            rr = np.linspace(0.5, 1.5, 50) * pot.density(np.array([a]))[0][0] * 12
            F, Fp = pot.embedding(rr)
            assert np.allclose((pot.embedding(rr + 1e-6)[0] - pot.embedding(rr - 1e-6)[0]) / 2e-6, Fp,
                               rtol=1e-5, atol=1e-6 * np.abs(Fp).max())


@pytest.mark.threads
@pytest.mark.parametrize("name", ["lj", "eam"])
def test_threads_bitwise_on_a_system_with_many_slabs(name):
    """Large enough that the slab phases really run in parallel (>= 4 slabs); 1, 2 and 3 threads."""
    pot, a, jitter = sample_potential(name)
    rng = np.random.default_rng(8)
    ncell = int(np.ceil(5 * (pot.cutoff + 0.3) / a))
    x, box = random_config(rng, 3, ncell, a, jitter, True)
    results = []
    sw = bw = None
    for nt in (1, 2, 3):
        nl = NeighborList(box, pot.cutoff, 0.3, n_threads=nt)
        nl.build(x)
        assert len(nl.slab_start) - 1 >= 4
        if nt == 1:
            sw, _, bw = _weights(rng, len(x), nl)
        f = np.zeros_like(x)
        e = np.zeros(len(x))
        W = np.zeros((3, 3))
        E = pot.compute(x, nl, sw, bw, f, e, nt, virial=W)
        results.append((E, f, e, W))
    for E, f, e, W in results[1:]:
        assert E == results[0][0] and np.array_equal(f, results[0][1]) and np.array_equal(e, results[0][2])
        assert np.array_equal(W, results[0][3])


@pytest.mark.parametrize("name", NAMES)
def test_fast_path_without_atom_energies(name):
    """atom_energies=False gives bitwise the same forces and the same total energy."""
    pot, x, box, rng = _setup(name, 3, seed=9)
    nl = NeighborList(box, pot.cutoff, 0.3)
    nl.build(x)
    sw, _, bw = _weights(rng, len(x), nl)
    f1, e1, f2, e2 = np.zeros_like(x), np.zeros(len(x)), np.zeros_like(x), np.zeros(len(x))
    E1 = pot.compute(x, nl, sw, bw, f1, e1, 1)
    E2 = pot.compute(x, nl, sw, bw, f2, e2, 1, atom_energies=False)
    assert np.array_equal(f1, f2)
    assert abs(E1 - E2) <= 1e-13 * np.abs(e1).sum()
