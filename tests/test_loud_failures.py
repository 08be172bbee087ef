"""A missing compiled kernel or plugin module fails loudly: nothing in msim (or in a test) that catches
ImportError can swallow a missing kernel, and an incomplete plugin set is an error, not a silent gap."""

from __future__ import annotations

import sys

import pytest

from multiscale import plugins
from multiscale._kernels import load
from multiscale.errors import KernelsNotBuilt


def test_missing_kernel_is_not_an_import_error():
    assert not issubclass(KernelsNotBuilt, ImportError)
    with pytest.raises(KernelsNotBuilt, match="make build") as info:
        load("no_such_kernel")
    assert not isinstance(info.value, ImportError)   # the pattern the old skips caught cannot swallow it


def test_a_plugin_package_that_fails_to_import_is_an_error(monkeypatch):
    monkeypatch.setattr(plugins, "_loaded", False)
    monkeypatch.setitem(sys.modules, "multiscale.md.thermostats", None)  # import of it raises ImportError
    with pytest.raises(ImportError):
        plugins.load_all()
    assert plugins._loaded is False
