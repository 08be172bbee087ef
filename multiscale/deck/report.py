"""Error reporting: pydantic errors -> `DeckError` at the right file, line, column and key path.

Every mistake is rendered (by `DeckError.format`) as::

    error: deck.yaml:31:7: integrator.dt: expected a number > 0, got -0.002
        dt: -0.002
            ^
    hint: ...
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import DeckError
from ..registry import did_you_mean
from .load import Marks, Path, as_path, format_path, source_line
from .section import find_marker

#: at most this many errors are reported in full; the rest are counted
MAX_ERRORS = 20


class DeckErrors(DeckError):
    """Several mistakes found at once. Its own fields are those of the first; ``.errors`` has the first
    `MAX_ERRORS` of them, ``.total`` how many there are."""

    def __init__(self, errors: list[DeckError], total: int | None = None) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, column=first.column,
                         key=first.key, hint=first.hint, source_line=first.source_line)
        self.errors = errors
        self.total = max(total or 0, len(errors))

    def format(self) -> str:
        body = "\n".join(e.format() for e in self.errors)
        more = self.total - len(self.errors)
        tail = f" (the first {len(self.errors)} shown, {more} more not)" if more > 0 else ""
        return f"{body}\n{self.total} errors in {self.file or 'the deck'}{tail}"


def raise_all(errors: list[DeckError], total: int | None = None) -> None:
    """Raise nothing, the one error, or a `DeckErrors` (sorted by line, at most `MAX_ERRORS` of them;
    ``total`` = how many there were if ``errors`` is already a shortened list)."""
    if not errors:
        return
    total = max(total or 0, len(errors))
    errors = sorted(errors, key=lambda e: (e.line or 0, e.column or 0))[:MAX_ERRORS]
    raise errors[0] if total == 1 else DeckErrors(errors, total)


class Locator:
    """Builds `DeckError`s that point at a key path of one deck text."""

    def __init__(self, text: str, marks: Marks, file: str | None) -> None:
        self.text = text
        self.marks = marks
        self.file = file

    def error(self, path: Path | str, message: str, hint: str | None = None, *,
              of: str = "value") -> DeckError:
        """DeckError at ``path`` (its value, or with ``of="key"`` its key; the nearest given parent if the
        path is not in the deck)."""
        path = as_path(path)
        found, mark = self.marks.nearest(path, of=of)
        key = self.marks.key(found)
        if found and key is not None and (found != path or key.line != mark.line):
            mark = key  # the value is absent, or a block mapping/list below its key: point at the key
        return DeckError(message, file=self.file, line=mark.line, column=mark.column,
                         key=format_path(path) or None, hint=hint or None,
                         source_line=source_line(self.text, mark.line))


# ---------------------------------------------------------------- from pydantic

_TAG = re.compile(r".*[\[\-].*|float|int|str|bool|none|list|dict|tuple|set|any|literal|bytes")


_TYPE_ERRORS = {"float_type", "int_type", "string_type", "bool_type", "list_type", "dict_type", "model_type",
                "model_attributes_type", "tuple_type", "literal_error", "float_parsing", "int_parsing"}


def _unwrap(ann: Any, metadata: list[Any], value: Any) -> Any:
    """The model class (or ("list"|"dict", item annotation)) that validates ``value`` under ``ann``."""
    marker = find_marker(metadata)
    if marker is not None:
        return marker.model_for(value)
    origin = get_origin(ann)
    if origin is Annotated:
        args = get_args(ann)
        return _unwrap(args[0], list(args[1:]), value)
    if origin in (Union, types.UnionType):
        for arg in get_args(ann):
            r = _unwrap(arg, [], value)
            if (isinstance(r, type) and isinstance(value, dict)) or \
                    (isinstance(r, tuple) and isinstance(value, list if r[0] == "list" else dict)):
                return r
        return None
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    if origin is list:
        return ("list", get_args(ann)[0])
    if origin is dict:
        return ("dict", get_args(ann)[1])
    return None


def model_at(root: type[BaseModel], data: Any, path: Path) -> type[BaseModel] | None:
    """The pydantic model validating the mapping at ``path`` of the raw deck ``data`` (None if unknown)."""
    cur: Any = root
    value = data
    for p in path:
        if isinstance(cur, type):
            field = cur.model_fields.get(p) if isinstance(p, str) else None
            if field is None or not isinstance(value, dict) or p not in value:
                return None
            value = value[p]
            cur = _unwrap(field.annotation, list(field.metadata), value)
        elif isinstance(cur, tuple):
            value = value[p]
            cur = _unwrap(cur[1], [], value)
        else:
            return None
    return cur if isinstance(cur, type) else None


def _show(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the string {v!r}" if len(v) <= 60 else f"the string {v[:50]!r}... ({len(v)} characters)"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        s = repr(v)
        return s if len(s) <= 40 else "a list"
    return repr(v)


def _describe(err: dict[str, Any], key: str | int | None, allowed: list[str] | None,
              description: str | None) -> tuple[str, str | None]:
    t, ctx, inp = err["type"], err.get("ctx") or {}, err.get("input")
    got = _show(inp)
    if t == "missing":
        return f"required key '{key}' is missing" + (f" ({description})" if description else ""), None
    if t == "extra_forbidden":
        hint = did_you_mean(str(key), allowed) if allowed else None
        if hint is None and allowed:
            hint = "allowed keys here: " + ", ".join(allowed)
        return f"unknown key '{key}'", hint
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if t in bounds:
        bound = next(iter(ctx.values()), "?")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"expected a number {bounds[t]} {bound}, got {got}", None
    if t in ("float_type", "float_parsing", "finite_number"):
        return f"expected a number, got {got}", ("remove the quotes" if isinstance(inp, str) and
                                                 re.fullmatch(r"[-+.0-9eE]+", inp.strip()) else None)
    if t in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}", None
    if t in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}", None
    if t == "string_type":
        return f"expected text, got {got}", None
    if t in ("list_type", "tuple_type"):
        return f"expected a list [a, b, ...], got {got}", None
    if t in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (key: value lines), got {got}", None
    if t in ("literal_error", "enum"):
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = did_you_mean(str(inp), options) if isinstance(inp, str) else None
        return f"expected one of {', '.join(options) or ctx.get('expected')}, got {got}", hint
    if t in ("too_short", "too_long"):
        lo, hi = ctx.get("min_length"), ctx.get("max_length")
        n = lo if t == "too_short" else hi
        return f"expected {'at least' if t == 'too_short' else 'at most'} {n} items, " \
               f"got {ctx.get('actual_length')}", None
    msg = str(err.get("msg", ""))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg, (str(ctx["hint"]) or None) if ctx.get("hint") else None


def translate(exc: ValidationError, root: type[BaseModel], data: Any, locator: Locator) -> list[DeckError]:
    """One `DeckError` per distinct key path of ``exc``'s errors (of the first 4·`MAX_ERRORS` errors:
    a list of 10 000 wrong items is reported in milliseconds)."""
    out: dict[str, DeckError] = {}
    types_: dict[str, str] = {}
    for err in exc.errors(include_url=False)[:4 * MAX_ERRORS]:
        loc = err["loc"]
        parts: list[str | int] = []
        cur = data
        rest: list[str | int] = []
        for i, el in enumerate(loc):
            if not rest and isinstance(cur, dict) and isinstance(el, str) and el in cur:
                parts.append(el)
                cur = cur[el]
            elif not rest and isinstance(cur, list) and isinstance(el, int) and 0 <= el < len(cur):
                parts.append(el)
                cur = cur[el]
            elif err["type"] == "missing" and i == len(loc) - 1 or \
                    isinstance(el, str) and not _TAG.fullmatch(el):
                rest.append(el)
        display = tuple(parts) + tuple(rest)
        name = format_path(display) or "deck"
        if name in out:
            continue
        key = display[-1] if display else None
        parent = tuple(parts) if err["type"] == "missing" else tuple(parts[:-1])
        model = model_at(root, data, parent) if err["type"] in ("missing", "extra_forbidden") else None
        allowed = list(model.model_fields) if model is not None else None
        desc = None
        if model is not None and err["type"] == "missing" and key in model.model_fields:
            desc = model.model_fields[key].description
        message, hint = _describe(err, key, allowed, desc)
        of = "key" if err["type"] in ("extra_forbidden", "missing") or rest \
            or (err["type"] == "plugin_type_missing" and (err.get("ctx") or {}).get("key")) else "value"
        e = locator.error(tuple(parts), message, hint, of=of)
        e.key = name if display else None
        out[name] = e
        types_[name] = err["type"]
    # a union member that failed on the type (mass: "a number or a list") is noise when another member
    # got further and reported an error inside the value (mass[1]: must be > 0)
    for name in [n for n, t in types_.items() if t in _TYPE_ERRORS]:
        if any(other.startswith((name + ".", name + "[")) for other in out):
            del out[name]
    return _merge_misspelt(out)




def _merge_misspelt(out: dict[str, DeckError]) -> list[DeckError]:
    """Drop "required key 'x' is missing" when the same mapping has an unknown key whose hint is 'x'
    (a misspelt required key is one mistake, not two)."""
    hinted = {(e.key.rpartition(".")[0], e.hint) for e in out.values()
              if e.key and e.message.startswith("unknown key") and e.hint}
    keep = []
    for e in out.values():
        if e.key and e.message.startswith("required key"):
            parent, _, name = e.key.rpartition(".")
            if (parent, f"did you mean '{name}'?") in hinted:
                continue
        keep.append(e)
    return keep
