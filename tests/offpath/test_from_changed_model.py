"""``msim run NEXT.yaml --from EARLIER.h5``: a continuation keeps the model. Found off the gallery: a B2
CuZr run continued with a deck naming other species on the same sites (Al, Fe from AlFe_mm.eam.fs) ran
without a word (exit 0) — the state's velocities carried over to atoms of other masses and another
potential. Now the species of every atom must match (results file: exit 2), and a changed potential
section (or potential file content, from a checkpoint) is a warning (`ContinuationWarning`): legitimate,
but the forces change at step 0."""

from __future__ import annotations

import warnings

import pytest
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.errors import ContinuationWarning

ALLOY = """\
msim: 1
units: metal
potential: {{type: eam, file: AlCu.eam.alloy, elements: [Al, Cu]}}
atoms:
  lattice: {{type: b2, a: 2.95}}
  species: [{s0}, {s1}]
  region: {{type: box, lo: [0, 0, 0], hi: [5.9, 5.9, 5.9]}}
  boundary: [f, f, f]
  mass: {{Al: 26.98, Cu: 63.546}}
  velocity: {{temperature: 300.0, seed: 1}}
integrator: {{type: verlet, dt: 0.001, steps: 4}}
output: {{every: 2, thermo_every: 2, checkpoint_every: 4, fields: [position, velocity]}}
"""

LJ = """\
msim: 1
units: lj
potential: {{type: lj, epsilon: {eps}, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: fcc, a: 1.6}}
  region: {{type: box, lo: [0, 0, 0], hi: [3.2, 3.2, 3.2]}}
  boundary: [f, f, f]
  mass: 1.0
  velocity: {{temperature: {T}, seed: 1}}
integrator: {{type: verlet, dt: 0.002, steps: 4}}
output: {{every: 2, thermo_every: 2, checkpoint_every: 4, fields: [position, velocity]}}
"""


def _run(tmp_path, name: str, text: str, *extra: str):  # noqa: ANN202
    deck = tmp_path / f"{name}.yaml"
    deck.write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / f"{name}.h5"), "--quiet",
                                       *extra])
    # the deck's atoms.velocity is not applied by --from and says so (rev32 F10,
    # tests/output/test_continuation_periodic.py): not the model-change warnings these tests count
    return res, [w for w in caught if issubclass(w.category, ContinuationWarning)
                 and "atoms.velocity" not in str(w.message)]


def test_other_species_on_the_same_sites_are_refused(tmp_path) -> None:
    res, _ = _run(tmp_path, "first", ALLOY.format(s0="Al", s1="Cu"))
    assert res.exit_code == 0, res.output
    res, _ = _run(tmp_path, "swapped", ALLOY.format(s0="Cu", s1="Al"), "--from", str(tmp_path / "first.h5"))
    assert res.exit_code == 2, res.output
    assert "the species of" in res.output and "differ" in res.output
    res, _ = _run(tmp_path, "same", ALLOY.format(s0="Al", s1="Cu"), "--from", str(tmp_path / "first.h5"))
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("source", ["first.h5", "first.checkpoint.h5"])
def test_a_changed_potential_is_a_warning(tmp_path, source: str) -> None:
    res, _ = _run(tmp_path, "first", LJ.format(eps=1.0, T=0.1))
    assert res.exit_code == 0, res.output
    res, caught = _run(tmp_path, "hotter", LJ.format(eps=1.0, T=0.5), "--from", str(tmp_path / source))
    assert res.exit_code == 0, res.output
    assert not caught      # temperature, loads, ... may change (atoms.velocity: its own note, filtered in _run)
    res, caught = _run(tmp_path, "stronger", LJ.format(eps=1.5, T=0.1), "--from", str(tmp_path / source))
    assert res.exit_code == 0, res.output
    assert len(caught) == 1
    assert "potential.epsilon: 1.0 -> 1.5" in str(caught[0].message)


def test_a_checkpoint_of_another_lattice_is_refused(tmp_path) -> None:
    """A checkpoint holds no reference positions: its deck's model keys are compared. Found off the gallery:
    a B2 CuZr crystal continued from a checkpoint with `a` 3.26 -> 3.30 (periodic box 19.56 -> 19.8 Å, the
    same atom count) ran without a word; from the results file it was refused."""
    res, _ = _run(tmp_path, "first", LJ.format(eps=1.0, T=0.1))
    assert res.exit_code == 0, res.output
    wider = LJ.format(eps=1.0, T=0.1).replace("a: 1.6}", "a: 1.62}").replace("hi: [3.2, 3.2, 3.2]",
                                                                            "hi: [3.24, 3.24, 3.24]")
    for source in ("first.checkpoint.h5", "first.h5"):
        res, _ = _run(tmp_path, "wider", wider, "--from", str(tmp_path / source), "--overwrite")
        assert res.exit_code == 2, (source, res.output)
        assert "does not match" in res.output
    res, _ = _run(tmp_path, "again", LJ.format(eps=1.0, T=0.3), "--from",
                  str(tmp_path / "first.checkpoint.h5"))
    assert res.exit_code == 0, res.output


def test_a_results_file_with_the_placeholder_species_continues(tmp_path) -> None:
    """Review rev25: a results file written before one-species engine decks took their type name from the
    potential's `elements` names its atoms X; continuing it under the same deck (now naming them Si, Al, ...)
    is not a change of species. Any other name still is."""
    import h5py

    res, _ = _run(tmp_path, "first", ALLOY.format(s0="Al", s1="Cu"))
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "first.h5", "r+") as f:
        names = f["static/atoms/type_names"]
        names[...] = [b"X"] * len(names)
    res, _ = _run(tmp_path, "second", ALLOY.format(s0="Al", s1="Cu"), "--from", str(tmp_path / "first.h5"))
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "first.h5", "r+") as f:
        names = f["static/atoms/type_names"]
        names[...] = [b"Ni"] + [b"X"] * (len(names) - 1)
    res, _ = _run(tmp_path, "third", ALLOY.format(s0="Al", s1="Cu"), "--from", str(tmp_path / "first.h5"))
    assert res.exit_code == 2 and "species" in res.output, res.output


def test_the_same_structure_file_by_another_path_continues(tmp_path) -> None:
    """Review rev26: from a checkpoint the deck's `atoms.file` path text was compared besides the file's
    content digest, so the same data file reached through another relative (or an absolute) path was
    refused (exit 2) — from the results file it was accepted. Files are compared by content now; a changed
    file is still refused."""
    import shutil
    from pathlib import Path

    decks = Path(__file__).resolve().parents[2] / "decks"
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "data").mkdir(parents=True)
    b.mkdir()
    shutil.copy(decks / "data" / "ni3al_l12_defects.data", a / "data")
    text = (decks / "ni3al_file_md.yaml").read_text().replace("steps: 2000", "steps: 4").replace(
        "every: 250", "every: 2\n  checkpoint_every: 4")
    text = text[:text.index("expect:")]
    res, _ = _run(a, "first", text)
    assert res.exit_code == 0, res.output
    ck = str(a / "first.checkpoint.h5")
    for i, path in enumerate(("../a/data/ni3al_l12_defects.data", str(a / "data" / "ni3al_l12_defects.data"))):
        res, _ = _run(b, f"other{i}", text.replace("data/ni3al_l12_defects.data", path), "--from", ck)
        assert res.exit_code == 0, (path, res.output)
    data = a / "data" / "ni3al_l12_defects.data"
    data.write_text(data.read_text() + "\n")          # one byte more: another file
    res, _ = _run(b, "changed", text.replace("data/ni3al_l12_defects.data", "../a/data/ni3al_l12_defects.data"),
                  "--from", ck)
    assert res.exit_code == 2 and "atoms.file (sha256)" in res.output, res.output


@pytest.mark.parametrize("source", ["first.h5", "first.checkpoint.h5"])
def test_a_changed_mass_is_a_warning(tmp_path, source: str) -> None:
    """Review rev26: a doubled mass continued without a word (the velocities are kept: the kinetic energy
    37.40 -> 74.81 at step 0). It is a `ContinuationWarning` now, from a results file (per-atom masses) and
    from a checkpoint (the deck's mass keys)."""
    res, _ = _run(tmp_path, "first", LJ.format(eps=1.0, T=0.1))
    assert res.exit_code == 0, res.output
    res, caught = _run(tmp_path, "same", LJ.format(eps=1.0, T=0.1), "--from", str(tmp_path / source))
    assert res.exit_code == 0 and not caught, res.output
    res, caught = _run(tmp_path, "heavy", LJ.format(eps=1.0, T=0.1).replace("mass: 1.0", "mass: 2.0"),
                       "--from", str(tmp_path / source))
    assert res.exit_code == 0, res.output
    assert len(caught) == 1 and "masses" in str(caught[0].message), [str(w.message) for w in caught]


def test_the_same_potential_spelled_otherwise_is_no_change(tmp_path) -> None:
    """Review rev26: from a results file the potential section was compared as written, so `epsilon: 1`
    against `1.0` (or a key left at its default) warned that the potential differs. It is compared after
    the deck schema's validation now, as from a checkpoint; a real change still warns."""
    res, _ = _run(tmp_path, "first", LJ.format(eps="1.0", T=0.1))
    assert res.exit_code == 0, res.output
    res, caught = _run(tmp_path, "int", LJ.format(eps="1", T=0.1), "--from", str(tmp_path / "first.h5"))
    assert res.exit_code == 0 and not caught, [str(w.message) for w in caught]
    res, caught = _run(tmp_path, "other", LJ.format(eps="1.25", T=0.1), "--from", str(tmp_path / "first.h5"))
    assert len(caught) == 1 and "potential.epsilon: 1.0 -> 1.25" in str(caught[0].message)


@pytest.mark.parametrize("source", ["results", "checkpoint"])
def test_other_unit_system_is_refused(tmp_path, source: str) -> None:
    """rev32 F2: the LJ deck run in metal units, continued by the same deck in lj units (same sites,
    species and potential numbers), started with the metal run's Å/ps velocities read as σ/τ (kinetic
    energy 0.697 eV → 6 727) without a word. Now exit 2 at the deck's `units` key, naming both systems;
    the same units still continue."""
    metal = LJ.format(eps=1.0, T=0.5).replace("units: lj", "units: metal").replace("dt: 0.002", "dt: 0.0002")
    res, _ = _run(tmp_path, "first", metal)
    assert res.exit_code == 0, res.output
    src = tmp_path / ("first.h5" if source == "results" else "first.checkpoint.h5")
    res, _ = _run(tmp_path, "next", LJ.format(eps=1.0, T=0.5), "--from", str(src))
    assert res.exit_code == 2, res.output
    assert "units: --from: the state was written in metal units, this deck is in lj units" in res.output
    assert "next.yaml:2:" in res.output
    res, _ = _run(tmp_path, "same", metal, "--from", str(src))
    assert res.exit_code == 0, res.output
