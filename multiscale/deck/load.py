"""YAML loading that remembers where every key and value is.

`parse_yaml(text, file)` returns the deck as plain Python data (dicts, lists, str, int, float, bool, None)
plus a `Marks` table mapping every key path (``handshake.blend.type``, ``loads[1].radius``) to the
1-based line and column of the key and of its value, so that later stages can point at the exact spot.

Differences from ``yaml.safe_load``:
- duplicate keys in one mapping are errors (safe_load silently keeps the last one);
- mapping keys are always strings (``on:``/``yes:`` keys are not turned into booleans);
- ``1e-3``, ``2E5`` and ``1.0e5`` are floats (YAML 1.1, hence PyYAML, reads them as strings);
- syntax errors become `DeckError` with file, line, column, the offending line and a hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import DeckError

PathPart = str | int
Path = tuple[PathPart, ...]


@dataclass(frozen=True)
class Mark:
    """A position in the deck text, 1-based."""

    line: int
    column: int


class Marks:
    """Key path -> (mark of the key, mark of the value). The root path ``()`` is line 1, column 1."""

    def __init__(self) -> None:
        self._key: dict[Path, Mark] = {(): Mark(1, 1)}
        self._value: dict[Path, Mark] = {(): Mark(1, 1)}

    def add(self, path: Path, key: Mark, value: Mark) -> None:
        self._key[path] = key
        self._value[path] = value

    def key(self, path: Path | str) -> Mark | None:
        return self._key.get(as_path(path))

    def value(self, path: Path | str) -> Mark | None:
        return self._value.get(as_path(path))

    def nearest(self, path: Path | str, *, of: str = "value") -> tuple[Path, Mark]:
        """Mark of ``path`` or of its longest prefix that exists (``of`` = "value" or "key")."""
        table = self._value if of == "value" else self._key
        p = as_path(path)
        while p not in table:
            p = p[:-1]
        return p, table[p]

    def __contains__(self, path: object) -> bool:
        return as_path(path) in self._value  # type: ignore[arg-type]

    def paths(self) -> list[Path]:
        return list(self._value)


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def as_path(path: Path | str) -> Path:
    """``"loads[1].radius"`` -> ``("loads", 1, "radius")``; tuples pass through."""
    if isinstance(path, tuple):
        return path
    if not path:
        return ()
    out: list[PathPart] = []
    for name, index in _PART.findall(path):
        out.append(int(index) if index else name)
    return tuple(out)


def format_path(path: Path | str) -> str:
    """``("loads", 1, "radius")`` -> ``"loads[1].radius"``."""
    if isinstance(path, str):
        return path
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s


class _Loader(yaml.SafeLoader):
    """SafeLoader whose float resolver also accepts exponents without a dot or a sign (YAML 1.2)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|[-+]?\.[0-9_]+[eE][-+]?[0-9]+)$"),
    list("-+0123456789."),
)

_SYNTAX_HINTS = (
    ("found character '\\t'", "YAML indentation must use spaces, not tabs"),
    ("mapping values are not allowed here",
     "a value cannot contain ': ' unquoted, or a key is indented wrongly; "
     "quote the value or fix the indentation"),
    ("expected ',' or ']'", "a flow list '[...]' is not closed, or an item contains an unquoted ':'"),
    ("expected ',' or '}'", "a flow mapping '{...}' is not closed, or a value contains an unquoted ':'"),
    ("could not find expected ':'", "a key is missing its ':' (or a quoted string is not closed)"),
    ("expected <block end>", "this line's indentation does not match the lines above it"),
    ("found unexpected end of stream", "a quoted string or bracket is not closed"),
    ("expected a single document", "a deck is one YAML document: remove the '---' separator"),
)


def source_line(text: str, line: int | None) -> str | None:
    """The 1-based ``line`` of ``text`` (without its newline), or None."""
    if not line:
        return None
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else None


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str | None) -> DeckError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    problem = exc.problem or "invalid YAML"
    msg = f"YAML syntax error: {problem}"
    if exc.context:
        msg += f" ({exc.context}"
        if exc.context_mark is not None and exc.problem_mark is not None \
                and exc.context_mark.line != exc.problem_mark.line:
            msg += f" at line {exc.context_mark.line + 1}"
        msg += ")"
    hint = next((h for key, h in _SYNTAX_HINTS if key in problem or key in (exc.context or "")), None)
    return DeckError(msg, file=file, line=line, column=column, hint=hint,
                     source_line=source_line(text, line))


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def parse_yaml(text: str, file: str | None = None) -> tuple[Any, Marks]:
    """Parse one YAML document into plain data and its `Marks`. Raises `DeckError` on any YAML problem."""
    loader = _Loader(text)
    marks = Marks()
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc, text, file) from None
        except yaml.YAMLError as exc:  # e.g. a reader error on a control character
            raise DeckError(f"YAML error: {exc}", file=file) from None
        if root is None:
            return None, marks
        marks.add((), _mark(root), _mark(root))

        def build(node: yaml.Node, path: Path) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: dict[str, yaml.Node] = {}
                for key_node, _ in node.value:
                    if not isinstance(key_node, yaml.ScalarNode):
                        raise _located("keys must be plain names, not lists or mappings",
                                       key_node, path, text, file)
                    if key_node.value in seen and key_node.value != "<<":
                        first = seen[key_node.value].start_mark.line + 1
                        raise _located(f"duplicate key '{key_node.value}' (first given at line {first})",
                                       key_node, path + (key_node.value,), text, file,
                                       hint="a key may appear only once in a mapping; remove one of them")
                    seen[key_node.value] = key_node
                loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
                out: dict[str, Any] = {}
                for key_node, value_node in node.value:
                    key = str(key_node.value)
                    sub = path + (key,)
                    marks.add(sub, _mark(key_node), _mark(value_node))
                    out[key] = build(value_node, sub)
                return out
            if isinstance(node, yaml.SequenceNode):
                items = []
                for i, item in enumerate(node.value):
                    sub = path + (i,)
                    marks.add(sub, _mark(item), _mark(item))
                    items.append(build(item, sub))
                return items
            try:
                return loader.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as exc:
                raise _located(f"cannot read this value: {exc.problem}", node, path, text, file) from None

        return build(root, ()), marks
    finally:
        loader.dispose()


def _located(msg: str, node: yaml.Node, path: Path, text: str, file: str | None,
             hint: str | None = None) -> DeckError:
    m = _mark(node)
    return DeckError(msg, file=file, line=m.line, column=m.column, key=format_path(path) or None,
                     hint=hint, source_line=source_line(text, m.line))
