"""force_blend + ``continuum.surface_stress``: the reported energy weights the surface term by the
partition of unity α(X_q), like the bulk's (review rev22: the surface was attached after the method's
`prepare`, so its face points in H were counted with weight 1 — 6.106 instead of 3.053 in H here).

Independent check: at one perturbed state, E(with surface) − E(without) = Σ_q α(X_q) dA_q e_q(U) with α
from the handshake and e from the surface term's own densities (the bulk parts are the same)."""

from __future__ import annotations

import copy

import numpy as np
import yaml

from multiscale.deck.deck import load_deck_text
from multiscale.simulation import Simulation

from .test_force_blend_statics import _deck


def _system(dk: dict):  # noqa: ANN202
    sim = Simulation.from_deck(load_deck_text(yaml.safe_dump(dk, sort_keys=False), "fb.yaml"))
    sim.prepare()
    return sim.model.system


def test_force_blend_surface_energy_is_partition_of_unity_weighted():
    base = _deck("point")
    with_s = copy.deepcopy(base)
    with_s["continuum"]["surface_stress"] = {"faces": "free", "elasticity": False}
    s0, s1 = _system(base), _system(with_s)
    surf, hs = s1.continuum.surface, s1.handshake
    alpha_q = hs.alpha(surf.X_q).reshape(surf.dA.shape)
    assert np.count_nonzero((alpha_q > 0.0) & (alpha_q < 1.0)) >= 4     # faces cross the handshake
    rng = np.random.default_rng(3)
    dU = 0.01 * rng.standard_normal(s1.continuum.U.shape)
    for s in (s0, s1):
        s.continuum.U[...] += dU
        s.update_pads()
        s.compute_forces()
    e0 = sum(s0.energy.values())
    e1 = sum(s1.energy.values())
    expected = float(np.sum(alpha_q * surf.dA * surf.energy_densities(s1.continuum.U)))
    assert abs((e1 - e0) - expected) <= 1e-10 * abs(expected), (e1 - e0, expected)
