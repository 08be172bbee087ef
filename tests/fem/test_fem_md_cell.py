"""The derived stiffness against the MD engine itself: finite-difference stress–strain response of a
small periodic `AtomisticRegion` cell (orthorhombic box, so the normal-strain block of C)."""

from __future__ import annotations

import numpy as np
import pytest

import multiscale.md.potentials  # noqa: F401  (registers the potentials)
from multiscale.fem.materials.linear import Linear
from multiscale.md.lattice import Lattice
from multiscale.registry import POTENTIALS


def _md_energy_density(pot, lat: Lattice, cells: list[int], stretch: np.ndarray) -> float:  # noqa: ANN001
    from multiscale.md.box import Box
    from multiscale.md.system import AtomisticRegion

    d = lat.dim
    conv = {"hex": [lat.a, lat.a * np.sqrt(3.0)], "fcc": [lat.a] * 3, "bcc": [lat.a] * 3,
            "square": [lat.a] * 2, "sc": [lat.a] * 3}[lat.kind]
    hi = np.array(conv[:d]) * np.array(cells)
    X = lat.sites_in_box(np.zeros(d), hi)
    box = Box(np.zeros(d), hi * stretch, [True] * d)
    reg = AtomisticRegion(X * stretch, 1.0, pot, box, skin=0.1)
    return reg.compute() / float(np.prod(hi))  # per reference volume


@pytest.mark.parametrize(("kind", "a", "cells"), [("hex", 1.1, [5, 3]), ("fcc", 1.55, [3, 3, 3])])
def test_normal_block_of_C_matches_atomistic_region(kind, a, cells):
    pot = POTENTIALS.get("lj")(cutoff=2.0 if kind == "fcc" else 2.5)
    lat = Lattice(kind, a)
    d = lat.dim
    C = Linear.from_potential(pot, lat).C[:d, :d]

    def W(E: np.ndarray) -> float:  # Green normal strains -> stretches √(1 + 2E)
        return _md_energy_density(pot, lat, cells, np.sqrt(1.0 + 2.0 * E))

    def hess(h: float) -> np.ndarray:
        H = np.zeros((d, d))
        w0 = W(np.zeros(d))
        for i in range(d):
            ei = np.eye(d)[i] * h
            H[i, i] = (W(ei) - 2 * w0 + W(-ei)) / h**2
            for j in range(i):
                ej = np.eye(d)[j] * h
                H[i, j] = H[j, i] = (W(ei + ej) - W(ei - ej) - W(-ei + ej) + W(-ei - ej)) / (4 * h * h)
        return H

    C_md = (4 * hess(1e-3) - hess(2e-3)) / 3
    # measured 1.5e-9 / 2.3e-9 (README: "C ... against finite differences of a periodic MD cell"; ~4x)
    assert np.max(np.abs(C - C_md)) <= 1e-8 * np.abs(C).max(), (C, C_md)
