"""bar2: two-node linear bar on ξ ∈ [-1, 1], one Gauss point (exact for the constant strain)."""

from __future__ import annotations

import numpy as np

from ...registry import ELEMENTS
from ._tensor import TensorElement


@ELEMENTS.register("bar2")
class Bar2(TensorElement):
    """Nodes ξ = -1, +1. Faces: the two end nodes (face type ``point``)."""

    name = "bar2"
    dim = 1
    nen = 2
    n_gauss = 1
    ref_nodes = np.array([[-1.0], [1.0]])
    faces = np.array([[0], [1]])
    face_type = "point"
    ref_volume = 2.0
