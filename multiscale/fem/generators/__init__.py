"""Mesh generators (registry ``MESHES``): bar, rectangle, box (graded, optional hole), file (meshio).

Each generator is a class with ``Params`` and ``build(params, deck_dir=None) -> Mesh``.
"""

from . import bar, box, file, rectangle  # noqa: F401  (registration)
from ._structured import graded_axis, structured_mesh

__all__ = ["graded_axis", "structured_mesh"]
