"""Handshake weights: exact hat averages in 1D, bond averages, pads, geometry checks, partition of unity."""

import numpy as np
import pytest

from multiscale.coupling.handshake import Handshake
from multiscale.diagnostics.reflection import build_chain_system
from multiscale.geometry.box import BoxShape
from multiscale.geometry.halfspace import HalfSpaceShape


def _dense_average(hs, X, a, n=200001):
    """Reference: trapezoid rule on a very fine grid of the hat-weighted β."""
    t = np.linspace(-a, a, n)
    hat = (1 - np.abs(t) / a) / a
    beta = hs.beta((X + t)[:, None])
    return np.trapezoid(hat * beta, t)


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
def test_hat_average_matches_dense_quadrature(blend):
    hs = Handshake(HalfSpaceShape([0.3], [1.0]), 7.3, blend)
    X = np.arange(-3, 11, dtype=float)[:, None]
    w = hs.atom_weights(X, np.array([[1.0]]))
    ref = np.array([_dense_average(hs, x, 1.0) for x in X[:, 0]])
    assert np.max(np.abs(w - ref)) < 1e-9
    assert w[0] == 1.0 and w[-1] == 0.0


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
def test_integral_partition_of_unity_1d(blend):
    """Σ_a β̄_a a = ∫ β dX exactly (hats sum to one), with breakpoints off the lattice."""
    w_h = 9.7
    hs = Handshake(HalfSpaceShape([0.45], [1.0]), w_h, blend)
    X = np.arange(-20, 40, dtype=float)[:, None]
    w = hs.atom_weights(X, np.array([[1.0]]))
    # ∫ β from -∞..: core part up to 0.45 (counted from -20.. region where hats are complete) + ramp
    s = np.linspace(0, 1, 2001)
    g, gw = np.polynomial.legendre.leggauss(10)
    ramp = sum(0.5 * (hi - lo) * np.sum(gw * (1 - hs.blend(0.5 * (hi + lo) + 0.5 * (hi - lo) * g)))
               for lo, hi in zip(s[:-1], s[1:], strict=True)) * w_h
    # Σ_a hat_a = 1 on [-20, 39]; the first atom's left half-hat adds ½ (β = 1 there)
    exact = 0.5 + (0.45 - (-20.0)) + ramp
    assert abs(w.sum() - exact) < 1e-12


def test_bond_weights_are_segment_averages():
    hs = Handshake(HalfSpaceShape([0.0], [1.0]), 8.0, "cubic")
    Xi = np.array([[-2.0], [-0.5], [3.0], [7.5], [9.0]])
    dX = np.full((5, 1), 1.0)
    w = hs.bond_weights(Xi, dX)
    t = np.linspace(0, 1, 100001)
    ref = [np.trapezoid(hs.beta((x + t)[:, None]), t) for x in Xi[:, 0]]
    assert np.max(np.abs(w - ref)) < 1e-9
    assert w[0] == 1.0 and w[-1] == 0.0


def test_classify_pads_and_drops():
    hs = Handshake(HalfSpaceShape([0.0], [1.0]), 8.0, "cubic")
    X = np.arange(-5, 20, dtype=float)[:, None]
    c = hs.classify(X, np.array([[1.0]]), reach=1.6)
    # weighted up to X = 8 (hat of atom 8 reaches into H), one pad at 9, the rest dropped
    assert np.all(c.weights[X[:, 0] <= 8] > 0) and np.all(c.weights[X[:, 0] >= 9] == 0)
    assert X[c.pad, 0].tolist() == [9.0]
    assert c.n_dropped == int(np.sum(X[:, 0] >= 10))


def test_geometry_checks_name_both_lengths():
    hs = Handshake(BoxShape([0.0, 0.0], [10.0, 10.0]), 3.0, "cubic")
    hs.check_geometry(cutoff=2.5, skin=0.3)  # 3 >= 2.8: accepted
    with pytest.raises(ValueError, match=r"3\b.*3\.3"):
        hs.check_geometry(cutoff=3.0, skin=0.3)
    with pytest.raises(ValueError, match=r"3\b.*4"):
        hs.check_geometry(cutoff=1.0, skin=0.3, element_size=4.0)
    hs.check_geometry(cutoff=2.0, skin=0.3, element_size=3.0)


def test_2d_cell_average_partition():
    """2D: primitive-cell averages of β sum (× cell area) to the integral of β over the tiled area."""
    from multiscale.md.lattice import Lattice

    lat = Lattice("square", 1.0)
    hs = Handshake(BoxShape([-100.0, -3.0], [100.0, 3.0]), 4.0, "quintic", n_sub=6)
    X = lat.sites_in_box([0.0, -12.0], [1.0, 12.0]) + 0.5 * np.array([1.0, 0.0])
    w = hs.atom_weights(X, lat.primitive_vectors)
    # slab: ∫β dy over y in [-12, 12) along one column of unit width
    y = np.linspace(-12.5, 11.5, 480001)
    ref = np.trapezoid(hs.beta(np.stack([np.full_like(y, 0.5), y], axis=1)), y)
    assert abs(w.sum() - ref) < 1e-6


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
def test_mass_partition_of_unity_coupled_chain(blend):
    """Σ β̄ m + Σ M^α equals the mass of the chain the coupled model replaces, to round-off."""
    sysm = build_chain_system(h=4.0, width=32.0, blend=blend, left=40.0, right=40.0)
    rep = sysm.partition_report()
    # atoms cover [-40 - ½, ...]: the chain's mass from the first atom's half cell to the mesh end
    first = sysm.atoms.X[sysm.free, 0].min()
    L_end = sysm.continuum.nodes[-1, 0]
    expected = (L_end - first) + 0.5  # m = a = 1: one unit of mass per unit length, first half-cell
    total = rep["mass_atoms"] + rep["mass_nodes"]
    assert abs(total - expected) <= 1e-15 * expected * 10


def test_coupled_system_rejects_a_handshake_narrower_than_an_element():
    with pytest.raises(ValueError, match=r"handshake width 2 .*element size 4"):
        build_chain_system(h=4.0, width=2.0, left=20.0, right=20.0)


def test_coupled_system_rejects_a_handshake_narrower_than_cutoff_plus_skin():
    with pytest.raises(ValueError, match=r"handshake width 1 .*1\.6 \(= 1\.5 \+ 0\.1\)"):
        build_chain_system(h=1.0, width=1.0, left=20.0, right=20.0)


def test_mass_floor_redistributes_and_reports():
    """Projected mode: atoms of H with β̄ < floor get floor·m, taken from the nodes (total unchanged)."""
    plain = build_chain_system(h=4.0, width=32.0, blend="cubic", left=40.0, right=40.0)
    fl = build_chain_system(h=4.0, width=32.0, blend="cubic", left=40.0, right=40.0, mass_floor=0.05)
    rep = fl.partition_report()
    low = plain.atom_weight[plain.free] < 0.05
    assert len(rep["floored_atoms"]) == int(low.sum()) > 0
    assert np.all(fl.atom_mass[rep["floored_atoms"]] == 0.05)
    assert abs(fl.total_mass() - plain.total_mass()) < 1e-12 * plain.total_mass()
    assert np.all(fl.node_mass[fl.active_nodes] > 0)
