"""The registered shapes as a flat program for the compiled handshake kernels (`kernels/handshake_geom.pyx`).

``compile_shape(shape) -> (ops (k, 3) int64, par (p,) float64)`` or None when some part of the shape is not
one of the registered classes themselves (a subclass or a plug-in shape keeps its own NumPy
``signed_distance``). The program is post-order: each row is (op code, offset of its parameters in
``par``, number of operands); see the kernel's docstring for the op codes.
"""

from __future__ import annotations

import numpy as np

from .box import BoxShape
from .csg import DifferenceShape, UnionShape
from .cylinder import CylinderShape
from .halfspace import HalfSpaceShape
from .sphere import SphereShape

#: deepest operand stack the kernel holds (its MAX_STACK)
_MAX_STACK = 32


def compile_shape(shape) -> tuple[np.ndarray, np.ndarray] | None:  # noqa: ANN001
    """(ops, par) of a shape built from the registered primitives and set operations, else None."""
    ops: list[tuple[int, int, int]] = []
    par: list[float] = []
    depth = [0, 0]   # current, max operand stack depth

    def push() -> None:
        depth[0] += 1
        depth[1] = max(depth[1], depth[0])

    def emit(s) -> bool:  # noqa: ANN001
        t = type(s)
        off = len(par)
        if t is BoxShape:
            par.extend(s.lo.tolist() + s.hi.tolist())
            ops.append((1, off, 0))
        elif t is SphereShape or (t is CylinderShape and s.dim == 2):
            par.extend(s.center.tolist() + [s.radius])
            ops.append((2, off, 0))
        elif t is CylinderShape:
            half = -1.0 if s.length is None else 0.5 * s.length
            par.extend(s.center.tolist() + s.axis.tolist() + [s.radius, half])
            ops.append((3, off, 0))
        elif t is HalfSpaceShape:
            par.extend(s.point.tolist() + s.normal.tolist())
            ops.append((4, off, 0))
        elif t is UnionShape or t is DifferenceShape:
            for m in s.shapes:
                if not emit(m):
                    return False
            ops.append((5 if t is UnionShape else 6, 0, len(s.shapes)))
            depth[0] -= len(s.shapes)
        else:
            return False
        push()
        return True

    if not emit(shape) or depth[1] > _MAX_STACK:
        return None
    return np.asarray(ops, np.int64).reshape(-1, 3), np.asarray(par if par else [0.0], float)
