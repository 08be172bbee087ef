"""Every malformed deck in decks/bad/ is reported at the right line and key, with one error only."""

from __future__ import annotations

import pytest

from multiscale.deck import DeckErrors, load_deck, use_registries
from multiscale.errors import DeckError
from multiscale.plugins import load_all

from .bad_decks import VALID, all_bad_decks
from .fake_plugins import merged_registries

BAD = all_bad_decks()


def test_there_are_at_least_25_malformed_decks():
    assert len(BAD) >= 25


def test_the_base_deck_is_valid():
    load_all()
    deck = load_deck(VALID)
    assert deck.config.integrator.dt == 0.002


@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
def test_malformed_deck_names_line_and_key(bad):
    """With msim's REAL plugins (the global registries, every built-in plugin loaded): exactly one error,
    at the marked line and key, with the expected message and hint, formatted with the source line and a
    caret."""
    load_all()
    with pytest.raises(DeckError) as info:
        load_deck(bad.path)
    err = info.value
    assert not isinstance(err, DeckErrors), f"more than one error:\n{err.format()}"
    assert err.file == str(bad.path)
    assert err.line == bad.line, err.format()
    assert err.key == bad.key, err.format()
    assert bad.message in err.message, err.format()
    if bad.hint:
        assert err.hint is not None and bad.hint in err.hint, err.format()
    text = err.format()
    first = text.splitlines()[0]
    assert first.startswith(f"error: {bad.path}:{bad.line}:{err.column}: ")
    if bad.key:
        assert f": {bad.key}: " in first
    # the offending line, then a caret under the column
    src = bad.path.read_text().splitlines()[bad.line - 1]
    lines = text.splitlines()
    assert lines[1] == "    " + src.rstrip()
    assert lines[2] == "    " + " " * (err.column - 1) + "^"


@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
def test_malformed_deck_with_the_test_plugins(bad, fake_registries):
    """The deck machinery alone (stand-in plugins of fake_plugins.py): still one error at the marked line."""
    with pytest.raises(DeckError) as info:
        load_deck(bad.path)
    err = info.value
    assert not isinstance(err, DeckErrors), f"more than one error:\n{err.format()}"
    assert err.line == bad.line and err.key == bad.key, err.format()


def test_the_base_deck_is_valid_with_the_real_plugins():
    with use_registries(merged_registries()):
        deck = load_deck(VALID)
    assert deck.config.potential.type == "lj"
