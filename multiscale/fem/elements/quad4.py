"""quad4: bilinear quadrilateral on [-1, 1]², 2×2 Gauss rule; nodes counter-clockwise (VTK/gmsh order)."""

from __future__ import annotations

import numpy as np

from ...registry import ELEMENTS
from ._tensor import TensorElement


@ELEMENTS.register("quad4")
class Quad4(TensorElement):
    """Nodes (-1,-1), (1,-1), (1,1), (-1,1). Faces: the four edges (bar2), outward (counter-clockwise)."""

    name = "quad4"
    dim = 2
    nen = 4
    n_gauss = 2
    ref_nodes = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    faces = np.array([[0, 1], [1, 2], [2, 3], [3, 0]])
    face_type = "bar2"
    ref_volume = 4.0
