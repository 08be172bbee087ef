"""``integrator.time`` that is not a whole number of steps of ``dt``: the step count is rounded up (the run
ends past the time the deck asks for). Found off the gallery (offpath4): 0.5012 with dt 0.005 ran 101 steps
to t = 0.505 without a word. Now `msim validate` says so on its ``steps`` line and `msim run` warns (one
``warning:`` line, exit 0); a whole number of steps (0.5 / 0.005, a float quotient of 100.00000000000001)
says nothing. A remainder within the whole-number tolerance (1e-9·q steps: 0.5000000002 / 0.005 = 100.00000004)
runs the whole number of steps: `n_steps` once added a 101st step there without the warning (rev30 F3)."""

from __future__ import annotations

import warnings

import h5py
import pytest
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.errors import DeckWarning

DECK = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: fcc, a: 1.6796}}
  region: {{type: box, lo: [0, 0, 0], hi: [6.7184, 6.7184, 6.7184]}}
  boundary: [p, p, p]
  mass: 1.0
  velocity: {{temperature: 0.5, seed: 1}}
integrator: {{type: verlet, dt: 0.005, time: {time}}}
output: {{every: 1000, thermo_every: 1000}}
"""


@pytest.mark.parametrize(("time", "steps", "warned"), [(0.5012, 101, True), (0.5, 100, False),
                                                            (0.5000000002, 100, False)])
def test_time_not_a_whole_number_of_steps_is_said(tmp_path, time: float, steps: int, warned: bool) -> None:  # noqa: ANN001
    deck = tmp_path / "t.yaml"
    deck.write_text(DECK.format(time=time))
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 0, res.output
    assert f"steps         {steps}" in res.output
    assert ("is not a whole number of steps" in res.output) == warned, res.output
    out = tmp_path / "t.h5"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    said = [str(w.message) for w in caught if issubclass(w.category, DeckWarning)]
    assert bool(said) == warned, said
    if warned:
        assert "is not a whole number of steps" in said[0] and "ends at t = 0.505" in said[0]
    with h5py.File(out) as f:
        assert int(f["thermo/step"][-1]) == steps
