"""Atomistic/continuum coupling: handshake geometry and weights, blends, coupling methods, damping band."""

from .handshake import AtomClasses, Handshake

__all__ = ["AtomClasses", "Handshake"]
