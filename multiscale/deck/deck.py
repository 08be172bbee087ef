"""`Deck`: a validated deck with its text, raw data and line marks; `load_deck` reads one."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from ..errors import DeckError
from ..units import UnitSystem, get_units
from .checks import check
from .load import Marks, Path, parse_yaml
from .report import MAX_ERRORS, Locator, raise_all, translate
from .schema import DeckConfig, dimension, number_problems


@dataclass(frozen=True)
class Deck:
    """A deck that passed validation.

    Attributes
    ----------
    config : DeckConfig   the validated, frozen models (plugin sections are plugin ``Params`` instances
                          with a ``.type``; `multiscale.deck.plugin_of(section)` gives the plugin class)
    path : pathlib.Path | None   the deck file (None for text given directly)
    text : str            the raw text (for provenance in output files)
    data : dict           the deck as plain data, exactly as written (no defaults)
    marks : Marks         key path -> line/column of every key and value
    """

    config: DeckConfig
    path: FsPath | None
    text: str
    data: dict[str, Any]
    marks: Marks = field(repr=False)

    @property
    def name(self) -> str:
        """How messages name the deck: the path as given, or ``<string>``."""
        return str(self.path) if self.path is not None else "<string>"

    @property
    def directory(self) -> FsPath:
        """Directory relative file names in the deck (potential tables, mesh files) are resolved against."""
        return self.path.parent if self.path is not None else FsPath.cwd()

    @property
    def units(self) -> UnitSystem:
        """The deck's unit system (`multiscale.units.UnitSystem`)."""
        return get_units(self.config.units)

    @property
    def dim(self) -> int | None:
        """Spatial dimension (1, 2, 3) from the lattice or the mesh; None if the deck does not say."""
        return dimension(self.config)

    def error(self, key_path: str | Path, message: str, hint: str | None = None) -> DeckError:
        """A `DeckError` pointing at ``key_path`` (``"handshake.width"``, ``"loads[1].radius"``).

        If the key is not written in the deck (a default), it points at the nearest written parent.
        Raise the result: ``raise deck.error("handshake.width", "2.0 is narrower than ...")``.
        """
        return Locator(self.text, self.marks, self.name).error(key_path, message, hint)

    def resolve_file(self, key_path: str | Path, name: str | os.PathLike[str]) -> FsPath:
        """Absolute path of a file named in the deck at ``key_path``; `DeckError` there if unreadable."""
        p = FsPath(name)
        if not p.is_absolute():
            p = self.directory / p
        if not p.is_file():
            raise self.error(key_path, f"file not found: {p}" if not p.exists() else f"not a file: {p}")
        if not os.access(p, os.R_OK):
            raise self.error(key_path, f"file is not readable: {p}")
        return p

    def with_defaults(self) -> dict[str, Any]:
        """The deck with every default filled in, as plain data (what `msim show` prints)."""
        return _type_first(self.config.model_dump(mode="json"))


def _type_first(v: Any) -> Any:
    if isinstance(v, dict):
        d = {k: _type_first(x) for k, x in v.items()}
        if "type" in d:
            d = {"type": d.pop("type"), **d}
        return d
    if isinstance(v, list):
        return [_type_first(x) for x in v]
    return v


def _validate(text: str, name: str) -> Deck:
    from ..plugins import load_all

    load_all()
    data, marks = parse_yaml(text, name)
    loc = Locator(text, marks, name)
    if data is None:
        raise DeckError("the deck is empty", file=name, line=1,
                        hint="a deck starts with `msim: 1` and `units: ...`")
    if not isinstance(data, dict):
        raise loc.error((), "a deck is a mapping of sections (key: value lines), not a "
                            f"{type(data).__name__}")
    raise_all([loc.error(path, msg, hint) for path, msg, hint in number_problems(data)])
    try:
        config = DeckConfig.model_validate(data)
    except ValidationError as exc:
        errors = translate(exc, DeckConfig, data, loc)
        raise_all(errors, total=len(errors) if exc.error_count() <= 4 * MAX_ERRORS else exc.error_count())
        raise  # pragma: no cover - translate always yields at least one error
    raise_all([loc.error(path, msg, hint) for path, msg, hint in check(config, data)])
    return Deck(config=config, path=None, text=text, data=data, marks=marks)


def load_deck(path: str | os.PathLike[str]) -> Deck:
    """Read, parse and validate a deck file. Raises `DeckError` (possibly a `DeckErrors`) on any mistake."""
    p = FsPath(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeckError(f"deck file not found: {p}", file=str(p)) from None
    except IsADirectoryError:
        raise DeckError(f"the deck is a directory, not a file: {p}", file=str(p)) from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        col = exc.start - (exc.object.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DeckError(f"the deck is not UTF-8 text ({exc.reason} at byte {exc.start})",
                        file=str(p), line=line, column=col,
                        hint="a deck is a YAML text file (UTF-8)") from None
    except OSError as exc:
        raise DeckError(f"cannot read the deck: {exc.strerror}", file=str(p)) from None
    deck = _validate(text, str(p))
    return Deck(config=deck.config, path=p, text=text, data=deck.data, marks=deck.marks)


def load_deck_text(text: str, name: str = "<string>") -> Deck:
    """Validate deck text given directly (notebooks, tests); ``name`` is used in messages."""
    return _validate(text, name)


def deck_from_dict(data: dict[str, Any], name: str = "<dict>") -> Deck:
    """Validate a deck built as a Python dict (scripts, notebooks). It is written out as YAML first, so
    messages point at lines of that text (``deck.text``)."""
    import yaml

    return _validate(yaml.safe_dump(data, sort_keys=False, default_flow_style=None), name)
