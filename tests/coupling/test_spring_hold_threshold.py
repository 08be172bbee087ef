"""The measurement behind `diagnostics.stability.HOLD_FRACTION` (0.1 r_nn: `msim validate`/`run` refuse a
penalty deck whose springs let an atom move further under the linearised ghost forces).

decks/wave2d.yaml with `coupling: {type: penalty, kappa: κ, slave_below: sb}`, dt 0.004, 20 τ, offset = the
largest `spring_held_offsets` / r_nn (measured 2026-12-07; /tmp scripts of helper pstab, see its report):

    κ     sb     offset  run       held atoms' largest |u|/r_nn (8 frames)  energy drift
    1     1e-5   1.24    blow-up
    1500  0      0.42    blow-up
    1000  1e-5   0.37    20 τ      0.13                                      5.6e-3
    2000  0      0.29    20 τ      0.23                                      6.0e-3
    1     3e-5   0.29    20 τ      0.13                                      1.5e-3
    100   3e-5   0.24    20 τ      0.14                                      5.9e-4
    3000  0      0.18    20 τ      0.20                                      3.7e-3
    5000  0      0.11    20 τ      0.15                                      5.9e-3
    1000  3e-5   0.090   20 τ      0.11                                      1.1e-3
    (4 τ: κ 1e4 sb 0: 0.054, |u| 0.086, drift 3.4e-3; sb 1e-3, κ 1 … 1e4: 0.0007–0.014, |u| ≤ 0.024,
    drift ≤ 2.7e-4; the pulse alone moves atoms ≤ 0.03 r_nn)

The runs fail between offsets 0.37 and 0.42: the refusal at 0.1 keeps a margin of ~4. Neither the energy drift
(it follows slave_below: the atoms of β̄ ~ 1e-5 on springs, not their offset) nor the core's displacement
error against the projected run (it follows κ: 0.29 at κ 1, 0.05–0.09 at 100 … 1e4, whatever the offset)
responds to the offset; the held atoms' own excursion does (≥ 0.1 r_nn from offset 0.09 on)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from multiscale.deck import load_deck
from multiscale.diagnostics.stability import HOLD_FRACTION, spring_held_offsets
from multiscale.errors import BlowUpError, DeckError
from multiscale.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]


def _deck(tmp: Path, kappa: float, sb: float, allow: bool) -> Path:
    d = yaml.safe_load((ROOT / "decks" / "wave2d.yaml").read_text())
    d["handshake"]["coupling"] = {"type": "penalty", "kappa": kappa, "slave_below": sb}
    d["integrator"] = {"type": "verlet", "dt": 0.004, "steps": 5000, "allow_unstable_dt": allow}
    d["output"] = {"every": 5000, "thermo_every": 50, "fields": ["displacement"]}
    p = tmp / f"hold_{kappa:g}_{sb:g}_{allow}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


@pytest.mark.slow
@pytest.mark.parametrize("kappa, sb, lo, hi, blows", [(1000.0, 1e-5, 0.36, 0.37, False),
                                                      (1500.0, 0.0, 0.42, 0.43, True)])
def test_runs_fail_between_offsets_037_and_042(tmp_path, kappa, sb, lo, hi, blows):
    p = _deck(tmp_path, kappa, sb, allow=True)
    sim = Simulation.from_deck(load_deck(p))
    h = spring_held_offsets(sim.model.system, sim.model.potential)
    off = float(np.max(h.offset) / h.r_nn)
    assert lo < off < hi and off > 3.5 * HOLD_FRACTION, off
    try:
        sim.run(str(p.with_suffix(".h5")), progress="quiet")
        blown = False
    except BlowUpError:
        blown = True
    assert blown == blows
    with pytest.raises(DeckError, match="penalty springs do not hold"):     # refused without allow
        Simulation.from_deck(load_deck(_deck(tmp_path, kappa, sb, allow=False))).check_time_step()
