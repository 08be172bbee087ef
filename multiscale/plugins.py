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
    """Import the plugin packages (idempotent).

    Every package is required: an import failure (a missing dependency, a missing compiled kernel, a bug)
    propagates, so a registry is never silently incomplete.
    """
    global _loaded
    if _loaded:
        return
    for name in _PLUGIN_PACKAGES:
        importlib.import_module(name)
    _loaded = True
