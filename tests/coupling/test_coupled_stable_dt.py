"""The measured largest stable time step of a coupled model (`diagnostics.stability.coupled_stable_dt`,
`msim verify --stability`): 2/√λ_max of the whole model's constrained, mass-weighted Hessian at the
reference, a penalty coupling's springs κ Gᵀ C G included — checked against the runs themselves.

decks/wave2d.yaml with `coupling: {type: penalty, kappa: K}` (measured 2026-12-07, CPU 0.1–0.4 s per figure):
κ 1: 0.07339 τ, 10: 0.07295, 100: 0.06894, 1000: 0.04792, 1e4: 0.01620, 1e5: 0.005128 (tests/coupling/
test_penalty_dt.py's power iteration: 0.00513, its runs: stable at 0.005, blow-up at 0.0053); the projected
deck itself: 0.09941. `msim validate`'s estimates (Gershgorin, the check of `msim run`) are below:
0.0316 at κ 1000, 0.0123 at 1e4. Runs with `allow_unstable_dt: true`, 3 % either side: stable for 400
steps below, blow-up within 30 steps above (κ 1000: step 18; 1e4: step 30; projected: step 28)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.deck import load_deck
from multiscale.diagnostics.stability import coupled_stable_dt
from multiscale.errors import BlowUpError
from multiscale.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
WAVE2D = ROOT / "decks" / "wave2d.yaml"


def _deck(tmp: Path, kappa: float | None, dt: float | None = None, steps: int = 400) -> Path:
    d = yaml.safe_load(WAVE2D.read_text())
    if kappa is not None:
        d["handshake"]["coupling"] = {"type": "penalty", "kappa": kappa}
    if dt is not None:
        d["integrator"].update(dt=dt, steps=steps, allow_unstable_dt=True)
    d["output"] = {"every": steps, "thermo_every": 10, "fields": ["displacement"]}
    p = tmp / f"w_{kappa}_{dt}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def _predicted(p: Path) -> float:
    m = Simulation.from_deck(load_deck(p)).model
    r = coupled_stable_dt(m.system, m.potential)
    assert r.reason == "" and r.n_dof == 15966, r
    return r.dt


def _blows_up(p: Path) -> bool:
    sim = Simulation.from_deck(load_deck(p))
    try:
        sim.run(str(p.with_suffix(".h5")), progress="quiet")
    except BlowUpError:
        return True
    return False


@pytest.mark.parametrize("kappa, lo, hi", [(1000.0, 0.0475, 0.0483), (1e4, 0.0160, 0.0164),
                                           (None, 0.0990, 0.0998)])
def test_measured_dt_is_the_runs_threshold(tmp_path, kappa, lo, hi):
    """The prediction splits the runs: 0.97 × dt stable for 400 steps, 1.03 × dt blows up (penalty at two
    κ, whose springs set the limit, and the projected deck)."""
    dt = _predicted(_deck(tmp_path, kappa))
    assert lo < dt < hi, dt
    assert not _blows_up(_deck(tmp_path, kappa, 0.97 * dt))
    assert _blows_up(_deck(tmp_path, kappa, 1.03 * dt))


def test_springs_lower_the_measured_dt(tmp_path):
    """λ_max grows with κ (κ 100 → 1e4: 0.0689 → 0.0162 τ), and the measured step stays above `msim
    validate`'s conservative estimate."""
    dts = []
    for kappa in (100.0, 1e4):
        p = _deck(tmp_path, kappa)
        dts.append(_predicted(p))
        est = min(Simulation.from_deck(load_deck(p)).stable_dt().values())
        assert 0.5 * dts[-1] < est < dts[-1], (kappa, est, dts[-1])
    assert 0.068 < dts[0] < 0.070 and dts[1] < 0.25 * dts[0], dts


def test_verify_stability_reports_and_checks_the_dt(tmp_path):
    """`msim verify --stability` on a penalty deck: the row with the springs, pass below, FAIL (exit 1) and
    the remedy at a dt above the measured step."""
    r = CliRunner().invoke(cli, ["verify", "--stability", str(_deck(tmp_path, 1000.0))])
    assert r.exit_code == 0, r.output
    row = [ln for ln in r.output.splitlines() if "largest stable dt" in ln]
    assert len(row) == 1 and "springs)" in row[0] and "4.792e-02" in row[0] and row[0].endswith("pass"), r.output
    assert "msim validate's estimate (penalty springs)" in r.output and "3.159e-02" in r.output
    r = CliRunner().invoke(cli, ["verify", "--stability", str(_deck(tmp_path, 1000.0, 0.05))])
    assert r.exit_code == 1, r.output
    row = [ln for ln in r.output.splitlines() if "largest stable dt" in ln]
    assert row and row[0].endswith("FAIL") and "> dt 0.05" in row[0], r.output
    assert "not below the measured largest stable step 0.04792" in r.stderr, r.stderr
