"""rev32 F4 in `msim run`: a coupled deck whose lattice is not at zero stress at its ``a`` is warned by `msim run`
too (once, rank 0, `warning: ` + the text `msim validate` prints after `warning       `: one function,
`run.summary.prestress_warning`), and lattices with a basis are covered: their stress is the sum over the sites
of the periodic cell (`md.properties.cell_stress`), the zero-stress spacing the cell scaled uniformly (before:
`lattice_prestress` returned None for a basis, so validate said nothing).

The diamond deck: LJ (cut-off 2σ, shift) on a diamond lattice, projected coupling to an isotropic hex8 mesh;
at a = 2.6σ its stress is 0.6 ε/σ³ (|σ|/C11 0.11), zero at a = 2.533037411σ (measured with this code).
External engines (before: None for every lattice) take the stress of their own periodic cell
(`periodic_cell(lattice, basis=True)`): the gallery's decks/wave2d_lammps_cb.yaml (LAMMPS lj/cut, a = 1.1126)
is at |σ|/C11 = 7.2e-4 (zero stress at 1.113201304, the native lattice sums' relaxed a), and a Tersoff Si
diamond deck (LAMMPS) at a = 5.5 Å at 0.031 (zero stress at 5.431230748 Å)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.deck import load_deck
from multiscale.md import properties
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.lj import LennardJones
from multiscale.run.summary import PRESTRESS_WARN, lattice_prestress
from multiscale.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
D17R = ROOT / "tests" / "offpath" / "data" / "rev32_d17r_relaxed.yaml"
A0_DIAMOND = 2.533037411

DIAMOND = """\
msim: 1
units: lj
title: "diamond LJ coupled (prestress warning)"
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.0, truncation: shift}
atoms:
  lattice: {type: diamond, a: A}
  region: {type: box, lo: [-8.7, -8.7, -8.7], hi: [8.7, 8.7, 8.7]}
  mass: 1.0
  skin: 0.3
continuum:
  mesh: {type: box, element: hex8, lo: [-13.0, -13.0, -13.0], hi: [13.0, 13.0, 13.0], size: 2.6,
         hole: {lo: [-2.6, -2.6, -2.6], hi: [2.6, 2.6, 2.6]}}
  material: {type: isotropic, E: 10.0, nu: 0.25}
  density: derived
handshake:
  shape: {type: box, lo: [-3.0, -3.0, -3.0], hi: [3.0, 3.0, 3.0]}
  width: 3.0
  blend: {type: cubic}
  coupling: {type: projected}
integrator: {type: verlet, dt: 0.001, steps: 2}
output: {every: 2, thermo_every: 1}
"""


SI = """\
msim: 1
units: metal
title: "diamond Si Tersoff (LAMMPS) coupled to an isotropic mesh (prestress warning)"
potential: {type: lammps, pair_style: tersoff, pair_coeff: ['* * Si.tersoff Si'], elements: [Si]}
atoms:
  lattice: {type: diamond, a: A}
  region: {type: box, lo: [-13.8, -13.8, -13.8], hi: [13.8, 13.8, 13.8]}
  mass: 28.0855
  skin: 1.0
continuum:
  mesh: {type: box, element: hex8, lo: [-22.0, -22.0, -22.0], hi: [22.0, 22.0, 22.0], size: 4.4,
         hole: {lo: [-3.0, -3.0, -3.0], hi: [3.0, 3.0, 3.0]}}
  material: {type: isotropic, E: 1.0, nu: 0.25}
  density: derived
handshake:
  shape: {type: box, lo: [-4.0, -4.0, -4.0], hi: [4.0, 4.0, 4.0]}
  width: 4.5
  blend: {type: cubic}
  coupling: {type: force_blend}
integrator: {type: verlet, dt: 0.00001, steps: 2, allow_unstable_dt: true}
output: {every: 2, thermo_every: 1}
"""
A0_SI = 5.431230748


def _si(tmp: Path, a: float) -> Path:
    p = tmp / f"si_{a}.yaml"
    p.write_text(SI.replace("a: A", f"a: {a}"))
    return p


def _d17(tmp: Path, a) -> Path:  # noqa: ANN001
    d = yaml.safe_load(D17R.read_text())
    d["atoms"]["lattice"]["a"] = a
    d["integrator"]["steps"] = 2
    d["output"] = {"every": 2, "thermo_every": 1, "fields": ["position"]}
    p = tmp / f"d17_{a}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def _diamond(tmp: Path, a: float) -> Path:
    p = tmp / f"diamond_{a}.yaml"
    p.write_text(DIAMOND.replace("a: A", f"a: {a}"))
    return p


def _validate_text(deck: Path) -> list[str]:
    r = CliRunner().invoke(cli, ["validate", str(deck)])
    assert r.exit_code == 0, r.output
    return [ln[len("warning       "):] for ln in r.output.splitlines()
            if ln.startswith("warning       ") and "not at zero stress" in ln]


def _run_stderr(deck: Path, tmp: Path) -> str:
    """`msim run` as the console script runs it (`cli.main`: msim's warnings as ``warning: ...`` lines)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "multiscale.cli", "run", str(deck), "-o",
                        str(tmp / (deck.stem + ".h5")), "--quiet"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stderr


@pytest.mark.parametrize("kind", ["hex", "diamond", "si_engine"])
def test_run_warns_once_with_validates_text(tmp_path, kind):
    deck = {"hex": lambda: _d17(tmp_path, 1.14), "diamond": lambda: _diamond(tmp_path, 2.6),
            "si_engine": lambda: _si(tmp_path, 5.5)}[kind]()
    text = _validate_text(deck)
    assert len(text) == 1, text
    err = _run_stderr(deck, tmp_path)
    lines = [ln for ln in err.splitlines() if "not at zero stress" in ln]
    assert lines == [f"warning: {text[0]}"], err


@pytest.mark.parametrize("kind", ["hex", "diamond", "si_engine"])
def test_run_and_validate_silent_at_zero_stress(tmp_path, kind):
    deck = {"hex": lambda: _d17(tmp_path, "relaxed"), "diamond": lambda: _diamond(tmp_path, A0_DIAMOND),
            "si_engine": lambda: _si(tmp_path, A0_SI)}[kind]()
    assert _validate_text(deck) == []
    assert "not at zero stress" not in _run_stderr(deck, tmp_path)


def test_basis_lattice_warning_names_the_zero_stress_spacing(tmp_path):
    """The basis deck's figures: |σ|/C11 0.11 at a = 2.6, the cell's zero-stress a, and a hint that does
    not send the user to `a: relaxed` (which takes Bravais lattices only: a deck error for diamond)."""
    m = Simulation.from_deck(load_deck(_diamond(tmp_path, 2.6))).model
    rel, sig, c11 = lattice_prestress(m)
    assert 0.10 < rel < 0.12 and np.allclose(sig, sig[0, 0] * np.eye(3), atol=1e-12), (rel, sig)
    text = _validate_text(_diamond(tmp_path, 2.6))[0]
    assert f"zero stress at a = {A0_DIAMOND:.10g}" in text and "`a: relaxed` takes Bravais lattices only" in text
    m0 = Simulation.from_deck(load_deck(_diamond(tmp_path, A0_DIAMOND))).model
    assert lattice_prestress(m0)[0] < 1e-8 < PRESTRESS_WARN


@pytest.mark.parametrize("kind, a", [("fcc", 1.6), ("hex", 1.14), ("bcc", 1.3), ("square", 1.05)])
def test_cell_stress_is_the_bravais_stress(kind, a):
    """`cell_stress` over a lattice's periodic cell (several sites) equals the Bravais lattice sum
    `properties.stress`, at F = I and under a general F (round-off)."""
    lj = LennardJones(1.0, 1.0, 2.5, "shift")
    lat = Lattice(kind, a)
    L = np.array(lat.periods(), float)
    X = lat.sites_in_box(np.zeros(lat.dim), L)
    F = np.eye(lat.dim) + 0.01 * np.arange(lat.dim ** 2).reshape(lat.dim, lat.dim) / lat.dim ** 2
    for G in (None, F):
        ref = properties.stress(lj, lat, G)
        assert np.max(np.abs(properties.cell_stress(lj, L, X, G) - ref)) < 1e-12 * np.max(np.abs(ref))


def test_engine_prestress_is_the_lattice_sums(tmp_path):
    """An engine's cell (LAMMPS lj/cut, the gallery's wave2d_lammps_cb.yaml, a = 1.1126) gives the native LJ
    lattice sums' stress (truncation: cut, the same forces); validate warns with the zero-stress a of the
    engine cell scaled uniformly (the native `a: relaxed` value) and a hint that does not send the user to
    `a: relaxed` (it needs radial functions); the Si Tersoff diamond: 0.031 at 5.5 Å."""
    deck = ROOT / "decks" / "wave2d_lammps_cb.yaml"
    m = Simulation.from_deck(load_deck(deck)).model
    rel, sig, c11 = lattice_prestress(m)
    ref = properties.stress(LennardJones(1.0, 1.0, 2.5, "cut"), m.lattice)
    assert np.max(np.abs(sig - ref)) < 1e-9 * np.max(np.abs(ref)) and 7.0e-4 < rel < 7.3e-4, (sig, ref, rel)
    text = _validate_text(deck)
    assert len(text) == 1 and "zero stress at a = 1.113201304" in text[0], text
    assert "`a: relaxed` needs a potential's radial functions" in text[0]
    m = Simulation.from_deck(load_deck(_si(tmp_path, 5.5))).model
    rel, sig, _ = lattice_prestress(m)
    assert 0.030 < rel < 0.032 and np.allclose(sig, sig[0, 0] * np.eye(3), atol=1e-9 * abs(sig[0, 0])), (rel, sig)
    assert f"zero stress at a = {A0_SI:.10g}" in _validate_text(_si(tmp_path, 5.5))[0]
