"""The penalty springs' stiffness in the stable time-step estimate (`PenaltyCoupling.stable_dt`, key
"penalty springs" of `run.summary.stable_dt`): decks/wave2d.yaml with `coupling: {type: penalty, kappa: 1e5}`.

Measured (2026-12-07, this deck, `msim run` with `allow_unstable_dt: true`): the run blows up at dt 0.0053
(step 36) and 0.007 (step 6), runs at 0.005; the linear limit 2/√λ_max of M⁻¹K at the reference (power
iteration on finite-difference force differences) is 0.00513. The estimate without the springs (weighted
atoms) is 0.00957: `msim validate` accepted the unstable dt 0.007. With the springs: 0.00390.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.deck.deck import load_deck
from multiscale.run import summary
from multiscale.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
WAVE2D = (ROOT / "decks" / "wave2d.yaml").read_text()
OLD_COUPLING = "coupling: {type: projected, slave_below: 0.01}"
OLD_INTEG = "integrator: {type: verlet, dt: 0.01, steps: 500}"


def _deck(tmp_path: Path, kappa: float | None, dt: float, steps: int = 20, allow: bool = False) -> tuple[Path, int]:
    text = WAVE2D
    assert OLD_COUPLING in text and OLD_INTEG in text
    if kappa is not None:
        text = text.replace(OLD_COUPLING, f"coupling: {{type: penalty, kappa: {kappa}}}")
    extra = ", allow_unstable_dt: true" if allow else ""
    new = f"integrator: {{type: verlet, dt: {dt}, steps: {steps}{extra}}}"
    text = text.replace(OLD_INTEG, new).replace("every: 50\n", "every: 100000\n")
    p = tmp_path / f"deck_{kappa}_{dt}.yaml"
    p.write_text(text)
    return p, text.splitlines().index(new) + 1


def _linear_limit(system, iters: int = 120) -> float:
    """2/√λ of M⁻¹K at the reference by power iteration (λ ≤ λ_max: the returned step is ≥ the limit)."""
    s = system
    minv = s.inv_mass_dof

    def forces(q):  # noqa: ANN001, ANN202
        ua, un = s.split(q)
        s.atoms.x[s.free] = s.atoms.X[s.free] + ua
        s.continuum.U[...] = un
        s.update_pads()
        s.compute_forces()
        return s.forces_q()

    v = np.random.default_rng(0).standard_normal(s.n_dof) * np.sqrt(minv)
    eps, lam = 1e-7, 0.0
    for _ in range(iters):
        v /= np.linalg.norm(v)
        w = -(forces(eps * v) - forces(-eps * v)) / (2 * eps) * minv
        lam = float(v @ w)
        v = w
    forces(np.zeros(s.n_dof))
    return 2.0 / np.sqrt(lam)


def test_springs_estimate_is_below_the_linear_limit(tmp_path):
    p, _ = _deck(tmp_path, 1e5, 0.003)
    sim = Simulation.from_deck(load_deck(p))
    dts = summary.stable_dt(sim.model)
    assert set(dts) == {"atoms", "continuum", "weighted atoms", "penalty springs"}
    est = dts["penalty springs"]
    assert est < dts["weighted atoms"]          # the springs limit this deck
    lim = _linear_limit(sim.model.system)
    assert 0.0048 < lim < 0.0054                # measured threshold: runs at 0.005, blows up at 0.0053
    assert 0.6 * lim < est < lim                # conservative (Gershgorin), not absurdly so


def test_validate_and_run_refuse_the_dt_that_blows_up(tmp_path):
    p, line = _deck(tmp_path, 1e5, 0.007)      # old estimate (weighted atoms) 0.00957 accepted it
    for args in (["validate", str(p)], ["run", str(p), "-o", str(tmp_path / "o.h5"), "--quiet"]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2, r.output
        first = r.stderr.splitlines()[0]
        assert first.startswith(f"error: {p}:{line}:") and ": integrator.dt: time step 0.007 " in first
        assert "(penalty springs;" in first
    assert not (tmp_path / "o.h5").exists()
    # ... and it is really unstable: with allow_unstable_dt the run blows up (exit 3)
    p, _ = _deck(tmp_path, 1e5, 0.007, steps=40, allow=True)
    r = CliRunner().invoke(cli, ["run", str(p), "-o", str(tmp_path / "u.h5"), "--quiet"])
    assert r.exit_code == 3, r.output


def test_dt_below_the_estimate_runs(tmp_path):
    p, _ = _deck(tmp_path, 1e5, 0.0035, steps=150)
    r = CliRunner().invoke(cli, ["run", str(p), "-o", str(tmp_path / "o.h5"), "--quiet"])
    assert r.exit_code == 0, r.output


def test_decks_without_penalty_keep_their_estimates_bitwise(tmp_path):
    from multiscale.build import _max_lattice_frequency
    from multiscale.diagnostics.stability import weighted_atoms_stable_dt
    p, _ = _deck(tmp_path, None, 0.01)
    m = Simulation.from_deck(load_deck(p)).model
    dts = summary.stable_dt(m)
    assert set(dts) == {"atoms", "continuum", "weighted atoms"}
    # main's values for decks/wave2d.yaml (projected) before this change, as repr
    assert repr(dts["weighted atoms"]) == "0.0616419062810447"
    assert dts["weighted atoms"] == weighted_atoms_stable_dt(m.system, m.potential, _max_lattice_frequency(m))[0]
