"""Import every built-in plugin module so that the registries are complete."""

from __future__ import annotations

import importlib

_PLUGIN_PACKAGES = (
    "multiscale.geometry",
    "multiscale.md.potentials",
    "multiscale.fem.elements",
    "multiscale.fem.generators",
    "multiscale.fem.materials",
    "multiscale.coupling.blending",
    "multiscale.coupling.methods",
    "multiscale.loads",
    "multiscale.md.thermostats",
    "multiscale.integrate.minimize",
    "multiscale.applications",
)

_loaded = False


def load_all() -> None:
    """Import the plugin packages (idempotent). Packages not present yet are skipped."""
    global _loaded
    if _loaded:
        return
    for name in _PLUGIN_PACKAGES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
    _loaded = True
