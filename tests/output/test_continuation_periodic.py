"""``--from`` a frame of a periodic run (rev32 F9, F10):

- a frame that holds ``position`` but no ``displacement``: positions are wrapped into the box, so atoms
  that crossed a periodic face would start with u ≈ ±L; they are unwrapped against the reference sites
  (minimum image) with a `ContinuationWarning`: the continued run's step-0 displacements equal the true
  ones of the same run written with ``displacement`` (to 1e-9 Å);
- the new deck's ``atoms.velocity`` is not applied (the state's velocities are kept) and a
  `ContinuationWarning` says so; a deck without it gets no such warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from multiscale import Simulation
from multiscale.deck import load_deck_text
from multiscale.errors import ContinuationWarning
from multiscale.output.reader import ResultsReader

DECK = """\
msim: 1
units: metal
title: periodic fcc Cu at 600 K (continuation from wrapped positions)
potential: {{type: eam_zhou, element: Cu}}
atoms:
  lattice: {{type: fcc, a: 3.615}}
  region: {{type: box, lo: [0.0, 0.0, 0.0], hi: [14.46, 14.46, 14.46]}}
  boundary: [p, p, p]
  mass: 63.546
  skin: 1.0
{velocity}integrator: {{type: verlet, dt: 0.002, steps: {steps}}}
output: {{every: {steps}, thermo_every: {steps}, fields: {fields}}}
"""

VEL = "  velocity: {temperature: 600.0, seed: 3}\n"


def _run(tmp_path, name, *, fields, steps=40, velocity=VEL, start_from=None):
    deck = load_deck_text(DECK.format(velocity=velocity, steps=steps, fields=fields),
                          str(tmp_path / f"{name}.yaml"))
    out = tmp_path / f"{name}.h5"
    Simulation.from_deck(deck, threads=1).run(output=out, progress="quiet",
                                              start_from=None if start_from is None else str(start_from))
    return out


def _field(path, name, frame):
    with ResultsReader(path) as r:
        return np.asarray(r.field("atoms", name, frame))


def test_from_positions_only_unwraps_against_the_reference(tmp_path):
    pos = _run(tmp_path, "pos", fields="[position, velocity]")
    disp = _run(tmp_path, "disp", fields="[displacement, velocity]")      # the same run: the true u
    u_true = _field(disp, "displacement", -1)
    assert np.abs(u_true).max() < 1.0
    with pytest.warns(ContinuationWarning, match="crossed a periodic face"):
        cont = _run(tmp_path, "cont", fields="[displacement, velocity]", steps=10, velocity="",
                    start_from=pos)
    u0 = _field(cont, "displacement", 0)
    np.testing.assert_allclose(u0, u_true, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(_field(cont, "velocity", 0), _field(pos, "velocity", -1))


def test_from_warns_that_atoms_velocity_is_not_applied(tmp_path):
    prev = _run(tmp_path, "prev", fields="[displacement, velocity]")
    v_prev = _field(prev, "velocity", -1)
    hot = VEL.replace("600.0", "1500.0")
    with pytest.warns(ContinuationWarning, match="atoms.velocity .temperature 1500. is not applied"):
        a = _run(tmp_path, "a", fields="[displacement, velocity]", steps=10, velocity=hot, start_from=prev)
    np.testing.assert_array_equal(_field(a, "velocity", 0), v_prev)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContinuationWarning)
        _run(tmp_path, "b", fields="[displacement, velocity]", steps=10, velocity="", start_from=prev)
