"""Coupled crack: the slit mesh (doubled nodes, independent faces, rigid motions and uniform strains kept,
opening free), the K-field on slit nodes (θ = ±π on the two faces), a pure-continuum slit under the
boundary K-field reproducing the analytic field, the reduced coupled deck set up as planned and its crack
opening, and (slow) the K at first advance of the full coupled set-up between Griffith and the fully
atomistic crystal of the same size."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from multiscale.coupling.coupled import CoupledSystem
from multiscale.fem.continuum import ContinuumRegion
from multiscale.fem.generators._structured import build_grid
from multiscale.fem.materials.linear import Linear
from multiscale.fem.slit import slit_mesh
from multiscale.loads import crack_field as cf
from multiscale.loads.kfield import KField
from multiscale.registry import MESHES

DECKS = Path(__file__).resolve().parents[2] / "decks"
C_HEX = np.array([[83.4994652179, 27.8331550726, 0.0], [27.8331550726, 83.4994652179, 0.0],
                  [0.0, 0.0, 27.8331550726]])


def _rect(element="quad4", slit=None, lo=(-10.0, -6.0), hi=(10.0, 6.0), size=2.0, line=None, **kw):  # noqa: ANN001, ANN003
    """Rectangle mesh, with a slit, or (``line`` = y) unslit with a grid line at y."""
    cls = MESHES.get("rectangle")
    p = cls.Params(lo=list(lo), hi=list(hi), size=size, element=element, slit=slit, **kw)
    if line is not None:
        return build_grid(p, element, line if isinstance(line, dict) else {1: (line,)})
    return cls.build(p)


def _region(mesh):  # noqa: ANN001
    c = ContinuumRegion(mesh, Linear(C_HEX), 1.0)
    c.set_blend(lambda X: np.ones(len(X)), 2)
    return c


@pytest.mark.parametrize("element", ["quad4", "tri3"])
def test_slit_doubles_the_nodes_and_separates_the_faces(element):
    m = _rect(element, slit={"y": 0.5, "x_lo": -10.0, "x_hi": 3.0})
    up, low = m.node_sets["slit_upper"], m.node_sets["slit_lower"]
    assert len(up) == len(low) > 0
    # duplicates sit on the originals, on the line, for x ≤ the node before the tip (tip node kept)
    assert np.array_equal(m.nodes[up], m.nodes[low])
    assert np.allclose(m.nodes[low, 1], 0.5) and m.nodes[low, 0].min() == -10.0
    assert m.nodes[low, 0].max() < 3.0 - 1e-9
    plain = _rect(element, line={0: (3.0,), 1: (0.5,)})        # the same grid, not cut
    assert np.array_equal(m.nodes[m.blocks[0].conn], plain.nodes[plain.blocks[0].conn])
    assert m.n_nodes == plain.n_nodes + len(up)
    conn = m.blocks[0].conn
    cy = m.nodes[conn, 1].mean(axis=1)
    above, below = np.unique(conn[cy > 0.5]), np.unique(conn[cy < 0.5])
    assert not np.intersect1d(above, low).size and not np.intersect1d(below, up).size
    assert np.isin(up, above).all() and np.isin(low, below).all()
    tip = np.flatnonzero(np.all(np.isclose(m.nodes, [3.0, 0.5]), axis=1))
    assert tip.size == 1 and np.isin(tip, above).all() and np.isin(tip, below).all()
    # node sets follow: the left edge holds both copies of its slit node; faces of the two crack faces
    assert np.isin(up[m.nodes[up, 0] == -10.0], m.node_sets["xlo"]).all()
    assert len(m.face_sets["slit_upper"]) == len(m.face_sets["slit_lower"]) == len(up)
    assert np.isin(m.face_sets["slit_upper"], np.append(up, tip)).all()
    assert m.volume() == pytest.approx(240.0, rel=1e-12)


def test_slit_keeps_rigid_motion_and_uniform_strain_and_opening_is_free():
    through = _rect("quad4", slit={"y": 0.5, "x_lo": -10.0, "x_hi": 10.0})
    c = _region(through)
    X = c.nodes
    c.U[...] = [0.3, -0.7]                                  # translation
    assert abs(c.compute()) < 1e-12 and np.max(np.abs(c.forces)) < 1e-11
    eps = np.array([0.01, -0.004, 0.006])                   # uniform strain (Voigt, engineering shear)
    c.U[...] = X @ np.array([[eps[0], 0.5 * eps[2]], [0.5 * eps[2], eps[1]]]).T
    E = c.compute()
    assert E == pytest.approx(0.5 * eps @ C_HEX @ eps * c.mesh.volume(), rel=1e-12)
    interior = np.ones(len(X), bool)
    for s in ("xlo", "xhi", "ylo", "yhi", "slit_upper", "slit_lower"):   # the slit faces are free surfaces
        interior[through.node_sets[s]] = False
    assert np.max(np.abs(c.forces[interior])) < 1e-11
    # mode-I opening of a slit through the whole width: the upper half moves up rigidly, no energy
    conn = through.blocks[0].conn
    upper = np.unique(conn[X[conn, 1].mean(axis=1) > 0.5])
    c.U[...] = 0.0
    c.U[upper, 1] = 0.25
    assert abs(c.compute()) < 1e-12 and np.max(np.abs(c.forces)) < 1e-11
    unslit = _region(_rect("quad4", line=0.5))
    Y = unslit.nodes
    unslit.U[Y[:, 1] > 0.5, 1] = 0.25
    assert unslit.compute() > 1.0                           # the same opening without the slit costs energy


def _kfield(boundary, targets="nodes", **kw):  # noqa: ANN001, ANN003
    return KField(tip=[0.0, 0.5], K=1.0, elastic=C_HEX.tolist(), boundary=boundary, targets=targets, **kw)


def test_kfield_gives_the_two_faces_of_a_slit_theta_plus_and_minus_pi():
    m = _rect("quad4", slit={"y": 0.5, "x_lo": -10.0, "x_hi": 0.0})
    c = _region(m)
    model = CoupledSystem(continuum=c)
    ld = _kfield({"type": "box", "lo": [-20, -20], "hi": [20, 20]})
    ld.prepare(model)
    ld.initialize(model)
    up, low = m.node_sets["slit_upper"], m.node_sets["slit_lower"]
    b = cf.reduced_compliance(C_HEX)
    Xc = m.nodes - [0.0, 0.5]
    u_up = cf.mode_I_displacement(Xc[up] + [0.0, 1e-300], b)   # θ → +π
    u_lo = cf.mode_I_displacement(Xc[low] - [0.0, 1e-300], b)  # θ → −π
    assert np.allclose(c.U[up], u_up, rtol=0, atol=1e-13) and np.allclose(c.U[low], u_lo, rtol=0, atol=1e-13)
    behind = m.nodes[up, 0] < 0
    assert np.all(c.U[up][behind, 1] > 0) and np.allclose(c.U[low][behind, 1], -c.U[up][behind, 1])
    assert np.allclose(c.U[low][:, 0], c.U[up][:, 0])
    # every other node: the plain field
    rest = np.setdiff1d(np.arange(m.n_nodes), np.concatenate([up, low]))
    assert np.allclose(c.U[rest], cf.mode_I_displacement(Xc[rest], b), rtol=0, atol=1e-13)
    # on an unslit mesh a node on the crack line keeps θ = +π (both neighbours' sides present)
    plain = _region(_rect("quad4", line=0.5))
    ld2 = _kfield({"type": "box", "lo": [-20, -20], "hi": [20, 20]})
    ld2.prepare(CoupledSystem(continuum=plain))
    on = np.flatnonzero(np.isclose(plain.nodes[:, 1], 0.5) & (plain.nodes[:, 0] < 0))
    assert np.all(ld2._un[on, 1] > 0)


def test_slit_continuum_under_boundary_kfield_reproduces_the_crack_field():
    """Linear FE with the K-field on the outer edge only: the interior of a slit mesh follows the analytic
    semi-infinite crack field (discretisation error only); without the slit it does not."""
    from multiscale.integrate.quasistatic import run_quasistatic
    ring = {"type": "difference", "shapes": [{"type": "box", "lo": [-31, -31], "hi": [31, 31]},
                                             {"type": "box", "lo": [-29.0, -29.0], "hi": [29.0, 30.0]}]}
    errs = {}
    for name, slit in (("slit", {"y": 0.5, "x_lo": -30.0, "x_hi": 0.0}), ("none", None)):
        m = _rect("quad4", slit=slit, lo=(-30.0, -29.5), hi=(30.0, 30.5), size=4.0, core_size=0.5, growth=1.3,
                  core={"lo": [-4.0, -3.5], "hi": [4.0, 4.5]}, line=None if slit else 0.5)
        c = _region(m)
        model = CoupledSystem(continuum=c)
        ld = _kfield(ring, initial=False, increment_interior=False)
        run_quasistatic(model, [ld], "lbfgs")
        side = ld.node_sides(m)
        ref = ld.unit_field(m.nodes, side)
        r = np.hypot(m.nodes[:, 0], m.nodes[:, 1] - 0.5)
        far = (r > 6.0) & (r < 25.0)
        errs[name] = float(np.max(np.linalg.norm(c.U[far] - ref[far], axis=1)) / np.max(np.abs(ref[far])))
        if slit is not None:
            up, low = m.node_sets["slit_upper"], m.node_sets["slit_lower"]
            opening = c.U[up, 1] - c.U[low, 1]
            ref_open = ref[up, 1] - ref[low, 1]
            sel = (m.nodes[up, 0] < -6.0) & (m.nodes[up, 0] > -25.0)
            assert np.all(opening[sel] > 0)
            assert np.max(np.abs(opening[sel] / ref_open[sel] - 1.0)) < 0.03
    assert errs["slit"] < 0.02
    assert errs["none"] > 0.2


def test_small_coupled_deck_builds_with_atoms_in_the_core_and_the_field_on_the_mesh_edge():
    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    sim = Simulation.from_deck(load_deck(DECKS / "crack2d_coupled_small.yaml"))
    sim.prepare()
    m = sim.model
    atoms, cont = m.atoms, m.continuum
    assert np.max(np.abs(atoms.X)) < 15.0 + 2.8 + 1.2             # weighted atoms + pads only
    mesh = cont.mesh
    assert np.max(np.abs(mesh.nodes)) == pytest.approx(100.0)
    kf = m.loads[1]
    kf.initialize(m.system)                                       # statics: run_quasistatic does this
    # the K-field dofs are exactly the outer-edge nodes, at K u₁ with θ = ±π on the two faces
    edge = np.unique(np.concatenate([mesh.node_sets[s] for s in ("xlo", "xhi", "ylo", "yhi")]))
    assert np.array_equal(np.flatnonzero(kf.node_sel), edge) and kf.atom_sel is None
    b = cf.reduced_compliance(np.asarray(load_deck(DECKS / "crack2d_coupled_small.yaml").config.loads[1]
                                         .elastic))
    tip = np.asarray(kf.params.tip)
    side = np.where(np.isin(np.arange(mesh.n_nodes), mesh.node_sets["slit_lower"]), -1.0, 1.0)
    ref = kf.K(0.0) * cf.mode_I_displacement(mesh.nodes - tip, b, side=side)
    assert np.max(np.abs(cont.U - ref)) < 1e-12                     # initial: every node on the field
    low = mesh.node_sets["slit_lower"]
    assert np.all(cont.U[low[mesh.nodes[low, 0] < -20], 1] < 0)
    # the slit reaches the hole; atoms above/below the crack line are tied to the upper/lower elements
    a0 = griffith_a0()
    yc = a0 * math.sqrt(3) / 4
    assert np.isclose(mesh.nodes[low, 0].max(), -7.0)
    s = m.system
    Xc = atoms.X[s.free[s.constrained]]
    rows = s.N_c.tocsr()
    conn = mesh.blocks[0].conn
    upper_nodes = np.unique(conn[mesh.nodes[conn, 1].mean(axis=1) > yc])
    for k in np.flatnonzero(np.abs(Xc[:, 1] - yc) < 1.0):
        nodes = rows.indices[rows.indptr[k]:rows.indptr[k + 1]]
        assert np.isin(nodes, upper_nodes).all() == (Xc[k, 1] > yc)


def test_small_coupled_crack_opens_without_advancing_at_0p9_griffith(tmp_path: Path):
    """Two stages of the reduced coupled deck (K = 0.9, 1.0 K_G): converged, constraints held, no advance
    at 0.9 K_G, both faces of the slit open apart as the analytic field far from the core, and the
    atoms across the crack line behind the tip are pulled apart."""
    from multiscale.deck import load_deck
    from multiscale.output.reader import ResultsReader
    from multiscale.simulation import Simulation
    sim = Simulation.from_deck(load_deck(DECKS / "crack2d_coupled_small.yaml"))
    out = sim.run(output=tmp_path / "ccs.h5", steps=2, progress="quiet")
    with ResultsReader(out) as r:
        obs, thermo = r.observables(), r.thermo()
    assert np.all(np.asarray(thermo["converged"]) > 0)
    assert np.max(np.asarray(thermo["constraint_residual"])) < 1e-12
    assert obs["crack.extension"][0] == 0.0
    m = sim.model
    kf, mesh, cont = m.loads[1], m.continuum.mesh, m.continuum
    up, low = mesh.node_sets["slit_upper"], mesh.node_sets["slit_lower"]
    ref = kf.K(1.0) * kf.unit_field(mesh.nodes, kf.node_sides(mesh))
    far = mesh.nodes[up, 0] < -40.0
    opening, ref_open = cont.U[up, 1] - cont.U[low, 1], ref[up, 1] - ref[low, 1]
    assert np.all(opening > 0)
    assert np.max(np.abs(opening[far] / ref_open[far] - 1.0)) < 0.03
    a0 = griffith_a0()
    X, x = m.atoms.X, m.atoms.x
    row0 = np.flatnonzero((np.abs(X[:, 1]) < 1e-6) & (X[:, 0] < -2.0) & (X[:, 0] > -8.0))
    above = np.array([np.argmin(np.linalg.norm(X - (X[i] + [0.5 * a0, a0 * math.sqrt(3) / 2]), axis=1))
                      for i in row0])
    gap = x[above, 1] - x[row0, 1]
    assert np.all(gap > a0 * math.sqrt(3) / 2 + 0.2)              # the faces behind the tip are apart


def griffith_a0() -> float:
    from multiscale.applications.crack2d import griffith
    return griffith()["a0"]


def test_slit_needs_a_grid_line_and_elements_on_both_sides():
    m = _rect("quad4")                                        # grid lines at y = -6, -4, ..., 6
    with pytest.raises(ValueError, match="no element edge"):
        slit_mesh(m, 0.5, -10.0, 0.0)
    with pytest.raises(ValueError, match="both sides"):
        slit_mesh(m, 6.0, -10.0, 0.0)                        # the top edge: nothing above
    cut = slit_mesh(m, 0.0, -10.0, 0.0)
    assert len(cut.node_sets["slit_upper"]) == 5               # x = -10, -8, ..., -2 (tip at 0 kept)


@pytest.mark.slow
@pytest.mark.timeout(3600)            # ~4 min alone on a core; much longer on a loaded 2-core machine
def test_coupled_crack_advances_between_griffith_and_the_atomistic_crystal_of_its_core_size():
    """The full coupled deck's set-up (atoms in |x|,|y| ≤ 30, slit mesh to 250) against two independent
    bounds: lattice trapping (a brittle lattice cannot advance its crack below K_G = √(2γE′), computed by
    md/properties.py: the first advancing stage has K ≥ K_G and no bond ahead is broken below it) and
    the fully atomistic crystal of the same size (|x|,|y| ≤ 30) with the K-field clamped on its outer
    layer: its stiffer surroundings trap the crack more, so the coupled crack, whose K-field acts 250σ
    away through the continuum, must advance no later. Stated upper bound: the large-crystal limit, which
    the independent measurement of msim issue 12 puts at ≈ 1.03–1.06 K_G (fully atomistic half-widths
    30 / 60 / 100: > 1.30 / ≈ 1.17 / ≈ 1.12; the size study in crack2d.py: 1.32 / 1.20 / 1.12 for
    30 / 50 / 100, extrapolated 1.058), plus one load step: K_adv/K_G ≤ 1.08. "Broken": longer than the
    cut-off (no force). Measured: coupled 1.06, atomistic 1.32."""
    from multiscale.applications.crack2d import crack_coupled_deck, crack_deck, critical_stage
    ks = [round(0.96 + 0.02 * i, 10) for i in range(28)]          # 0.96 … 1.50 K_G
    coupled = critical_stage(crack_coupled_deck(24.0, 6.0, 250.0, ks, "coupled crack, core 30"))
    atomistic = critical_stage(crack_deck(30.0, ks, "atomistic crack, L = 30"))
    for out in (coupled, atomistic):
        assert all(r["converged"] for r in out["records"])
        assert out["k_over_kg"] is not None
        assert out["k_over_kg"] >= 1.0 - 1e-9
        assert all(r["broken"] == 0 for r in out["records"] if r["K_over_KG"] < 1.0)
    assert coupled["k_over_kg"] <= atomistic["k_over_kg"] + 1e-9
    assert coupled["k_over_kg"] <= 1.06 + 0.02 + 1e-9
