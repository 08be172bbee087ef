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
import tempfile
from pathlib import Path

from whole_process import (
    Neighbor,
    child_env,
    compile_bytecode,
    lj_deck,
    lj_lammps_input,
    lmp_command,
    msim_command,
    run_child,
)


def measure(code: str, cells: tuple[int, int, int], steps: int, tmp: Path) -> tuple[float, float, float]:
    """(peak RSS [MiB], wall [s], CPU [s]) of one whole run of ``code`` (msim | lammps) at ``cells``."""
    tag = "x".join(map(str, cells))
    policy = Neighbor(every=20, delay=0, check=False)       # in.lj's
    if code == "msim":
        deck = tmp / f"lj_{tag}.yaml"
        deck.write_text(lj_deck(cells, steps, policy, title="bench_memory: in.lj"))
        cmd = msim_command(deck, tmp / f"lj_{tag}.h5")
    else:
        inp = tmp / f"in.lj_{tag}"
        inp.write_text(lj_lammps_input(cells, steps, policy))
        cmd = lmp_command(inp, tmp / f"log_{tag}.lammps")
    r = run_child(cmd, tmp, child_env())
    return r.rss_mib, r.wall, r.cpu


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
    compile_bytecode()
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
