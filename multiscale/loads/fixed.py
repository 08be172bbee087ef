"""Fixed atoms and/or nodes: the selected components of everything inside a region keep their current
value (displacement and velocity unchanged, normally zero).

The integrator and the minimiser exclude the dofs returned by ``fixed_dofs`` from the force update, so
this load adds no force. ``apply`` records the reaction, the force the rest of the model exerts on the
fixed dofs, as observables ``<label>.reaction_x/_y/_z`` [energy/length] (sum over the selected atoms and
nodes of the force on the fixed components; call it after every other load has added its forces).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..registry import LOADS
from .base import Load, RegionLoadParams, current_forces


@LOADS.register("fixed")
class Fixed(Load):
    class Params(RegionLoadParams):
        type: Literal["fixed"] = "fixed"

    def __init__(self, params=None, **fields) -> None:  # noqa: ANN001
        super().__init__(params, **fields)
        self._reaction: np.ndarray | None = None

    def fixed_dofs(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return self._masks()

    def apply(self, time: float, model, f_atoms: np.ndarray | None = None,  # noqa: ANN001
              f_nodes: np.ndarray | None = None) -> tuple[float, float]:
        self._reaction = self._selected_sum(*current_forces(model))
        return 0.0, 0.0

    def set_reaction(self, r: np.ndarray) -> None:
        """Record a reaction computed elsewhere, (d,) [energy/length] on the selected components (the spatial
        coupled path sums its ranks' shares: `parallel.coupled_spatial.SpatialCoupled`)."""
        self._reaction = np.asarray(r, float)

    def observables(self) -> dict[str, float]:
        if self._reaction is None:
            return {}
        r = zip("xyz", self._reaction, self.comp, strict=False)
        return self._obs(**{f"reaction_{c}": v for c, v, on in r if on})
