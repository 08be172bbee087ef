"""The reference-stiffness preconditioner of the static problem (`integrate/precon.py`) and the
preconditioned L-BFGS with the predictor between stages (`precon_lbfgs`, `run_quasistatic`).

References: the finite-difference Hessian of msim's own forces (harmonic springs at rest length, where the
bond-stiffness network IS the Hessian); the KKT optimality conditions checked with the orthogonal
projector; LAMMPS ``minimize`` (cg) on the same film for the loads; scipy's L-BFGS-B (``lbfgs``) for the
coupled minima; an unbroken run for the restart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from multiscale.coupling.coupled import CoupledSystem
from multiscale.deck import load_deck
from multiscale.integrate.minimize import ConstraintProjector
from multiscale.integrate.precon import StiffnessPreconditioner, stiffness_operator
from multiscale.integrate.quasistatic import StaticProblem, run_quasistatic
from multiscale.md.box import Box
from multiscale.md.potentials.harmonic import HarmonicSprings
from multiscale.md.system import AtomisticRegion
from multiscale.output.checkpoint import checkpoint_path
from multiscale.registry import MINIMIZERS
from multiscale.simulation import Simulation

from .test_statics_restart import _msim, assert_bitwise_equal, tiny_deck

ROOT = Path(__file__).resolve().parents[2]


def _model(deck: str):  # noqa: ANN202
    sim = Simulation.from_deck(load_deck(ROOT / "decks" / deck))
    sim.prepare()
    return sim, sim.model.system, sim.model.loads


def test_atom_block_is_the_hessian_of_springs_at_rest():
    """Hex crystal of nearest-neighbour springs at rest length: P (less its 1e-8 shift) equals the
    central-difference Hessian of msim's forces (transverse terms vanish at rest)."""
    a, nx, ny = 1.0, 6, 5
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    X = np.stack([(i + (j % 2) / 2) * a, j * a * np.sqrt(3) / 2], axis=-1).reshape(-1, 2)
    pot = HarmonicSprings(k=3.0, r0=a, cutoff=1.2 * a)
    atoms = AtomisticRegion(X, 1.0, pot, Box(X.min(0) - 3, X.max(0) + 3, [False, False]), skin=0.2)
    s = CoupledSystem(atoms=atoms)
    P = stiffness_operator(s).toarray()
    n = s.n_dof
    H = np.zeros((n, n))
    h = 1e-5
    q0 = s.gather_q()
    for k in range(n):
        g = []
        for sgn in (1, -1):
            q = q0.copy()
            q[k] += sgn * h
            atoms.x[...] = X + q.reshape(-1, 2)
            atoms.compute()
            g.append(-atoms.forces.ravel().copy())
        H[:, k] = (g[0] - g[1]) / (2 * h)
    shift = 1e-8 * np.mean(np.diag(H))
    assert np.abs(P - np.eye(n) * shift - H).max() < 1e-6 * np.abs(H).max()
    assert np.abs(H).max() > 1.0


def test_constrained_solve_satisfies_the_kkt_conditions():
    """On the coupled indent2d_small (strong coupling, fixed bottom): z = solve(r) is zero on fixed dofs,
    satisfies G z = 0, and P z − r is orthogonal to the constrained space (projector ⟂ to it)."""
    sim, s, loads = _model("indent2d_small.yaml")
    for ld in loads:
        ld.initialize(s)
    fixed = StaticProblem(s, loads).fixed_mask()
    pre = StiffnessPreconditioner(s, fixed, s.G)
    proj = ConstraintProjector.euclidean(s.n_dof, fixed, s.G)
    r = np.random.default_rng(3).normal(size=s.n_dof)
    z = pre.solve(r)
    assert np.all(z[fixed] == 0.0)
    assert np.abs(s.G @ z).max() < 1e-8 * np.abs(z).max()
    res = proj.project(pre.P @ z - r)
    assert np.abs(res).max() < 1e-8 * np.abs(proj.project(r)).max()
    # and it is a real inverse: not the identity (nor a multiple of it) on the constrained space
    assert np.abs(proj.project(z) - z).max() < 1e-8 * np.abs(z).max()
    pr = proj.project(r)
    assert abs(pr @ z) / (np.linalg.norm(pr) * np.linalg.norm(z)) < 0.9


def test_coupled_minima_equal_lbfgs_in_tens_of_iterations():
    """indent2d_small (coupled, 5 stages to d = 2σ): precon_lbfgs reaches the loads of scipy's L-BFGS-B
    (600 iterations per stage) within 2e-6 of max P, converged, in ≤ 30 iterations per stage."""
    out = {}
    for name in ("lbfgs", "precon_lbfgs"):
        sim, s, loads = _model("indent2d_small.yaml")
        recs = run_quasistatic(s, loads, MINIMIZERS.get(name)(ftol=1e-6), prepare=False)
        assert all(r["converged"] for r in recs)
        out[name] = (np.array([r["indenter.load"] for r in recs]), [r["iterations"] for r in recs])
    P0, P1 = out["lbfgs"][0], out["precon_lbfgs"][0]
    assert np.abs(P1 - P0).max() < 2e-6 * P0.max()
    assert max(out["precon_lbfgs"][1]) <= 30 and min(out["lbfgs"][1]) > 200


def test_full_atomistic_loads_equal_lammps_cg():
    """indent2d_full_small (3 200 atoms), 5 stages: msim precon_lbfgs loads equal LAMMPS minimize cg (same
    film, bottom, indenter law and max-norm force tolerance) within 1e-7 of max P."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_indent", ROOT / "benchmarks" / "bench_indent.py")
    bi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bi)
    path = ROOT / "decks" / "indent2d_full_small.yaml"
    lm = bi.bench_lammps(path, 5, 1e-6)
    sim, s, loads = _model("indent2d_full_small.yaml")
    recs = run_quasistatic(s, loads, MINIMIZERS.get("precon_lbfgs")(ftol=1e-6), prepare=False)
    P = np.array([r["indenter.load"] for r in recs])
    Pl = np.array([row[2] for row in lm["stages"]])
    assert len(P) == len(Pl) == 5 and Pl.max() > 40
    assert np.abs(P - Pl).max() < 1e-7 * Pl.max()          # measured 4.3e-8


@pytest.mark.timeout(600)
def test_restart_with_predictor_history_is_bitwise(tmp_path):
    """precon_lbfgs with the linear predictor: --stages 5 then --restart equals an unbroken run bitwise
    (the checkpoint carries the predictor's previous stage)."""
    deck = tiny_deck(tmp_path / "tiny.yaml")
    deck.write_text(deck.read_text().replace("type: lbfgs", "type: precon_lbfgs"))
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    for args in (["-o", str(ref)], ["-o", str(out), "--stages", "5"],
                 ["-o", str(out), "--restart", str(checkpoint_path(out))]):
        p = _msim("run", str(deck), "--quiet", *args, cwd=tmp_path)
        _, err = p.communicate(timeout=500)
        assert p.returncode == 0, err
    assert assert_bitwise_equal(ref, out) >= 10


GRADED_FE = """\
msim: 1
units: lj
title: graded tri3 plate, linear isotropic, bottom fixed, top pulled (statics)
continuum:
  mesh: {type: rectangle, element: tri3, lo: [0.0, 0.0], hi: [160.0, 80.0], size: 8.0,
         core: {lo: [70.0, 60.0], hi: [90.0, 80.0]}, core_size: 1.0, growth: 1.2}
  material: {type: isotropic, E: 60.0, nu: 0.25}
  density: 1.0
loads:
- type: fixed
  region: {type: box, lo: [-1.0, -1.0], hi: [161.0, 0.5]}
- type: traction
  region: {type: box, lo: [70.0, 79.5], hi: [90.0, 81.0]}
  traction: [0.3, -1.0]
  factors: [1.0, 2.0]
integrator: {type: precon_lbfgs, ftol: 1.0e-8}
output: {every: 1, thermo_every: 1, fields: [displacement]}
"""


@pytest.mark.parametrize("precon", ["stiffness", "neighbour_graph"])
def test_linear_graded_mesh_converges_in_one_newton_step(tmp_path, precon):
    """Pure continuum, linear material, graded tri3 mesh (1σ to 8σ elements): the energy is quadratic with
    Hessian K, so the stiffness preconditioner (assembled K + fixed dofs) converges to max force 1e-8 (forces
    from the continuum's own energy code) in ≤ 3 iterations per stage; the previous identity on the nodes
    (``neighbour_graph``) needs more than 100 or does not get there."""
    path = tmp_path / "fe.yaml"
    path.write_text(GRADED_FE)
    sim = Simulation.from_deck(load_deck(path))
    sim.prepare()
    s, loads = sim.model.system, sim.model.loads
    recs = run_quasistatic(s, loads, MINIMIZERS.get("precon_lbfgs")(ftol=1e-8, preconditioner=precon,
                                                                     max_iter=2000), prepare=False)
    its = [r["iterations"] for r in recs]
    assert len(recs) == 2 and np.abs(s.continuum.U).max() > 0.1
    fast = all(r["converged"] for r in recs) and max(its) <= 3
    assert fast == (precon == "stiffness"), (its, [r["max_force"] for r in recs])
    if precon != "stiffness":
        assert not all(r["converged"] for r in recs) or min(its) > 100


def _kkt_reference(P, fixed, G, r):  # noqa: ANN001, ANN202
    """z of the exact saddle-point system [[P_ff, G_fᵀ], [G_f, 0]] (sparse direct solve, zero block), the
    formulation the substitution replaces."""
    import scipy.sparse.linalg as spla
    idx = np.flatnonzero(~fixed)
    Pf = P[idx][:, idx]
    Gf = sp.csr_matrix(G)[:, idx]
    Gf = Gf[np.flatnonzero(np.diff(Gf.indptr) > 0)]
    A = sp.bmat([[Pf, Gf.T], [Gf, None]], format="csc")
    sol = spla.spsolve(A, np.concatenate([r[idx], np.zeros(Gf.shape[0])]))
    z = np.zeros(len(r))
    z[idx] = sol[: len(idx)]
    return z


def test_substitution_equals_the_saddle_point_solve():
    """indent2d_small (strong coupling: every row ties one handshake atom dof to the mesh): the
    preconditioner eliminates all rows by substitution (no KKT rows left, reduced size = free dofs − rows)
    and its z equals the dense KKT solution; with an extra row that has no pivot (sum of the x-dofs of the
    nodes in the first row) that row stays as a constraint and z still equals the KKT solution."""
    sim, s, loads = _model("indent2d_small.yaml")
    for ld in loads:
        ld.initialize(s)
    fixed = StaticProblem(s, loads).fixed_mask()
    G = s.G.tocsr()
    r = np.random.default_rng(5).normal(size=s.n_dof)
    pre = StiffnessPreconditioner(s, fixed, G)
    n_rows = int(np.sum(np.diff(G[:, np.flatnonzero(~fixed)].tocsr().indptr) > 0))
    assert pre.stats["n_kkt_rows"] == 0 and pre.stats["n_reduced"] == int((~fixed).sum()) - n_rows
    z = pre.solve(r)
    zr = _kkt_reference(pre.P, fixed, G, r)
    assert np.abs(z - zr).max() < 1e-8 * np.abs(zr).max()
    cols = G[0].indices
    node_x = cols[(cols >= s.n_free * s.d) & ((cols - s.n_free * s.d) % s.d == 0)]
    assert len(node_x) >= 2
    extra = sp.csr_matrix((np.ones(len(node_x)), (np.zeros(len(node_x), int), node_x)), shape=(1, s.n_dof))
    G2 = sp.vstack([G, extra]).tocsr()
    pre2 = StiffnessPreconditioner(s, fixed, G2)
    assert pre2.stats["n_kkt_rows"] == 1
    z2 = pre2.solve(r)
    assert abs(extra @ z2).max() < 1e-8 * np.abs(z2).max()
    zr2 = _kkt_reference(pre2.P, fixed, G2, r)
    assert np.abs(z2 - zr2).max() < 1e-7 * np.abs(zr2).max()
    assert np.abs(z2 - z).max() > 1e-3 * np.abs(z).max()        # the extra row does change the answer
