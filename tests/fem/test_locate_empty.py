"""`Locator.locate` of no points returns empty arrays (it raised a reshape ValueError, which reached the user
as the deck error "handshake.shape: cannot reshape array of size 0 into shape (0,newaxis)" for a coupled deck
whose handshake has no pad atoms: a 3D Morse deck with the atoms' region ending inside the handshake)."""

from __future__ import annotations

import numpy as np

from multiscale.fem.generators._structured import structured_mesh
from multiscale.fem.locate import Locator


def test_locate_no_points_and_one_point() -> None:
    mesh = structured_mesh([np.linspace(0.0, 4.0, 5), np.linspace(0.0, 3.0, 4)], "quad4", None,
                           [0.0, 0.0], [4.0, 3.0])
    loc = Locator(mesh)
    b, e, xi = loc.locate(np.zeros((0, 2)))
    assert b.shape == (0,) and e.shape == (0,) and xi.shape == (0, 2)
    b, e, xi = loc.locate(np.array([[2.5, 1.5]]))                 # centre of the element (2, 1)
    assert e.shape == (1,) and np.allclose(xi, 0.0)
