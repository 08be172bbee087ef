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


#: most values (scalars, list items, mapping entries) one deck may expand to, aliases included
MAX_NODES = 20_000
#: deepest nesting of lists and mappings in a deck
MAX_DEPTH = 50
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = (yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
               yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG)


#: longest deck text [characters]
MAX_CHARS = 1_000_000

if getattr(yaml, "__with_libyaml__", False):
    import yaml.cyaml

    class _CLoader(yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml's parser (10-20x faster than PyYAML's) with the same resolvers as `_Loader`."""

        def __init__(self, stream: str) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
else:  # pragma: no cover - PyYAML built without libyaml
    _CLoader = None


def _compose(text: str, file: str | None) -> tuple[yaml.Node | None, Any]:
    """The node graph of the one document in ``text`` and the loader (whose constructor builds scalars).
    libyaml composes; on any YAML error PyYAML's own parser runs again for its more precise messages."""
    if _CLoader is not None:
        loader = _CLoader(text)
        try:
            return loader.get_single_node(), loader
        except yaml.YAMLError:
            loader.dispose()
    try:
        loader = _Loader(text)  # PyYAML's reader checks every character here
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    try:
        return _python_compose(loader, text, file), loader
    except BaseException:
        loader.dispose()
        raise


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str | None) -> DeckError:
    pos = max(0, exc.position)
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    ch = exc.character if isinstance(exc.character, int) else 0
    return DeckError(f"the deck contains the control character U+{ch:04X}, which YAML does not allow",
                     file=file, line=line, column=col, source_line=source_line(text, line),
                     hint="a deck is plain text: remove the character")


def _python_compose(loader: Any, text: str, file: str | None) -> Any:
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except yaml.reader.ReaderError as exc:  # a control character
        raise _reader_error(exc, text, file) from None
    except yaml.YAMLError as exc:
        raise DeckError(f"YAML error: {exc}", file=file, line=1) from None
    except RecursionError:  # pragma: no cover - `_check_nesting` refuses such texts first
        raise DeckError(f"the deck nests lists or mappings too deeply (more than {MAX_DEPTH} levels)",
                        file=file, line=1) from None


_NEST = re.compile(r"^[ \t]*((?:[-?:][ \t]+)+)")
_DEEP_BLOCK = re.compile(r"^[ \t]*(?:[-?:][ \t]+){" + str(MAX_DEPTH + 1) + "}", re.M)


def _check_nesting(text: str, file: str | None) -> None:
    """Refuse texts nesting flow brackets or block indicators (``- - - x``) deeper than `MAX_DEPTH`
    before a parser sees them (PyYAML is quadratic in the flow depth; libyaml recurses). Brackets inside
    quotes and comments are not counted."""
    if text.count("[") + text.count("{") <= MAX_DEPTH and not _DEEP_BLOCK.search(text):
        return
    depth = 0
    quote = ""
    for lineno, line in enumerate(text.split("\n"), 1):
        m = _NEST.match(line)
        if m and m.group(1).count(" ") + m.group(1).count("\t") > MAX_DEPTH:
            raise DeckError(f"lists or mappings nested more than {MAX_DEPTH} levels deep", file=file,
                            line=lineno, column=1, source_line=line)
        prev = " "
        for col, ch in enumerate(line, 1):
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"" and (depth or prev in " \t:,[{"):
                quote = ch
            elif ch == "#" and prev in " \t":
                break
            elif ch in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    raise DeckError(f"lists or mappings nested more than {MAX_DEPTH} levels deep", file=file,
                                    line=lineno, column=col, source_line=line)
            elif ch in "]}":
                depth = max(0, depth - 1)
            prev = ch


def parse_yaml(text: str, file: str | None = None) -> tuple[Any, Marks]:
    """Parse one YAML document into plain data and its `Marks`. Raises `DeckError` on any YAML problem.

    Aliases are expanded into copies, but a deck may expand to at most `MAX_NODES` values and nest at most
    `MAX_DEPTH` levels ("billion laughs" decks are refused in milliseconds); recursive aliases, tags on
    lists or mappings (``!!set``, ``!!omap``, ``!custom``) and Python tags are errors at their line."""
    marks = Marks()
    budget = [MAX_NODES]
    if len(text) > MAX_CHARS:
        raise DeckError(f"the deck is {len(text)} characters long; a deck has at most {MAX_CHARS}",
                        file=file, line=1,
                        hint="large data belongs in files the deck names (mesh, potential)")
    _check_nesting(text, file)
    root, loader = _compose(text, file)
    try:
        if root is None:
            return None, marks
        marks.add((), _mark(root), _mark(root))
        merged: dict[int, list[tuple[yaml.Node, yaml.Node]]] = {}
        busy: set[int] = set()

        def pairs(node: yaml.MappingNode, path: Path) -> list[tuple[yaml.Node, yaml.Node]]:
            """The entries of a mapping with YAML merge keys (``<<: *anchor``) resolved: explicit keys
            win over merged ones, earlier merged mappings over later ones. Memoised per node, so nested
            merges cost their number of distinct keys, not a power of it."""
            if id(node) in merged:
                return merged[id(node)]
            if id(node) in busy:
                raise _located("recursive alias: a mapping merges itself", node, path, text, file)
            busy.add(id(node))
            out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
            explicit = []
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    subs = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                    for sub in subs:
                        if not isinstance(sub, yaml.MappingNode):
                            raise _located("a merge key '<<' takes a mapping or a list of mappings "
                                           "(usually an alias *name)", sub, path, text, file)
                        for k, v in pairs(sub, path):
                            out.setdefault(str(k.value), (k, v))
                else:
                    explicit.append((key_node, value_node))
            for k, v in explicit:
                out[str(k.value)] = (k, v)
            busy.discard(id(node))
            merged[id(node)] = list(out.values())
            return merged[id(node)]

        def build(node: yaml.Node, path: Path, depth: int) -> Any:
            budget[0] -= 1
            if budget[0] < 0:
                raise _located(f"the deck holds more than {MAX_NODES} values (list items, keys and numbers, "
                               "aliases *name counted each time they are used)", node, path, text, file,
                               hint="a deck is small: large data belongs in files it names; do not nest "
                                    "aliases of aliases")
            if depth > MAX_DEPTH:
                raise _located(f"lists or mappings nested more than {MAX_DEPTH} levels deep", node, path,
                               text, file)
            if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
                if node.tag not in _PLAIN_TAGS:
                    raise _located(f"YAML tag '{node.tag}' is not allowed in a deck", node, path, text, file,
                                   hint="write plain lists [...] and mappings {...} without '!' tags")
                if id(node) in busy:
                    raise _located("recursive alias: this value contains itself", node, path, text, file)
            if isinstance(node, yaml.MappingNode):
                seen: dict[str, yaml.Node] = {}
                for key_node, _ in node.value:
                    if not isinstance(key_node, yaml.ScalarNode):
                        raise _located("keys must be plain names, not lists or mappings",
                                       key_node, path, text, file)
                    if key_node.value in seen and key_node.tag != _MERGE:
                        first = seen[key_node.value].start_mark.line + 1
                        raise _located(f"duplicate key '{key_node.value}' (first given at line {first})",
                                       key_node, path + (key_node.value,), text, file,
                                       hint="a key may appear only once in a mapping; remove one of them")
                    seen[key_node.value] = key_node
                out: dict[str, Any] = {}
                entries = pairs(node, path)
                busy.add(id(node))
                for key_node, value_node in entries:
                    key = str(key_node.value)
                    sub = path + (key,)
                    marks.add(sub, _mark(key_node), _mark(value_node))
                    out[key] = build(value_node, sub, depth + 1)
                busy.discard(id(node))
                return out
            if isinstance(node, yaml.SequenceNode):
                items = []
                busy.add(id(node))
                for i, item in enumerate(node.value):
                    sub = path + (i,)
                    marks.add(sub, _mark(item), _mark(item))
                    items.append(build(item, sub, depth + 1))
                busy.discard(id(node))
                return items
            try:
                return loader.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as exc:
                raise _located(f"cannot read this value: {exc.problem}", node, path, text, file) from None
            except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise KeyError, ValueError, ...
                raise _located(f"cannot read this value as {node.tag.rsplit(':', 1)[-1]} "
                               f"({type(exc).__name__})", node, path, text, file) from None

        return build(root, (), 0), marks
    finally:
        loader.dispose()


def _located(msg: str, node: yaml.Node, path: Path, text: str, file: str | None,
             hint: str | None = None) -> DeckError:
    m = _mark(node)
    return DeckError(msg, file=file, line=m.line, column=m.column, key=format_path(path) or None,
                     hint=hint, source_line=source_line(text, m.line))
