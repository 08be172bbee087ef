"""Time integration: the one velocity-Verlet for atoms and nodes (`verlet.py`)."""

from .verlet import ConstraintProjector, VelocityVerlet

__all__ = ["ConstraintProjector", "VelocityVerlet"]
