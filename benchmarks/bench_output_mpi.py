"""Results output of a distributed run: rank-0 gather vs per-rank files joined by an HDF5 virtual dataset.

One frame = positions, velocities, forces (N, 3) and per-atom energies (N,) float64 (80 bytes per atom:
80 MB at N = 10⁶), held by P ranks as in `parallel.engine.DistributedMD`: rank r owns ~N/P atoms with
ARBITRARY global ids (after migration the owned set is not a gid range). Three ways to write the serial
layout (datasets (frames, N, ...) in global-id order):

  gather   every rank sends (gid, 10 doubles) to rank 0 (MPI Gatherv), rank 0 puts them in gid order and
           appends the frame to ONE file (what `run.distributed.DistributedFields` does today);
  vds      the ranks first exchange rows so that rank r holds the fixed gid block [N r/P, N (r+1)/P)
           (MPI Alltoallv), each rank appends its block to ITS OWN file, and a master file maps the
           blocks with an HDF5 virtual dataset (one VDS per field: the serial layout for any reader);
  vds-fixed  as vds without the exchange: each rank already holds a fixed gid block (the quasi-statics
           split of `run.distributed_statics`, whose blocks never change).

Per frame: wall time of the whole write (exchange + HDF5 append + flush), max over ranks (the slowest
rank is what the run waits for); peak Python/numpy heap of rank 0 during the frame (tracemalloc: the
gather / exchange buffers and sorting copies; HDF5's own caches are not included) next to the frame's
size. Chunks like `output.hdf5._chunks` (~1 MiB, whole rows of one frame), no compression, flushed after
every frame (as `ResultsWriter`), written to --dir (default: a temporary directory on the same disk as
the results would be). After the run the VDS file is read back and compared with the gathered file
(bitwise), and the time to (re)create the master file's VDS is reported.

Usage:  .venv/bin/python benchmarks/bench_output_mpi.py [--atoms 1000000] [--frames 5] [--ranks 2]
(relaunches itself under the venv's mpiexec; prints a table and a JSON line).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

FIELDS = {"position": 3, "velocity": 3, "force": 3, "energy": 0}
WIDTH = 10                       # doubles per atom


def _chunk(n: int, d: int) -> tuple:
    """~1 MiB chunks of one frame's rows (output.hdf5._chunks for rows larger than 1 MiB)."""
    row = n * max(d, 1) * 8
    nchunks = -(-row // (1 << 20))
    c = -(-n // nchunks)
    return (1, c, d) if d else (1, c)


def _create(f, n: int) -> dict:  # noqa: ANN001
    out = {}
    for name, d in FIELDS.items():
        shape = (0, n, d) if d else (0, n)
        out[name] = f.create_dataset(name, shape=shape, maxshape=(None, *shape[1:]), dtype="f8",
                                     chunks=_chunk(n, d))
    return out


def _append(dsets: dict, block: np.ndarray) -> None:
    """block (n, 10): the frame's columns, appended as one row of every dataset."""
    col = 0
    for name, d in FIELDS.items():
        ds = dsets[name]
        i = ds.shape[0]
        ds.resize(i + 1, axis=0)
        w = max(d, 1)
        ds[i] = block[:, col: col + w] if d else block[:, col]
        col += w


def worker(args) -> None:  # noqa: ANN001
    import h5py
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    r, P = comm.Get_rank(), comm.Get_size()
    N = args.atoms
    rng = np.random.default_rng(12345)
    perm = rng.permutation(N)                       # arbitrary ownership: rank r holds perm[r::P]
    own = np.sort(perm[r::P]).astype(np.int64)
    bounds = (np.arange(P + 1, dtype=np.int64) * N) // P
    lo, hi = int(bounds[r]), int(bounds[r + 1])
    d = Path(args.dir)

    def frame_data(k: int, gids: np.ndarray) -> np.ndarray:
        """(len(gids), 10) values that depend on (frame, gid) only (checkable after the run)."""
        g = gids.astype(float)[:, None]
        return np.sin(g * 1e-3 + k + np.arange(WIDTH)[None, :])

    res = {}
    for method in args.methods:
        fr_t, fr_mem = [], []
        if method == "gather":
            f = h5py.File(d / "gather.h5", "w", libver="latest") if r == 0 else None
            ds = _create(f, N) if r == 0 else None
        else:
            f = h5py.File(d / f"{method}.rank{r}.h5", "w", libver="latest")
            ds = _create(f, hi - lo)
        for k in range(args.frames):
            gids = np.arange(lo, hi, dtype=np.int64) if method == "vds-fixed" else own
            data = np.ascontiguousarray(frame_data(k, gids))
            comm.Barrier()
            if r == 0:
                tracemalloc.start()
            t0 = time.perf_counter()
            if method == "gather":
                counts = np.array(comm.allgather(gids.size), np.int64)
                displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
                g_all = np.empty(N, np.int64) if r == 0 else None
                v_all = np.empty((N, WIDTH)) if r == 0 else None
                recv = [g_all, counts.tolist(), displs.tolist(), MPI.INT64_T] if r == 0 else None
                comm.Gatherv(gids, recv, 0)
                comm.Gatherv(data, [v_all, (counts * WIDTH).tolist(), (displs * WIDTH).tolist(), MPI.DOUBLE]
                             if r == 0 else None, 0)
                if r == 0:
                    out = np.empty_like(v_all)
                    out[g_all] = v_all
                    _append(ds, out)
                    f.flush()
            else:
                if method == "vds":
                    dest = np.searchsorted(bounds[1:], gids, side="right")
                    order = np.argsort(dest, kind="stable")
                    scounts = np.bincount(dest, minlength=P).astype(np.int64)
                    rcounts = np.array(comm.alltoall(scounts.tolist()), np.int64)
                    sd = np.concatenate([[0], np.cumsum(scounts)[:-1]])
                    rd = np.concatenate([[0], np.cumsum(rcounts)[:-1]])
                    g_in = np.empty(int(rcounts.sum()), np.int64)
                    v_in = np.empty((int(rcounts.sum()), WIDTH))
                    comm.Alltoallv([np.ascontiguousarray(gids[order]), scounts.tolist(), sd.tolist(),
                                    MPI.INT64_T],
                                   [g_in, rcounts.tolist(), rd.tolist(), MPI.INT64_T])
                    comm.Alltoallv([np.ascontiguousarray(data[order]), (scounts * WIDTH).tolist(),
                                    (sd * WIDTH).tolist(), MPI.DOUBLE],
                                   [v_in, (rcounts * WIDTH).tolist(), (rd * WIDTH).tolist(), MPI.DOUBLE])
                    block = np.empty((hi - lo, WIDTH))
                    block[g_in - lo] = v_in
                else:
                    block = data
                _append(ds, block)
                f.flush()
            t1 = time.perf_counter()
            if r == 0:
                fr_mem.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
            fr_t.append(max(comm.allgather(t1 - t0)))
        if f is not None:
            f.close()
        comm.Barrier()
        t_vds = None
        if method != "gather" and r == 0:        # master file: one VDS per field over the rank files
            t0 = time.perf_counter()
            with h5py.File(d / f"{method}.h5", "w", libver="latest") as m:
                for name, dd in FIELDS.items():
                    shape = (args.frames, N, dd) if dd else (args.frames, N)
                    lay = h5py.VirtualLayout(shape=shape, dtype="f8")
                    for q in range(P):
                        a, b = int(bounds[q]), int(bounds[q + 1])
                        src_shape = (args.frames, b - a, dd) if dd else (args.frames, b - a)
                        lay[:, a:b] = h5py.VirtualSource(f"{method}.rank{q}.h5", name, shape=src_shape)
                    m.create_virtual_dataset(name, lay)
            t_vds = time.perf_counter() - t0
        res[method] = {"t_frame_s": fr_t, "rank0_peak_bytes": fr_mem, "t_vds_create_s": t_vds}
    if r == 0:                                   # read back: every method gives the serial layout
        check = {}
        with h5py.File(d / "gather.h5", "r") as g:
            ref = {k: g[k][-1] for k in FIELDS} if "gather" in args.methods else None
            for method in args.methods:
                if method == "gather":
                    continue
                t0 = time.perf_counter()
                with h5py.File(d / f"{method}.h5", "r") as m:
                    got = {k: m[k][-1] for k in FIELDS}
                t_read = time.perf_counter() - t0
                same = all(np.array_equal(got[k], ref[k]) for k in FIELDS)
                check[method] = {"bitwise_equal_to_gather": same,
                                 "t_read_last_frame_s": t_read}
        exp = frame_data(args.frames - 1, np.arange(N))
        ok_ref = np.array_equal(ref["position"], exp[:, 0:3]) and np.array_equal(ref["energy"], exp[:, 9])
        print(json.dumps({"atoms": N, "ranks": P, "frames": args.frames, "frame_bytes": N * WIDTH * 8,
                          "gather_file_correct": bool(ok_ref), "results": res, "check": check}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--atoms", type=int, default=1_000_000)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--methods", nargs="+", default=["gather", "vds", "vds-fixed"])
    ap.add_argument("--worker", action="store_true")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    tmp = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="msim_out_bench_"))
    tmp.mkdir(parents=True, exist_ok=True)
    mpiexec = Path(sys.executable).parent / "mpiexec"
    load0 = os.getloadavg()
    cmd = [str(mpiexec), "-n", str(args.ranks), sys.executable, __file__, "--worker", "--atoms",
           str(args.atoms),
           "--frames", str(args.frames), "--dir", str(tmp), "--methods", *args.methods]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    load1 = os.getloadavg()
    if not args.dir:
        shutil.rmtree(tmp, ignore_errors=True)
    if p.returncode:
        sys.exit(p.stdout + p.stderr)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["load_average"] = [load0[0], load1[0]]
    mb = out["frame_bytes"] / 1e6
    print(f"{out['atoms']} atoms, {out['ranks']} ranks, {out['frames']} frames of {mb:.0f} MB, "
          f"load average {load0[0]:.1f} -> {load1[0]:.1f}")
    print(f"{'method':<10} {'median s/frame':>15} {'min':>7} {'max':>7} {'rank-0 peak MB':>15} "
          f"{'VDS create s':>13}")
    for m, r in out["results"].items():
        t = np.array(r["t_frame_s"])
        mem = max(r["rank0_peak_bytes"]) / 1e6
        vds = "" if r["t_vds_create_s"] is None else f"{r['t_vds_create_s']:.4f}"
        print(f"{m:<10} {np.median(t):15.3f} {t.min():7.3f} {t.max():7.3f} {mem:15.1f} {vds:>13}")
    print("read-back:", out["check"], "gather file correct:", out["gather_file_correct"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
