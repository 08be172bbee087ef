"""CLI tests validate against the test plugins (see tests/deck/fake_plugins.py)."""

from __future__ import annotations

import pytest
from deck.fake_plugins import private_registries

from multiscale.deck import use_registries


@pytest.fixture
def fake_registries():
    regs = private_registries()
    with use_registries(regs):
        yield regs
