"""Region shapes (`SHAPES` registry): box, sphere, cylinder, halfspace, union, difference.

``make_shape(params_or_dict, dim=None) -> Shape``; ``shape.contains(X)``, ``shape.distance(X)``,
``shape.signed_distance(X)`` for X of shape (m, d) [length].
"""

from . import box, csg, cylinder, halfspace, sphere  # noqa: F401  (registration)
from .base import Shape, make_shape

__all__ = ["Shape", "make_shape"]
