"""Files named in a `lammps` potential's `pair_coeff` lines are hashed into the checkpoint's fingerprint.
Found off the gallery: only deck fields documented as files ("relative to the deck's folder", such as
`potential.file` of eam) were hashed; a Tersoff file edited between a run and its `--restart` (same deck
text) restarted without a word under another potential, and a `--from` of its checkpoint gave no
`ContinuationWarning`. Now the restart is refused naming the file's digest key, and `--from` warns."""

from __future__ import annotations

import json
import shutil
import warnings

from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.deck import load_deck
from multiscale.errors import ContinuationWarning
from multiscale.md.engines.lammps_lib import potentials_dir
from multiscale.output.checkpoint import deck_fingerprint, fingerprint_differences

DECK = """\
msim: 1
units: metal
potential: {type: lammps, pair_style: tersoff, pair_coeff: ["* * Si.tersoff Si"], elements: [Si]}
atoms:
  lattice: {type: diamond, a: 5.432}
  cells: [2, 2, 2]
  boundary: [p, p, p]
  mass: 28.0855
  skin: 1.0
  velocity: {temperature: 300.0, seed: 5}
integrator: {type: verlet, dt: 0.001, steps: 4}
output: {every: 2, thermo_every: 2, checkpoint_every: 2, fields: [position, velocity]}
"""


def _soften(path) -> None:
    """Change the Tersoff file's first numeric parameter line a little (another potential, same name)."""
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        words = line.split()
        if len(words) > 3 and words[0] == "Si" and not line.lstrip().startswith("#"):
            words[-1] = repr(float(words[-1]) * 1.01)        # the last number of the line (n)
            lines[i] = " ".join(words) + "\n"
            break
    else:
        raise AssertionError("no parameter line found")
    path.write_text("".join(lines))


def _run(tmp_path, *extra: str):  # noqa: ANN202
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, ["run", str(tmp_path / "si.yaml"), "--quiet", *extra])
    # the deck's atoms.velocity is not applied by --from and says so (rev32 F10,
    # tests/output/test_continuation_periodic.py): not the model-change warnings these tests count
    return res, [w for w in caught if issubclass(w.category, ContinuationWarning)
                 and "atoms.velocity" not in str(w.message)]


def test_fingerprint_holds_the_pair_coeff_file(tmp_path) -> None:
    (tmp_path / "si.yaml").write_text(DECK)
    fp = deck_fingerprint(load_deck(tmp_path / "si.yaml"))        # the wheel's file
    assert "potential.pair_coeff[0] Si.tersoff (sha256)" in fp
    shutil.copy(potentials_dir() / "Si.tersoff", tmp_path / "Si.tersoff")
    assert deck_fingerprint(load_deck(tmp_path / "si.yaml")) == fp   # the deck's copy: the same content
    _soften(tmp_path / "Si.tersoff")
    diff = fingerprint_differences(fp, deck_fingerprint(load_deck(tmp_path / "si.yaml")))
    assert len(diff) == 1 and diff[0].startswith("potential.pair_coeff[0] Si.tersoff (sha256)")
    # a record of an earlier msim, which did not hash pair_coeff files: nothing to compare, no refusal
    old = {k: v for k, v in fp.items() if "pair_coeff[0] " not in k}
    assert fingerprint_differences(old, fp) == []
    assert json.loads(fp["potential.pair_coeff[0] Si.tersoff (sha256)"]) != "unreadable"


def test_restart_with_a_changed_pair_coeff_file_is_refused(tmp_path) -> None:
    (tmp_path / "si.yaml").write_text(DECK)
    shutil.copy(potentials_dir() / "Si.tersoff", tmp_path / "Si.tersoff")
    out = tmp_path / "si.h5"
    res, _ = _run(tmp_path, "-o", str(out))
    assert res.exit_code == 0, res.output
    ck = tmp_path / "si.checkpoint.h5"
    assert ck.exists()
    res, caught = _run(tmp_path, "-o", str(tmp_path / "next.h5"), "--from", str(ck))
    assert res.exit_code == 0, res.output
    assert not caught
    _soften(tmp_path / "Si.tersoff")
    res, _ = _run(tmp_path, "-o", str(out), "--restart", str(ck), "--steps", "6")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "cannot restart" in res.stderr and "potential.pair_coeff[0] Si.tersoff (sha256)" in res.stderr
    res, caught = _run(tmp_path, "-o", str(tmp_path / "next2.h5"), "--from", str(ck))
    assert res.exit_code == 0, res.output
    assert len(caught) == 1 and "pair_coeff[0] Si.tersoff (sha256)" in str(caught[0].message)
