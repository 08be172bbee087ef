"""``rectangle``: 2D structured mesh (quad4, or tri3 = each quad split along its 0–2 diagonal)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...registry import MESHES, PluginParams
from ..mesh import Mesh
from ._structured import GridParams, build_grid


class SlitParams(PluginParams):
    """A crack along the grid line y between x_lo and x_hi [length] (`multiscale.fem.slit.slit_mesh`)."""

    y: float = Field(description="the slit's line Y = y [length] (a grid line is put there)")
    x_lo: float = Field(description="slit start [length] (the domain's lo[0] for a slit from the edge)")
    x_hi: float = Field(description="slit end [length]: the crack tip, or a hole's edge")

    @model_validator(mode="after")
    def _order(self) -> SlitParams:
        if not self.x_hi > self.x_lo:
            raise ValueError("slit needs x_lo < x_hi")
        return self


@MESHES.register("rectangle")
class RectangleMesh:
    """Sets ``xlo``, ``xhi``, ``ylo``, ``yhi`` (outer edges), ``hole`` (hole boundary), node set ``all``;
    with ``slit``: the nodes on the slit are doubled (sets ``slit_lower`` / ``slit_upper``, see
    `multiscale.fem.slit`)."""

    class Params(GridParams):
        element: Literal["quad4", "tri3"] = Field("quad4", description="element type")
        slit: SlitParams | None = Field(None, description="a crack {y, x_lo, x_hi} [length] along a grid "
                                        "line: elements above and below it do not share nodes")

        @model_validator(mode="after")
        def _dim(self) -> RectangleMesh.Params:
            if len(self.lo) != 2:
                raise ValueError("rectangle: lo and hi must have two components")
            return self

    @classmethod
    def build(cls, params: Params, deck_dir: str | None = None) -> Mesh:
        sl = params.slit
        if sl is None:
            return build_grid(params, params.element)
        from ..slit import slit_mesh
        mesh = build_grid(params, params.element, {0: (sl.x_lo, sl.x_hi), 1: (sl.y,)})
        return slit_mesh(mesh, sl.y, sl.x_lo, sl.x_hi)
