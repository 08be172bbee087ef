"""`msim inspect` / `export` of a checkpoint (OUT.checkpoint.h5, or OUT.lastgood.h5 after a blow-up) said
"not an msim results file (no msim_format attribute)" — false (it has one: msim-checkpoint) and no help on
what to do with the last good state. Now: which step it holds and how to continue from it or look at it;
the hint's recipe (`--from CKPT --steps 1`) is checked to give frame 0 = the checkpoint's state."""

from __future__ import annotations

import json

import h5py
import numpy as np
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.output.checkpoint import fingerprint_differences, load_checkpoint

DECK = """\
msim: 1
units: lj
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: fcc, a: 1.6}
  region: {type: box, lo: [0, 0, 0], hi: [3.2, 3.2, 3.2]}
  boundary: [f, f, f]
  mass: 1.0
  velocity: {temperature: 0.1, seed: 1}
integrator: {type: verlet, dt: 0.002, steps: 6}
output: {every: 2, thermo_every: 2, checkpoint_every: 4, fields: [position, velocity]}
"""


def test_inspect_and_export_name_a_checkpoint(tmp_path) -> None:
    deck = tmp_path / "lj.yaml"
    deck.write_text(DECK)
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "lj.h5"), "--quiet"])
    assert res.exit_code == 0, res.output
    ck = tmp_path / "lj.checkpoint.h5"
    for args in (["inspect", str(ck)], ["export", str(ck), "--format", "extxyz"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 2, res.output
        assert "a checkpoint (step 4), not a results file" in res.output, res.output
        assert "--restart" in res.output and "--from" in res.output
        assert "no msim_format attribute" not in res.output
    # the hint's way to look at the state: a one-step run from it writes the state as frame 0
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "look.h5"), "--quiet",
                                   "--from", str(ck), "--steps", "1"])
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "look.h5", "r") as f:
        x0 = f["frames/atoms/position"][0]
    assert np.array_equal(x0, load_checkpoint(ck)["integrator"]["x"])


def test_digest_unknown_to_an_older_checkpoint_is_not_a_difference() -> None:
    old = {"potential.file (sha256)": json.dumps("unreadable"), "continuum.mesh.file (sha256)":
           json.dumps("unreadable")}
    new = {"potential.file (sha256)": json.dumps("ab" * 32),
           "continuum.mesh.file (sha256)": json.dumps("cd" * 32)}
    diff = fingerprint_differences(old, new)
    assert len(diff) == 1 and diff[0].startswith("continuum.mesh.file (sha256)")
