"""hex8: trilinear hexahedron on [-1, 1]³, 2×2×2 Gauss rule; node order as VTK / gmsh / meshio."""

from __future__ import annotations

import numpy as np

from ...registry import ELEMENTS
from ._tensor import TensorElement


@ELEMENTS.register("hex8")
class Hex8(TensorElement):
    """Nodes: bottom face (ζ=-1) counter-clockwise 0-3, top face (ζ=+1) 4-7. Faces quad4, outward."""

    name = "hex8"
    dim = 3
    nen = 8
    n_gauss = 2
    ref_nodes = np.array([[-1.0, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                          [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]])
    faces = np.array([[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [2, 3, 7, 6], [0, 4, 7, 3], [1, 2, 6, 5]])
    face_type = "quad4"
    ref_volume = 8.0
