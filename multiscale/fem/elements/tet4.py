"""tet4: linear tetrahedron on the unit reference tetrahedron, one-point (centroid) rule."""

from __future__ import annotations

import numpy as np

from ...registry import ELEMENTS
from ._simplex import SimplexElement


@ELEMENTS.register("tet4")
class Tet4(SimplexElement):
    """Nodes (0,0,0), (1,0,0), (0,1,0), (0,0,1) (positive volume). Faces: four tri3, outward."""

    name = "tet4"
    dim = 3
    nen = 4
    ref_nodes = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]])
    face_type = "tri3"
    ref_volume = 1.0 / 6.0
