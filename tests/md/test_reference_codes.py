"""Energies and forces against independent codes on the same random configurations (rel. diff <= 1e-10):
ASE's LennardJones and MorsePotential calculators, and LAMMPS (Python module) for lj/cut (cut, shift),
lj/smooth/linear, morse, eam (funcfl Cu_u3.eam), eam/alloy (setfl Cu_mishin1, two-element AlCu)."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.md.potentials.eam import EAMFile
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.potentials.morse import Morse

from .refcodes import lammps_eval, lammps_potential_dir, msim_eval, random_config

TOL = 1e-13  # measured max 1.2e-14 (README "What is verified": ~8x headroom)
DIMS = [(1, 14), (2, 8), (3, 5)]


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


def _ase_atoms(x, box):
    from ase import Atoms

    n, d = x.shape
    cell = np.diag([100.0, 100.0, 100.0])
    pos = np.zeros((n, 3))
    pos[:, :d] = x
    pbc = [False] * 3
    for k in range(d):
        if box.periodic[k]:
            cell[k, k] = box.hi[k] - box.lo[k]
            pbc[k] = True
    return Atoms(f"H{n}", positions=pos, cell=cell, pbc=pbc)


@pytest.mark.parametrize("d,nc", DIMS)
@pytest.mark.parametrize("periodic", [True, False])
def test_lj_shift_vs_ase(d, nc, periodic):
    from ase.calculators.lj import LennardJones as AseLJ

    x, box = random_config(np.random.default_rng(d), d, nc, 1.12, 0.08, periodic)
    E, f, e = msim_eval(LennardJones(1.0, 1.0, 2.5, "shift"), x, box)
    atoms = _ase_atoms(x, box)
    atoms.calc = AseLJ(epsilon=1.0, sigma=1.0, rc=2.5, smooth=False)
    assert _rel(E, atoms.get_potential_energy()) <= TOL
    assert _rel(f, atoms.get_forces()[:, :d]) <= TOL
    assert _rel(e, atoms.get_potential_energies()) <= TOL


@pytest.mark.parametrize("d,nc", DIMS)
def test_morse_vs_ase(d, nc):
    from ase.calculators.morse import MorsePotential

    D, alpha, r0, rc = 0.3429, 1.3588, 2.866, 6.0
    x, box = random_config(np.random.default_rng(20 + d), d, nc + 1, 2.75, 0.06, True)
    E, f, _ = msim_eval(Morse(D, alpha, r0, rc), x, box)
    atoms = _ase_atoms(x, box)
    # ASE's smooth cut-off switched over a 1e-12 relative interval = a plain cut at rc
    atoms.calc = MorsePotential(epsilon=D, rho0=alpha * r0, r0=r0, rcut1=rc / r0, rcut2=rc / r0 * (1 + 1e-12))
    assert _rel(E, atoms.get_potential_energy()) <= TOL
    assert _rel(f, atoms.get_forces()[:, :d]) <= TOL


LJ_CASES = {
    "cut": ["pair_style lj/cut 2.5", "pair_coeff 1 1 1.0 1.0"],
    "shift": ["pair_style lj/cut 2.5", "pair_coeff 1 1 1.0 1.0", "pair_modify shift yes"],
    "smooth": ["pair_style lj/smooth/linear 2.5", "pair_coeff 1 1 1.0 1.0"],
}


@pytest.mark.parametrize("d,nc", DIMS)
@pytest.mark.parametrize("trunc", list(LJ_CASES))
def test_lj_vs_lammps(d, nc, trunc):
    x, box = random_config(np.random.default_rng(30 + d), d, nc, 1.12, 0.08, True)
    E, f, _ = msim_eval(LennardJones(1.0, 1.0, 2.5, trunc), x, box)
    El, fl = lammps_eval(x, box, LJ_CASES[trunc], units="lj")
    assert _rel(E, El) <= TOL
    assert _rel(f, fl) <= TOL


@pytest.mark.parametrize("d,nc", DIMS)
def test_morse_vs_lammps(d, nc):
    x, box = random_config(np.random.default_rng(40 + d), d, nc + 1, 2.75, 0.06, d != 2)
    E, f, _ = msim_eval(Morse(0.3429, 1.3588, 2.866, 6.0), x, box)
    El, fl = lammps_eval(x, box, ["pair_style morse 6.0", "pair_coeff 1 1 0.3429 1.3588 2.866"],
                         units="metal")
    assert _rel(E, El) <= TOL
    assert _rel(f, fl) <= TOL


EAM_CASES = {
    "Cu_u3.eam": ("eam", "pair_coeff 1 1 {path}"),
    "Cu_mishin1.eam.alloy": ("eam/alloy", "pair_coeff * * {path} Cu"),
}


@pytest.mark.parametrize("d,nc", DIMS)
@pytest.mark.parametrize("fname", list(EAM_CASES))
@pytest.mark.parametrize("periodic", [True, False])
def test_eam_file_vs_lammps(d, nc, fname, periodic):
    path = lammps_potential_dir() / fname
    pot = EAMFile.from_file(path)
    nc = max(nc, int(np.ceil(2 * (pot.cutoff + 0.3) / 2.55)) + 1) if periodic else nc
    x, box = random_config(np.random.default_rng(50 + d), d, nc, 2.55, 0.06, periodic)
    E, f, _ = msim_eval(pot, x, box)
    style, coeff = EAM_CASES[fname]
    El, fl = lammps_eval(x, box, [f"pair_style {style}", coeff.format(path=path)], units="metal")
    assert _rel(E, El) <= TOL
    assert _rel(f, fl) <= TOL


@pytest.mark.parametrize("d", [2, 3])
def test_eam_alloy_two_elements_vs_lammps(d):
    path = lammps_potential_dir() / "AlCu.eam.alloy"
    pot = EAMFile.from_file(path)
    rng = np.random.default_rng(60 + d)
    nc = int(np.ceil(2 * (pot.cutoff + 0.3) / 2.6)) + 1
    x, box = random_config(rng, d, nc, 2.6, 0.06, True)
    types = rng.integers(0, 2, len(x)).astype(np.int32)
    E, f, _ = msim_eval(pot, x, box, types=types)
    El, fl = lammps_eval(x, box, ["pair_style eam/alloy", f"pair_coeff * * {path} {' '.join(pot.elements)}"],
                         units="metal", types=types, ntypes=2)
    assert _rel(E, El) <= TOL
    assert _rel(f, fl) <= TOL
