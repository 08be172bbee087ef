"""`run.state.State` of a prepared coupled deck: global ids, owned atoms, checkpoint round trip, parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multiscale import load_deck
from multiscale.run.checkpoints import state_mismatch
from multiscale.run.state import State
from multiscale.simulation import Simulation

DECKS = Path(__file__).resolve().parents[2] / "decks"


@pytest.fixture(scope="module")
def sim():
    s = Simulation.from_deck(load_deck(DECKS / "wave1d.yaml"), threads=1)
    s.prepare()
    return s


def test_ids_are_the_global_site_ids(sim):
    st, m = sim.state, sim.model
    assert np.array_equal(st.ids, m.site_ids)               # the results file's atoms/ids
    assert st.n_owned == m.atoms.n == len(st.ids)            # serial: no ghosts
    assert st.ids.dtype == np.int64
    assert len(np.unique(st.ids)) == len(st.ids)
    with pytest.raises(ValueError, match="ids"):
        State(m.system, sim.integrator, ids=st.ids[:-1])
    assert st.x is m.atoms.x and st.U is m.continuum.U       # the regions' own arrays, not copies


def test_checkpoint_state_round_trip_is_bitwise(sim):
    st = sim.state
    saved = st.get_state()
    assert list(saved)[:3] == ["kind", "integrator", "guard"]
    x0, U0, step0 = st.x.copy(), st.U.copy(), st.step
    sim.integrator.step(25)
    assert st.step == step0 + 25 and not np.array_equal(st.x, x0)
    st.set_state(saved)
    assert st.step == step0
    assert np.array_equal(st.x, x0) and np.array_equal(st.U, U0)
    assert state_mismatch(st.template(), saved) is None


def test_a_required_part_missing_from_a_checkpoint_is_refused(sim):
    saved = sim.state.get_state()
    del saved["guard"]
    with pytest.raises(KeyError):
        sim.state.set_state(saved)
    saved = sim.state.get_state()
    saved["integrator"]["x"] = saved["integrator"]["x"][:, :0]
    assert "shape" in state_mismatch(sim.state.template(), saved)
