"""The finite-temperature deck decks/thermal2d.yaml (issue 16) and the ``late_mean`` reduction its
``expect:`` block uses (`msim regress decks/` runs it: measured core temperature 0.956 T over steps
2 000–4 000, modified energy drift 2.7e-4, constraint residual 2.4e-14)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from multiscale.deck import load_deck
from multiscale.regress import compute_figure
from multiscale.simulation import Simulation

DECK = pathlib.Path(__file__).resolve().parents[2] / "decks" / "thermal2d.yaml"


def test_late_mean_is_the_mean_of_the_second_half_of_the_rows():
    obs = {"temperature_core": np.array([9.0, 9.0, 9.0, 1.0, 2.0, 3.0])}
    v = compute_figure("observables.temperature_core.late_mean", {}, obs, np.arange(6))
    assert v == pytest.approx(2.0)
    odd = {"temperature_core": np.array([9.0, 9.0, 1.0, 2.0, 3.0])}    # 5 rows: the last 3
    v = compute_figure("observables.temperature_core.late_mean", {}, odd, np.arange(5))
    assert v == pytest.approx(2.0)
    with pytest.raises(KeyError):
        compute_figure("observables.temperature_core.median", {}, obs, np.arange(6))


def test_thermal_deck_builds_a_hot_band_and_a_thermal_strain_continuum():
    """The deck's model is what its title says: bath at T in the band, ``thermal_strain`` on the linear
    base, atoms started at 2T, and the expect block targets the bath temperature."""
    deck = load_deck(DECK)
    sim = Simulation.from_deck(deck)
    m = sim.model
    assert m.damping is not None and m.damping.kT == pytest.approx(0.1 * m.units.boltz)
    mat = m.continuum.material
    assert type(mat).__name__ == "ThermalStrain" and mat.base.is_linear
    assert mat.strain == pytest.approx(0.00879)
    assert deck.config.expect["observables.temperature_core.late_mean"].value == pytest.approx(0.1)
