"""Real run output for the reader tests: small decks run once per session into a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from multiscale import Simulation, load_deck
from multiscale.deck import load_deck_text

ROOT = Path(__file__).resolve().parents[2]

#: a small periodic fcc Cu crystal (analytic Zhou EAM) at 300 K, metal units: velocities in Å/ps
CU_NVE = """\
msim: 1
units: metal
title: periodic fcc Cu, NVE, for the extxyz/OVITO tests
potential: {type: eam_zhou, element: Cu}
atoms:
  lattice: {type: fcc, a: 3.615}
  region: {type: box, lo: [0.0, 0.0, 0.0], hi: [14.46, 14.46, 14.46]}
  boundary: [p, p, p]
  mass: 63.546
  skin: 1.0
  velocity: {temperature: 300.0, seed: 5}
integrator: {type: verlet, dt: 0.002, steps: 20}
output:
  every: 10
  thermo_every: 10
  fields: [position, velocity, force, energy]
"""

#: (deck file or text, steps or stages)
RUNS = {
    "lj_melt": ("decks/lj_melt.yaml", 500),             # 3D periodic LJ fcc, frames at steps 0 and 500
    "wave2d": ("decks/wave2d.yaml", 100),                # coupled 2D: tri3 mesh + atoms, 3 frames
    "indent2d_small": ("decks/indent2d_small.yaml", 2),  # quasi-static coupled indentation, 2 stages
    "cu_nve": (CU_NVE, None),
}


@pytest.fixture(scope="session")
def real_run(tmp_path_factory):
    """`real_run(name)` -> path of the results file of run `name` (see RUNS), made on first use."""
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            src, steps = RUNS[name]
            deck = load_deck(ROOT / src) if src.endswith(".yaml") else load_deck_text(src, f"{name}.yaml")
            out = tmp_path_factory.mktemp(name) / f"{name}.h5"
            Simulation.from_deck(deck, threads=1).run(output=out, steps=steps, progress="quiet")
            done[name] = out
        return done[name]

    return get
