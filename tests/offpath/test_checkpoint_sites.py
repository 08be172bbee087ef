"""A checkpoint records its model's reference sites; `--from` and `--restart` compare them with the new
deck's model. Found off the gallery: a continuation from a checkpoint compared only the deck's model keys
(`MODEL_KEYS`: lattice, region, mesh, ...), so a changed site set with the same keys and atom count slipped
through: with `a: relaxed`, a potential edit (sigma 1.0 -> 1.02, a ContinuationWarning only) moved every
lattice site by up to 2 % and the old positions ran on the new reference without a word. From the results
file the same continuation was refused (its reference positions are compared)."""

from __future__ import annotations

import warnings

import numpy as np
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.output.checkpoint import load_checkpoint
from multiscale.run.checkpoints import MODEL_ENTRY

LJ = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: {sigma}, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: fcc, a: relaxed}}
  region: {{type: box, lo: [0, 0, 0], hi: [3.2, 3.2, 3.2]}}
  boundary: [f, f, f]
  mass: 1.0
  velocity: {{temperature: 0.1, seed: 1}}
integrator: {{type: verlet, dt: 0.002, steps: 4}}
output: {{every: 2, thermo_every: 2, checkpoint_every: 4, fields: [position, velocity]}}
"""

COUPLED = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [-16.0, -16.0], hi: [16.0, 16.0]}}
  mass: 1.0
continuum:
  mesh: {{type: rectangle, element: tri3, lo: [-24.0, -24.0], hi: [24.0, 24.0], size: 2.0,
         hole: {{lo: [-4.0, -4.0], hi: [4.0, 4.0]}}}}
handshake:
  shape: {{type: box, lo: [{lo}, -6.0], hi: [{hi}, 6.0]}}
  width: 6.0
  blend: {{type: cubic}}
  coupling: {{type: strong}}
integrator: {{type: verlet, dt: 0.005, steps: 4}}
output: {{every: 2, thermo_every: 2, checkpoint_every: 4, fields: [displacement, velocity]}}
"""


def _run(tmp_path, name: str, text: str, *extra: str):  # noqa: ANN202
    deck = tmp_path / f"{name}.yaml"
    deck.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / f"{name}.h5"), "--quiet",
                                        *extra])


def test_checkpoint_records_the_reference_sites(tmp_path) -> None:
    res = _run(tmp_path, "first", LJ.format(sigma=1.0))
    assert res.exit_code == 0, res.output
    state = load_checkpoint(tmp_path / "first.checkpoint.h5")
    X = state[MODEL_ENTRY]["reference_positions"]
    assert X.shape == state["integrator"]["x"].shape
    assert np.max(np.abs(state["integrator"]["x"] - X)) < 0.2          # the atoms near their sites


def test_a_relaxed_lattice_moved_by_a_potential_edit_is_refused(tmp_path) -> None:
    res = _run(tmp_path, "first", LJ.format(sigma=1.0))
    assert res.exit_code == 0, res.output
    for source in ("first.checkpoint.h5", "first.h5"):
        res = _run(tmp_path, "wider", LJ.format(sigma=1.02), "--from", str(tmp_path / source), "--overwrite")
        assert res.exit_code == 2, (source, res.output)
        assert "Traceback" not in res.output
        assert "reference positions differ" in res.stderr, res.stderr
    res = _run(tmp_path, "same", LJ.format(sigma=1.0), "--from", str(tmp_path / "first.checkpoint.h5"))
    assert res.exit_code == 0, res.output


def test_a_shifted_handshake_with_the_same_atom_count_is_refused(tmp_path) -> None:
    """The handshake decides which sites are kept (weighted and pad atoms); shifted by one lattice period
    along x it keeps as many atoms, other ones."""
    from multiscale import Simulation, load_deck

    a = 2 ** (1 / 6)                                    # about the relaxed hex constant (1.1132)
    first, moved = COUPLED.format(lo=-6.0, hi=6.0), COUPLED.format(lo=-6.0 + a, hi=6.0 + a)
    (tmp_path / "m.yaml").write_text(moved)
    (tmp_path / "f.yaml").write_text(first)
    n = [Simulation.from_deck(load_deck(tmp_path / p)).model.atoms.n for p in ("f.yaml", "m.yaml")]
    assert n[0] == n[1] == 727
    res = _run(tmp_path, "first", first)
    assert res.exit_code == 0, res.output
    res = _run(tmp_path, "moved", moved, "--from", str(tmp_path / "first.checkpoint.h5"))
    assert res.exit_code == 2, res.output
    assert "reference positions differ" in res.stderr, res.stderr
    res = _run(tmp_path, "moved", moved, "--restart", str(tmp_path / "first.checkpoint.h5"))
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output


def test_restart_compares_the_recorded_sites_with_the_model(tmp_path) -> None:
    """``--restart`` with the SAME deck (its keys pass the deck check) from a checkpoint whose recorded sites
    are not the model's (rewritten here, with a valid checksum): refused at the recorded sites. Review rev28:
    with `model_mismatch` disabled the tests above still passed (the shifted handshake's restart is refused
    earlier, by the deck keys)."""
    from multiscale.output.checkpoint import save_checkpoint

    res = _run(tmp_path, "first", LJ.format(sigma=1.0))
    assert res.exit_code == 0, res.output
    state, meta = load_checkpoint(tmp_path / "first.checkpoint.h5", with_meta=True)
    res = _run(tmp_path, "first", LJ.format(sigma=1.0), "--restart", str(tmp_path / "first.checkpoint.h5"),
               "--overwrite")
    assert res.exit_code == 0, res.output                      # the untouched checkpoint restarts
    model = dict(state[MODEL_ENTRY])
    model["reference_positions"] = model["reference_positions"] * 1.01
    save_checkpoint(tmp_path / "edited.checkpoint.h5", {**state, MODEL_ENTRY: model}, meta=meta)
    res = _run(tmp_path, "first", LJ.format(sigma=1.0), "--restart", str(tmp_path / "edited.checkpoint.h5"),
               "--overwrite")
    assert res.exit_code == 2, res.output
    assert "reference positions differ" in res.stderr, res.stderr
    assert "Traceback" not in res.output
