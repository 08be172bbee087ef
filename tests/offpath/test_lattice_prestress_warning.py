"""A coupled deck whose lattice constant is not the potential's zero-stress spacing starts moving by itself
(review rev32 F4: d17 — 2D hex LJ, circular core, projected coupling, no loads, at rest — with a = 1.14 instead
of the relaxed 1.1132: the atoms' kinetic energy rose from 0 to 5 ε in 1 τ, `msim validate` said OK with no
note). `msim validate` now warns with the lattice stress at the deck's a (`run.summary.prestress_lines`, the
lattice sums of `md.properties`) and suggests `a: relaxed`; the threshold `PRESTRESS_WARN` (|σ|/C11 > 1e-4)
comes from the motion measured in `test_prestress_motion_above_the_threshold`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.deck import load_deck
from multiscale.run.summary import PRESTRESS_WARN, lattice_prestress
from multiscale.simulation import Simulation

D17R = Path(__file__).resolve().parent / "data" / "rev32_d17r_relaxed.yaml"   # rev32's rev/d17r_relaxed.yaml
A0 = 1.113201304    # its relaxed spacing (printed by msim validate)


def _deck(tmp_path: Path, a, name: str = "d17.yaml", steps: int | None = None) -> Path:  # noqa: ANN001
    d = yaml.safe_load(D17R.read_text())
    d["atoms"]["lattice"]["a"] = a
    if steps is not None:
        d["integrator"]["steps"] = steps
        d["output"] = {"every": steps, "thermo_every": 20, "fields": ["position"]}
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


@pytest.mark.parametrize("a, warned", [("relaxed", False), (1.14, True), (A0 * (1 + 3e-4), True),
                                       (A0 * (1 + 2e-5), False)])
def test_validate_warns_of_a_lattice_off_zero_stress(tmp_path, a, warned):
    res = CliRunner().invoke(cli, ["validate", str(_deck(tmp_path, a))])
    assert res.exit_code == 0, res.output
    line = [ln for ln in res.output.splitlines() if "not at zero stress" in ln]
    assert bool(line) == warned, res.output
    if warned:
        assert line[0].startswith("warning ")
        assert "zero stress at a = 1.113201304" in line[0] and "`a: relaxed`" in line[0]


def test_prestress_is_the_lattice_sums_stress(tmp_path):
    """2D hex LJ under isotropic scaling: σ = p I with p = (C11 + C12) ε to first order, C12 = C11/3
    (Cauchy relation of a pair potential on hex): |σ|/C11 = 4/3 ε."""
    eps = 1e-4
    m = Simulation.from_deck(load_deck(_deck(tmp_path, A0 * (1 + eps)))).model
    rel, sig, c11 = lattice_prestress(m)
    assert sig[0, 0] == pytest.approx(sig[1, 1], rel=1e-9) and abs(sig[0, 1]) < 1e-9 * abs(sig[0, 0])
    assert rel == pytest.approx(4.0 / 3.0 * eps, rel=0.02)


def test_prestress_motion_above_the_threshold(tmp_path):
    """The measurement behind `PRESTRESS_WARN`: 400 steps at rest, the atoms' largest displacement.
    At a₀ it is the coupling's own (measured 0.0043 σ); at |σ|/C11 = 1.3e-5 within 5 % of it; at 1.35e-3 more
    than twice it (measured 0.012); at 4e-4 (0.0062) the prestress already adds a third."""
    def motion(a: float) -> tuple[float, float]:
        p = _deck(tmp_path, float(a), f"m_{a:.12g}.yaml", steps=400)
        sim = Simulation.from_deck(load_deck(p))
        rel = lattice_prestress(sim.model)[0]
        sim.run(str(p.with_suffix(".h5")), progress="quiet")
        at, free = sim.model.atoms, sim.model.system.free
        return rel, float(np.max(np.linalg.norm(at.x[free] - at.X[free], axis=1)))
    r0, u0 = motion(A0)
    r1, u1 = motion(A0 * (1 + 1e-5))
    r2, u2 = motion(A0 * (1 + 3e-4))
    r3, u3 = motion(A0 * (1 + 1e-3))
    assert r0 < 1e-8 and r1 < PRESTRESS_WARN < r2 < r3
    assert abs(u1 - u0) < 0.05 * u0
    assert u2 > 1.3 * u0
    assert u3 > 2.0 * u0
