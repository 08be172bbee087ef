"""Set-up of a 3D coupled model stays sparse and bounded (issue 13).

Two former blow-ups of the 3D set-up (a 124 000-atom fcc / hex8 model grew past 6.8 GB):

- the constraint projector fell back to a DENSE pivoted Cholesky of the r × r Gram matrix G W Gᵀ whenever
  its sparse LU failed the relative pivot test — which a 3D handshake does without any dependent row,
  because its rows' sizes spread over ~11 orders (inverse masses of β̄ ≈ 0.01 atoms against nodes of
  large elements). Here the rows of a medium model's G are rescaled by up to 1e±6 (which leaves the
  projector unchanged: P = I − W Gᵀ (G W Gᵀ)⁻¹ G is invariant under G → S G), so the unscaled test fails;
  the projector must then still be built sparsely (numpy peak far below the 8 r² bytes of the dense Gram
  matrix) and agree with the projection through the plain LU of the unscaled G W Gᵀ (whose pivots pass).
- the tributary α integrals held 8192 hex8 elements × 4096 sub-points at once (~0.8 GB per array).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from multiscale.build import build_model
from multiscale.coupling.projector import ConstraintProjector
from multiscale.deck.deck import load_deck_text
from multiscale.plugins import load_all

DECK = """msim: 1
units: lj
title: medium 3D projected coupling
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
integrator: {type: verlet, dt: 0.005, steps: 10}
output: {every: 1000, fields: [displacement]}
atoms:
  lattice: {type: fcc, a: relaxed}
  region: {type: box, lo: [-11, -11, -11], hi: [11, 11, 11]}   # outer edge 8 + cut-off + skin
  mass: 1.0
  skin: 0.3
continuum:
  mesh: {type: box, element: hex8, lo: [-40, -40, -40], hi: [40, 40, 40], size: 3.33333,
         core: {lo: [-10, -10, -10], hi: [10, 10, 10]}, core_size: 2.5, growth: 1.2,
         hole: {lo: [-2, -2, -2], hi: [2, 2, 2]}}
handshake:
  shape: {type: box, lo: [-4, -4, -4], hi: [4, 4, 4]}
  width: 4
  blend: {type: cubic}
  coupling: {type: projected, slave_below: 0.01}
"""


def _model():
    load_all()
    return build_model(load_deck_text(DECK), 1)


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_projector_stays_sparse_when_rows_sizes_spread():
    s = _model().system
    G, w = s.G.tocsr(), s.inv_mass_dof
    r = G.shape[0]
    assert r > 4000                     # large enough that a dense r × r matrix is noticed
    # the reference, independent of the projector: the plain sparse LU of the unscaled Gram matrix
    # (its pivots pass the 1e-10 test on this model), P a = a − W Gᵀ (G W Gᵀ)⁻¹ G a
    lu = spla.splu((G @ sp.diags(w) @ G.T).tocsc())
    piv = np.abs(lu.U.diagonal())
    assert piv.min() > 1e-10 * piv.max()
    rng = np.random.default_rng(3)
    S = sp.diags(10.0 ** rng.uniform(-6.0, 6.0, r))
    Gs = (S @ G).tocsr()
    P, peak = _peak(lambda: ConstraintProjector(Gs, w))
    dense = 8.0 * r * r
    assert peak < 0.6 * dense, (f"projector set-up peak {peak / 2**20:.0f} MB "
                                f"(dense Gram {dense / 2**20:.0f} MB)")
    assert P.dropped_rows.size == 0 and P.n_rows == r
    a = rng.standard_normal(G.shape[1])
    pa, pref = P.project(a), a - w * (G.T @ lu.solve(G @ a))
    scale = np.max(np.abs(a))
    assert np.max(np.abs(pa - pref)) < 1e-9 * scale
    assert np.max(np.abs(G @ pa)) < 1e-9 * np.max(np.abs(G @ a))


def test_tributary_integrals_bounded_memory():
    """α evaluated at every sub-point (no shortcut): work arrays bounded whatever the element count; the
    shortcut of certainly constant α gives the same masses (to the round-off of translated elements)."""
    m = _model()
    cont, hs = m.continuum, m.handshake
    ne = sum(bd.ne for bd in cont._blocks)
    assert ne > 3 * 8192                # several former chunks
    _, peak = _peak(lambda: cont.set_blend(hs.alpha, 4))
    assert peak < 200 * 2**20, f"set_blend peak {peak / 2**20:.0f} MB"
    full = cont.lumped_mass.copy()
    cont.set_blend(hs.alpha, 4, alpha_const=hs.alpha_on_balls)
    assert np.allclose(cont.lumped_mass, full, rtol=1e-12, atol=0.0)
    assert 0 < np.count_nonzero(full) < full.size
