"""``msim run DECK --from EARLIER.h5`` with a load that imposes positions (review rev33 R2): the continued run
starts every load at t = 0, so a pull continued with the same deck sent its grip from 0.2 σ back to 0.01 σ
in one step (kinetic energy 2.3 → 23.8, exit 0, no word). Now a `ContinuationWarning` names the load, the
jump and the ways out; a continuation whose imposed dofs sit where the new deck puts them says nothing."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.errors import ContinuationWarning

PULL = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [0, 0], hi: [12, 5]}}
  boundary: [f, f]
  mass: 1.0
loads:
- type: fixed
  region: {{type: box, lo: [-1, -1], hi: [1.5, 6]}}
  components: [x, y]
- type: prescribed
  label: grip
  region: {{type: box, lo: [10.5, -1], hi: [13, 6]}}
  components: [x]
  velocity: [{vel}, 0.0]
  {extra}
integrator: {{type: verlet, dt: 0.005, steps: 40}}
output: {{every: 20, thermo_every: 20, fields: [displacement, velocity]}}
"""


def _run(tmp_path, name: str, text: str, *extra: str):  # noqa: ANN202
    deck = tmp_path / f"{name}.yaml"
    deck.write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / f"{name}.h5"), "--quiet",
                                       *extra])
    assert res.exit_code == 0, res.output
    return [str(w.message) for w in caught if issubclass(w.category, ContinuationWarning)]


def test_a_continued_pull_warns_of_the_grip_jump(tmp_path) -> None:
    _run(tmp_path, "a", PULL.format(vel=0.5, extra=""))
    msgs = _run(tmp_path, "b", PULL.format(vel=0.5, extra=""), "--from", str(tmp_path / "a.h5"))
    jumps = [m for m in msgs if "loads[1] ('grip')" in m]
    assert len(jumps) == 1, msgs
    # the grip stood at u = v t = 0.5 * 40 * 0.005 = 0.1 at the end of the first run; the new deck puts it at 0
    assert "up to 0.1 away" in jumps[0], jumps[0]
    with h5py.File(tmp_path / "a.h5") as f:
        assert abs(float(np.max(f["frames/atoms/displacement"][-1][:, 0])) - 0.1) < 1e-9


def test_a_shifted_grip_continues_without_a_word(tmp_path) -> None:
    _run(tmp_path, "a", PULL.format(vel=0.5, extra=""))
    # the new deck starts the grip where the state has it: u = 0.1 + v t
    msgs = _run(tmp_path, "b", PULL.format(vel=0.5, extra="displacement: [0.1, 0.0]"),
                "--from", str(tmp_path / "a.h5"))
    assert not [m for m in msgs if "loads[" in m], msgs


def test_a_held_grip_continues_without_a_word(tmp_path) -> None:
    _run(tmp_path, "a", PULL.format(vel=0.0, extra=""))
    msgs = _run(tmp_path, "b", PULL.format(vel=0.0, extra=""), "--from", str(tmp_path / "a.h5"))
    assert not [m for m in msgs if "loads[" in m], msgs
