"""Run by tests/parallel/test_mpi_spatial_memory.py under ``mpiexec -n P``: `parallel.slab_sites.slab_sites`
on each rank's slab of a few lattices; rank 0 writes every rank's (X, sub, gid) per case.

    python mpi_slab_sites_driver.py OUT.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

# name -> (kind, a, orient, lo, hi, slab cuts along x (P - 1 inner cuts are taken from these), keep)
CASES = {
    "hex": ("hex", 1.1, None, [-20.0, -15.0], [20.0, 15.0], None),
    "hex_rotated_hole": ("hex", 1.1, 17.0, [-20.0, -15.0], [20.0, 15.0], "hole"),
    "fcc_rotated": ("fcc", 3.6, [[1, 1, 0], [-1, 1, 0], [0, 0, 1]], [-9.0, -8.0, -7.0], [9.0, 8.0, 7.0],
                    "hole"),
}


def keep_fn(name):  # noqa: ANN001, ANN201
    if name is None:
        return None
    return lambda X, sub: np.sum(X * X, axis=1) > 25.0        # a hole of radius 5 (pointwise)


def cuts(lo: float, hi: float, P: int, lattice) -> list[float]:  # noqa: ANN001
    """P - 1 inner cuts; the first on a lattice plane through the origin (x = 0 holds sites: the
    half-open ownership at a plane of sites), the others at fractions of the box."""
    inner = [0.0] + [lo + (hi - lo) * k / P for k in range(2, P)]
    return sorted(inner)[: P - 1]


def main() -> None:
    from multiscale.md.lattice import Lattice
    from multiscale.parallel import get_comm
    from multiscale.parallel.slab_sites import slab_sites
    comm = get_comm()
    out = {}
    for name, (kind, a, orient, lo, hi, keep) in CASES.items():
        lat = Lattice(kind, a, orient=orient)
        c = cuts(lo[0], hi[0], comm.size, lat)
        edges = [-np.inf, *c, np.inf]
        r = comm.rank
        X, sub, gid = slab_sites(lat, np.array(lo), np.array(hi), (edges[r], edges[r + 1]), comm,
                                 keep=keep_fn(keep))
        parts = comm.gather((X, sub, gid), 0) if comm.size > 1 else [(X, sub, gid)]
        if comm.rank == 0:
            for k, (x, s, g) in enumerate(parts):
                out[f"{name}/{k}/X"], out[f"{name}/{k}/sub"], out[f"{name}/{k}/gid"] = x, s, g
    if comm.rank == 0:
        np.savez(sys.argv[1], size=comm.size, **out)


if __name__ == "__main__":
    main()
