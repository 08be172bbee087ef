"""Atomistic/continuum coupling: handshake geometry and weights, blends, coupling methods, the assembled
coupled system, and the damping band."""

from .coupled import CoupledSystem
from .damping import DampingBand
from .handshake import AtomClasses, Handshake

__all__ = ["AtomClasses", "CoupledSystem", "DampingBand", "Handshake"]
