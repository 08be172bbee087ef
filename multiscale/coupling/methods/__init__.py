"""Coupling methods (COUPLINGS registry): strong, projected, penalty, force_blend, ghost_corrected."""

from . import force_blend, ghost_corrected, penalty, projected, strong  # noqa: F401  (registration)
from .base import CouplingContext, CouplingMethod, projected_rows, strong_rows

__all__ = ["CouplingContext", "CouplingMethod", "projected_rows", "strong_rows", "get_method"]


def get_method(method, **params) -> CouplingMethod:  # noqa: ANN001
    """A `CouplingMethod` from a name (with keyword parameters) or an instance."""
    from ...registry import COUPLINGS

    if isinstance(method, CouplingMethod):
        return method
    cls = COUPLINGS.get(method)
    return cls(cls.Params(**params))
