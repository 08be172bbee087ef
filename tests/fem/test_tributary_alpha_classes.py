"""Tributary α by element classes (`multiscale.fem._blockdata._alpha_by_class`, ``set_blend(...,
alpha_axes=Handshake.alpha_axes)``): with a single box core, α at a point does not depend on the
coordinates that lie strictly inside the box's extent, so elements whose sub-points agree bitwise on
the other axes share one evaluation of α. These tests hold α_q, the element masses and the lumped
masses bitwise those of evaluating α at every sub-point, and check that the classes are used."""

from __future__ import annotations

import numpy as np
import pytest

import multiscale.fem._blockdata as bdm
from multiscale.coupling.handshake import Handshake
from multiscale.fem import ContinuumRegion
from multiscale.fem.generators._structured import structured_mesh
from multiscale.fem.materials.isotropic import Isotropic
from multiscale.geometry.base import make_shape
from multiscale.plugins import load_all

load_all()


def _mesh(dim: int, element: str, jitter: float = 0.0):  # noqa: ANN202
    """A graded tensor grid around the box (uniform 1.0 spacing inside ±9, graded beyond); ``jitter``
    moves some interior nodes (their elements' sub-points then match no class)."""
    inner = np.arange(-9.0, 9.5, 1.0)
    ax = np.concatenate([[-16.0, -13.0, -10.7], inner, [10.7, 13.0, 16.0]])
    mesh = structured_mesh([ax] * dim, element, None, [-16.0] * dim, [16.0] * dim)
    if jitter:
        rng = np.random.default_rng(3)
        pick = rng.random(mesh.nodes.shape[0]) < 0.1
        inside = np.all(np.abs(mesh.nodes) < 15.0, axis=1)
        mesh.nodes[pick & inside] += rng.uniform(-jitter, jitter, (int(np.sum(pick & inside)), dim))
    return mesh


def _blend(reg: ContinuumRegion, hs: Handshake, axes: bool, calls: list | None = None) -> tuple:
    def alpha(X: np.ndarray) -> np.ndarray:
        if calls is not None:
            calls.append(len(X))
        return hs.alpha(X)

    reg.set_blend(alpha, 4, alpha_const=hs.alpha_on_balls, **({"alpha_axes": hs.alpha_axes} if axes else {}))
    return (reg.alpha_qp.copy(), reg.lumped_mass.copy(), np.concatenate([b.me.ravel() for b in reg._blocks]))


@pytest.mark.parametrize("dim,element,jitter", [(2, "quad4", 0.0), (2, "tri3", 0.0), (3, "hex8", 0.0),
                                                (3, "hex8", 0.2), (2, "quad4", 0.2)])
def test_alpha_classes_are_bitwise_every_sub_point_evaluated(dim, element, jitter, monkeypatch):
    monkeypatch.setattr(bdm, "_CLASS_MIN_POINTS", 0)      # the classes for every element type here
    lo, hi = np.array([-5.0, -4.0, -6.0])[:dim], np.array([5.0, 4.0, 6.0])[:dim]
    hs = Handshake(make_shape({"type": "box", "lo": lo.tolist(), "hi": hi.tolist()}, dim), 2.5, "cubic")
    reg = ContinuumRegion(_mesh(dim, element, jitter), Isotropic(1.0, 0.25, dim), density=1.3)
    plain_calls, class_calls = [], []
    plain = _blend(reg, hs, False, plain_calls)
    cls = _blend(reg, hs, True, class_calls)
    for a, b in zip(plain, cls, strict=True):
        assert np.array_equal(a, b)
    assert np.count_nonzero((plain[0] > 0) & (plain[0] < 1)) > 50
    # the classes are used (less so where moved nodes break them)
    assert sum(class_calls) < (0.5 if not jitter else 0.9) * sum(plain_calls)
    # a cache that holds nothing: every element evaluated, the same bits
    monkeypatch.setattr(bdm, "_ALPHA_CACHE", 0)
    for a, b in zip(plain, _blend(reg, hs, True), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("dim,element,used", [(2, "quad4", False), (3, "hex8", True)])
def test_alpha_classes_only_for_elements_with_many_sub_points(dim, element, used):
    """quad4 with 4 × 16 sub-points evaluates α directly (cheaper than the per-element class work);
    hex8 with 8 × 64 takes the classes."""
    lo, hi = np.array([-5.0, -4.0, -6.0])[:dim], np.array([5.0, 4.0, 6.0])[:dim]
    hs = Handshake(make_shape({"type": "box", "lo": lo.tolist(), "hi": hi.tolist()}, dim), 2.5, "cubic")
    reg = ContinuumRegion(_mesh(dim, element), Isotropic(1.0, 0.25, dim), density=1.3)
    plain_calls, class_calls = [], []
    _blend(reg, hs, False, plain_calls)
    _blend(reg, hs, True, class_calls)
    assert (sum(class_calls) < sum(plain_calls)) == used


def test_alpha_axes_only_for_a_compiled_single_box():
    box = make_shape({"type": "box", "lo": [-5.0, -4.0], "hi": [5.0, 4.0]}, 2)
    lo, hi = np.array([[-4.0, 4.5], [-5.0, 0.0]]), np.array([[4.0, 5.0], [0.0, 3.0]])
    free = Handshake(box, 2.5, "cubic").alpha_axes(lo, hi)
    # strictly inside along x only / x touches the box's plane (not free), y inside
    assert free.tolist() == [[True, False], [False, True]]
    assert Handshake(box, 2.5, "cubic", compiled=False).alpha_axes(lo, hi) is None
    ball = make_shape({"type": "sphere", "center": [0.0, 0.0], "radius": 4.0}, 2)
    assert Handshake(ball, 2.5, "cubic").alpha_axes(lo, hi) is None
