"""``rectangle``: 2D structured mesh (quad4, or tri3 = each quad split along its 0–2 diagonal)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...registry import MESHES
from ..mesh import Mesh
from ._structured import GridParams, build_grid


@MESHES.register("rectangle")
class RectangleMesh:
    """Sets ``xlo``, ``xhi``, ``ylo``, ``yhi`` (outer edges), ``hole`` (hole boundary), node set ``all``."""

    class Params(GridParams):
        element: Literal["quad4", "tri3"] = Field("quad4", description="element type")

        @model_validator(mode="after")
        def _dim(self) -> RectangleMesh.Params:
            if len(self.lo) != 2:
                raise ValueError("rectangle: lo and hi must have two components")
            return self

    @classmethod
    def build(cls, params: Params, deck_dir: str | None = None) -> Mesh:
        return build_grid(params, params.element)
