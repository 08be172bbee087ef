"""Compiled kernels (built from ../../kernels/*.pyx by setup.py).

Import them through `load`, which raises one clear `KernelsNotBuilt` message when they are missing:
msim never falls back silently to slow Python.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import KernelsNotBuilt

_BUILD_HINT = (
    "msim's compiled kernels are not built (missing module multiscale._kernels.{name}). "
    "Build them from the repository root with `make build` (or `pip install -e .`), "
    "which needs a C compiler, Cython >= 3 and numpy."
)


def load(name: str) -> ModuleType:
    """Import and return the compiled kernel module ``multiscale._kernels.<name>``."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ImportError as exc:
        raise KernelsNotBuilt(_BUILD_HINT.format(name=name)) from exc


def openmp_enabled() -> bool:
    """True when the kernels were compiled with OpenMP."""
    return bool(load("verlet").openmp_enabled())
