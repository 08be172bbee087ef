"""``box``: 3D structured mesh (hex8, or tet4 = six Kuhn tetrahedra per hex, conforming)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...registry import MESHES
from ..mesh import Mesh
from ._structured import GridParams, build_grid


@MESHES.register("box")
class BoxMesh:
    """Sets ``xlo`` … ``zhi`` (outer faces), ``hole`` (hole boundary), node set ``all``."""

    class Params(GridParams):
        element: Literal["hex8", "tet4"] = Field("hex8", description="element type")

        @model_validator(mode="after")
        def _dim(self) -> BoxMesh.Params:
            if len(self.lo) != 3:
                raise ValueError("box: lo and hi must have three components")
            return self

    @classmethod
    def build(cls, params: Params, deck_dir: str | None = None) -> Mesh:
        return build_grid(params, params.element)
