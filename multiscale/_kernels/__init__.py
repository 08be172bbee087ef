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
    return bool(load("openmp_info").openmp_enabled())


def team_size(n_threads: int) -> int:
    """Threads that actually ran a compiled ``prange(num_threads=n_threads)`` region (1 for a serial build)."""
    return int(load("openmp_info").team_size(int(n_threads)))


def build_report() -> str:
    """One line on how the kernels were built, e.g. ``kernels: OpenMP 201511, max threads 2``.

    Printed by ``msim --version`` and ``msim validate``. A serial build (no OpenMP) says so plainly: thread
    counts then have no effect and the thread-invariance tests fail (they would otherwise pass vacuously).
    """
    m = load("openmp_info")
    if not m.openmp_enabled():
        return "kernels: built WITHOUT OpenMP (serial: --threads has no effect)"
    return f"kernels: OpenMP {m.openmp_version()}, max threads {m.max_threads()}"
