"""Plain MD (no weights passed) takes the kernels' unweighted path: bitwise the same energies, forces,
per-atom energies and virial as the weighted path with all weights 1, for every potential, 1D/2D/3D,
1 and 2 threads."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale import plugins
from multiscale.md.neighbors import NeighborList

from .test_potentials import NAMES, _setup

plugins.load_all()


@pytest.mark.threads
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_no_weights_is_bitwise_all_weights_one(name, d):
    pot, x, box, _ = _setup(name, d, seed=10 + d)
    n = len(x)
    out = {None: [], "virial": []}
    for nt in (1, 2):
        nl = NeighborList(box, pot.cutoff, 0.4, n_threads=nt)
        nl.build(x)
        for site_w, bond_w in ((None, None), (np.ones(n), np.ones(nl.n_entries))):
            for key in out:
                virial = np.zeros((d, d)) if key else None
                f, e = np.zeros_like(x), np.zeros(n)
                E = pot.compute(x, nl, site_w, bond_w, f, e, nt, virial=virial)
                out[key].append((E, f, e, virial))
    for runs in out.values():          # per kernel path (with / without virial)
        E0, f0, e0, v0 = runs[0]
        assert np.any(f0 != 0) and E0 != 0
        for E, f, e, virial in runs[1:]:
            assert E == E0 and np.array_equal(f, f0) and np.array_equal(e, e0)
            assert virial is None or np.array_equal(virial, v0)
