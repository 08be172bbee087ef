"""Every registered shape's bounding box holds all its points and is tight for the basic shapes."""

import numpy as np
import pytest

from multiscale.geometry import make_shape

CASES = [
    {"type": "box", "lo": [0.0, -1.0, 2.0], "hi": [3.0, 1.0, 5.0]},
    {"type": "sphere", "center": [1.0, 2.0], "radius": 1.5},
    {"type": "cylinder", "center": [0.0, 0.0], "radius": 2.0},
    {"type": "cylinder", "center": [1.0, 0.0, 0.0], "radius": 1.0, "axis": [1.0, 1.0, 0.0], "length": 4.0},
    {"type": "union", "shapes": [{"type": "sphere", "center": [0.0, 0.0], "radius": 1.0},
                                 {"type": "box", "lo": [2.0, 2.0], "hi": [3.0, 4.0]}]},
    {"type": "difference", "shapes": [{"type": "box", "lo": [0.0, 0.0], "hi": [4.0, 4.0]},
                                      {"type": "sphere", "center": [2.0, 2.0], "radius": 1.0}]},
]


@pytest.mark.parametrize("params", CASES, ids=[c["type"] for c in CASES])
def test_bounds_hold_every_inside_point_and_are_tight(params) -> None:
    shape = make_shape(params)
    lo, hi = shape.bounds()
    assert np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)
    rng = np.random.default_rng(0)
    pad = 0.5 * (hi - lo)
    X = rng.uniform(lo - pad, hi + pad, size=(200000, shape.dim))
    inside = X[shape.contains(X)]
    assert len(inside) > 100
    assert np.all(inside >= lo - 1e-12) and np.all(inside <= hi + 1e-12)
    # tight: the inside points reach within 5 % of the box extent on every side
    ext = hi - lo
    assert np.all(inside.min(axis=0) - lo < 0.05 * ext) and np.all(hi - inside.max(axis=0) < 0.05 * ext)


def test_halfspace_is_unbounded() -> None:
    lo, hi = make_shape({"type": "halfspace", "point": [0.0, 0.0], "normal": [0.0, 1.0]}).bounds()
    assert np.all(np.isinf(lo)) and np.all(np.isinf(hi))
