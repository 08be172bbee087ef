"""``continuum.surface_stress.relax_atoms: true`` on decks where it cannot work: exit 2 at the key, no
traceback. Found off the gallery: a coupled deck whose atoms lie nowhere near the free faces (wave2d: the
core in the middle of the mesh, the free faces its outer boundary) validated and ran with the note "0 atoms
moved": the option silently did nothing. Now that (and an empty face selection) is a deck error; the
refusals that existed (no atoms, 1D, a lattice with a basis) are held here too."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from multiscale.cli import cli

ROOT = Path(__file__).resolve().parents[2]
KEY = "continuum.surface_stress.relax_atoms"


def _wave2d() -> dict:
    d = yaml.safe_load((ROOT / "decks" / "wave2d.yaml").read_text())
    d.pop("expect", None)
    d["continuum"]["mesh"]["size"] = 3.0
    d["integrator"]["steps"] = 10
    d["continuum"]["surface_stress"] = {"relax_atoms": True}
    return d


def _indent() -> dict:
    d = yaml.safe_load((ROOT / "decks" / "indent2d_small.yaml").read_text())
    d.pop("expect", None)
    d["continuum"]["surface_stress"] = {"relax_atoms": True}
    return d


def _no_atoms() -> dict:
    d = _wave2d()
    for k in ("atoms", "handshake"):
        d.pop(k)
    d["continuum"]["mesh"].pop("hole")
    d["continuum"]["mesh"]["size"] = 8.0
    d["continuum"]["material"] = {"type": "isotropic", "E": 1.0, "nu": 0.25}
    d["continuum"]["density"] = 1.0
    d["loads"] = []
    return d


def _one_d() -> dict:
    d = yaml.safe_load((ROOT / "decks" / "wave1d.yaml").read_text())
    d.pop("expect", None)
    d["continuum"]["surface_stress"] = {"relax_atoms": True}
    return d


def _no_faces() -> dict:
    d = _indent()
    d["continuum"]["surface_stress"]["faces"] = []
    return d


def _basis() -> dict:
    d = _wave2d()
    d["atoms"]["lattice"] = {"type": "square", "a": 2.2, "basis": [{"position": [0, 0], "species": "A"},
                                                                   {"position": [0.5, 0.5], "species": "A"}]}
    return d


CASES = {   # deck -> (the key named, words of the message)
    "no_atoms_under_faces": (_wave2d, KEY, "no free atom lies under any of the"),
    "no_faces": (_no_faces, KEY, "no face is selected"),
    "no_atoms": (_no_atoms, KEY, "the deck has no atoms"),
    "one_d": (_one_d, KEY, "needs a 2D or 3D Bravais"),
    "basis": (_basis, "continuum", "2-site basis lattice is not supported"),
}


def _write(tmp_path: Path, d: dict) -> Path:
    p = tmp_path / "deck.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


@pytest.mark.parametrize("case", list(CASES))
def test_refused_at_the_key(tmp_path: Path, case: str) -> None:
    make, key, words = CASES[case]
    deck = _write(tmp_path, make())
    for cmd in (["validate", str(deck)], ["run", str(deck), "--quiet", "-o", str(tmp_path / "r.h5")]):
        res = CliRunner().invoke(cli, cmd)
        assert res.exit_code == 2, (cmd[0], res.output)
        assert "Traceback" not in res.output
        assert f"{deck}:" in res.output and f"{key}: " in res.output and words in res.output, res.output
    assert not (tmp_path / "r.h5").exists()


def test_atoms_at_the_free_surface_are_moved(tmp_path: Path) -> None:
    """The accepted case: indent2d_small's atoms reach its free top face; the note counts the moved atoms."""
    res = CliRunner().invoke(cli, ["validate", str(_write(tmp_path, _indent()))])
    assert res.exit_code == 0, res.output
    line = next(s for s in res.output.splitlines() if f"{KEY}:" in s)
    assert int(line.split(f"{KEY}: ")[1].split()[0]) > 0, line
