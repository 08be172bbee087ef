"""The damping band's Crank–Nicolson velocity map with held dofs that MOVE (a ``prescribed`` load with a
velocity inside the band's reach), against the map written out densely:

    (M + C) v' + Gᵀμ = (M − C) v,   G v' = 0,   v'_x = v_x on held dofs,   C = ½Δt D.

The free rows' right-hand side carries C_fx v_x twice (once from (M − C)v, once moved over from the left);
dropping one of them is off by ~4e-3 of the velocities here (and invisible with held dofs at rest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from multiscale.coupling.damping import DampingBand
from multiscale.deck.deck import load_deck_text
from multiscale.simulation import Simulation

DECKS = Path(__file__).resolve().parents[2] / "decks"


def _sim(prescribed_lo: float, prescribed_hi: float) -> Simulation:
    deck = yaml.safe_load((DECKS / "wave1d_damped.yaml").read_text())
    deck["loads"].insert(0, {"type": "prescribed", "region": {"type": "box", "lo": [prescribed_lo],
                                                              "hi": [prescribed_hi]}, "velocity": [0.01]})
    deck.pop("expect", None)
    sim = Simulation.from_deck(load_deck_text(yaml.safe_dump(deck), "band_moving_held.yaml"))
    sim.prepare()
    return sim


def _band_vs_dense(sim: Simulation) -> tuple[float, float, float]:
    s, integ = sim.model.system, sim.integrator
    band = next(op for op in integ.velocity_ops if isinstance(op, DampingBand))
    inv = s.inv_mass_dof
    rng = np.random.default_rng(0)
    v0 = 1e-3 * rng.standard_normal(len(inv))
    v0[inv == 0] = 0.01                                   # the held dofs move
    s.set_velocities_from_q(v0)
    v0 = s.gather_v().copy()
    band.kT = 0.0
    band.apply(s, integ, integ.dt)
    v1 = s.gather_v()
    C, G = band.C_full.toarray(), band.G.toarray()
    f, x = np.flatnonzero(inv > 0), np.flatnonzero(inv == 0)
    M = np.diag(1.0 / inv[f])
    Cfx = C[np.ix_(f, x)]
    rhs = M @ v0[f] - C[np.ix_(f, f)] @ v0[f] - 2.0 * Cfx @ v0[x]
    r = G.shape[0]
    A = np.block([[M + C[np.ix_(f, f)], G[:, f].T], [G[:, f], np.zeros((r, r))]])
    sol = np.linalg.lstsq(A, np.concatenate([rhs, -G[:, x] @ v0[x]]), rcond=None)[0][: len(f)]
    return float(np.abs(v1[f] - sol).max()), float(np.abs(sol).max()), float(np.abs(Cfx).max())


def test_band_map_with_moving_held_dofs_inside_reach_is_crank_nicolson():
    err, vmax, cfx = _band_vs_dense(_sim(799.5, 808.5))   # three mesh nodes inside the smoothing reach
    assert cfx > 1e-3                                      # the held dofs do couple to the band
    assert err <= 1e-12 * vmax, (err, vmax)


def test_band_map_with_moving_held_dofs_outside_reach_is_crank_nicolson():
    err, vmax, cfx = _band_vs_dense(_sim(779.5, 790.5))
    assert err <= 1e-12 * vmax, (err, vmax)
