"""Every deck in decks/ validates, builds and runs a few steps; results open and hold the steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multiscale.deck import load_deck
from multiscale.output.reader import ResultsReader
from multiscale.simulation import Simulation

DECKS = sorted((Path(__file__).resolve().parents[2] / "decks").glob("*.yaml"))


def test_there_are_decks() -> None:
    assert len(DECKS) >= 3


@pytest.mark.parametrize("path", DECKS, ids=[p.stem for p in DECKS])
def test_deck_runs_a_few_steps(path: Path, tmp_path: Path) -> None:
    sim = Simulation.from_deck(load_deck(path))
    text = sim.summary()
    assert "memory" in text
    if sim.statics and (sim.model.system.n_dof > 5000
                        or getattr(sim.model.system.atoms.potential, "external", False)):
        # a load stage of a full-size quasi-static deck is a whole minimisation (minutes): the deck is
        # built and checked here; its physics runs in the reduced-size variants and `make test-slow`
        # (statics with an external engine, e.g. SNAP through LAMMPS at ~0.5 ms per atom and call: the same)
        return
    steps = 2 if sim.statics else 20
    out = sim.run(output=tmp_path / "out.h5", steps=steps, progress="quiet")
    assert out.exists()
    assert (tmp_path / "out.xdmf").exists()
    with ResultsReader(out) as r:
        thermo = r.thermo()
        assert len(thermo["step"]) >= 2
        assert np.all(np.isfinite(thermo["total"] if "total" in thermo else thermo["energy"]))
