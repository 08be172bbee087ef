"""Memory per rank of reading a checkpoint's per-atom rows by global id (`parallel.restart_rows`) against
today's whole-checkpoint load on every rank (`output.checkpoint.load_checkpoint`, what
`run.spatial.SpatialIntegrator.set_state` takes).

    mpiexec -n P python benchmarks/mem_restart_rows.py CKPT MODE

MODE: ``rows`` (each rank reads its row blocks), ``scatter`` (rank 0 reads whole arrays and sends), ``load``
(every rank `load_checkpoint`s the whole state, today). Each rank owns the atoms of its slab of equal width
along x of the reference positions (read in blocks first). Then, per rank: the peak RSS above the RSS before
the call (the kernel's high-water mark reset through /proc/self/clear_refs), the peak of the traced Python /
NumPy allocations (tracemalloc) and the THREAD CPU seconds of the call (verification included: rank 0 streams
the file's digests in every mode). One MODE per process so that no mode inherits another's heap.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _status(key: str) -> int:
    """A /proc/self/status entry in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def main() -> None:
    import h5py

    from multiscale.output.checkpoint import load_checkpoint
    from multiscale.parallel import get_comm
    from multiscale.parallel.restart_rows import BLOCK, read_checkpoint_rows
    ck, mode = sys.argv[1], sys.argv[2]
    comm = get_comm()
    P, r = comm.size, comm.rank
    with h5py.File(ck, "r") as f:               # ownership: slabs of the reference x, read in blocks
        X = f["state/model/reference_positions"]
        n = X.shape[0]
        x0 = np.concatenate([X[s:s + BLOCK, 0] for s in range(0, n, BLOCK)])
    lo, hi = float(x0.min()), float(x0.max())
    slab = np.minimum(((x0 - lo) / (hi - lo) * P).astype(np.int64), P - 1)
    gid = np.flatnonzero(slab == r).astype(np.int64)
    del x0, slab
    gc.collect()
    if P > 1:
        comm.barrier()
    Path("/proc/self/clear_refs").write_text("5")        # reset VmHWM to the current RSS
    rss0 = _status("VmRSS")
    tracemalloc.start()
    t0 = time.thread_time()
    if mode == "load":
        st = load_checkpoint(ck)
        keep = [st["integrator"][k][gid] for k in ("x", "v", "fext_atoms")]
        del st
    else:
        rr = read_checkpoint_rows(ck, gid, comm, mode=mode)
        keep = list(rr.rows.values())
    t = time.thread_time() - t0
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    hwm = _status("VmHWM") - rss0
    rows_b = sum(a.nbytes for a in keep)
    mine = (r, gid.size, hwm, traced, t, rows_b)
    res = comm.gather(mine, 0) if P > 1 else [mine]
    if r == 0:
        mb = 2.0 ** 20
        for rr_, m, h, tr, tt, rb in res:
            print(f"{Path(ck).name} n={n} P={P} mode={mode} rank {rr_}: {m} rows; peak RSS above start "
                  f"{h / mb:.1f} MiB, traced peak {tr / mb:.1f} MiB, rows kept {rb / mb:.1f} MiB, "
                  f"thread CPU {tt:.2f} s", flush=True)


if __name__ == "__main__":
    main()
