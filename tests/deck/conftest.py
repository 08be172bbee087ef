"""Fixtures of the deck tests: validate against private test registries, never the global ones."""

from __future__ import annotations

import pytest

from multiscale.deck import use_registries

from .fake_plugins import private_registries


@pytest.fixture
def fake_registries():
    """Every plugin kind answered by the test plugins of `fake_plugins` (global registries untouched)."""
    regs = private_registries()
    with use_registries(regs):
        yield regs
