"""Which constraint rows the projector drops (rev32 F14) and what the residual then measures.

A row is dropped as *effectively held* when (a) its Gram diagonal on the free dofs is below `HELD_RATIO` of
its diagonal with the loads' holds released (`held_ratio`: a held atom of tiny β̄, inverse mass ~1e6, tied to
a few free nodes), or (b) it is dependent on the kept rows in its free dofs but not in its held ones (its
residual then follows the held motion); *dependent* when the whole row lies in the span of the kept rows.
`residual` (the thermo's ``constraint_residual``) covers the kept and the dependent rows, `residual_held` the
held ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import multiscale.coupling.projector as projector
from multiscale.coupling.projector import HELD_RATIO, ConstraintProjector, held_ratio

# dofs: 0 atom A (held; unheld inverse mass 1e6), 1-3 nodes n1..n3 (w 10), 4 atom B (w 1e6, free)
W0 = np.array([1e6, 10.0, 10.0, 10.0, 1e6])
W = W0.copy()
W[0] = 0.0
G = sp.csr_matrix(np.array([
    [1.0, -0.1, -0.1, 0.0, 0.0],     # 0: A − 0.1 n1 − 0.1 n2: free share 2e-7 of the row -> held (a)
    [0.0, -0.5, 0.0, -0.5, 1.0],     # 1: B − ½ n1 − ½ n3: kept
    [0.0, 0.0, 1.0, -1.0, 0.0],      # 2: n2 − n3: kept
    [0.0, -2.5, 5.0, -7.5, 5.0],     # 3: 5 (row 1 + row 2): dependent
    [1.0, 0.0, 1.0, -1.0, 0.0],      # 4: row 2 + A: dependent in its free dofs only -> held (b)
]))


def test_held_and_dependent_rows_are_told_apart() -> None:
    rho = held_ratio(G, W, W0)
    assert rho[0] == pytest.approx(0.2 / (1e6 + 0.2)) and rho[0] < HELD_RATIO
    assert np.all(rho[1:4] == 1.0) and rho[4] == pytest.approx(20.0 / (1e6 + 20.0))
    p = ConstraintProjector(G, W, unheld=W0)
    assert list(p.rows) == [1, 2]
    assert list(p.held_rows) == [0, 4] and list(p.held_by_span) == [4]
    assert list(p.dependent_rows) == [3]
    assert list(p.dropped_rows) == [0, 3, 4]
    note = p.held_note()
    assert "1 whose free dofs carry at most 2e-07" in note and "1 dependent on the kept rows" in note
    # without the released masses nothing is known to be held: row 0 is kept (its free part is independent)
    q = ConstraintProjector(G, W)
    assert 0 in q.rows and q.held_rows.size == 0 and q.held_note() is None


def test_residual_covers_the_dependent_rows_and_reports_the_held_ones() -> None:
    p = ConstraintProjector(G, W, unheld=W0)
    x = np.array([0.3, 0.1, 0.7, -0.2, 0.05])
    Gd = G.toarray()
    assert p.residual(x) == np.max(np.abs(Gd[[1, 2, 3]] @ x))
    assert p.residual(x) > np.max(np.abs(Gd[[1, 2]] @ x))        # the dependent row 3 is the largest here
    assert p.residual_held(x) == np.max(np.abs(Gd[[0, 4]] @ x))
    # the spatial path's form (values at the touched dofs only): the same figure for the dependent row
    assert p.dependent_residual_touched(x[p.touched]) == np.max(np.abs(Gd[[3]] @ x))
    a = np.random.default_rng(2).standard_normal(5)
    b = p.project(a)
    assert np.max(np.abs(Gd[[1, 2, 3]] @ b)) <= 1e-13 * np.max(np.abs(a))
    assert b[0] == a[0]                                         # the held dof is not moved


def test_rows_left_out_must_lie_in_the_span(monkeypatch) -> None:
    """The dense path's rank test (now on the Jacobi-scaled Gram matrix) is followed by a span check: rows it
    would drop that the kept rows do not imply are a `DependentConstraintsError`, never a silent loss."""
    monkeypatch.setattr(projector.ConstraintProjector, "_in_span", staticmethod(lambda *a: False))
    with pytest.raises(projector.DependentConstraintsError, match="not implied by the others"):
        ConstraintProjector(G, W, unheld=W0)


def test_of_two_twins_after_scaling_the_larger_row_is_kept() -> None:
    """A row 1e-15 times a real one is its twin after Jacobi scaling; the scale-free rank test kept whichever
    it met first, and a real row dropped behind a round-off one then holds only through a coefficient of
    1e15 (tests/coupling/test_wave2d.py's 2D pulse: 6.5e-10 after 3 000 steps). The larger row is kept."""
    g = np.array([1.0, -1.0, 0.0])
    G3 = sp.csr_matrix(np.array([1e-15 * g, g, [0.0, 1.0, -1.0]]))
    p = ConstraintProjector(G3, np.ones(3))
    assert list(p.rows) == [1, 2] and list(p.dependent_rows) == [0]
    x = np.array([0.5, -0.25, 2.0])
    assert p.residual(x) == np.max(np.abs(G3.toarray() @ x))
