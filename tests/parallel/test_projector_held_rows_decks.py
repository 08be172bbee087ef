"""rev32 F14 on the suite's decks with held dofs (serial): the rows the projector drops as effectively held
(`coupling.projector`: free share of the row's Gram diagonal below `HELD_RATIO`, or dependent in the free dofs
only) and why the threshold sits where it does.

The 3D loads deck ``all`` (tests/parallel/test_mpi_coupled_spatial_loads.py: the smoke deck's fixed bottom,
prescribed atoms and nodes, six loads, strong coupling; 1 605 rows): the x, y, z rows of one held bottom atom
of tiny β̄ keep 4.2e-6 … 7.2e-6 of their Gram diagonal on free dofs (four free nodes); the next row keeps
2.6e-5. Kept (the Jacobi-scaled rank test alone, as the reverted 824f2f4 did: 1 589 rows) they blow the run
up — K + Π from −598 eV to −173 at step 200 and +1 049 at step 400 (the free nodes dragged, |V| 55 Å/ps);
dropped as held (1 588 rows, the same rows as the former unscaled test kept) the run is the former run bit
for bit (1 200 steps of `msim run` compared: frames and energies identical) and K + Π stays within 6 eV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mpi_coupled_spatial_driver import prepared
from test_mpi_coupled_spatial_loads import deck_of

import multiscale.coupling.projector as projector


def _energy_after(sim, steps: int) -> tuple[float, float]:  # noqa: ANN001
    it, s = sim.integrator, sim.model.system
    it.step(1)                                      # the potential energy is set by the first step
    e0 = sum(s.kinetic()) + it.potential
    it.step(steps - 1)
    return e0, sum(s.kinetic()) + it.potential


def test_loads_deck_drops_the_rows_of_a_held_light_atom(tmp_path: Path) -> None:
    sim = prepared(str(deck_of("all", tmp_path)))
    p = sim.integrator.projector
    assert p.G_all.shape[0] == 1605 and p.n_rows == 1588
    low = np.setdiff1d(p.held_rows, p.held_by_span)
    assert list(low) == [810, 1134, 1458]                       # x, y, z of one held bottom atom
    assert np.all(p.held_ratio[low] < 7.2e-6)
    part = p.held_ratio[(p.held_ratio > 0) & (p.held_ratio < 1)]
    assert np.min(part[part >= projector.HELD_RATIO]) > 2.5e-5   # the next row: 2.6e-5
    assert p.held_by_span.size == 14 and p.dependent_rows.size == 0
    e0, e1 = _energy_after(sim, 400)
    assert abs(e1 - e0) < 50.0, (e0, e1)                         # measured 5.9 eV


def test_loads_deck_blows_up_when_the_held_rows_are_kept(tmp_path: Path, monkeypatch) -> None:
    """The control: the same deck with the free-share criterion off (HELD_RATIO 0) keeps the three rows
    and gains > 1 000 eV in 400 steps (measured +1 647 eV)."""
    monkeypatch.setattr(projector, "HELD_RATIO", 0.0)
    sim = prepared(str(deck_of("all", tmp_path)))
    assert sim.integrator.projector.n_rows == 1589
    e0, e1 = _energy_after(sim, 400)
    assert e1 - e0 > 1000.0, (e0, e1)
