"""The continuum thermal strain across the handshake from the atoms' free share (``thermal_strain`` with
``handshake: free_share``; multiscale/coupling/thermal_share.py, docs/physics.md §10): the per-point
material, the free share θ, the strain field ε_th (1 − θ_q), the forces it gives, and the deck errors.
The slow measurement of the handshake stress is in tests/fem/test_thermal_strain.py."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from fem.thermal_bench import statics_variant, thermal_bench
from multiscale.cli import cli
from multiscale.coupling.thermal_share import atom_free_share, handshake_point_strains
from multiscale.deck import load_deck_text
from multiscale.errors import DeckError
from multiscale.fem.materials.cauchy_born import CauchyBorn
from multiscale.fem.materials.linear import Linear
from multiscale.fem.materials.thermal_strain import ThermalStrain
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.properties import zero_stress_lattice_constant
from multiscale.plugins import load_all

EPS = 0.00879


@pytest.fixture(scope="module")
def bench():
    return thermal_bench()


def _cb():
    pot = LennardJones(epsilon=1.0, sigma=1.0, cutoff=2.5, truncation="shift")
    return CauchyBorn(pot, Lattice("hex", zero_stress_lattice_constant(pot, "hex")))


@pytest.mark.parametrize("base", ["linear", "cauchy_born"])
def test_point_strains_give_each_point_the_uniform_material_of_its_strain(base):
    """Row k with point strain ε_k evaluates exactly as ``ThermalStrain(base, ε_k)``; ``points`` selects
    the rows' strains; None restores the uniform strain; bad fields are refused."""
    cb = _cb()
    b = Linear(cb.C) if base == "linear" else cb
    rng = np.random.default_rng(3)
    eps_q = np.array([0.0, 0.002, EPS, 0.015, -0.004])
    F = np.eye(2) + 0.01 * rng.standard_normal((5, 2, 2))
    mat = ThermalStrain(b, EPS, "free_share")
    P0, W0 = mat.evaluate(F)
    mat.set_point_strains(eps_q)
    assert mat.per_point
    P, W = mat.evaluate(F)
    for k in range(5):
        Pk, Wk = ThermalStrain(b, eps_q[k]).evaluate(F[k:k + 1])
        assert np.allclose(P[k], Pk[0], rtol=1e-13, atol=0) and W[k] == pytest.approx(Wk[0], rel=1e-13)
    sel = np.array([3, 1])
    Ps, Ws = mat.evaluate(F[sel], points=sel)
    assert np.allclose(Ps, P[sel], rtol=1e-13, atol=0) and np.allclose(Ws, W[sel], rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="point strains"):
        mat.evaluate(F[:2])
    mat.set_point_strains(None)
    assert not mat.per_point and np.allclose(mat.evaluate(F)[0], P0, rtol=1e-13, atol=0)
    with pytest.raises(ValueError):
        mat.set_point_strains(np.array([0.0, -1.0]))
    with pytest.raises(ValueError):
        mat.set_point_strains(np.array([np.nan]))


def _prepared(bench, coupling=None, handshake="free_share"):
    sim = bench.make(0.1, EPS, True, coupling=coupling, handshake=handshake)
    sim.prepare()
    return sim


def test_free_share_counts_the_constraint_rows_and_ties(bench):
    """θ_a ∈ [0, 1]; the atoms' summed constrained shares d Σ (1 − θ_a) equal the number of constraint rows
    on atoms (the trace of the atom-space projector is its rank); atoms outside the handshake are free
    (θ = 1); strong coupling ties every handshake atom (θ = 0)."""
    sim = _prepared(bench)
    s, integ = sim.model.system, sim.integrator
    theta = atom_free_share(s, integ.projector)
    d = s.d
    G = integ.projector.G[:, :s.n_free * d].tocsr()
    n_rows = int(np.count_nonzero(np.diff(G.indptr)))
    assert np.all((theta >= 0) & (theta <= 1))
    assert d * np.sum(1.0 - theta) == pytest.approx(n_rows, rel=1e-9)
    dist = s.handshake.distance(s.atoms.X[s.free])
    assert np.all(theta[dist <= 0.0] == 1.0)
    # projected rows leave most of a handshake atom free, the slaved edge atoms (β̄ < 0.1) not at all
    beta = s.atom_weight[s.free]
    h = dist > 0.0
    assert np.all(theta[h & (beta < 0.1)] < 1e-9)
    assert 0.5 < np.mean(theta[h & (beta > 0.3)]) < 0.9
    strong = _prepared(bench, coupling="{type: strong}")
    ts = atom_free_share(strong.model.system, strong.integrator.projector)
    ds = strong.model.system.handshake.distance(strong.model.system.atoms.X[strong.model.system.free])
    assert np.max(ts[ds > 0.0]) < 1e-9


def test_fixed_atoms_carry_no_free_share(bench):
    """Atoms whose every dof is held (zero inverse mass: a `fixed` load) do not vibrate: θ = 0 (they leave
    the whole thermal strain to the continuum), not the θ = 1 that their zero projector diagonal gave."""
    import types

    sim = _prepared(bench)
    s, p = sim.model.system, sim.integrator.projector
    d, n = s.d, s.n_free
    h = np.flatnonzero(s.handshake.distance(s.atoms.X[s.free]) > 0.0)
    held = h[::3]
    inv = np.array(p.inv_mass, float)
    inv[(held[:, None] * d + np.arange(d)).ravel()] = 0.0
    fixed = types.SimpleNamespace(G=p.G, n_rows=p.n_rows, inv_mass=inv)
    theta, theta0 = atom_free_share(s, fixed), atom_free_share(s, p)
    assert np.mean(theta0[held]) > 0.2           # free before they were held
    assert np.all(theta[held] == 0.0)
    free = np.setdiff1d(h, held)
    assert np.mean(theta[free]) > 0.1            # the others keep a free share
    assert np.all((theta >= 0) & (theta <= 1)) and theta.shape == (n,)


def test_point_strains_follow_the_free_share_and_reach_eps_th_outside(bench):
    """After `prepare` a free_share continuum holds ε_q = ε_th (1 − θ_q): ε_th exactly where no handshake
    atom is near (far field), lower inside the handshake; the uniform key leaves no field."""
    sim = _prepared(bench)
    s = sim.model.system
    cont = s.continuum
    eps_q = cont.material.point_strains
    assert eps_q is not None and eps_q.shape == cont.qp_volumes.shape
    eps2, th_q = handshake_point_strains(s, sim.integrator.projector, EPS)
    assert np.array_equal(eps_q, eps2)
    assert np.allclose(eps_q, EPS * (1.0 - th_q), rtol=0, atol=1e-15)
    qd = s.handshake.distance(cont.qp_positions)
    far = qd > s.handshake.width + 2.0
    assert np.all(eps_q[far] == EPS)
    mid = (qd > 1.5) & (qd < 3.5)
    assert np.all(eps_q[mid] < EPS) and np.mean(eps_q[mid]) < 0.5 * EPS
    uni = _prepared(bench, handshake="uniform")
    assert uni.model.continuum.material.point_strains is None


def test_continuum_forces_are_the_gradient_of_the_point_strain_energy(bench):
    """With the per-point field the continuum's forces are −∂E/∂U of E = Σ α_q W_q(F_q) V_q evaluated point
    by point (central differences on handshake nodes, 1e-6 relative), and differ from the uniform ones."""
    sim = _prepared(bench)
    cont = sim.model.system.continuum
    rng = np.random.default_rng(7)
    cont.U[...] = EPS * cont.nodes + 1e-3 * rng.standard_normal(cont.U.shape)

    def energy() -> float:
        F = cont.deformation_gradients()
        W = cont.evaluate_material(F)[1]
        return float(np.sum(cont.alpha_qp * cont.qp_volumes * W))

    E = cont.compute()
    f = cont.forces.copy()
    assert E == pytest.approx(energy(), rel=1e-12)
    qd = sim.model.system.handshake.distance(cont.nodes)
    nodes = np.flatnonzero((qd > 1.0) & (qd < 5.0))[:6]
    h = 1e-6
    for n in nodes:
        for k in range(2):
            cont.U[n, k] += h
            ep = energy()
            cont.U[n, k] -= 2 * h
            em = energy()
            cont.U[n, k] += h
            assert -(ep - em) / (2 * h) == pytest.approx(f[n, k], rel=1e-6, abs=1e-9)
    mat = cont.material
    keep = mat.point_strains
    mat.set_point_strains(None)
    cont.compute()
    assert np.max(np.abs(cont.forces[nodes] - f[nodes])) > 1e-3
    mat.set_point_strains(keep)


def _deck_text(bench, handshake: str, coupling: str | None = None, integrator: str | None = None) -> str:
    deck = bench.DECK
    if coupling is not None:
        deck = deck.replace("coupling: {{type: projected, slave_below: {slave}}}",
                            "coupling: " + coupling.replace("{", "{{").replace("}", "}}"))
    mat = f"{{type: thermal_strain, strain: {EPS}, base: linear, handshake: {handshake}}}"
    txt = deck.format(R=14.0, T0=0.2, T=0.1, M=24.0, h=2.0, c=4.0, c2=6.0, w=6.0, material=mat, Mo=25.0,
                      Mi=23.0, seed=4, slave=0.1)
    if integrator is not None:
        txt = txt.replace(txt[txt.index("integrator:"):txt.index("output:")], integrator + "\n")
        txt = statics_variant(txt)
    return txt


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def _cli_error(tmp_path, text: str):
    p = tmp_path / "deck.yaml"
    p.write_text(text)
    return CliRunner().invoke(cli, ["validate", str(p)]), p


def test_bad_handshake_value_is_a_deck_error_at_the_key(bench, tmp_path):
    """A value other than uniform / free_share: DeckError at continuum.material.handshake on its line;
    `msim validate` exits 2 with file:line and the key, no traceback."""
    load_all()
    txt = _deck_text(bench, "sideways")
    with pytest.raises(DeckError) as info:
        load_deck_text(txt, "bad.yaml")
    err = info.value
    assert err.key == "continuum.material.handshake", err.format()
    assert err.line == _line_of(txt, "material:"), err.format()
    r, p = _cli_error(tmp_path, txt)
    assert r.exit_code == 2, r.output
    assert f"{p}:{_line_of(txt, 'material:')}:" in r.output and "continuum.material.handshake" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("case, message", [
    ("statics", "dynamics at temperature only"),
    ("force_blend", "energy-based"),
    ("penalty", "exact constraint rows"),
])
def test_free_share_where_it_has_no_meaning_is_a_deck_error(bench, tmp_path, case, message):
    """free_share in a statics deck or with force-based blending: exit 2 at continuum.material.handshake
    (from `msim validate`, before any step). (Without a handshake there is no lattice for the material.)"""
    if case == "statics":
        txt = _deck_text(bench, "free_share", integrator="integrator: {type: fire, ftol: 1.0e-06}")
    elif case == "force_blend":
        txt = _deck_text(bench, "free_share", coupling="{type: force_blend}")
    else:       # energy-based but no constraint rows: every atom would count as free (θ = 1, ε_q = 0 in H)
        txt = _deck_text(bench, "free_share", coupling="{type: penalty, kappa: 1.0}")
    r, p = _cli_error(tmp_path, txt)
    assert r.exit_code == 2, r.output
    assert "continuum.material.handshake" in r.output and message in r.output, r.output
    assert f"{p}:{_line_of(txt, 'material:')}:" in r.output, r.output
    assert "Traceback" not in r.output
