"""Benchmark: one explicit finite-element step vs one sparse mat-vec of the assembled stiffness.

One step = the velocity-Verlet step of a continuum alone as the integrator takes it
(`ContinuumRegion.verlet_step`, what `VelocityVerlet` calls for a continuum without loads/constraints):
half-kick and drift, matrix-free internal forces, accelerations and half-kick. On a structured mesh run on
one thread this is ONE pass over the arrays (`fem_forces.stencil_verlet_step`: the kick and drift of
nodes ahead of the force loop, the acceleration and second kick right behind it, chunk by chunk in
cache), bitwise the same numbers as the three separate kernels (``verlet.kick_drift``, ``compute``,
``verlet.acc_kick``), whose ratio is printed alongside. On a 2D quad4 and a 3D hex8 mesh of about
10⁶ degrees of freedom.
Reference = one ``K @ u`` with scipy's CSR (int32 indices, single-threaded, result array allocated by
scipy as in any use of ``K @ u``), K assembled on the same mesh. Target: ratio step/mat-vec ≤ 0.5.

Timing: ``--repeat`` samples of each, INTERLEAVED (step, mat-vec, step, ...) so that both see the same
machine load; reported as the median and the spread (min–max) of the per-sample ratios, on the wall clock
and on this thread's CPU time (``time.thread_time``: on a loaded machine the wall clock also counts the
time the process waited for a core, which is why single best-of-7 wall-clock runs gave anything from
0.46 to 1.2 for the same code; the CPU-time ratio is the reproducible figure).

Why 0.46 / 0.29 in the README became 1.00 / 0.79 (and 1.22 / 0.58 here, 2026-12-06): the regular-mesh
step goes through node stencils (`multiscale.fem.stencil`), whose kernel summed each node's 9 (quad4) or
27 (hex8) d×d blocks in one chain of dependent multiply-adds — latency-bound (≈ 50 cycles per quad4
node) rather than bandwidth-bound — and the wall-clock best of 7 on a shared machine swung with the load
on the other core. Now four consecutive nodes of one stencil type are summed interleaved (same order
per node: bitwise the same forces): compute 10.8 → 4.9 ms (quad4), 32.7 → 14.1 ms (hex8) CPU time.
The rest of the step (two kicks and a drift, ≈ 2.5–3.5 ms for 10⁶ dofs) is memory-bandwidth bound.

Measured 2026-12-06 (load average 12–13, ``--repeat 9``), ratio medians (min–max), CPU time / wall,
with separate kick / drift / force kernels and the 4-node scalar stencil kernel:
  quad4 2D: 0.700 (0.611–0.768) / 0.844 (0.496–0.954)   (step 8.7 ms CPU, K@u 12.5 ms)  -- NOT ≤ 0.5
  hex8 3D:  0.281 (0.184–0.350) / 0.273 (0.173–0.328)   (step 17.4 ms CPU, K@u 62.5 ms)
quad4's bound then: the step streamed ≈ 100 MB (V, F, U, 1/m, out) in four passes against the
mat-vec's ≈ 210 MB (16·10⁶ nonzeros × 12 bytes), and the d = 2 stencil sums were latency-bound.
Now (fused one-pass step; d = 2 stencils summed for 8 consecutive nodes at once in 4-wide vectors, each
node's sum in the same order: bitwise the same forces as the one-node-at-a-time kernel), ``--repeat 9``:
  quad4 2D: 0.484 (0.406–0.669) CPU / 0.533 (0.377–0.754) wall (step 6.8 ms CPU, K@u 14.0 ms), load 15–20
            (the same step as three separate kernels: 0.556)
  hex8 3D:  0.292 (0.262–0.318) CPU / 0.320 (0.221–0.357) wall (step 17.0 ms CPU, K@u 57.7 ms)
(quad4 forces alone 3.6 ms CPU, from 4.9 ms with the 4-node scalar kernel and 10.8 ms with the
one-node one.)

Usage: ``.venv/bin/python benchmarks/bench_fem.py [--dofs 1e6] [--threads 1] [--repeat 9]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from multiscale._kernels import load
from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.registry import MESHES


def interleaved(fns: list, repeat: int) -> list[np.ndarray]:
    """Wall and thread-CPU samples [s] of each function, (2, repeat) per function, calls interleaved."""
    for fn in fns:
        fn()
    out = [np.zeros((2, repeat)) for _ in fns]
    for r in range(repeat):
        for k, fn in enumerate(fns):
            t0, c0 = time.perf_counter(), time.thread_time()
            fn()
            out[k][:, r] = time.perf_counter() - t0, time.thread_time() - c0
    return out


def case(dim: int, dofs: float, threads: int, repeat: int) -> dict:
    n_nodes = dofs / dim
    if dim == 2:
        n = int(round(np.sqrt(n_nodes))) - 1
        G = MESHES.get("rectangle")
        mesh = G.build(G.Params(lo=[0, 0], hi=[float(n), float(n)], size=1.0, element="quad4"))
    else:
        n = int(round(n_nodes ** (1 / 3))) - 1
        G = MESHES.get("box")
        mesh = G.build(G.Params(lo=[0, 0, 0], hi=[float(n)] * 3, size=1.0, element="hex8"))
    reg = ContinuumRegion(mesh, Isotropic(100.0, 0.3, dim), density=1.0, n_threads=threads)
    verlet = load("verlet")
    rng = np.random.default_rng(0)
    reg.U[:] = 1e-3 * rng.normal(size=reg.U.shape)
    inv_m = np.repeat((1.0 / reg.lumped_mass)[:, None], dim, axis=1)   # per component, as the integrator
    dt = 0.5 * reg.stable_dt()
    reg.compute()
    acc = reg.forces * inv_m
    acc2 = acc.copy()

    def step() -> None:
        # the integrator's pure-FE step (VelocityVerlet._fe_step): one pass when every node is a
        # structured stencil node and threads == 1, else the three kernels below
        reg.verlet_step(acc, inv_m, 0.5 * dt, dt)

    def separate() -> None:
        # the same step as three kernels (kick + drift, forces, acceleration + kick): bitwise the same
        verlet.kick_drift(reg.V, reg.U, acc2, 0.5 * dt, dt, threads)
        reg.compute()
        verlet.acc_kick(reg.V, acc2, reg.forces, inv_m, 0.5 * dt, threads)

    K = reg.stiffness_matrix()
    u = reg.U.ravel().copy()
    s_step, s_sep, s_mv = interleaved([step, separate, lambda: K @ u], repeat)
    sep = np.median(s_sep[1] / s_mv[1])
    ratio = s_step / s_mv          # (2, repeat): wall, CPU per sample
    reg.compute()
    err = np.max(np.abs(K @ reg.U.ravel() + reg.forces.ravel())) / np.max(np.abs(reg.forces))
    return dict(dim=dim, elem=mesh.blocks[0].type, nodes=mesh.n_nodes, dofs=mesh.n_nodes * dim,
                elements=mesh.n_elements, nnz=K.nnz, idx=K.indices.dtype.name,
                t_step=np.median(s_step[0]), t_mv=np.median(s_mv[0]), c_step=np.median(s_step[1]),
                c_mv=np.median(s_mv[1]), ratio=np.median(ratio[0]), ratio_lo=ratio[0].min(),
                ratio_hi=ratio[0].max(), c_ratio=np.median(ratio[1]), c_ratio_lo=ratio[1].min(),
                c_ratio_hi=ratio[1].max(), err=err, sep=sep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dofs", type=float, default=1e6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=9)
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} at start; threads={a.threads}; medians of {a.repeat} "
          f"interleaved samples, ratio = per-sample step / mat-vec with its min-max")
    print(f"{'case':<10}{'dofs':>9}{'nnz(K)':>10}{'step':>8}{'K@u':>8}{'wall ratio':>22}{'cpu step':>10}"
          f"{'cpu K@u':>9}{'cpu ratio':>22}{'|Ku+f|/|f|':>12}")
    for dim in (2, 3):
        r = case(dim, a.dofs, a.threads, a.repeat)
        print(f"{r['elem'] + f' {dim}D':<10}{r['dofs']:>9d}{r['nnz']:>10d}{1e3 * r['t_step']:>8.2f}"
              f"{1e3 * r['t_mv']:>8.2f}{r['ratio']:>8.3f} ({r['ratio_lo']:.3f}-{r['ratio_hi']:.3f})"
              f"{1e3 * r['c_step']:>10.2f}{1e3 * r['c_mv']:>9.2f}"
              f"{r['c_ratio']:>8.3f} ({r['c_ratio_lo']:.3f}-{r['c_ratio_hi']:.3f}){r['err']:>12.1e}"
              f"   (3 separate kernels: cpu ratio {r['sep']:.3f})", flush=True)
    print(f"times in ms; target ratio <= 0.5; load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
