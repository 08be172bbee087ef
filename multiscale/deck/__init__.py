"""Decks: YAML with line marks (`load`), pydantic models (`schema`), error reporting (`report`).

Public API::

    deck = load_deck("decks/demo.yaml")       # -> Deck; raises DeckError (exit status 2 in the CLI)
    deck.config.integrator.dt                  # validated, frozen models
    raise deck.error("handshake.width", "2.0 is narrower than cut-off + skin = 2.8")
    deck.with_defaults()                       # plain dict, every default filled in
"""

from .deck import Deck, deck_from_dict, load_deck, load_deck_text
from .load import Mark, Marks, as_path, format_path, parse_yaml
from .report import DeckErrors
from .schema import FORMAT_VERSION, OUTPUT_FIELDS, DeckConfig
from .section import PluginSection, plugin_of, use_registries

__all__ = [
    "Deck", "load_deck", "load_deck_text", "deck_from_dict", "Mark", "Marks", "as_path", "format_path",
    "parse_yaml",
    "DeckErrors", "FORMAT_VERSION", "OUTPUT_FIELDS", "DeckConfig", "PluginSection", "plugin_of",
    "use_registries",
]
