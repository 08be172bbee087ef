"""Run by tests/parallel/test_mpi_coupled_spatial_methods_eamfs.py under ``mpiexec -n P``: the spatial engine
(`parallel.engine.DistributedMD`) with an eam/fs file of several elements (AlFe_mm.eam.fs: Al, Fe; one density
table per element pair, rows s·nel + t) on a jittered two-element crystal in a free box.

    python mpi_eam_fs_driver.py OUT.npz STEPS [--newton]

`crystal` gives the configuration (B2 FeAl cells, every site's element drawn at random, so every pair of
elements is neighbour; jitter 0.05 Å; 2 Å/ps random velocities when STEPS > 0). Rank 0 starts with every
atom; after STEPS NVE steps (Δt 1 fs: rebuilds, atoms changing rank) rank 0 writes the gid-sorted x, forces
and per-atom energies, the energy and the atoms per rank.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

DT = 0.001      # [ps]


def crystal() -> dict:
    """X (n, 3), types (n,) int32, v (n, 3) [Å/ps], masses (n,) [internal], potential, box, skin."""
    from mpi_driver import lammps_potentials

    from multiscale.md.box import Box
    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.eam import EAMFile
    from multiscale.units import get_units

    rng = np.random.default_rng(2026)
    pot = EAMFile.from_file(lammps_potentials() / "AlFe_mm.eam.fs")
    a = 2.91
    L = np.array([9, 4, 4]) * a
    X = Lattice("b2", a).sites_in_box([0, 0, 0], L)
    X = X + 0.05 * rng.standard_normal(X.shape)
    types = rng.integers(0, 2, len(X)).astype(np.int32)
    u = get_units("metal")
    masses = np.array([26.98, 55.845])[types] * u.mvv2e
    v = 2.0 * rng.standard_normal(X.shape)
    return dict(X=X, types=types, v=v, masses=masses, potential=pot, box=Box([0, 0, 0], L, [False] * 3),
                skin=1.0)


def main() -> None:
    out_path, steps = sys.argv[1], int(sys.argv[2])
    newton = "--newton" in sys.argv[3:]
    from multiscale.parallel import DistributedMD, get_comm, run_guarded
    comm = get_comm()

    def run() -> None:
        c = crystal()
        n = len(c["X"])
        mine = slice(None) if comm.rank == 0 else slice(0, 0)
        md = DistributedMD(comm, c["X"][mine], (c["v"] if steps else np.zeros_like(c["X"]))[mine],
                           c["masses"][mine], np.arange(n)[mine], c["potential"], c["box"], c["skin"],
                           types=c["types"][mine], newton=newton)
        m0 = md.total_migrated()
        if steps:
            md.step(steps, DT)
            md.rebuild()
        md.compute()
        migrated = md.total_migrated() - m0
        E = md.potential_energy()
        lb = md.load_balance()
        g = md.gather()
        if comm.rank == 0:
            np.savez(out_path, **g, epot=E, atoms_per_rank=lb["atoms"], size=comm.size, builds=md.n_builds,
                     migrated=migrated)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
