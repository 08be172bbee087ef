"""indent2d (docs/problems/indent2d.md): the decks hold exactly the problem's film; the coupled model
keeps the right atoms (core under the tip up to the free surface, handshake shell, pads); coupled and full
atomistic force–depth curves agree (short run here, through the first load drop in the slow test);
load-drop detection and curve comparison on known curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multiscale.applications.analysis import compare_force_depth, first_load_drop
from multiscale.applications.indent2d import CORE_SMALL, Film, coupled_deck, full_deck, lattice_spacing

DECKS = Path(__file__).resolve().parents[2] / "decks"


def _sim(deck: dict, tmp_path: Path, name: str):
    import yaml

    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    p = tmp_path / name
    p.write_text(yaml.safe_dump(deck, sort_keys=False))
    return Simulation.from_deck(load_deck(p))


def _run(sim, stages=None) -> list[dict]:
    from multiscale.integrate.quasistatic import run_quasistatic
    from multiscale.registry import MINIMIZERS
    sim.prepare()
    cfg = sim.deck.config.integrator
    mini = MINIMIZERS.get(cfg.type)(ftol=cfg.ftol)
    return run_quasistatic(sim.model.system, sim.model.loads, mini, stages=stages, prepare=False)


def test_a0_is_the_zero_stress_spacing():
    a0 = lattice_spacing()
    assert a0 == pytest.approx(1.1132013035564603, abs=1e-10)


def test_full_small_deck_holds_exactly_the_problem_film():
    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    sim = Simulation.from_deck(load_deck(DECKS / "indent2d_full_small.yaml"))
    film = Film(80, 40, lattice_spacing())
    X = sim.model.atoms.X
    ref = film.sites()
    assert X.shape == ref.shape
    key = np.lexsort((np.round(X[:, 0], 6), np.round(X[:, 1], 6)))
    rkey = np.lexsort((np.round(ref[:, 0], 6), np.round(ref[:, 1], 6)))
    assert np.max(np.abs(X[key] - ref[rkey])) < 1e-9
    sim.prepare()
    fixed = sim.model.loads[0].fixed_dofs()[0]
    assert np.array_equal(fixed.all(axis=1), X[:, 1] < 2.5 * film.h)          # rows 0, 1, 2
    ind = sim.model.loads[1]
    assert ind.center(0.0) == pytest.approx([39.75 * film.a0, film.y_top + 10.0], abs=1e-9)


@pytest.mark.parametrize("name", ["indent2d_full.yaml", "indent2d.yaml"])
def test_full_size_decks_state_the_benchmark(name):
    """Parsed only (building is the deck suite's job): the indenter, depth steps and film box of the
    problem at 400 × 200."""
    import yaml
    deck = yaml.safe_load((DECKS / name).read_text())
    film = Film(400, 200, lattice_spacing())
    ind = deck["loads"][1]
    assert ind["type"] == "indenter" and ind["radius"] == 10.0 and ind["stiffness"] == 10.0
    assert ind["center"] == pytest.approx([199.75 * film.a0, film.y_top + 10.0], abs=1e-9)
    assert ind["depth_steps"] == {"start": 0.0, "stop": 6.0, "step": 0.1}
    assert deck["integrator"]["ftol"] == 1e-6
    lo, hi = deck["atoms"]["region"]["lo"], deck["atoms"]["region"]["hi"]
    assert lo == pytest.approx([-0.25 * film.a0, -0.25 * film.h], abs=1e-9)
    assert hi == pytest.approx([399.75 * film.a0, 199.25 * film.h], abs=1e-9)


def test_coupled_small_deck_selects_the_atoms_under_the_tip():
    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    sim = Simulation.from_deck(load_deck(DECKS / "indent2d_small.yaml"))
    m, s = sim.model, sim.model.system
    film = Film(80, 40, lattice_spacing())
    ref = film.sites()
    X = m.atoms.X
    assert np.all(np.min(np.abs(X[:, None, :] - ref[None, :, :]).sum(axis=2), axis=1) < 1e-9)
    w = np.asarray(s.atom_weight)
    hw, depth = CORE_SMALL
    core = (np.abs(ref[:, 0] - film.x_center) <= hw - 1e-9) & (ref[:, 1] >= film.y_top - depth + 1e-9)
    # every film site of the core is an atom of full weight, including the free top row
    inside = np.abs(X[:, 0] - film.x_center) <= hw - 1e-9
    inside &= X[:, 1] >= film.y_top - depth + 1e-9
    assert inside.sum() == core.sum()
    # β̄ is β averaged over the atom's cell: 1 for every atom one spacing or more inside the core
    deep = (np.abs(X[:, 0] - film.x_center) <= hw - film.a0) & (X[:, 1] >= film.y_top - depth + film.a0)
    assert np.all(w[deep] == 1.0) and np.all(w[inside] > 0.5)
    top = np.abs(X[:, 1] - film.y_top) < 1e-9
    assert np.any(top & deep) and np.all(w[top & deep] == 1.0)
    # the handshake shell carries 0 < β̄ < 1, pads (β̄ = 0) surround it; no atom far from the tip
    assert np.any((w > 0) & (w < 1)) and len(s.pad_idx) > 0
    assert np.max(np.abs(X[:, 0] - film.x_center)) < hw + 6.0 + 2.8 + film.a0
    # the mesh: bottom edge on the fixed rows' top (2.5 h) and fixed; top edge = the film's top cells
    N = m.continuum.nodes
    assert N[:, 1].min() == pytest.approx(2.5 * film.h, abs=1e-9)
    assert N[:, 1].max() == pytest.approx((film.ny - 0.5) * film.h, abs=1e-9)
    sim.prepare()
    node_fixed = sim.model.loads[0].fixed_dofs()[1].all(axis=1)
    assert np.array_equal(node_fixed, np.abs(N[:, 1] - 2.5 * film.h) < 1e-9)


def test_first_load_drop_and_comparison_on_known_curves():
    d = np.round(np.arange(8) * 0.1, 12)
    ref = np.array([0.0, 1.0, 3.0, 6.0, 10.0, 7.0, 8.0, 9.0])
    assert first_load_drop(ref) == 5
    assert first_load_drop(np.arange(5.0)) is None
    assert first_load_drop([0.0, 1.0, 1.0 - 1e-6, 2.0]) is None           # noise below rtol
    other = ref * np.array([1, 1.01, 1.01, 0.99, 1.02, 1, 1, 1])
    c = compare_force_depth(d, ref, d, other)
    assert c.same_drop and c.drop == 5 and c.depth_drop == pytest.approx(0.5)
    assert c.n_compared == 5 and c.max_error == pytest.approx(0.2 / 10.0)
    late = np.array([0.0, 1.0, 3.0, 6.0, 10.0, 11.0, 8.0, 9.0])
    c2 = compare_force_depth(d, ref, d, late)
    assert not c2.same_drop and c2.drop == 6 and c2.n_compared == 5
    with pytest.raises(ValueError):
        compare_force_depth(d, ref, d + 0.05, ref)


def test_coupled_matches_full_atomistic_at_small_depth(tmp_path: Path):
    """80 × 40 film pressed to d = 1 σ in one step (elastic range): coupled load within 2 % of the full."""
    film = Film(80, 40, lattice_spacing())
    depths = {"start": 1.0, "stop": 1.0, "step": 0.1}
    full = full_deck(film, depths, "full", minimizer="lbfgs")
    cpl = coupled_deck(film, depths, "coupled", *CORE_SMALL)
    rf = _run(_sim(full, tmp_path, "full.yaml"))
    rc = _run(_sim(cpl, tmp_path, "cpl.yaml"))
    assert all(r["converged"] for r in rf + rc)
    assert max(r["constraint_residual"] for r in rc) < 1e-10
    Pf, Pc = rf[-1]["indenter.load"], rc[-1]["indenter.load"]
    assert Pf == pytest.approx(15.10134, rel=2e-4)       # the 0.1-step FIRE run of the same film at d = 1
    assert abs(Pc - Pf) / Pf < 0.02


@pytest.mark.slow
def test_coupled_and_full_agree_through_the_first_load_drop(tmp_path: Path):
    """80 × 40 film, d = 0 … 3.2 σ in 0.1 steps (the full film first drops at d = 3.1): force–depth within
    2 % of max P_ref up to the first drop (measured 0.92 %), and the drop at the same step. L-BFGS for
    both: ~20 s (full) + ~60 s (coupled) of CPU with one BLAS thread."""
    film = Film(80, 40, lattice_spacing())
    depths = {"start": 0.0, "stop": 3.2, "step": 0.1}
    rf = _run(_sim(full_deck(film, depths, "full"), tmp_path, "full.yaml"))
    rc = _run(_sim(coupled_deck(film, depths, "coupled", *CORE_SMALL), tmp_path, "cpl.yaml"))
    assert all(r["converged"] for r in rf + rc)
    c = compare_force_depth([r["indenter.depth"] for r in rf], [r["indenter.load"] for r in rf],
                            [r["indenter.depth"] for r in rc], [r["indenter.load"] for r in rc])
    assert c.drop_ref is not None and c.same_drop, c.text()
    assert c.max_error < 0.02, c.text()
