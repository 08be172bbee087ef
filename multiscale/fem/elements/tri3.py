"""tri3: linear triangle on the unit reference triangle, one-point (centroid) rule."""

from __future__ import annotations

import numpy as np

from ...registry import ELEMENTS
from ._simplex import SimplexElement


@ELEMENTS.register("tri3")
class Tri3(SimplexElement):
    """Nodes (0,0), (1,0), (0,1) (counter-clockwise). Faces: the three edges (bar2), outward."""

    name = "tri3"
    dim = 2
    nen = 3
    ref_nodes = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    faces = np.array([[0, 1], [1, 2], [2, 0]])
    face_type = "bar2"
    ref_volume = 0.5
