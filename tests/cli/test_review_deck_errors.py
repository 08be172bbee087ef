"""Deck mistakes that gave an internal error or were accepted by ``msim validate`` (review rev22): each
now exits 2 with file:line and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"


def _msim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "multiscale.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def _write(tmp_path: Path, name: str, deck: dict) -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(deck, sort_keys=False))
    return p


def test_surface_stress_in_1d_is_a_deck_error(tmp_path):
    deck = yaml.safe_load((ROOT / "decks" / "wave1d_damped.yaml").read_text())
    deck["continuum"]["surface_stress"] = {"faces": "free"}
    p = _write(tmp_path, "ss_1d.yaml", deck)
    r = _msim("validate", str(p), cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "ss_1d.yaml:" in r.stderr and "continuum.surface_stress" in r.stderr and "1D" in r.stderr


def test_validate_refuses_a_missing_continued_deck(tmp_path):
    deck = yaml.safe_load((ROOT / "decks" / "indent2d_dyn_T.yaml").read_text())
    deck["integrator"]["continues"] = "nosuch.yaml"
    p = _write(tmp_path, "dynT.yaml", deck)
    r = _msim("validate", str(p), cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "integrator.continues" in r.stderr and "nosuch.yaml" in r.stderr


def test_anharmonic_at_zero_temperature_is_a_deck_error_before_any_md(tmp_path):
    r = _msim("run", str(DATA / "anharmonic_T0.yaml"), "-o", str(tmp_path / "a.h5"), "--steps", "2",
              cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "anharmonic_T0.yaml:" in r.stderr and "continuum.material.anharmonic" in r.stderr


def test_surface_stress_on_a_lattice_with_a_basis_is_a_deck_error(tmp_path):
    """diamond (Tersoff Si through LAMMPS) with continuum.surface_stress: the mirror check and the slab's
    normal-only relaxation assume a Bravais lattice — exit 2 at continuum.surface_stress (review rev23: an
    internal error before)."""
    r = _msim("validate", str(DATA / "diamond_surface_stress.yaml"), cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "continuum.surface_stress" in r.stderr and "Bravais" in r.stderr
