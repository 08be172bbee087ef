"""Whole-process runs of msim and LAMMPS on LAMMPS's LJ benchmark inputs (in.lj, in.lj2d), for the
benchmarks that compare the two codes as a user runs them (`bench_md2d.py --whole`, `bench_memory.py`).

- `lj_deck` / `lj_lammps_input`: the same model for both codes: LJ lattice at ρ* = 0.8442 (fcc in 3D,
  hex in 2D), periodic box of whole lattice cells, lj/cut r_c = 2.5σ, skin 0.3σ, T* = 1.44 with seed
  87287, NVE, dt = 0.005τ; the neighbour policy ``every/delay/check`` given once for both.
- `msim_command` / `lmp_command`: ``python -m multiscale.cli run DECK -o OUT --overwrite --quiet`` of the
  repository this file belongs to, and the venv's ``lmp -in INPUT``.
- `run_child`: one child process, its CPU time (user + system), wall time and peak resident set size
  (``os.wait4``: the kernel's accounting of that child only); a failing child stops the benchmark with
  its output.
- `compile_bytecode`: write msim's bytecode cache (``__pycache__``, as ``pip install`` does) so that a
  timed ``msim run`` does not compile its ~150 modules from source (~0.35 s CPU per process when the
  cache is missing, e.g. under ``PYTHONDONTWRITEBYTECODE=1`` in a source checkout).
"""

from __future__ import annotations

import compileall
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RHO = 0.8442
A_FCC = (4.0 / RHO) ** (1.0 / 3.0)              # cubic fcc cell edge at ρ* [σ]
A_HEX = (2.0 / (RHO * math.sqrt(3.0))) ** 0.5       # nearest-neighbour distance of LAMMPS's `lattice hex ρ*`


@dataclass(frozen=True)
class Neighbor:
    """LAMMPS ``neigh_modify every E delay D check C`` and msim's ``atoms.neighbor`` (the same policy)."""

    every: int = 1
    delay: int = 0
    check: bool = True

    def lammps(self) -> str:
        return f"neigh_modify delay {self.delay} every {self.every} check {'yes' if self.check else 'no'}"

    def msim(self) -> str:
        if self == Neighbor():     # msim's default (check every step, rebuild beyond skin/2)
            return ""
        return (f"  neighbor: {{every: {self.every}, delay: {self.delay}, "
                f"check: {'true' if self.check else 'false'}}}\n")


def lj_deck(cells: tuple[int, ...], steps: int, neighbor: Neighbor = Neighbor(), every: int | None = None,
            thermo_every: int | None = None, title: str = "") -> str:
    """msim deck of in.lj (3 cells: fcc) or in.lj2d (2 cells: hex, 2 atoms per rectangular cell)."""
    dim = len(cells)
    kind, a = ("fcc", A_FCC) if dim == 3 else ("hex", A_HEX)
    n = (4 if dim == 3 else 2) * math.prod(cells)
    return f"""msim: 1
units: lj
title: "{title or f'in.lj{"2d" if dim == 2 else ""} equivalent'}: {n} atoms"
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: cut}}
atoms:
  lattice: {{type: {kind}, a: {a!r}}}
  cells: [{", ".join(str(c) for c in cells)}]
  boundary: [{", ".join("p" for _ in cells)}]
  mass: 1.0
  skin: 0.3
{neighbor.msim()}  velocity: {{temperature: 1.44, seed: 87287}}
integrator: {{type: verlet, dt: 0.005, steps: {steps}, threads: 1}}
output:
  every: {every or steps}
  thermo_every: {thermo_every or steps}
"""


def lj_lammps_input(cells: tuple[int, ...], steps: int, neighbor: Neighbor = Neighbor(),
                    thermo_every: int | None = None) -> str:
    """LAMMPS's in.lj (3 cells) / in.lj2d (2 cells) with ``cells`` lattice cells and ``steps`` steps."""
    dim = len(cells)
    if dim == 3:
        head = f"units lj\natom_style atomic\nlattice fcc {RHO}\n"
        box = f"region box block 0 {cells[0]} 0 {cells[1]} 0 {cells[2]}\n"
        tail = ""
    else:
        head = f"units lj\ndimension 2\natom_style atomic\nlattice hex {RHO}\n"
        box = f"region box block 0 {cells[0]} 0 {cells[1]} -0.5 0.5\n"
        tail = "fix 2 all enforce2d\n"
    return (head + box + "create_box 1 box\ncreate_atoms 1 box\nmass 1 1.0\n"
            "velocity all create 1.44 87287 loop geom\npair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\n"
            f"neighbor 0.3 bin\n{neighbor.lammps()}\nfix 1 all nve\n{tail}"
            f"thermo {thermo_every or steps}\nrun {steps}\n")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of both codes' children: one OpenMP / BLAS thread, msim from this repository."""
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=os.fspath(ROOT),
                **extra)


def msim_command(deck: Path | str, out: Path | str) -> list[str]:
    return [sys.executable, "-m", "multiscale.cli", "run", os.fspath(deck), "-o", os.fspath(out),
            "--overwrite", "--quiet"]


def lmp_command(inp: Path | str, log: Path | str | None = None) -> list[str]:
    lmp = shutil.which("lmp", path=os.fspath(Path(sys.executable).parent)) or "lmp"
    return [lmp, "-in", os.fspath(inp), "-log", os.fspath(log) if log else "none", "-screen", "none"]


@dataclass(frozen=True)
class ChildRun:
    cpu: float      # user + system CPU time of the child [s]
    wall: float     # [s]
    rss_mib: float  # peak resident set size [MiB]


def run_child(cmd: list[str], cwd: Path | str, env: dict[str, str]) -> ChildRun:
    """Run ``cmd`` as one child process; exit the benchmark with its output if it fails."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{cmd[0]} failed (exit {code}):\n{out.decode(errors='replace')[-3000:]}")
    return ChildRun(cpu=ru.ru_utime + ru.ru_stime, wall=wall, rss_mib=ru.ru_maxrss / 1024.0)


def compile_bytecode() -> None:
    """Write the bytecode cache of msim's modules (what an installation has; see the module docstring)."""
    if not compileall.compile_dir(os.fspath(ROOT / "multiscale"), quiet=1):
        sys.exit("compileall failed on multiscale/")
