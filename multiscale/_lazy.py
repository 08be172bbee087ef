"""Deferred imports of heavy dependencies (scipy, h5py): loaded on first attribute access.

``sp = lazy_module("scipy.sparse")`` at module level costs a ``find_spec`` (the dependency must be
installed: a missing package still fails at import time, with the usual ``ModuleNotFoundError``), and
the module body runs the first time an attribute is used (``sp.csr_matrix``). So ``msim --help``,
``msim validate`` and a plain MD ``msim run`` do not pay for scipy (~0.5 s of CPU for scipy.sparse,
scipy.spatial and scipy.optimize) or, outside a run that writes results, h5py; a coupled deck loads them
as before. Built on `importlib.util.LazyLoader`; the module placed in ``sys.modules`` is the real one
(an ordinary ``import scipy.sparse`` elsewhere gets it and triggers the load on first use).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType

_lock = threading.RLock()
_specs: dict[str, importlib.machinery.ModuleSpec] = {}    # specs of the modules made lazy here


def lazy_module(name: str) -> ModuleType:
    """Return module ``name`` (absolute), loaded on first attribute access.

    Raises ModuleNotFoundError at once when the module is not installed (required dependencies stay
    required). Already-imported modules are returned as they are. The parent packages of a submodule are
    made lazy too (``lazy_module("scipy.sparse.linalg")`` loads neither scipy.sparse nor its linalg);
    the top-level package is imported (scipy's and h5py's ``__init__`` are cheap).
    """
    with _lock:
        mod = sys.modules.get(name)
        if mod is not None:
            return mod
        parent, _, child = name.rpartition(".")
        if not parent:
            spec = importlib.util.find_spec(name)
        else:
            pmod = sys.modules.get(parent)
            if pmod is None and "." in parent:
                pmod = lazy_module(parent)
            pspec = _specs.get(parent)
            if pspec is None:           # the parent is (or must be) a real, loaded package
                pmod = importlib.import_module(parent)
                pspec = pmod.__spec__
            spec = importlib.machinery.PathFinder.find_spec(name, pspec.submodule_search_locations)
        if spec is None or spec.loader is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        _specs[name] = spec
        loader.exec_module(mod)
        if parent:
            setattr(sys.modules[parent], child, mod)
        return mod
