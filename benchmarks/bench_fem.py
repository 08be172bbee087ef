"""Benchmark: one explicit finite-element step vs one sparse mat-vec of the assembled stiffness.

One step = matrix-free internal forces (`ContinuumRegion.compute`) + the two velocity-Verlet half-kicks
and the drift (`kernels/verlet.pyx`), on a 2D quad4 and a 3D hex8 mesh of about 10⁶ degrees of freedom.
Reference = one ``K @ u`` with scipy's CSR (int32 indices, single-threaded), K assembled on the same
mesh. Target: ratio step/mat-vec ≤ 0.5.

Usage: ``.venv/bin/python benchmarks/bench_fem.py [--dofs 1e6] [--threads 1] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from multiscale._kernels import load
from multiscale.fem import ContinuumRegion
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.registry import MESHES


def best_of(fn, repeat: int, clock=time.perf_counter) -> float:  # noqa: ANN001
    """Best of ``repeat`` timings [s] (after one warm-up call)."""
    fn()
    ts = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        ts.append(clock() - t0)
    return min(ts)


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
    inv_m = 1.0 / reg.lumped_mass
    dt = 0.5 * reg.stable_dt()

    def step() -> None:
        verlet.kick(reg.V, reg.forces, inv_m, 0.5 * dt, threads)
        verlet.drift(reg.U, reg.V, dt, threads)
        reg.compute()
        verlet.kick(reg.V, reg.forces, inv_m, 0.5 * dt, threads)

    K = reg.stiffness_matrix()
    u = reg.U.ravel().copy()
    t_step = best_of(step, repeat)
    t_mv = best_of(lambda: K @ u, repeat)
    # CPU time of this thread: robust on a shared machine (meaningful for --threads 1)
    c_step = best_of(step, repeat, time.thread_time)
    c_mv = best_of(lambda: K @ u, repeat, time.thread_time)
    reg.compute()
    err = np.max(np.abs(K @ reg.U.ravel() + reg.forces.ravel())) / np.max(np.abs(reg.forces))
    return dict(dim=dim, elem=mesh.blocks[0].type, nodes=mesh.n_nodes, dofs=mesh.n_nodes * dim,
                elements=mesh.n_elements, nnz=K.nnz, idx=K.indices.dtype.name, t_step=t_step, t_mv=t_mv,
                ratio=t_step / t_mv, c_step=c_step, c_mv=c_mv, c_ratio=c_step / c_mv, err=err)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dofs", type=float, default=1e6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    print(f"{'case':<10}{'dofs':>10}{'elements':>10}{'nnz(K)':>12}{'step [ms]':>11}{'K@u [ms]':>10}"
          f"{'ratio':>8}{'cpu step':>10}{'cpu K@u':>9}{'cpu ratio':>10}{'|Ku+f|/|f|':>12}")
    for dim in (2, 3):
        r = case(dim, a.dofs, a.threads, a.repeat)
        print(f"{r['elem'] + f' {dim}D':<10}{r['dofs']:>10d}{r['elements']:>10d}{r['nnz']:>12d}"
              f"{1e3 * r['t_step']:>11.2f}{1e3 * r['t_mv']:>10.2f}{r['ratio']:>8.3f}"
              f"{1e3 * r['c_step']:>10.2f}"
              f"{1e3 * r['c_mv']:>9.2f}{r['c_ratio']:>10.3f}{r['err']:>12.1e}")
    print(f"threads={a.threads}; target ratio <= 0.5 (one explicit step vs one CSR mat-vec, "
          f"best of {a.repeat}; wall-clock and thread CPU time)")


if __name__ == "__main__":
    main()
