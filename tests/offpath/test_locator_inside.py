"""`Locator.inside`: which points lie in an element (the test `locate` uses), without raising for points in
a hole or beyond the boundary; checked against the exact answer on a rectangle with a hole."""

from __future__ import annotations

import numpy as np

from multiscale.fem.generators.rectangle import RectangleMesh
from multiscale.fem.locate import Locator


def test_inside_matches_the_geometry() -> None:
    mesh = RectangleMesh.build(RectangleMesh.Params(lo=[-4.0, -3.0], hi=[4.0, 3.0], size=1.0, element="tri3",
                                                    hole={"lo": [-1.0, -1.0], "hi": [1.0, 1.0]}))
    rng = np.random.default_rng(7)
    X = rng.uniform([-6.0, -5.0], [6.0, 5.0], size=(2000, 2))
    want = (np.all(np.abs(X) <= [4.0, 3.0], axis=1)) & ~(np.all(np.abs(X) < 1.0, axis=1))
    got = Locator(mesh).inside(X)
    edge = (np.min(np.abs(np.abs(X) - [4.0, 3.0]), axis=1) < 1e-6) | \
        (np.min(np.abs(np.abs(X) - 1.0), axis=1) < 1e-6)
    assert np.array_equal(got[~edge], want[~edge])
    assert want.sum() > 600 and (~want).sum() > 1000
    assert Locator(mesh).inside(np.zeros((0, 2))).shape == (0,)
