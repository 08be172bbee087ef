"""Thermostats (`THERMOSTATS` registry): langevin."""

from . import langevin  # noqa: F401  (registration)
