"""Peak memory per rank of the per-rank classification (`parallel.rank_sites`: the rank's own kept sites and
the replicated handshake band) against the serial `build.build_model` every rank runs today, on the 2D bench
deck of benchmarks/bench_coupled.py.

    mpiexec -n 2 .venv/bin/python benchmarks/mem_rank_sites.py --bench2d 300 --what rank
    mpiexec -n 2 .venv/bin/python benchmarks/mem_rank_sites.py --bench2d 300 --what serial

One phase per process (``--what``), so the two do not share the allocator's free blocks. Before the phase
the modules it uses are imported (msim, scipy.spatial / sparse, mpi4py) and the peak is reset
(/proc/self/clear_refs, VmHWM); per rank: VmRSS before, the phase's peak VmHWM, VmRSS after (with
``malloc_trim(0)``), the CPU time of the phase, and for ``rank`` the bytes of the returned arrays. MiB.
``--warm``: the phase runs once on the L = 40 deck before (its one-time costs, ~40 MiB, not counted).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mem_mpi_coupled_spatial import reset_peak, status  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench2d", type=float, default=300.0, metavar="L")
    ap.add_argument("--what", choices=["rank", "serial"], required=True)
    ap.add_argument("--warm", action="store_true", help="run the phase once on the L = 40 deck first (the "
                    "one-time costs: lazy imports, compiled kernels, the deck schema, the relaxed lattice)")
    args = ap.parse_args()
    from bench_coupled import deck as bench_deck
    from scipy import sparse, spatial  # noqa: F401  (imported before the phase in both modes)

    from multiscale.build import build_model
    from multiscale.deck import load_deck
    from multiscale.parallel.comm import get_comm
    from multiscale.parallel.rank_sites import handshake_band, rank_sites_from_deck
    comm = get_comm()
    tmp = Path(tempfile.gettempdir()) / f"memranksites_{args.bench2d:g}_{os.getuid()}"
    tmp.mkdir(exist_ok=True)
    path = tmp / "bench2d.yaml"
    if comm.rank == 0:
        path.write_text(bench_deck(2, args.bench2d, True))
    comm.barrier()
    deck = load_deck(path)
    if args.warm:          # the one-time costs (lazy imports, kernels, schema builds) outside the phase
        wpath = tmp / "warm.yaml"
        if comm.rank == 0:
            wpath.write_text(bench_deck(2, 40.0, True))
        comm.barrier()
        if args.what == "rank":
            rs, hs, _ = rank_sites_from_deck(load_deck(wpath), comm)
            handshake_band(rs, hs, comm)
        else:
            build_model(load_deck(wpath))
        gc.collect()
    trim = ctypes.CDLL("libc.so.6").malloc_trim
    trim(0)
    rss0, _ = status()
    reset_peak()
    t0 = time.process_time()
    info = ""
    if args.what == "rank":
        rs, hs, dec = rank_sites_from_deck(deck, comm)
        band = handshake_band(rs, hs, comm)
        own = sum(getattr(rs, k).nbytes for k in ("X", "sub", "types", "weight", "pad", "mass", "mass_full",
                                                   "gid", "free_id"))
        bb = sum(getattr(band, k).nbytes for k in ("X", "gid", "free_id", "weight", "pad", "mass"))
        info = (f"own atoms {rs.gid.size} of {rs.n_atoms} ({own / 2**20:.1f} MiB), band {band.gid.size} "
                f"({bb / 2**20:.1f} MiB)")
    else:
        m = build_model(deck)
        info = f"serial model: {m.atoms.n} atoms, {m.continuum.mesh.nodes.shape[0]} nodes"
    cpu = time.process_time() - t0
    _, hwm = status()
    trim(0)
    rss1, _ = status()
    rows = comm.gather((comm.rank, rss0, hwm, rss1, cpu, info), 0) if comm.size > 1 else \
        [(0, rss0, hwm, rss1, cpu, info)]
    if comm.rank == 0:
        print(f"bench2d L={args.bench2d:g} P={comm.size} what={args.what} (MiB; over before in brackets)")
        for r, a, h, b, c, i in rows:
            print(f"  rank {r}: before {a:.1f}  peak {h:.1f} (+{h - a:.1f})  after {b:.1f} (+{b - a:.1f})  "
                  f"cpu {c:.2f} s  {i}")


if __name__ == "__main__":
    main()
