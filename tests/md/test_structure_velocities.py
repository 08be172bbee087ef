"""Velocities of a structure file (``atoms.file``) are the initial velocities unless the deck sets
``atoms.velocity`` (rev32 F11: they were dropped, a 600 K LAMMPS state started at 0 K).

- a LAMMPS data file written by LAMMPS's own ``write_data`` after ``velocity all create 600.0`` (a
  ``Velocities`` section, metal units Å/ps, atoms listed out of id order): msim's initial velocities are
  the file's numbers, parsed here by hand, to 1e-12 relative; the kinetic temperature is LAMMPS's 600 K;
- ``atoms.velocity`` given: the file's velocities are replaced (Maxwell-Boltzmann at the deck's T) and a
  note says so;
- msim's own extxyz export (``momenta`` / ``velo``) read back: the velocities of the exported frame.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from multiscale import Simulation
from multiscale.build import build_model
from multiscale.deck import load_deck, load_deck_text
from multiscale.md.velocities import kinetic_temperature
from multiscale.output.extxyz import write_extxyz
from multiscale.output.reader import ResultsReader

DATA = Path(__file__).resolve().parent / "data" / "cu_vel.data"

DECK = """\
msim: 1
units: metal
potential: {{type: eam_zhou, element: Cu}}
atoms:
  file: {file}
  skin: 1.0
{extra}integrator: {{type: verlet, dt: 0.002, steps: 10}}
"""


def _deck(tmp_path: Path, file: Path, extra: str = "species: [Cu]\n", name: str = "d.yaml") -> Path:
    p = tmp_path / name
    p.write_text(DECK.format(file=file, extra=textwrap.indent(extra, "  ")))
    return p


def _lammps_velocities(path: Path) -> np.ndarray:
    """The ``Velocities`` section of a LAMMPS data file, rows sorted by atom id [Å/ps]."""
    lines = path.read_text().splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.strip().startswith("Velocities")) + 2
    rows = []
    for ln in lines[i:]:
        if not ln.strip():
            break
        rows.append([float(t) for t in ln.split()[:4]])
    rows = np.array(rows)
    return rows[np.argsort(rows[:, 0]), 1:4]


def test_lammps_data_velocities_are_the_initial_state(tmp_path):
    ref = _lammps_velocities(DATA)
    assert len(ref) == 256 and np.abs(ref).max() > 1.0
    m = build_model(load_deck(_deck(tmp_path, DATA)))
    v = np.asarray(m.atoms.v)
    np.testing.assert_allclose(v, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    T = kinetic_temperature(v, np.asarray(m.system.atom_mass), m.units.boltz)
    assert abs(T - 600.0) < 0.1, T            # LAMMPS `velocity all create 600.0` (dof 3N − 3)
    assert any("initial velocities are the ones in cu_vel.data" in n for n in m.notes), m.notes


def test_atoms_velocity_replaces_the_files(tmp_path):
    extra = "species: [Cu]\nvelocity: {temperature: 100.0, seed: 3}\n"
    m = build_model(load_deck(_deck(tmp_path, DATA, extra)))
    v = np.asarray(m.atoms.v)
    T = kinetic_temperature(v, np.asarray(m.system.atom_mass), m.units.boltz)
    assert abs(T - 100.0) < 1e-6, T
    assert any("replaced by atoms.velocity" in n for n in m.notes), m.notes


def test_msim_extxyz_export_round_trips_the_velocities(tmp_path):
    src = DECK.format(file=DATA, extra="  species: [Cu]\n").replace(
        "steps: 10}", "steps: 10}\noutput: {every: 10, fields: [displacement, velocity]}")
    out = tmp_path / "run.h5"
    Simulation.from_deck(load_deck_text(src, str(tmp_path / "run.yaml")), threads=1).run(
        output=out, progress="quiet")
    with ResultsReader(out) as r:
        v_last = np.asarray(r.field("atoms", "velocity", -1))
    xyz = write_extxyz(out, tmp_path / "last.xyz", frames=slice(-1, None))
    m = build_model(load_deck(_deck(tmp_path, xyz, extra="", name="e.yaml")))
    # the atoms keep their order through the export; extxyz holds 8 decimals
    np.testing.assert_allclose(np.asarray(m.atoms.v), v_last, rtol=0, atol=1e-6)
    assert np.abs(v_last).max() > 1.0
