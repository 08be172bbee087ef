"""Review rev32 F5 (cosmetic): figures printed so that they read right."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.coupling.handshake import Handshake
from multiscale.deck import load_deck
from multiscale.geometry import make_shape
from multiscale.simulation import Simulation
from multiscale.units import METAL
from multiscale.verify import _partition_rows

from .test_light_nodes_note import BOX


def test_width_below_one_element_prints_distinct_numbers():
    """A width of exactly one element (2.8) against an element size of 2.8 + round-off printed "handshake
    width 2.8 is smaller than the element size 2.8" (%g); now it says by how much."""
    h = Handshake(make_shape({"type": "box", "lo": [0.0, 0.0], "hi": [10.0, 10.0]}), 2.8)
    with pytest.raises(ValueError) as info:
        h.check_geometry(1.0, 0.3, element_size=2.8 + 4.4e-16)
    assert "width 2.8 is smaller than the element size 2.8 (larger by 4.4e-16, the round-off" in str(info.value)
    with pytest.raises(ValueError) as info:
        h.check_geometry(1.0, 0.3, element_size=2.85)
    assert "width 2.8 is smaller than the element size 2.85 of the mesh" in str(info.value)


def test_verify_total_mass_in_the_decks_mass_unit(tmp_path):
    """`msim verify`'s "mass: atoms + nodes" row was the internal force-mass (metal: eV·ps²/Å², 3.185 for
    rev32's d05); with the deck's units it is m_int / mvv2e and names the unit."""
    p = tmp_path / "box.yaml"
    p.write_text(BOX)
    s = Simulation.from_deck(load_deck(p)).model.system
    internal = float(np.sum(s.atom_mass) + np.sum(s.node_mass))
    row = _partition_rows(s, METAL)[-1]
    assert row[0] == "mass: atoms + nodes (coupled weights) [g/mol]"
    assert float(row[1]) == pytest.approx(internal / METAL.mvv2e, rel=1e-3)    # printed with 4 digits
