"""Force-engine bridge overhead: msim driving LAMMPS (``potential: {type: lammps}``) against LAMMPS running
the same potential alone.

System: diamond Si, Tersoff (``Si.tersoff``), 10^3 conventional cells = 8 000 atoms, periodic, a = 5.431 Å,
velocities for 600 K, 100 NVE steps of 1 fs, neighbour skin 1 Å checked every step (``every 1 delay 0
check yes`` on both sides), one thread / one MPI rank each.

- LAMMPS alone: ``velocity all create``, ``fix nve``, an untimed ``run 0``, then timed ``run 100 pre no``
  (100 force evaluations).
- msim: a pure-MD deck with the lammps potential, `Simulation.prepare()` untimed (first force evaluation),
  then 100 timed steps of msim's velocity Verlet (`VelocityVerlet.step`), each one force call into the
  persistent LAMMPS instance (positions in, forces and per-atom energies out) plus msim's own per-step
  work (integration, neighbour-list displacement check of its region, energy bookkeeping).

Prints both CPU times of this process (``time.process_time``: on a shared, loaded machine wall time
mostly measures the other processes; both codes run serially in this process; median of ``--repeat``
runs) and the ratio msim / LAMMPS (target <= 1.2). Measured (load average 9–14 on the shared 2-core machine):
1.71 before the bridge kept LAMMPS's own periodic images (every call wrapped the positions into the box, so
each atom crossing a periodic face forced a LAMMPS neighbour rebuild), 1.18, 1.18, 1.22 in three
measurements after (1.07–1.11 against
LAMMPS alone with the same per-atom energy tally); 1.178 (1.136 against LAMMPS + pe/atom) at load 5.7, medians of 3
(2026-12-06). Where the rest goes (cProfile): msim's own neighbour-list builds of the region (unused by the engine;
~2–3 %, 3–5 builds per 100 steps) and the per-atom energy tally (~4–10 %), not the bridge's Python per call.
Usage:  .venv/bin/python benchmarks/bench_engine.py [--repeat 3] [--cells 10] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from multiscale.deck.deck import deck_from_dict  # noqa: E402
from multiscale.md.engines.lammps_lib import new_instance, potentials_dir  # noqa: E402
from multiscale.simulation import Simulation  # noqa: E402

A = 5.431


def lammps_alone(cells: int, steps: int, peratom: bool = False) -> tuple[float, int, float]:
    """(wall time of `run steps`, atoms, final pe) of LAMMPS running the system by itself; ``peratom``:
    with per-atom energies tallied at every step as msim asks of its engine (``compute pe/atom`` reduced
    in the thermo output of every step)."""
    lmp = new_instance()
    L = cells * A
    for c in ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
              f"lattice diamond {A}", f"region b block 0 {cells} 0 {cells} 0 {cells}", "create_box 1 b",
              "create_atoms 1 box", "mass 1 28.0855", "pair_style tersoff",
              f"pair_coeff * * {potentials_dir() / 'Si.tersoff'} Si",
              "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
              "velocity all create 600.0 4242 mom yes rot no dist gaussian", "fix 1 all nve",
              "timestep 0.001",
              *(["compute pa all pe/atom", "compute s all reduce sum c_pa", "thermo_style custom step pe c_s",
                 "thermo 1"] if peratom else [f"thermo {steps}"]),
              "run 0"]:
        lmp.command(c)
    n = lmp.get_natoms()
    assert abs(lmp.extract_box()[1][0] - L) < 1e-9
    t0 = time.process_time()
    lmp.command(f"run {steps} pre no post no")
    t = time.process_time() - t0
    pe = lmp.get_thermo("pe")
    lmp.close()
    return t, n, pe


def msim_engine(cells: int, steps: int) -> tuple[float, int, float]:
    L = cells * A
    deck = deck_from_dict({
        "msim": 1, "units": "metal",
        "potential": {"type": "lammps", "pair_style": "tersoff", "pair_coeff": ["* * Si.tersoff Si"],
                      "skin": 1.0},
        "atoms": {"lattice": {"type": "diamond", "a": A}, "region": {"type": "box", "lo": [0.0] * 3,
                                                                    "hi": [L] * 3},
                  "boundary": ["p", "p", "p"], "mass": 28.0855, "skin": 1.0,
                  "velocity": {"temperature": 600.0, "seed": 4242}},
        "integrator": {"type": "verlet", "dt": 0.001, "steps": steps},
    }, "bench_engine")
    sim = Simulation.from_deck(deck, threads=1)
    sim.prepare()
    t0 = time.process_time()
    sim.integrator.step(steps)
    t = time.process_time() - t0
    return t, sim.model.atoms.n, float(sim.model.atoms.energy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cells", type=int, default=10)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    tl, tp, tm = [], [], []
    for _ in range(args.repeat):
        t, n, pe_l = lammps_alone(args.cells, args.steps)
        tl.append(t)
        t, _, _ = lammps_alone(args.cells, args.steps, peratom=True)
        tp.append(t)
        t, nm, pe_m = msim_engine(args.cells, args.steps)
        tm.append(t)
        assert nm == n, (nm, n)
    l, p, m = float(np.median(tl)), float(np.median(tp)), float(np.median(tm))

    def runs(v: list[float]) -> str:
        return ", ".join(f"{x:.3f}" for x in v)

    print(f"Tersoff Si, {n} atoms, {args.steps} NVE steps, 1 thread")
    print(f"  LAMMPS alone                  {l:8.3f} s   (runs: {runs(tl)}; final pe {pe_l:.6g} eV)")
    print(f"  LAMMPS alone + pe/atom        {p:8.3f} s   (runs: {runs(tp)})")
    print(f"  msim + LAMMPS                 {m:8.3f} s   (runs: {runs(tm)}; final pe {pe_m:.6g} eV)")
    print(f"  ratio msim / LAMMPS alone     {m / l:8.3f}   (target <= 1.2)")
    print(f"  ratio msim / LAMMPS + pe/atom {m / p:8.3f}   (the bridge itself)")


if __name__ == "__main__":
    main()
