"""kernels/eam.pyx: `compute` and the separate passes (`densities`, `embedding`, `forces`, called one by one
by the distributed engine, multiscale/parallel/engine.py) are one implementation: called in sequence the
passes give bitwise the forces, energies, densities and F'(ρ) of `compute`, in 2D (chunked loops) and 3D,
for a setfl alloy and an eam/fs alloy (nel² density tables), with site and bond weights, per-atom or owner
energies, and on 1 or 2 threads."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.md.neighbors import NeighborList
from multiscale.md.potentials.eam import EAMFile
from multiscale.md.potentials.pairbase import list_args

from .refcodes import lammps_potential_dir, random_config


def _system(fname: str, dim: int, weighted: bool):  # noqa: ANN202
    pot = EAMFile.from_file(lammps_potential_dir() / fname)
    rng = np.random.default_rng(11)
    ncell = int(np.ceil((2.0 if dim == 3 else 5.0) * (pot.cutoff + 0.3) / 2.6)) + 1   # 2D: >= 4 slabs
    x, box = random_config(rng, dim, ncell, 2.6, 0.05, True)
    types = rng.integers(0, len(pot.elements), len(x)).astype(np.int32)
    nl = NeighborList(box, pot.cutoff, 0.3)
    nl.build(x)
    sw = rng.uniform(0.0, 1.0, len(x)) if weighted else np.zeros(0)
    bw = rng.uniform(0.0, 1.0, nl.n_entries) if weighted else np.zeros(0)
    return pot, x, types, nl, sw, bw


@pytest.mark.parametrize("fname", ["AlCu.eam.alloy", "AlFe_mm.eam.fs"])
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("per_atom", [True, False])
def test_passes_in_sequence_are_bitwise_compute(fname, dim, weighted, per_atom):
    pot, x, types, nl, sw, bw = _system(fname, dim, weighted)
    t, k = pot.tables, pot._k
    n, nel = len(x), len(pot.elements)
    assert nel == 2 and (t.rhor.shape[0] == 4) == fname.endswith(".fs")
    for nt in (1, 2):
        f0, e0, rho0, fp0 = np.full_like(x, np.nan), np.full(n, np.nan), np.zeros(n), np.zeros(n)
        k.compute(x, *list_args(nl), bw, f0, e0, np.zeros((0, 0)), types, sw, t.frho, t.rhor, t.z2r,
                  1.0 / t.dr, 1.0 / t.drho, t.cutoff ** 2, t.rhomax, rho0, fp0, per_atom, nt)
        assert np.all(np.isfinite(f0)) and np.abs(f0).max() > 0
        f, e, rho, fp = np.full_like(x, np.nan), np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        k.densities(x, *list_args(nl), types, t.rhor, 1.0 / t.dr, t.cutoff ** 2, rho, nt, nel=nel)
        k.embedding(rho, types, t.frho, 1.0 / t.drho, t.rhomax, fp, e, n, nt, site_w=sw)
        k.forces(x, *list_args(nl), types, t.rhor, t.z2r, 1.0 / t.dr, t.cutoff ** 2, fp, f, e, nt,
                 bond_w=bw, per_atom=per_atom)
        for a, b in ((rho, rho0), (fp, fp0), (f, f0), (e, e0)):
            assert np.array_equal(a, b)
        if nt == 1:
            ref = (f0, e0)
        else:
            assert np.array_equal(f0, ref[0]) and np.array_equal(e0, ref[1])


def test_engine_call_signature_unweighted_matches_compute():
    """The distributed engine's call (positional, no weights, default per-atom energies, nel from rhor)."""
    pot, x, types, nl, _, _ = _system("AlCu.eam.alloy", 2, False)
    t, k = pot.tables, pot._k
    n = len(x)
    f0, e0 = np.zeros_like(x), np.zeros(n)
    pot.compute(x, nl, None, None, f0, e0, 1, types=types)
    args = list_args(nl)
    rho, fp, f, e = np.zeros(n), np.zeros(n), np.zeros_like(x), np.zeros(n)
    k.densities(x, *args, types, t.rhor, 1.0 / t.dr, t.cutoff ** 2, rho, 1)
    k.embedding(rho, types, t.frho, 1.0 / t.drho, t.rhomax, fp, e, n, 1)
    k.forces(x, *args, types, t.rhor, t.z2r, 1.0 / t.dr, t.cutoff ** 2, fp, f, e, 1)
    assert np.array_equal(f, f0) and np.array_equal(e, e0) and np.array_equal(rho, pot.rho)
