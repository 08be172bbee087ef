"""`msim regress` figures: the reductions of thermo / observable columns (``mean`` is the time average a
thermal run's single-seed expect block needs, e.g. a temperature or the mean indenter load)."""

import numpy as np
import pytest

from multiscale.regress import compute_figure


def test_reductions_of_an_observable_column():
    obs = {"indenter.load": np.array([0.0, 1.0, 5.0, 2.0])}
    steps = np.array([0, 10, 20, 30])
    got = {red: compute_figure(f"observables.indenter.load.{red}", {}, obs, steps)
           for red in ("first", "last", "min", "max", "mean")}
    assert got == {"first": 0.0, "last": 2.0, "min": 0.0, "max": 5.0, "mean": 2.0}
    assert compute_figure("thermo.kinetic_atoms.mean", {"kinetic_atoms": [1.0, 2.0]}, {}, steps) == 1.5
    with pytest.raises(KeyError):
        compute_figure("observables.indenter.load.median", {}, obs, steps)
