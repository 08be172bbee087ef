"""The 3D LJ fast path (pair_lj._lj3) with a coupled model's bond weights (issue 13): rows whose weights are
all exactly 1 (flagged 0 in ``bond_w_rows``) skip the weights, entries of weight exactly 0 (pad–pad bonds
beyond the handshake) are skipped before the distance. Both must leave the forces and per-atom energies
bitwise those of the generic d-dimensional loop (``generic=True``, which evaluates every entry and
multiplies by every weight), on 1, 2 and 3 threads, periodic and free boxes."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.md.neighbors import NeighborList
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.potentials.pairbase import list_args

from .refcodes import random_config


def _generic(pot, x, nl, w, n_threads, per_atom):  # noqa: ANN001, ANN202
    n = x.shape[0]
    f, e = np.full_like(x, np.nan), np.full(n, np.nan)       # the kernel must overwrite every output
    pot._k.compute(x, *list_args(nl), w, f, e, np.zeros((0, 0)), *pot._kernel_params(), per_atom,
                   n_threads, generic=True)
    return f, e


@pytest.mark.parametrize("truncation", ["shift", "smooth"])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("per_atom", [True, False])
def test_3d_zero_and_unit_weight_rows_bitwise_generic_loop(truncation, periodic, per_atom):
    pot = LennardJones(1.0, 1.0, 2.5, truncation)
    rng = np.random.default_rng(5)
    x, box = random_config(rng, 3, 9, 1.12, 0.08, periodic)
    n = len(x)
    s = (x[:, 0] - x[:, 0].min()) / np.ptp(x[:, 0])             # 0 … 1 across the box
    out, w, rows = [], None, None
    for nt in (1, 2, 3):
        nl = NeighborList(box, pot.cutoff, 0.3, n_threads=nt)
        nl.build(x)
        if w is None:
            i, j = nl.pairs()
            owner = np.repeat(np.arange(n), np.diff(nl.offsets))
            # a coupled model's pattern: unit weights in the core (s < 0.4), a blended band, zero weights
            # among the "pads" (s > 0.7), including rows holding unit, blended and zero entries
            sm = 0.5 * (s[i] + s[j])
            w = np.where(sm < 0.4, 1.0, np.where(sm > 0.7, 0.0, rng.uniform(0.0, 1.0, i.size)))
            w = np.ascontiguousarray(w)
            c = np.concatenate([[0], np.cumsum(w != 1.0)])
            rows = np.ascontiguousarray((c[nl.offsets[1:]] - c[nl.offsets[:-1]]) > 0, dtype=np.uint8)
            assert 0 < rows.sum() < n and np.sum(w == 0.0) > 0.1 * w.size
            assert np.any(rows[owner[w == 0.0]] == 1)
        xw = nl.wrapped(x)
        f, e = np.zeros_like(x), np.zeros(n)
        E = pot.compute(x, nl, None, w, f, e, nt, atom_energies=per_atom, bond_w_rows=rows)
        f1, e1 = np.zeros_like(x), np.zeros(n)
        pot.compute(x, nl, None, w, f1, e1, nt, atom_energies=per_atom)           # no row flags
        fg, eg = _generic(pot, xw, nl, w, nt, per_atom)
        assert np.array_equal(f, fg) and np.array_equal(e, eg)
        assert np.array_equal(f1, fg) and np.array_equal(e1, eg)
        # the weights (zeros included) do matter
        f2, e2 = np.zeros_like(x), np.zeros(n)
        pot.compute(x, nl, None, np.where(w == 0.0, 1.0, w), f2, e2, nt, atom_energies=per_atom)
        assert not np.array_equal(f, f2)
        out.append((E, f, e))
    for E, f, e in out[1:]:
        assert E == out[0][0] and np.array_equal(f, out[0][1]) and np.array_equal(e, out[0][2])
