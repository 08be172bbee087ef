"""The LAMMPS bridge keeps LAMMPS's own periodic images between LAMMPS's neighbour rebuilds
(`multiscale.md.engines.lammps_engine`): atoms that drift across a periodic face stay outside the box in
LAMMPS (no rebuild, as in a LAMMPS run of its own), forces stay those of plain LAMMPS on the same
configuration, and after a move beyond skin/2 (LAMMPS rebuilds and rewraps) the bridge follows LAMMPS's
new images."""

from __future__ import annotations

import numpy as np

from multiscale.md.box import Box
from multiscale.md.lattice import Lattice
from multiscale.md.potentials import make_potential
from multiscale.md.system import AtomisticRegion
from multiscale.units import METAL

from ..test_engine_lammps import plain_lammps


def _rel(a, b) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_drift_across_periodic_face_keeps_lammps_images():
    pot = make_potential({"type": "lammps", "pair_style": "tersoff", "pair_coeff": ["* * Si.tersoff Si"],
                          "skin": 2.0}, METAL)
    a, c = 5.431, 2
    L = a * c
    X = Lattice("diamond", a).sites_in_box(np.zeros(3), np.full(3, L)) + 0.01
    X += np.random.default_rng(1).uniform(-0.05, 0.05, X.shape)
    box = Box(np.zeros(3), np.full(3, L), [True] * 3)
    region = AtomisticRegion(X, 1.0, pot, box, skin=0.5)
    region.compute()
    (_, eng), = pot._engines.values()
    lmp = eng.lmp
    xl = lmp.numpy.extract_atom("x", nelem=len(X), dim=3)
    img0 = xl - region.x                          # LAMMPS's images of the first build (multiples of L)
    assert np.allclose(img0 / L, np.round(img0 / L), rtol=0, atol=1e-12)
    shift = np.zeros(3)
    for step in range(6):                       # 6 × 0.15 Å < skin/2 = 1 Å: no LAMMPS rebuild
        shift[0] += 0.15
        region.x[...] = X + shift
        region.compute()
        _, fr, _ = plain_lammps(region.x, box, "tersoff", ["* * Si.tersoff Si"])
        assert _rel(region.forces, fr) <= 1e-10, step
        xl = lmp.numpy.extract_atom("x", nelem=len(X), dim=3)
        dev = np.abs(xl - region.x - img0)
        assert dev.max() <= 1e-12, (step, dev.max(), np.argwhere(dev > 1e-12)[:5])  # same images: no rewrap
    assert xl[:, 0].max() > L                    # LAMMPS holds atoms that crossed the face outside it
    region.x[...] = X + [3.0, -1.0, 0.5]         # beyond skin/2: LAMMPS rebuilds and rewraps
    region.compute()
    xl = lmp.numpy.extract_atom("x", nelem=len(X), dim=3)
    assert xl.min() >= 0.0 and xl.max() < L
    for step in range(3):
        region.x[...] += 0.2
        region.compute()
        _, fr, _ = plain_lammps(region.x, box, "tersoff", ["* * Si.tersoff Si"])
        assert _rel(region.forces, fr) <= 1e-10, step
