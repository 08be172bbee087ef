"""Cost of one step of a COUPLED deck on P ranks (replicated-data run, `multiscale/parallel/replicated.py`).

    mpiexec -n 2 .venv/bin/python benchmarks/bench_mpi_coupled.py decks/wave2d.yaml --steps 100 [--scale 2]
    .venv/bin/python benchmarks/bench_mpi_coupled.py decks/wave2d.yaml --steps 100       # 1 rank
    mpiexec -n 2 .venv/bin/python benchmarks/bench_mpi_coupled.py --bench2d 148 --steps 40
        # the 2D model of benchmarks/bench_coupled.py --only 2d (73 677 atoms, 30 096 tri3 nodes)

Every rank steps the whole model with the serial integrator. Split over the ranks: the atoms' pair forces
(`parallel.split_forces.SplitPairForces`: one Allgatherv of the owned rows, n(d+1) doubles) and the
continuum's node forces (`parallel.split_continuum.SplitContinuum`: one Allgatherv of the owned nodes'
forces, chunk energies and element energies; ``--no-split-continuum`` keeps it replicated). On one rank the
same classes run over one rank (every row), so the instrumentation is the same.

Reported per step (medians of ``--repeat`` blocks of ``--steps`` steps, rank 0, wall time
``time.perf_counter``; ``--cpu``: the parts in CPU time): wall, CPU time of the process, pair kernel,
continuum kernel, waiting for the slowest rank before each gather (a barrier: measured separately so that
the gathers are the transfer), the gathers (with the continuum riding on the atoms' gather, the
"continuum gather" is its unpacking), the
constraint work (acceleration correction = residual + triangular solves + correction, and the round-off
re-projection of G q), pads (pad positions/velocities from the nodes, pad forces → nodes), kick/drift of
the atoms and of the nodes (kernel calls), and the rest (neighbour-list policy, coupling forces, loads,
booking, Python). Then the cost of the alternative of step (2) of issue 14 (dividing the atoms'
kick/drift): an Allgatherv of the positions, n·d doubles, timed in the same run (median of 20), against
the (1 − 1/P) share of the atoms' kick/drift it would save. ``--bench2d L``: the 2D deck of
bench_coupled.py (half-width L), started with the same small random velocities (0.01, seed 1, projected).
``--scale s`` multiplies a deck's atomistic region, mesh, handshake and pulse by s.

Measured 2026-12-06 (load average 11-21 on the shared 2-core machine; docs/parallel.md "Measured cost of the
coupled step" has the tables): bench2d, 1 rank, CPU: 8.5 ms per step, pair kernel 5.0, continuum 0.9,
constraints 0.7, kick/drift 0.7, pads 0.2, rest 0.6 (replicated share 0.27: Amdahl S(2) <= 1.57); on 2
ranks pair 3.2 and continuum 0.7 ms per rank. Wall 1 -> 2 ranks: 46.1 / 33.5 -> 29.7 / 32.6 ms at load
12, 52-54 -> 102-259 ms at load 18-21 (the gather waits for the descheduled other rank).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def scaled_deck(path: Path, s: float, tmp: Path) -> Path:
    d = yaml.safe_load(path.read_text())
    d.pop("expect", None)
    if s != 1.0:
        def mul(sec: dict) -> None:
            for k in ("lo", "hi"):
                if k in sec:
                    sec[k] = [s * float(v) for v in sec[k]]
        mul(d["atoms"]["region"])
        mul(d["continuum"]["mesh"])
        if "hole" in d["continuum"]["mesh"]:
            mul(d["continuum"]["mesh"]["hole"])
        mul(d["handshake"]["shape"])
    out = tmp / f"bench_{os.getpid()}_{path.name}"
    out.write_text(yaml.safe_dump(d, sort_keys=False))
    return out


class Timer:
    """Accumulated seconds per name; ``wrap(obj, attr, name)`` times an instance's method."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def add(self, name: str, dt: float) -> None:
        self.t[name] = self.t.get(name, 0.0) + dt

    def wrap(self, obj, attr: str, name: str) -> None:  # noqa: ANN001
        fn = getattr(obj, attr)

        def timed(*a, **k):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.add(name, time.perf_counter() - t0)
        setattr(obj, attr, timed)


class KernelProxy:
    """The integrator's kernel module with kick_drift / acc_kick timed, atoms and nodes apart (by the
    identity of the velocity array passed)."""

    def __init__(self, mod, timer: Timer, v_atoms) -> None:  # noqa: ANN001
        self._mod, self._timer, self._va = mod, timer, v_atoms

    def __getattr__(self, name: str):  # noqa: ANN204
        fn = getattr(self._mod, name)
        if name not in ("kick_drift", "acc_kick"):
            return fn

        def timed(v, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return fn(v, *a, **k)
            finally:
                base = v.base if v.base is not None else v
                who = "atoms" if (v is self._va or base is self._va) else "nodes"
                self._timer.add(f"kick/drift {who}", time.perf_counter() - t0)
        return timed


def time_allgather(comm, n_doubles: int, reps: int = 20) -> float:  # noqa: ANN001
    """Median seconds of an Allgatherv of n_doubles in blocks (barrier before each: transfer only)."""
    if comm.size < 2:
        return 0.0
    P, MPI = comm.size, comm.MPI
    b = (np.arange(P + 1) * n_doubles) // P
    out = np.empty(n_doubles)
    mine = np.zeros(int(b[comm.rank + 1] - b[comm.rank]))
    ts = []
    for _ in range(reps):
        comm.comm.Barrier()
        t0 = time.perf_counter()
        comm.comm.Allgatherv(mine, [out, np.diff(b).tolist(), b[:-1].tolist(), MPI.DOUBLE])
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


PARTS = ("pair kernel", "pair wait", "pair gather", "continuum kernel", "continuum wait", "continuum gather",
         "constraints", "pads", "kick/drift atoms", "kick/drift nodes")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("deck", nargs="?")
    ap.add_argument("--bench2d", type=float, default=None, metavar="L",
                    help="the 2D deck of bench_coupled.py of half-width L (148: 73 677 atoms)")
    ap.add_argument("--steps", type=int, default=100, help="steps per timed block")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--no-split-continuum", action="store_true", help="keep the continuum replicated")
    ap.add_argument("--separate-gathers", action="store_true",
                    help="the continuum's own Allgatherv instead of riding on the atoms' one")
    ap.add_argument("--cpu", action="store_true",
                    help="the parts in CPU time of the process (time.process_time; waiting in MPI polls, "
                         "so it counts too), the wall time of the step as always")
    args = ap.parse_args()
    wall_clock = time.perf_counter
    if args.cpu:        # every part timer (benchmark and the splits' stats) reads the process's CPU clock
        time.perf_counter = time.process_time

    from multiscale.deck import load_deck
    from multiscale.deck.deck import load_deck_text
    from multiscale.parallel.comm import SerialComm, get_comm
    from multiscale.parallel.replicated import ReplicatedComm
    from multiscale.parallel.split_continuum import SplitContinuum
    from multiscale.parallel.split_forces import split_forces
    from multiscale.plugins import load_all
    from multiscale.simulation import Simulation

    load_all()
    comm = get_comm()
    if args.bench2d is not None:
        from bench_coupled import deck as bench_deck
        name = f"bench2d L={args.bench2d:g}"
        sim = Simulation.from_deck(load_deck_text(bench_deck(2, args.bench2d, True)), threads=1, comm=comm)
    else:
        tmp = Path(os.environ.get("TMPDIR", "/tmp"))
        deck = scaled_deck(Path(args.deck), args.scale, tmp) if comm.rank == 0 else None
        deck = comm.bcast(deck, 0) if comm.size > 1 else deck
        name = f"{Path(args.deck).name} scale {args.scale:g}"
        sim = Simulation.from_deck(load_deck(deck), threads=1, comm=comm)
        if comm.size > 1:
            comm.barrier()
        if comm.rank == 0 and args.scale != 1.0:
            Path(deck).unlink(missing_ok=True)
    sim.decompose = "replicated"    # the replicated-data run (the default, auto, may take the spatial path)
    sim.prepare()
    m = sim.model
    s = m.system
    if comm.size == 1:          # the same instrumentation on one rank: split over 1 rank = every row
        rc = ReplicatedComm(SerialComm())
        sim.split = split_forces(m.atoms, rc).install()
        sim.split_continuum = SplitContinuum(m.continuum, rc).install() \
            if SplitContinuum.supports(m.continuum, s.method) else None
        if sim.split_continuum is not None:
            sim.split.partner = sim.split_continuum
    if args.no_split_continuum and sim.split_continuum is not None:
        del m.continuum.compute             # back to the class's (serial, replicated) compute
        sim.split_continuum = sim.split.partner = None
    if args.separate_gathers:
        sim.split.partner = None
    if args.bench2d is not None:
        rng = np.random.default_rng(1)
        s.atoms.v[s.free] = 0.01 * rng.standard_normal((s.n_free, s.d))
        sim.integrator.project_state()
    split, scont = sim.split, sim.split_continuum
    split.measure_wait = True
    if scont is not None:
        scont.measure_wait = True
    integ = sim.integrator
    timer = Timer()
    if integ._local:
        timer.wrap(integ, "_acc_correction", "constraints")
        timer.wrap(integ, "_reproject_q", "constraints")
        timer.wrap(integ, "_acc_correction_and_check", "constraints")     # the check after the forces
    timer.wrap(s, "update_pads", "pads")
    timer.wrap(s, "pad_forces_to_nodes", "pads")
    integ._k = KernelProxy(integ._k, timer, s.atoms.v)
    integ._ck = KernelProxy(integ._ck, timer, s.atoms.v)
    integ.step(3)               # warm-up (initial forces, first-call allocations)

    def snapshot() -> dict:
        st, out = split.stats, dict(timer.t)
        out.update({"pair kernel": st["t_force"], "pair wait": st["t_wait"], "pair gather": st["t_gather"]})
        if scont is not None:
            c = scont.stats
            out.update({"continuum kernel": c["t_force"], "continuum wait": c["t_wait"],
                        "continuum gather": c["t_gather"]})
        return out

    blocks = []
    for _ in range(args.repeat):
        if comm.size > 1:
            comm.barrier()
        a = snapshot()
        c0 = time.process_time()
        t0 = wall_clock()
        integ.step(args.steps)
        wall = (wall_clock() - t0) / args.steps
        b = snapshot()
        row = {"wall": wall}
        row.update({k: (b.get(k, 0.0) - a.get(k, 0.0)) / args.steps for k in PARTS})
        row["cpu"] = (time.process_time() - c0) / args.steps
        row["rest"] = row["cpu" if args.cpu else "wall"] - sum(row[k] for k in PARTS)
        blocks.append(row)
    med = {k: float(np.median([r[k] for r in blocks])) for k in blocks[0]}
    # continuum kernel when replicated: time the class's compute directly (median of 10)
    n, d = s.atoms.n, s.d
    t_x = time_allgather(comm, n * d)
    meds = comm.allgather(med) if comm.size > 1 else [med]
    lb = split.load_balance()
    lbc = scont.load_balance() if scont is not None else None
    load = os.getloadavg()[0]
    if comm.rank == 0:
        mode = "replicated" if scont is None else ("split, own gather" if split.partner is None else
                                                   "split, one gather with the atoms'")
        print(f"{name}: {n} atoms, {s.n_nodes} nodes, P = {comm.size}, continuum {mode}, load {load:.1f}"
              f"{', parts in CPU time' if args.cpu else ''}")
        print("  per step [ms] (rank 0; rank 1): " + "  ".join(
            f"{k} {1e3 * med[k]:.3f}" + (f" ({1e3 * meds[1][k]:.3f})" if comm.size > 1 else "")
            for k in ("wall", "cpu") + PARTS + ("rest",)))
        print(f"  pair entries per rank {lb['entries']} of {lb['entries_serial']}"
              + (f"; nodes per rank {lbc['nodes']} of {lbc['nodes_serial']}, element-list entries "
                 f"{lbc['elements']} of {lbc['elements_serial']}" if lbc else ""))
        print(f"  step (2) alternative: Allgatherv of the positions ({8 * n * d / 1e3:.1f} kB) "
              f"{1e3 * t_x:.3f} ms vs the atoms' kick/drift it would divide: "
              f"{1e3 * med['kick/drift atoms'] * (1 - 1 / comm.size):.3f} ms saved per step")
        print("  ROW " + " ".join([str(comm.size), str(n), str(s.n_nodes)] + [f"{med[k]:.4e}" for k in
                                  ("wall", "cpu") + PARTS + ("rest",)] + [f"{t_x:.4e}", f"{load:.1f}"]))


if __name__ == "__main__":
    main()
