"""Plugin sections: ``{type: <name>, <that plugin's parameters>}``, validated through the registries.

``PluginSection(REGISTRY)`` is a pydantic field type. At validation time (not at import time, so plugins
that register later are found) it looks ``type`` up in the registry and validates the section with the
plugin's ``Params`` model (``extra="forbid"``). The validated value is an instance of a subclass of that
``Params`` model with one extra field, ``type`` (the registered name), so::

    section = deck.config.potential           # e.g. an instance of LennardJones.Params + .type == "lj"
    cls = plugin_of(section)                  # the registered class (POTENTIALS.get(section.type))
    pot = cls.from_params(section, units)

Plugin authors may use ``PluginSection`` inside their own ``Params`` for nested sections (a load's
``region``, a union shape's ``parts``); errors inside keep their full key path (``loads[0].region.lo``).
A section may also be written as the bare name (``blend: cubic``) when it needs no parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, PlainValidator, ValidationError, ValidationInfo, create_model
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..errors import DeckError
from ..registry import ALL_REGISTRIES, PluginParams, Registry, did_you_mean

_override: dict[str, Any] | None = None
_models: dict[tuple[Any, str], type[BaseModel]] = {}
_plugin: dict[tuple[type[BaseModel], str], Any] = {}


@contextlib.contextmanager
def use_registries(registries: Mapping[str, Any]) -> Iterator[None]:
    """Validate against these registries (by kind, e.g. ``{"potential": my_registry}``) instead of the
    global ones, inside the ``with`` block. Kinds not given fall back to the global registries.
    Used by tests to validate with private plugins without touching the global registries."""
    global _override
    old = _override
    _override = dict(registries)
    try:
        yield
    finally:
        _override = old


def active(registry: Any) -> Any:
    """The registry that answers for ``registry``'s kind right now (see `use_registries`)."""
    if _override is not None:
        return _override.get(registry.kind, registry)
    return registry


def section_model(registry: Any, name: str) -> type[BaseModel]:
    """The pydantic model validating a ``{type: name, ...}`` section of ``registry``."""
    obj = registry.get(name)
    params = getattr(obj, "Params", None) or PluginParams
    if "type" in params.model_fields:
        model = params
    else:
        key = (obj, name)
        model = _models.get(key)
        if model is None:
            model = create_model(params.__name__, __base__=params,
                                 type=(Literal[name], name))  # type: ignore[call-overload]
            model.__qualname__ = f"{getattr(obj, '__qualname__', name)}.Params"
            _models[key] = model
    _plugin[(model, name)] = obj
    return model


def plugin_of(section: BaseModel) -> Any:
    """The registered plugin (class) a validated section belongs to."""
    return _plugin[(type(section), section.type)]  # type: ignore[attr-defined]


def _error(loc: tuple[str | int, ...], etype: str, message: str, value: Any, **ctx: Any) -> ValidationError:
    return ValidationError.from_exception_data(
        "PluginSection",
        [InitErrorDetails(type=PydanticCustomError(etype, message, ctx), loc=loc, input=value)],
    )


def _unknown(registry: Any, name: str) -> tuple[str, str | None]:
    names = registry.names()
    msg = f"unknown {registry.kind} '{name}'; known: {', '.join(names) or '(none registered)'}"
    hint = did_you_mean(name, names)
    if hint is None:
        for other in ALL_REGISTRIES.values():
            other = active(other)
            if other.kind != registry.kind and name in other:
                hint = f"'{name}' is a {other.kind}, not a {registry.kind}"
                break
    return msg, hint


def _type_missing(reg: Any, value: dict) -> ValidationError:
    """The error of a section without ``type:``, at its first key that looks like a misspelt ``type``
    (``{typ: cubic}``: the key named, with a "did you mean 'type'?") or, failing that, at the section
    with the keys it has."""
    known = ", ".join(reg.names()) or "(none registered)"
    keys = [str(k) for k in value]
    typo = next((k for k in keys if did_you_mean(k.lower(), ["type"])), None)
    if typo is not None:
        return _error((typo,), "plugin_type_missing",
                      "unknown key '{key}': this {kind} section needs a 'type:' key; known: {known}", value,
                      key=typo, kind=reg.kind, known=known, hint="did you mean 'type'?")
    has = f" (the section has: {', '.join(keys)})" if keys else " (the section is empty)"
    return _error((), "plugin_type_missing", "this {kind} section needs a 'type:' key; known: {known}{has}",
                  value, kind=reg.kind, has=has, known=known)


class _PluginMarker:
    """Field metadata: which registry validates this section (also read by the error translator)."""

    def __init__(self, registry: Registry[Any], default_type: str | None = None) -> None:
        self.registry = registry
        self.default_type = default_type

    def model_for(self, value: Any) -> type[BaseModel] | None:
        """The section model for raw ``value`` (a dict or a bare name), or None if it has none."""
        reg = active(self.registry)
        name = value if isinstance(value, str) else (
            value.get("type", self.default_type) if isinstance(value, dict) else None)
        if isinstance(name, str) and name in reg:
            return section_model(reg, name)
        return None

    def validate(self, value: Any, info: ValidationInfo) -> BaseModel:
        reg = active(self.registry)
        if isinstance(value, BaseModel) and (type(value), getattr(value, "type", None)) in _plugin:
            return value  # already validated (model_copy, re-validation)
        bare = isinstance(value, str)
        if bare:
            value = {"type": value}
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "plugin_section",
                "expected a {kind} section (a mapping with 'type:' and its parameters, or a bare name)",
                {"kind": reg.kind})
        name = value.get("type", self.default_type)
        loc: tuple[str | int, ...] = () if bare else ("type",)
        if name is None:
            raise _type_missing(reg, value)
        if not isinstance(name, str) or name not in reg:
            msg, hint = _unknown(reg, str(name))
            raise _error(loc, "unknown_plugin", msg, name, hint=hint or "")
        model = section_model(reg, name)
        data = dict(value)
        data["type"] = name
        try:
            return model.model_validate(data, context=info.context)
        except DeckError as exc:  # a plugin's own validator looked a name up (e.g. SHAPES.get)
            raise PydanticCustomError("plugin_error", "{message}",
                                      {"message": exc.message, "hint": exc.hint or ""}) from None
        except (KeyError, TypeError, IndexError) as exc:  # a plugin validator tripped over the input
            raise PydanticCustomError("plugin_error", "{message}",
                                      {"message": f"invalid {reg.kind} section ({type(exc).__name__}: {exc})",
                                       "hint": ""}) from None


def PluginSection(registry: Registry[Any], *, default_type: str | None = None) -> Any:  # noqa: N802
    """Field type of a plugin section of ``registry`` (``type:`` defaults to ``default_type``)."""
    marker = _PluginMarker(registry, default_type)
    return Annotated[Any, PlainValidator(marker.validate), marker]


def find_marker(metadata: list[Any]) -> _PluginMarker | None:
    return next((m for m in metadata if isinstance(m, _PluginMarker)), None)
