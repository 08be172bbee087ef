"""Deck mistakes that `msim validate` accepted (review rev32 F6, F7, F8): each is now a deck error (exit 2)
naming the file, the line and the key itself, found by `msim validate` as by `msim run`.

- F6: a Langevin thermostat whose `region` holds no atom ran as if there were no thermostat (exit 0);
- F7: a load's vector of the wrong length, a zero indenting direction or an empty region were found only by
  `msim run` and located at the list item `loads[i]`, not at `loads[i].center` etc.;
- F8: a Langevin `damp` below the scheme's stability bound blew up at step 7 (exit 3).

The decks are `decks/bad/_valid.yaml` (2D LJ, coupled, fixed + indenter + Langevin) with one edit; rev32's
reproducers were the 3D EAM decks rev/bad/{thermostat_region_empty,thermostat_damp_tiny,indenter_dim_wrong,
indenter_dir_zero,fixed_empty_region}.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from multiscale.run.summary import langevin_damp_bound

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "decks" / "bad" / "_valid.yaml"
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def _msim(*args: str, cwd: Path, ranks: int = 0) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "multiscale.cli", *args]
    if ranks:
        assert MPIEXEC.exists(), f"{MPIEXEC} missing: pip install 'msim[mpi]'"
        cmd = [str(MPIEXEC), "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd, env=_env())


def _variant(tmp_path: Path, name: str, edit) -> Path:  # noqa: ANN001
    d = yaml.safe_load(VALID.read_text())
    # _valid.yaml is valid as a deck; to build, its atoms must reach cut-off + skin beyond the handshake's
    # outer edge ([4, 36] x [0, 20]): pads then at x in [1.1, 2.8], free atoms from x = 3.3
    d["atoms"]["region"] = {"type": "box", "lo": [0, -4], "hi": [40, 24]}
    edit(d)
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False, default_flow_style=None))
    return p


def _line_of(path: Path, text: str, after: str | None = None) -> int:
    """1-based number of the first line holding ``text`` (after the first line holding ``after``)."""
    lines = path.read_text().splitlines()
    start = 0 if after is None else next(i for i, ln in enumerate(lines) if after in ln)
    return next(i for i, ln in enumerate(lines) if i >= start and text in ln) + 1


def _assert_error(r: subprocess.CompletedProcess, deck: Path, line: int, key: str, words: str) -> None:
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"error: {deck}:{line}:"), r.stderr
    assert f": {key}: " in first, r.stderr
    assert words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def _thermostat(d: dict, **kw) -> None:  # noqa: ANN003
    d["integrator"]["thermostat"] = {**d["integrator"]["thermostat"], **kw}


# ---------------------------------------------------------------- F6: the thermostat's empty region

def test_thermostat_region_with_no_atom_is_refused_by_validate(tmp_path):
    deck = _variant(tmp_path, "th_region_empty", lambda d: _thermostat(
        d, region={"type": "box", "lo": [100, 100], "hi": [101, 101]}))
    r = _msim("validate", str(deck), cwd=tmp_path)
    _assert_error(r, deck, _line_of(deck, "region:", after="thermostat:"), "integrator.thermostat.region",
                  "holds none of the")


def test_thermostat_region_of_pad_atoms_only_is_refused(tmp_path):
    """A region holding only pads (mass 0, moved by the mesh: the thermostat's force on them is zero):
    x < 3 holds pads only (`_variant`)."""
    deck = _variant(tmp_path, "th_region_pads", lambda d: _thermostat(
        d, region={"type": "box", "lo": [-1, -10], "hi": [3.0, 30]}))
    r = _msim("validate", str(deck), cwd=tmp_path)
    _assert_error(r, deck, _line_of(deck, "region:", after="thermostat:"), "integrator.thermostat.region",
                  "only pad atoms")


def test_thermostat_region_with_atoms_is_accepted(tmp_path):
    deck = _variant(tmp_path, "th_region_ok", lambda d: _thermostat(
        d, region={"type": "box", "lo": [10, 6], "hi": [30, 14]}))
    r = _msim("validate", str(deck), cwd=tmp_path)
    assert r.returncode == 0, r.stderr


LJ_MD = """\
msim: 1
units: lj
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5}
atoms:
  lattice: {type: fcc, a: 1.5874}
  cells: [4, 4, 4]
  boundary: [p, p, p]
  mass: 1.0
integrator:
  type: verlet
  dt: 0.005
  steps: 20
  thermostat: {type: langevin, temperature: 1.0, damp: 0.5, region: {type: box, lo: [50, 50, 50], hi: [60, 60, 60]}}
"""


def test_thermostat_region_with_no_atom_is_refused_on_two_ranks(tmp_path):
    """Under mpiexec (plain MD on the distributed engine): one message, exit 2; the model the builder makes
    on every rank holds every atom, so the count is over all ranks."""
    deck = tmp_path / "lj_th_empty.yaml"
    deck.write_text(LJ_MD)
    r = _msim("run", "--quiet", str(deck), "-o", str(tmp_path / "r.h5"), cwd=tmp_path, ranks=2)
    _assert_error(r, deck, 13, "integrator.thermostat.region", "holds none of the 256 atoms")
    assert sum(ln.startswith("error: ") for ln in r.stderr.splitlines()) == 1, r.stderr
    assert not (tmp_path / "r.h5").exists()


# ---------------------------------------------------------------- F8: damp below the stability bound

def _spectral_radius(dt: float, damp: float, omega: float) -> float:
    """The thermostat's velocity Verlet step of one mode, x' = x + dt u, u' = u + dt(−ω² x' − u/damp)
    (u: the half-step velocity the force hooks read), as a 2 × 2 matrix: its spectral radius."""
    h2, c = (omega * dt) ** 2, dt / damp
    A = np.array([[1.0, dt], [-omega**2 * dt, 1.0 - c - h2]])
    return float(np.max(np.abs(np.linalg.eigvals(A))))


@pytest.mark.parametrize("omega_dt", [0.0, 0.3, 1.0, 1.9])
def test_langevin_damp_bound_is_the_schemes_stability_limit(omega_dt):
    dt = 0.002
    dt_atoms = 2.0 * dt / omega_dt if omega_dt > 0 else float("inf")
    b = langevin_damp_bound(dt, dt_atoms)
    omega = omega_dt / dt
    # (ω = 0: the free translation x' = x + dt u keeps an eigenvalue 1 at any damp; the other is 1 − dt/damp)
    assert _spectral_radius(dt, b * 1.001, omega) <= 1.0 + 1e-12
    assert _spectral_radius(dt, b * 0.999, omega) > 1.0 + 1e-4
    if omega_dt == 0.0:
        assert b == pytest.approx(dt / 2, rel=1e-15)


def test_langevin_damp_bound_beyond_the_verlet_limit_is_infinite():
    assert langevin_damp_bound(0.002, 0.002) == float("inf")


def test_damp_below_the_bound_is_refused_by_validate(tmp_path):
    deck = _variant(tmp_path, "damp_tiny", lambda d: _thermostat(d, damp=1.0e-6))
    r = _msim("validate", str(deck), cwd=tmp_path)
    _assert_error(r, deck, _line_of(deck, "damp:", after="thermostat:"), "integrator.thermostat.damp",
                  "stability bound")
    assert "dt/damp + (ω dt)²/2 < 2" in r.stderr


def test_damp_just_above_dt_over_two_is_accepted(tmp_path):
    """dt 0.002: damp 0.0011 (dt/damp = 1.8) is stable for every mode the time-step check allows here
    (measured on rev32's Cu EAM deck d16 at damp 0.0011: 3000 steps at 300 K, mean T 300.9 K; reports/r32fix.md)."""
    deck = _variant(tmp_path, "damp_ok", lambda d: _thermostat(d, damp=0.0011))
    r = _msim("validate", str(deck), cwd=tmp_path)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- F7: loads' mistakes found by validate

def _indenter(d: dict, **kw) -> None:  # noqa: ANN003
    d["loads"][1].update(kw)


@pytest.mark.parametrize("name, edit, key, text, words", [
    ("center_3_in_2d", lambda d: _indenter(d, center=[20, 26, 0]), "loads[1].center", "center:",
     "indenter center has 3 values in 2D"),
    ("direction_zero", lambda d: _indenter(d, direction=[0, 0]), "loads[1].direction", "direction:",
     "indenter direction must be a non-zero vector of 2 values"),
    ("fixed_empty", lambda d: d["loads"][0].update(region={"type": "box", "lo": [-50, -50], "hi": [-45, -45]}),
     "loads[0].region", "region:", "its region selects no atom and no node"),
    ("fixed_component_z", lambda d: d["loads"][0].update(components=["x", "z"]), "loads[0].components",
     "components:", "component 'z' does not exist in 2D"),
])
def test_load_mistakes_are_found_by_validate_at_their_key(tmp_path, name, edit, key, text, words):
    deck = _variant(tmp_path, name, edit)
    after = "type: indenter" if key.startswith("loads[1]") else "type: fixed"
    r = _msim("validate", str(deck), cwd=tmp_path)
    _assert_error(r, deck, _line_of(deck, text, after=after), key, words)
