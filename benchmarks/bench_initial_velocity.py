"""Cost per rank of `parallel.initial_velocity.maxwell_boltzmann_rows` (``atoms.velocity`` drawn per rank).

    mpiexec -n P python benchmarks/bench_initial_velocity.py [massless=F] N [N ...]

Each rank owns the contiguous block [r N/P, (r+1) N/P) of N free atoms (2D, masses uniform in [0.5, 2], a
share F of them massless, default 0.01: every chunk mixed; 0: none, the coupled decks' case), chunk 2¹⁶.
Printed per N and rank: THREAD CPU seconds (medians of 5) of the stream places (`stream_positions`:
counts + allreduce + mixed chunks), the raw draws (`normal_rows`: the generator
streamed to the rank's last place), the whole call, and the serial `md.velocities.maxwell_boltzmann` over
all N
(what every rank computes today); the rank's peak of the traced NumPy allocations (tracemalloc) of the call.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from multiscale.md.velocities import maxwell_boltzmann
    from multiscale.parallel import get_comm
    from multiscale.parallel.initial_velocity import maxwell_boltzmann_rows, normal_rows, stream_positions
    comm = get_comm()
    P, r = comm.size, comm.rank
    args = sys.argv[1:]
    frac = 0.01
    if args and args[0].startswith("massless="):
        frac = float(args.pop(0)[9:])
    for N in map(int, args):
        rng = np.random.default_rng(1)
        lo, hi = r * N // P, (r + 1) * N // P
        fid = np.arange(lo, hi, dtype=np.int64)
        m = np.random.default_rng(7 + r).uniform(0.5, 2.0, fid.size)
        m[np.random.default_rng(9 + r).random(fid.size) < frac] = 0.0
        del rng

        def cpu(fn, sync: bool = True) -> float:  # noqa: ANN001
            ts = []
            for _ in range(5):
                if sync and P > 1:
                    comm.barrier()
                t0 = time.thread_time()
                fn()
                ts.append(time.thread_time() - t0)
            return float(np.median(ts))

        t_pos = cpu(lambda: stream_positions(fid, m, N, comm))
        pos, _ = stream_positions(fid, m, N, comm)
        t_raw = cpu(lambda: normal_rows(pos, 2, 42))
        t_all = cpu(lambda: maxwell_boltzmann_rows(fid, m, N, 2, 1.0, 1.0, 42, comm))
        tracemalloc.start()
        maxwell_boltzmann_rows(fid, m, N, 2, 1.0, 1.0, 42, comm)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        t_ser = float("nan")
        if r == 0:
            m_all = np.random.default_rng(3).uniform(0.5, 2.0, N)
            t_ser = cpu(lambda: maxwell_boltzmann(m_all, 2, 1.0, 1.0, 42), sync=False)
        rows = comm.gather((r, fid.size, t_pos, t_raw, t_all, peak, t_ser), 0) if P > 1 else [
            (r, fid.size, t_pos, t_raw, t_all, peak, t_ser)]
        if r == 0:
            for rr, n, a, b, c, pk, s in rows:
                ser = f"; serial maxwell_boltzmann over N {s * 1e3:.1f} ms" if rr == 0 else ""
                print(f"N={N} P={P} massless={frac:g} rank {rr}: rows {n}, places {a * 1e3:.2f} ms, "
                      f"draws {b * 1e3:.1f} ms, call {c * 1e3:.1f} ms, peak traced {pk / 2**20:.2f} MiB "
                      f"(rows: {n * 2 * 8 / 2**20:.2f} MiB){ser}", flush=True)


if __name__ == "__main__":
    main()
