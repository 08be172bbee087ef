"""``bar``: 1D mesh of bar2 elements on [lo, hi], optionally graded around a core and with a hole."""

from __future__ import annotations

from pydantic import model_validator

from ...registry import MESHES
from ..mesh import Mesh
from ._structured import GridParams, build_grid


@MESHES.register("bar")
class BarMesh:
    """Node sets / face sets ``xlo``, ``xhi`` (end nodes), ``hole`` (nodes at the hole edges), ``all``."""

    class Params(GridParams):
        @model_validator(mode="after")
        def _dim(self) -> BarMesh.Params:
            if len(self.lo) != 1:
                raise ValueError("bar: lo and hi must have one component, e.g. lo: [0]")
            return self

    @classmethod
    def build(cls, params: Params, deck_dir: str | None = None) -> Mesh:
        return build_grid(params, "bar2")
