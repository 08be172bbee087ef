"""indent3d: the decks are the generator's output; the small coupled deck (fcc Cu EAM core under a sphere,
linear-elastic hex8 mesh elsewhere) runs to d = 1 Å with the load rising with depth, the constraint
holding, and the load within a generous bound of the Hertz law P = (4/3) E* √R d^{3/2} (E* from the
Hill average of the material's C)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from multiscale.applications.indent3d import EXPECT, P_SMALL_1, SMALL, deck_set

DECKS = Path(__file__).resolve().parents[2] / "decks"


def _hertz_modulus(C: np.ndarray) -> float:
    """E* = E/(1 − ν²) [energy/length³] of the Voigt–Reuss–Hill isotropic average of the 6×6 C."""
    S = np.linalg.inv(C)
    d, o, s = np.trace(C[:3, :3]), C[0, 1] + C[1, 2] + C[0, 2], C[3, 3] + C[4, 4] + C[5, 5]
    kv, gv = (d + 2 * o) / 9.0, (d - o + 3 * s) / 15.0
    ds, os_, ss = np.trace(S[:3, :3]), S[0, 1] + S[1, 2] + S[0, 2], S[3, 3] + S[4, 4] + S[5, 5]
    kr, gr = 1.0 / (ds + 2 * os_), 15.0 / (4 * ds - 4 * os_ + 3 * ss)
    k, g = 0.5 * (kv + kr), 0.5 * (gv + gr)
    e, nu = 9 * k * g / (3 * k + g), (3 * k - 2 * g) / (2 * (3 * k + g))
    return e / (1 - nu * nu)


def test_decks_are_the_generated_ones():
    for name, deck in deck_set().items():
        on_disk = yaml.safe_load((DECKS / name).read_text())
        assert on_disk == deck | {"expect": EXPECT[name]}


def test_small_deck_force_depth(tmp_path: Path):
    from multiscale.deck import load_deck
    from multiscale.integrate.quasistatic import run_quasistatic
    from multiscale.registry import MINIMIZERS
    from multiscale.simulation import Simulation

    sim = Simulation.from_deck(load_deck(DECKS / "indent3d_small.yaml"))
    sim.prepare()
    cfg = sim.deck.config.integrator
    rows = run_quasistatic(sim.model.system, sim.model.loads, MINIMIZERS.get(cfg.type)(ftol=cfg.ftol),
                           prepare=False)
    assert all(r["converged"] for r in rows)
    assert max(r["constraint_residual"] for r in rows) < 1e-10
    d = np.array([r["indenter.depth"] for r in rows])
    P = np.array([r["indenter.load"] for r in rows])
    assert d == pytest.approx([0.0, 0.5, 1.0])
    assert P[0] == 0.0 and np.all(np.diff(P) > 0)
    assert P[-1] == pytest.approx(P_SMALL_1, rel=0.01)
    # Hertz: measured P/P_H = 0.57 at 0.5 Å, 0.80 at 1 Å (0.90 at 2 Å for R = 20 Å in indent3d.yaml);
    # a factor-2 error in C or in the load would leave the bound
    Es = _hertz_modulus(np.asarray(sim.model.continuum.material.C))
    assert Es * 160.2177 == pytest.approx(145.5, rel=0.01)        # GPa (Zhou Cu, Hill average)
    ph = 4.0 / 3.0 * Es * np.sqrt(SMALL["radius"]) * d[-1] ** 1.5
    assert 0.6 < P[-1] / ph < 1.3
