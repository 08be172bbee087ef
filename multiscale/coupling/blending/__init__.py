"""Blending functions α(s) across the handshake (BLENDS registry): linear, cubic, quintic."""

from . import cubic, linear, quintic  # noqa: F401  (registration on import)
from .base import Blend

__all__ = ["Blend", "get_blend"]


def get_blend(blend) -> Blend:  # noqa: ANN001
    """A `Blend` instance from a name ("cubic"), a Blend instance, or a Blend class."""
    from ...registry import BLENDS

    if isinstance(blend, Blend):
        return blend
    if isinstance(blend, str):
        return BLENDS.get(blend)()
    if isinstance(blend, type) and issubclass(blend, Blend):
        return blend()
    raise TypeError(f"not a blend: {blend!r}")
