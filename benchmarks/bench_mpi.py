"""Strong scaling 1 -> 2 MPI ranks: msim's distributed MD (multiscale/parallel) vs LAMMPS, same mpich.

The in.lj and in.eam equivalents of benchmarks/bench_md.py (32 000 atoms, 100 NVE steps; same lattice,
potential, skin, time step, initial velocities; msim uses the literal ``neigh_modify`` policy of the
LAMMPS input, `bench_md.lammps_policy`). Each code runs on 1 and on 2 ranks (``mpiexec -n P``, one thread
per rank; LAMMPS's default 2-rank grid is 2x1x1, i.e. slabs along x like msim's). Timed on both sides
after an untimed set-up: a neighbour build + force evaluation, then the 100 steps (as bench_md).

Reported (medians of ``--repeat``):
- msim 2-rank / LAMMPS 2-rank wall time (target <= 1.0);
- parallel efficiency T1 / (2 T2) of each code (target >= 0.9);
- msim per step: bytes sent per rank, messages, time in communication, in force kernels, in builds;
  load balance (owned atoms max/mean, computed pairs max/mean);
- both force modes (newton: reverse communication of ghost forces; full: cross pairs on both ranks), the
  exchange completed before the forces (default), and full mode with the ghost exchange overlapped with
  the interior pairs (``DistributedMD(overlap=True)``);
- the cost model of docs/parallel.md: its 2-rank prediction from the 1-rank run, a ping-pong
  latency/bandwidth measurement and the decomposition's pair counts, against the measured 2-rank time.

``--phases``: instead, the thread CPU time of msim's 1- and 2-rank steps per phase (kernels, list,
filter, rebuild set-up, collectives, packing, posting, waiting, Verlet, rebuild check) on each rank, the
2-rank excess over half the serial run per phase and the work efficiency without the waiting
(`worker_phases`, `phases_table`): robust under load, where wall-clock efficiencies are not.

The default force mode of `DistributedMD` (``newton=None``) is newton (half shell) for both since session
24: the efficiency of that mode is the one to quote. The second row (``--big``, default 40x40x20 unit
cells = 128 000 atoms, LAMMPS ``-var x 2 -var y 2``) measures the same 1 -> 2 rank efficiency at 4x the
atoms for both codes (msim's default mode), interleaved.

The machine is shared: the load average is printed at start and end. With other processes on the two
cores a 2-rank run is not running on two free cores, so efficiencies measured under load are unreliable
(they measure the scheduler as much as the code); the msim/LAMMPS ratio at equal P is more robust.

Usage:  .venv/bin/python benchmarks/bench_mpi.py [--repeat 3] [--only lj|eam] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: the msim source tree the workers import (``--against``: another checkout, run by this script's workers)
SRC = Path(os.environ.get("MSIM_BENCH_SRC", ROOT))
sys.path.insert(0, str(SRC))
import multiscale  # noqa: E402, F401  (from SRC, before bench_md puts this script's tree first on the path)

sys.path.insert(0, str(ROOT / "benchmarks"))
MPIEXEC = Path(sys.executable).parent / "mpiexec"
#: extra launcher options of every run, msim's and LAMMPS's alike (``--bind core``: hydra's
#: ``-bind-to core``, one core per rank; default none: the OS scheduler places the ranks)
LAUNCH_OPTS: list[str] = []


# ---------------------------------------------------------------------------------------------- workers
def cells3(spec: int | str) -> tuple[int, int, int]:
    """fcc unit cells per axis from ``20`` (a cube) or ``"40x40x20"``."""
    parts = [int(c) for c in str(spec).lower().split("x")]
    return (parts[0],) * 3 if len(parts) == 1 else tuple(parts)   # type: ignore[return-value]


def n_atoms(spec: int | str) -> int:
    return 4 * int(np.prod(cells3(spec)))


def setup_cells(case: str, cells: int | str):  # noqa: ANN201
    """bench_md.setup (in.lj / in.eam state: lattice, potential, skin, velocities) on an fcc box of
    ``cells3(cells)`` unit cells; cells = 20 is bench_md's (and LAMMPS's) 32 000-atom system, "40x40x20"
    LAMMPS's ``-var x 2 -var y 2`` (128 000 atoms)."""
    from bench_md import lammps_share

    from multiscale.md.box import Box
    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.eam import EAMFile
    from multiscale.md.potentials.lj import LennardJones
    from multiscale.md.system import AtomisticRegion
    from multiscale.md.velocities import maxwell_boltzmann
    from multiscale.units import LJ, METAL

    if case == "lj":
        a, pot, skin, T, units, mass, dt = (4 / 0.8442) ** (1 / 3), LennardJones(1.0, 1.0, 2.5, "cut"), 0.3, \
            1.44, LJ, 1.0, 0.005
    else:
        pot = EAMFile.from_file(lammps_share() / "potentials" / "Cu_u3.eam")
        a, skin, T, units, mass, dt = 3.615, 1.0, 1600.0, METAL, pot.masses[0], 0.005
    L = [c * a for c in cells3(cells)]
    X = Lattice("fcc", a).sites_in_box([0, 0, 0], L)
    reg = AtomisticRegion(X, units.mass_to_internal(mass), pot, Box([0] * 3, L, [True] * 3), skin)
    reg.v[...] = maxwell_boltzmann(reg.mass, 3, T, units.boltz, seed=87287)
    return reg, dt


def worker_msim(case: str, steps: int, newton: bool | None, cells: int | str = 20,
                overlap: bool = False) -> None:
    from bench_md import lammps_policy

    from multiscale.parallel import DistributedMD, get_comm, run_guarded

    comm = get_comm()

    def run() -> None:
        reg, dt = setup_cells(case, cells)
        n = reg.n
        # every rank starts with its own share (no all-from-rank-0 start at 32 000 atoms)
        mine = np.flatnonzero(np.arange(n) % comm.size == comm.rank)
        md = DistributedMD(comm, reg.x[mine], reg.v[mine], reg.mass[mine], mine, reg.potential, reg.box,
                           reg.skin if hasattr(reg, "skin") else reg.nlist.skin,
                           newton=newton, neighbor=lammps_policy(case), overlap=overlap)
        md.compute()                 # warm-up done by the constructor; this one for first-touch
        comm.barrier()
        b0, m0 = getattr(comm, "bytes_sent", 0), getattr(comm, "messages", 0)
        nb0 = md.n_builds
        for k in md.stats:
            md.stats[k] = 0
        t0 = time.perf_counter()
        md.rebuild()                 # like LAMMPS's ``run`` set-up: build + forces
        md.compute()
        md.step(steps, dt)
        comm.barrier()
        wall = time.perf_counter() - t0
        E = md.potential_energy()
        lb = md.load_balance()
        st = comm.gather({k: float(v) for k, v in md.stats.items()}
                         | {"bytes": getattr(comm, "bytes_sent", 0) - b0,
                            "messages": getattr(comm, "messages", 0) - m0})
        if comm.rank == 0:
            print(json.dumps({"wall": wall, "E": E, "builds": md.n_builds - nb0, "steps": steps,
                              "atoms": lb["atoms"].tolist(), "ghosts": lb["ghosts"].tolist(),
                              "pairs": lb["pairs"].tolist(), "imbalance": lb["imbalance"],
                              "pair_imbalance": lb["pair_imbalance"], "stats": st}))

    run_guarded(comm, run)


PHASES = ("kernels", "list", "filter", "setup", "coll", "pack", "post", "wait", "verlet", "check")


def worker_phases(case: str, steps: int, mode: str, cells: int | str = 20) -> None:
    """Thread CPU time per phase of the timed run of `worker_msim`, on each rank (time.thread_time: time
    spent descheduled does not count, so it is robust on a loaded machine). The engine's own timers are
    switched to thread CPU time, and the communicator's calls wrapped: kernels (force passes), list
    (cell build), filter, setup (wrap, sort, packing of migration and ghost rows), coll (the rebuild's
    all-to-all / Sendrecv: mostly waiting for the other rank), pack (per-step packing, unpacking, adds of
    the reverse exchanges), post (Irecv/Isend), wait (Waitall: MPICH polls, so this is waiting), verlet
    (kick/drift kernels), check (rebuild test incl. its Allreduce)."""
    import types as _types

    from bench_md import lammps_policy

    import multiscale.parallel.engine as eng
    from multiscale.parallel import DistributedMD, get_comm

    clock = {"n": 0}

    def tclock() -> float:      # the engine's timers and the wrappers below: counted thread-CPU clocks
        clock["n"] += 1
        return time.thread_time()

    c0 = time.thread_time()
    for _ in range(4000):
        tclock()
    per_call = (time.thread_time() - c0) / 4000        # a thread-CPU clock read is a system call here
    eng.time = _types.SimpleNamespace(perf_counter=tclock)
    comm = get_comm()
    reg, dt = setup_cells(case, cells)
    mine = np.flatnonzero(np.arange(reg.n) % comm.size == comm.rank)
    md = DistributedMD(comm, reg.x[mine], reg.v[mine], reg.mass[mine], mine, reg.potential, reg.box,
                       reg.nlist.skin, newton=mode.startswith("newton"), neighbor=lammps_policy(case),
                       overlap=mode.endswith("-overlap"))
    acc: dict[str, float] = {}

    def wrap(obj, name, cat):  # noqa: ANN001, ANN202
        f = getattr(obj, name)

        def g(*a, **k):  # noqa: ANN002, ANN003, ANN202
            c0 = tclock()
            try:
                return f(*a, **k)
            finally:
                acc[cat] = acc.get(cat, 0.0) + tclock() - c0
        setattr(obj, name, g)

    class Timed:
        def __init__(self, k, cat):  # noqa: ANN001
            self._k, self._cat = k, cat

        def __getattr__(self, name):  # noqa: ANN001, ANN204
            f = getattr(self._k, name)

            def g(*a, **kw):  # noqa: ANN002, ANN003, ANN202
                c0 = tclock()
                try:
                    return f(*a, **kw)
                finally:
                    acc[self._cat] = acc.get(self._cat, 0.0) + tclock() - c0
            return g

    md._kv = Timed(md._kv, "verlet")
    calls = {"sync": 0}

    def count(obj, name):  # noqa: ANN001, ANN202   (rendezvous: a wait or a collective)
        f = getattr(obj, name)

        def g(*a, **k):  # noqa: ANN002, ANN003, ANN202
            calls["sync"] += 1
            return f(*a, **k)
        setattr(obj, name, g)

    if comm.size > 1:
        wrap(comm, "start", "post")
        wrap(comm, "wait", "wait")
        for nm in ("alltoallv", "sendrecv_many", "sendrecv_rows", "exchange"):
            if hasattr(comm, nm):       # (sendrecv_rows: not in older trees, --against)
                wrap(comm, nm, "coll")
        for nm in ("wait", "alltoallv", "sendrecv_many", "sendrecv_rows", "exchange", "allreduce_array"):
            if hasattr(comm, nm):
                count(comm, nm)
    def wrap_check(name):  # noqa: ANN001, ANN202   (the rebuild check without its communication, which
        f = getattr(md, name, None)   # t_comm holds: pack / post / wait / red below)
        if f is None:
            return

        def g(*a, **k):  # noqa: ANN002, ANN003, ANN202
            c0, t0 = tclock(), md.stats["t_comm"]
            try:
                return f(*a, **k)
            finally:
                acc["check"] = acc.get("check", 0.0) + tclock() - c0 - (md.stats["t_comm"] - t0)
        setattr(md, name, g)

    wrap_check("needs_rebuild")
    wrap_check("_check_with_x")     # the check merged with the position exchange (not in older trees)
    wrap(comm, "allreduce_array", "allreduce")     # inside both t_comm and check: reported as "red"
    md.compute()
    comm.barrier()
    acc.clear()
    calls["sync"] = 0
    clock["n"] = 0
    for k in md.stats:
        md.stats[k] = 0
    c0 = time.thread_time()
    md.rebuild()
    md.compute()
    md.step(steps, dt)
    total = time.thread_time() - c0
    comm.barrier()
    s = md.stats
    red = acc.pop("allreduce", 0.0)
    out = {"kernels": s["t_force"], "list": s["t_list"], "filter": s["t_filter"],
           "setup": s["t_migrate"] + s["t_ghosts"] - acc.get("coll", 0.0),
           "pack": s["t_comm"] - acc.get("wait", 0.0) - acc.get("post", 0.0) - red,
           **acc, "check": acc.get("check", 0.0), "red": red}
    out["other"] = total - sum(out.values())
    out["sync"] = calls["sync"] / steps
    out["instr"] = clock["n"] * per_call        # the timing's own cost (inside the phases)
    r = comm.gather(out)
    if comm.rank == 0:
        print(json.dumps({"ranks": r, "E": None}))


#: phases of `worker_phases`; WAITING: the rendezvous (rebuild collectives, per-step Waitall, the rebuild
#: check's Allreduce), whose thread CPU time is mostly polling for the other rank
WAITING = ("coll", "wait", "red")


def phases_table(case: str, steps: str, repeat: int, modes: tuple[str, ...], cells: str = "20",
                 against: Path | None = None, instr: bool = True) -> None:
    """Interleaved runs (1 rank full, 2 ranks per mode; with ``against`` the same runs of another source
    tree after each of this tree's), medians of ``repeat``. Per phase the busier rank; work = a rank's
    thread CPU time without the waiting phases (`WAITING`), the busier rank's; work efficiency
    T1_work / (2 T2_work); sync = rendezvous per step (waits and collectives, busier rank). ``instr``: the
    work without the cost of the timing itself (column instr: clock reads x the cost of one, measured in
    the worker; a thread-CPU clock read is a ~5 us system call on the test VM and the 2-rank step reads
    the clock ~2x as often as the 1-rank step)."""
    trees = [("", ROOT)] + ([("main ", against)] if against else [])
    specs = [(t, 1, "full") for t, _ in trees] + [(t, 2, m) for m in modes for t, _ in trees]
    roots = dict(trees)
    runs: dict = {sp: [] for sp in specs}
    for _ in range(repeat):
        for sp in specs:
            runs[sp].append(launch(sp[1], "phases", case, steps, sp[2], cells, root=roots[sp[0]]))
    cols = (*PHASES, "red", "other")
    med, work, raw = {}, {}, {}
    for sp, rs in runs.items():
        med[sp] = {k: float(np.median([max(r["ranks"][q].get(k, 0.0) for q in range(sp[1])) for r in rs]))
                   for k in (*cols, "sync", "instr")}
        for d, ins in ((work, instr), (raw, False)):
            d[sp] = float(np.median([max(sum(v for k, v in r["ranks"][q].items() if k in cols and k not in
                                             WAITING) - r["ranks"][q].get("instr", 0.0) * ins
                                         for q in range(sp[1])) for r in rs]))
    print(f"{case} ({n_atoms(cells)} atoms): thread CPU s per {steps} steps, busier rank, medians of "
          f"{repeat} "
          f"(load {os.getloadavg()[0]:.1f})", flush=True)
    print("   " + f"{'':28s}" + "".join(f"{k:>8s}" for k in cols) + "   instr   work  T1/(2 T2)  sync/step"
          + "  (work without instr; with it: T1/(2 T2))")
    for sp in specs:
        m = med[sp]
        one = med[(sp[0], 1, "full")]
        eff = work[(sp[0], 1, "full")] / (sp[1] * work[sp])
        eff_raw = raw[(sp[0], 1, "full")] / (sp[1] * raw[sp])
        print(f"   {sp[0]}{sp[1]} rank(s) {sp[2]:14s}".ljust(31) + "".join(f"{m[k]:8.3f}" for k in cols)
              + f" {m['instr']:7.4f} {work[sp]:6.3f}  {eff:.3f}  {m['sync']:.2f}   ({eff_raw:.3f})",
              flush=True)
        if sp[1] == 2:
            print(f"   {'  excess over T1/2':28s}" + "".join(f"{m[k] - one[k] / 2:+8.3f}" for k in cols),
                  flush=True)


def worker_lammps(case: str, steps: int, cells: int | str = 20) -> None:
    import ctypes

    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
    if lib.exists():
        ctypes.CDLL(os.fspath(lib), mode=ctypes.RTLD_GLOBAL)
    from bench_md import lammps_share
    from lammps import lammps
    from mpi4py import MPI

    share = lammps_share()
    src = (share / "bench" / f"in.{case}").read_text()
    nc = cells3(cells)
    if any(c % 20 for c in nc):
        raise ValueError(f"LAMMPS's bench inputs scale by whole 20-cell blocks, not {nc}")
    var = [w for k, c in zip("xyz", nc, strict=True) for w in ("-var", k, str(c // 20))]
    lmp = lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite", *var], comm=MPI.COMM_WORLD)
    os.chdir(share / "potentials")
    for line in src.splitlines():
        if line.strip().startswith("run"):
            continue
        lmp.command(line)
    lmp.command("run 0")
    MPI.COMM_WORLD.Barrier()
    t0 = time.perf_counter()
    lmp.command(f"run {steps}")
    MPI.COMM_WORLD.Barrier()
    wall = time.perf_counter() - t0
    pe = lmp.get_thermo("pe")
    if MPI.COMM_WORLD.Get_rank() == 0:
        print(json.dumps({"wall": wall, "pe": pe, "procs": MPI.COMM_WORLD.Get_size(),
                          "atoms": int(lmp.get_natoms())}))
    lmp.close()


def worker_pingpong() -> None:
    """Half round-trip time of a Sendrecv exchange between 2 ranks for 8 B and 1 MiB messages."""
    from mpi4py import MPI

    c = MPI.COMM_WORLD
    other = 1 - c.Get_rank()
    res = {}
    for nbytes in (8, 1 << 20):
        a = np.zeros(nbytes // 8)
        b = np.empty_like(a)
        reps = 2000 if nbytes == 8 else 200
        ts = []
        for _ in range(3):
            c.Barrier()
            t0 = time.perf_counter()
            for _ in range(reps):
                c.Sendrecv(a, dest=other, recvbuf=b, source=other)
            ts.append((time.perf_counter() - t0) / reps)
        res[nbytes] = min(ts)
    if c.Get_rank() == 0:
        lat = res[8]
        bw = (1 << 20) / max(res[1 << 20] - lat, 1e-12)
        print(json.dumps({"latency": lat, "bandwidth": bw}))


def handshake_solve_times(sizes=(10_000, 100_000, 400_000)) -> dict:  # noqa: ANN001
    """Seconds per factorisation and per solve of a handshake-like G M⁻¹ Gᵀ on ONE rank: the SPD
    matrix of a thin shell (2D 5-point Laplacian + identity on a √r × √r grid, the connectivity of
    constraint rows in a handshake band), `scipy.sparse.linalg.splu` as in integrate/verlet.py."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    out = {}
    for r in sizes:
        m = int(round(np.sqrt(r)))
        t1 = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
        A = (sp.kron(t1, sp.identity(m)) + sp.kron(sp.identity(m), t1) + sp.identity(m * m)).tocsc()
        t0 = time.perf_counter()
        lu = spla.splu(A)
        tf = time.perf_counter() - t0
        b = np.ones(m * m)
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            lu.solve(b)
            ts.append(time.perf_counter() - t0)
        out[m * m] = (tf, float(np.median(ts)))
    return out


# ---------------------------------------------------------------------------------------------- driver
def launch(n: int, *args: str, root: Path = ROOT) -> dict:
    """Run a worker of this script on n ranks, importing msim from ``root`` (``--against``: another
    checkout, interleaved with this one in the same script)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    env["MSIM_BENCH_SRC"] = str(root)
    cmd = [str(MPIEXEC), *LAUNCH_OPTS, "-n", str(n), sys.executable, __file__, "--worker", *args]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def predict_2rank(one: dict, two: dict, net: dict) -> float:
    """docs/parallel.md cost model: T(P) = T_kernel(1) * pairs_max(P) / pairs(1) + T_rest(1) / P
    + steps * (messages/step * latency + bytes/step / bandwidth) + T_allreduce. Inputs measured: the
    1-rank split into kernel and the rest, the decomposition's computed pair counts, the ping-pong."""
    s1 = one["stats"][0]
    t_kernel = s1["t_force"]
    t_rest = one["wall"] - t_kernel
    pairs1 = one["pairs"][0]
    frac = max(two["pairs"]) / pairs1
    s2 = max(two["stats"], key=lambda s: s["bytes"])
    steps = two["steps"]
    n_allreduce = steps                                   # the rebuild check (at most one per step)
    comm = s2["messages"] * net["latency"] + s2["bytes"] / net["bandwidth"] + n_allreduce * net["latency"]
    return t_kernel * frac + t_rest / 2 + comm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["lj", "eam"], default=None)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cells", type=int, default=None, help="msim only: 1 and 2 ranks on a cells^3 fcc box "
                    "(4 cells^3 atoms), communication volume and time per step at weak-scaling sizes")
    ap.add_argument("--handshake", action="store_true", help="only the one-rank handshake solve timings")
    ap.add_argument("--phases", action="store_true", help="only the thread-CPU-time decomposition of msim's "
                    "1- and 2-rank steps per phase (robust under load; `worker_phases`)")
    ap.add_argument("--big", default="40x40x20", help="the second row's size in fcc unit cells (default "
                    "40x40x20: 128 000 atoms); '' for none")
    ap.add_argument("--big-only", action="store_true", help="only the second row (--big size)")
    ap.add_argument("--modes", default="full,newton,full-overlap,newton-overlap", help="--phases: the "
                    "2-rank force modes, comma-separated")
    ap.add_argument("--size", default="20", help="--phases: fcc unit cells, 20 (in.lj / in.eam) or e.g. "
                    "40x40x20 (LAMMPS -var x 2 -var y 2: 128 000 atoms)")
    ap.add_argument("--against", default=None, help="--phases: also run another msim checkout (e.g. "
                    "/work/main), interleaved, for a same-script comparison")
    ap.add_argument("--bind", choices=["none", "core"], default="none", help="process binding of every "
                    "run (msim and LAMMPS): core = mpiexec -bind-to core (mpich hydra)")
    ap.add_argument("--worker", nargs="+", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bind != "none":
        LAUNCH_OPTS[:] = ["-bind-to", args.bind]
    if args.worker:
        kind = args.worker[0]
        w = args.worker
        if kind == "msim":      # mode full | newton | default (newton=None) [-overlap]
            newton = None if w[3].startswith("default") else w[3].startswith("newton")
            worker_msim(w[1], int(w[2]), newton, w[4] if len(w) > 4 else 20,
                        overlap=w[3].endswith("-overlap"))
        elif kind == "phases":
            worker_phases(w[1], int(w[2]), w[3], *w[4:5])
        elif kind == "lammps":
            worker_lammps(w[1], int(w[2]), *w[3:4])
        else:
            worker_pingpong()
        return
    print(f"machine: {os.cpu_count()} logical CPUs, load average {os.getloadavg()} at start; launcher "
          f"{' '.join([MPIEXEC.name, *LAUNCH_OPTS])}", flush=True)
    if args.cells:
        case = args.only or "lj"
        for n in (1, 2):
            for mode in (("full", "newton") if n == 2 else ("full",)):
                r = launch(n, "msim", case, str(args.steps), mode, str(args.cells))
                s = r["stats"]
                k = r["steps"]
                kb = np.mean([x["bytes"] for x in s]) / k / 1e3
                msg = np.mean([x["messages"] for x in s]) / k
                tc = np.mean([x["t_comm"] for x in s]) / k * 1e3
                tf = np.mean([x["t_force"] for x in s]) / k * 1e3
                print(f"{case} {4 * args.cells ** 3} atoms, {n} rank(s) {mode}: wall {r['wall']:.2f} s for "
                      f"{k} steps ({r['builds']} builds); per step and rank: {kb:.0f} kB in {msg:.1f} "
                      f"messages, comm {tc:.1f} ms, kernels {tf:.1f} ms; ghosts {r['ghosts']}",
                      flush=True)
        print(f"load average at end {os.getloadavg()}")
        return
    if args.phases:
        for case in (["lj", "eam"] if args.only is None else [args.only]):
            phases_table(case, str(args.steps), args.repeat, tuple(args.modes.split(",")), args.size,
                         Path(args.against).resolve() if args.against else None)
        print(f"load average at end {os.getloadavg()}")
        return
    if args.handshake:
        for r, (tf, ts) in handshake_solve_times().items():
            print(f"handshake G M^-1 G^T on one rank, r = {r}: factorise {tf:.3f} s, solve {ts * 1e3:.2f} ms")
        return
    if args.big_only:
        for case in (["lj", "eam"] if args.only is None else [args.only]):
            big_row(case, str(args.steps), args.repeat, args.big)
        print(f"load average at end {os.getloadavg()}")
        return
    net = launch(2, "pingpong")
    print(f"ping-pong (mpich, shared memory): latency {net['latency'] * 1e6:.1f} us, bandwidth "
          f"{net['bandwidth'] / 1e9:.2f} GB/s", flush=True)
    steps = str(args.steps)
    for case in (["lj", "eam"] if args.only is None else [args.only]):
        runs: dict[str, list[dict]] = {k: [] for k in ("l1", "l2", "m1", "m2", "m2n", "m2b")}
        for _ in range(args.repeat):
            runs["l1"].append(launch(1, "lammps", case, steps))
            runs["l2"].append(launch(2, "lammps", case, steps))
            runs["m1"].append(launch(1, "msim", case, steps, "full"))
            runs["m2"].append(launch(2, "msim", case, steps, "full"))
            runs["m2n"].append(launch(2, "msim", case, steps, "newton"))
            runs["m2b"].append(launch(2, "msim", case, steps, "full-overlap"))
        med = {k: float(np.median([r["wall"] for r in v])) for k, v in runs.items()}
        best2 = min(med["m2"], med["m2n"], med["m2b"])
        print(f"{case}: wall LAMMPS 1 rank {med['l1']:.3f} s, 2 ranks {med['l2']:.3f} s | msim 1 rank "
              f"{med['m1']:.3f} s, 2 ranks {med['m2']:.3f} s (full cross pairs), {med['m2n']:.3f} s (newton, "
              f"reverse comm) | medians of {args.repeat}", flush=True)
        print(f"   msim 2-rank / LAMMPS 2-rank: {best2 / med['l2']:.2f} (target <= 1.0); msim/LAMMPS 1 rank "
              f"{med['m1'] / med['l1']:.2f}; msim 2 ranks, exchange overlapped with the interior pairs "
              f"(full): {med['m2b']:.3f} s",
              flush=True)
        # DistributedMD(newton=None): newton (half shell) for every potential since session 24
        print(f"   parallel efficiency of msim's default mode (newton): {med['m1'] / (2 * med['m2n']):.2f}",
              flush=True)
        print(f"   parallel efficiency T1/(2 T2): msim full {med['m1'] / (2 * med['m2']):.2f}, newton "
              f"{med['m1'] / (2 * med['m2n']):.2f}, full overlapped {med['m1'] / (2 * med['m2b']):.2f}; "
              f"LAMMPS "
              f"{med['l1'] / (2 * med['l2']):.2f} (target >= 0.9)",
              flush=True)
        r1 = sorted(runs["m1"], key=lambda r: r["wall"])[len(runs["m1"]) // 2]
        s1, n1 = r1["stats"][0], r1["steps"]
        print(f"   msim 1 rank: {r1['builds']} builds; per step: force kernels "
              f"{s1['t_force'] / n1 * 1e3:.2f} ms, "
              f"builds {s1['t_build'] / n1 * 1e3:.2f} ms (list {s1['t_list'] / n1 * 1e3:.2f})", flush=True)
        for key, label in (("m2", "full"), ("m2n", "newton"), ("m2b", "full-overlap")):
            r = sorted(runs[key], key=lambda r: r["wall"])[len(runs[key]) // 2]
            s = r["stats"]
            n = r["steps"]
            print(f"   msim 2 ranks {label}: {r['builds']} builds; per step and rank: "
                  f"{np.mean([x['bytes'] for x in s]) / n / 1e3:.1f} kB sent in "
                  f"{np.mean([x['messages'] for x in s]) / n:.1f} messages, comm "
                  f"{np.mean([x['t_comm'] for x in s]) / n * 1e3:.3f} ms, force kernels "
                  f"{np.mean([x['t_force'] for x in s]) / n * 1e3:.2f} ms, builds "
                  f"{np.mean([x['t_build'] for x in s]) / n * 1e3:.2f} ms (migration "
                  f"{np.mean([x['t_migrate'] for x in s]) / n * 1e3:.2f}, ghosts "
                  f"{np.mean([x['t_ghosts'] for x in s]) / n * 1e3:.2f}, list "
                  f"{np.mean([x['t_list'] for x in s]) / n * 1e3:.2f}, filter "
                  f"{np.mean([x['t_filter'] for x in s]) / n * 1e3:.2f}); atoms {r['atoms']} ghosts "
                  f"{r['ghosts']} (imbalance {r['imbalance']:.3f}), pairs {r['pairs']} "
                  f"(imbalance {r['pair_imbalance']:.3f})", flush=True)
            m1 = sorted(runs["m1"], key=lambda r: r["wall"])[len(runs["m1"]) // 2]
            pred = predict_2rank(m1, r, net)
            print(f"   cost model 2-rank {label}: predicted {pred:.3f} s, measured {r['wall']:.3f} s "
                  f"(ratio {r['wall'] / pred:.2f})", flush=True)
        e = [r["E"] for r in runs["m1"] + runs["m2"] + runs["m2n"] + runs["m2b"]]
        print(f"   final potential energy msim (all runs, 1 and 2 ranks) {min(e):.10g} .. {max(e):.10g}; "
              f"LAMMPS "
              f"thermo pe {runs['l1'][0]['pe']:.10g} (per atom for in.lj; LAMMPS draws its own initial "
              f"velocities, so the trajectories differ)", flush=True)
        if args.big:
            big_row(case, steps, args.repeat, args.big)
    print(f"load average at end {os.getloadavg()}")


def big_row(case: str, steps: str, repeat: int, cells: str) -> None:
    """The second row: the same 1 -> 2 rank efficiency at a larger size (default 40x40x20 unit cells =
    128 000 atoms, LAMMPS ``-var x 2 -var y 2``), msim's default force mode, interleaved runs, medians."""
    runs: dict[str, list[dict]] = {k: [] for k in ("l1", "l2", "m1", "m2")}
    for _ in range(repeat):
        runs["l1"].append(launch(1, "lammps", case, steps, cells))
        runs["l2"].append(launch(2, "lammps", case, steps, cells))
        runs["m1"].append(launch(1, "msim", case, steps, "default", cells))
        runs["m2"].append(launch(2, "msim", case, steps, "default", cells))
    med = {k: float(np.median([r["wall"] for r in v])) for k, v in runs.items()}
    print(f"{case} at {n_atoms(cells)} atoms (LAMMPS {runs['l1'][0]['atoms']}): wall LAMMPS 1 rank "
          f"{med['l1']:.3f} s, 2 ranks {med['l2']:.3f} s | msim 1 rank {med['m1']:.3f} s, 2 ranks "
          f"{med['m2']:.3f} s (default mode) | medians of {repeat}", flush=True)
    print(f"   parallel efficiency T1/(2 T2) at {n_atoms(cells)} atoms: msim "
          f"{med['m1'] / (2 * med['m2']):.2f}, LAMMPS {med['l1'] / (2 * med['l2']):.2f}; msim 2-rank / "
          f"LAMMPS 2-rank {med['m2'] / med['l2']:.2f}",
          flush=True)


if __name__ == "__main__":
    main()
