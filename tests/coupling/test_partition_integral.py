"""Partition of unity in the integral sense (PHYSICS.md §2), the discrete property that matters:

    Σ_a β̄_a V_a + ∫ α dV = V        and        Σ_a β̄_a m_a + Σ_I M^α_I = ρ V

for 1D (chain / bar2), 2D (square lattice / tri3, quad4) and 3D (simple cubic / hex8, tet4), every blend.
V is the volume of the bounding box of the mesh (here the mesh covers the whole region, α = 0 in the core).
The geometry is chosen so that the identity can hold exactly: a slab core |x| ≤ c with c and c + w on atom
cell boundaries AND on element edges (cells tile H, β is one polynomial on every cell and α one polynomial
on every element, so both Gauss rules are exact). The independent reference for each half is the exact
integral ∫β dV = A (2c + w) (A the cross-section; every built-in blend has ∫₀¹ blend = ½).

With a square core (the patch2d geometry) the same figures are 1e-5 – 1e-6 (quadrature of the kinks of
β at H's edges and of the corner regions): measured, not asserted, in `test_box_core_figure_is_reported`.
"""

import numpy as np
import pytest

from multiscale.coupling.coupled import CoupledSystem
from multiscale.coupling.handshake import Handshake
from multiscale.coupling.methods import get_method
from multiscale.fem.continuum import ContinuumRegion
from multiscale.fem.generators._structured import GridParams, build_grid
from multiscale.fem.materials.cauchy_born import CauchyBorn
from multiscale.geometry.box import BoxShape
from multiscale.md.box import Box
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.harmonic import HarmonicSprings
from multiscale.md.system import AtomisticRegion

C, W, D, H = 2.5, 4.0, 10.5, 0.5       # core half-width, handshake width, mesh half-length, element size
SIDE = {1: [], 2: [2.5], 3: [1.5]}      # half-extent of the cross-section (on cell boundaries)
KIND = {1: "chain", 2: "square", 3: "sc"}
BIG = 1e6


def _system(d, element, blend, *, shape=None, rho_scale=1.0):
    lat = Lattice(KIND[d], 1.0)
    pot = HarmonicSprings(1.0, 1.0, 1.1)
    side = SIDE[d] * (d - 1)
    core = shape or BoxShape([-C] + [-BIG] * (d - 1), [C] + [BIG] * (d - 1))
    hs = Handshake(core, W, blend)
    mesh = build_grid(GridParams(lo=[-D] + [-s for s in side], hi=[D] + side, size=H), element)
    ext = C + W + 3.0
    Xc = lat.sites_in_box([-ext] + [-s + 0.25 for s in side], [ext] + [s - 0.25 for s in side])
    cls = hs.classify(Xc, lat.primitive_vectors, 1.4)
    X = Xc[cls.keep]
    atoms = AtomisticRegion(X, np.ones(len(X)), pot, Box(X.min(0) - 5, X.max(0) + 5, [False] * d), 0.3)
    cont = ContinuumRegion(mesh, CauchyBorn(pot, lat), rho_scale / lat.volume_per_atom)
    return CoupledSystem(atoms, cont, hs, get_method("projected"), cell=lat.primitive_vectors)


CASES = [(1, "bar2"), (2, "tri3"), (2, "quad4"), (3, "hex8"), (3, "tet4")]


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
@pytest.mark.parametrize(("d", "element"), CASES)
def test_integral_partition_of_unity(d, element, blend):
    s = _system(d, element, blend)
    rep = s.partition_report()
    area = float(np.prod([2 * x for x in SIDE[d] * (d - 1)])) if d > 1 else 1.0
    V = 2 * D * area
    assert rep["volume_region"] == pytest.approx(V, rel=1e-15)
    exact_beta = area * (2 * C + W)                      # ∫β, independent of msim's quadratures
    assert abs(rep["volume_atoms"] - exact_beta) <= 1e-12 * V, rep
    assert abs(rep["volume_continuum"] - (V - exact_beta)) <= 1e-12 * V, rep
    assert abs(rep["volume_error"]) <= 1e-12, rep
    assert abs(rep["mass_error"]) <= 1e-12, rep
    assert rep["max_pou_error"] == 0.0


def test_mass_error_sees_a_density_that_does_not_match_the_atoms():
    """The mass figure is not the volume figure again: a continuum 1 % denser than the lattice shows."""
    rep = _system(2, "tri3", "cubic", rho_scale=1.01).partition_report()
    assert abs(rep["volume_error"]) <= 1e-12
    assert abs(rep["mass_error"]) > 1e-3


def test_box_core_figure_is_reported():
    """Square core (not aligned with the cells): the identity holds only to the quadrature error of
    the kinks of β; measured figures (n_sub = 4 cell points): linear ~5e-5, cubic ~2e-6, quintic ~1e-6."""
    from multiscale.diagnostics.patch_test import patch_system_2d

    errs = {}
    for blend in ("linear", "cubic", "quintic"):
        s, _, _ = patch_system_2d("projected", blend=blend)
        errs[blend] = abs(s.partition_report()["volume_error"])
    assert 1e-13 < errs["quintic"] < errs["linear"] < 1e-4, errs


@pytest.mark.parametrize("blend", ["linear", "cubic", "quintic"])
def test_atom_weights_are_cell_averages(blend):
    """β̄_a of the aligned 2D case against the exact average of β over the atom's cell (scipy quad of the
    blend in x): the sums above cannot tell point values from cell averages (on cells aligned with both
    edges of H the midpoint-rule errors of the two edges cancel), this can."""
    from scipy.integrate import quad

    from multiscale.coupling.blending import get_blend

    s = _system(2, "tri3", blend)
    b = get_blend(blend)
    X = s.atoms.X[s.free]
    def beta(x):
        return 1.0 - float(b.value(np.array([np.clip((abs(x) - C) / W, 0.0, 1.0)]))[0])

    inside = np.abs(X[:, 0]) < C + W
    assert inside.sum() > 20
    for xa, w in zip(X[inside, 0], s.atom_weight[s.free][inside], strict=True):
        ref = quad(beta, xa - 0.5, xa + 0.5, points=[-C - W, -C, C, C + W], epsabs=1e-14, epsrel=1e-13,
                   limit=200)[0]
        assert abs(w - ref) <= 1e-13, (xa, w, ref)
