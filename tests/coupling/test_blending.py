"""Blending functions: end values, symmetry, derivatives (finite differences), registry."""

import numpy as np
import pytest

from multiscale.coupling.blending import Blend, get_blend
from multiscale.registry import BLENDS

NAMES = ["linear", "cubic", "quintic"]


def test_registry_has_the_three_blends():
    import multiscale.coupling.blending  # noqa: F401

    assert set(NAMES) <= set(BLENDS.names())


@pytest.mark.parametrize("name", NAMES)
def test_values_and_derivative(name):
    b = get_blend(name)
    assert isinstance(b, Blend)
    s = np.linspace(0.0, 1.0, 1001)
    a = b(s)
    assert a[0] == 0.0 and a[-1] == 1.0
    assert np.all(np.diff(a) >= 0)
    # α(s) + α(1 − s) = 1 (odd symmetry about s = 1/2)
    assert np.max(np.abs(a + b(1.0 - s) - 1.0)) < 4e-15
    # clipping outside [0, 1]
    assert b(np.array([-0.5]))[0] == 0.0 and b(np.array([1.5]))[0] == 1.0
    eps = 1e-6
    si = np.linspace(0.01, 0.99, 97)
    fd = (b(si + eps) - b(si - eps)) / (2 * eps)
    assert np.max(np.abs(fd - b.derivative(si))) < 1e-8
    assert b.derivative(np.array([-0.1, 1.1])).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("name,cont", [("linear", 0), ("cubic", 1), ("quintic", 2)])
def test_smoothness_at_the_edges(name, cont):
    b = get_blend(name)
    assert b.continuity == cont
    d = b.derivative(np.array([0.0, 1.0]))
    if cont >= 1:
        assert np.all(d == 0.0)
    else:
        assert np.all(d == 1.0)
