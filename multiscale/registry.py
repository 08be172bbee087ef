"""One registry mechanism for every plugin kind (potentials, elements, blends, couplings, ...).

A plugin is a class registered under the name a deck uses in its ``type:`` key. It carries a pydantic
parameter model as the class attribute ``Params`` (``extra="forbid"``), which the deck layer uses to
validate that plugin's section. Usage::

    from multiscale.registry import POTENTIALS

    @POTENTIALS.register("lj")
    class LennardJones:
        class Params(PluginParams): ...
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from .errors import UnknownPluginError

T = TypeVar("T")


class PluginParams(BaseModel):
    """Base of every plugin's parameter model: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    """Return ``"did you mean 'x'?"`` for the closest candidate, or None."""
    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class Registry(Generic[T]):
    """Name -> plugin class, for one kind of plugin.

    ``register(name)`` is a class decorator; registering a name twice is a programming error
    (ValueError). ``get(name)`` raises `UnknownPluginError` with the known names and a "did you mean".
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice "
                                 f"({self._items[name]!r} and {obj!r})")
            self._items[name] = obj
            try:
                obj.registered_name = name  # type: ignore[attr-defined]
            except (AttributeError, TypeError):
                pass
            return obj

        return deco

    def get(self, name: str) -> T:
        if name not in self._items:
            # a caller that imported only this module (the Python API, a test run alone) finds the built-in
            # plugins too: they register on import (`multiscale.plugins.load_all`, idempotent)
            from .plugins import load_all
            load_all()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownPluginError(
                f"unknown {self.kind} '{name}'; known: {', '.join(sorted(self._items)) or '(none)'}",
                hint=did_you_mean(name, tuple(self._items)),
            ) from None

    def params_model(self, name: str) -> type[BaseModel] | None:
        return getattr(self.get(name), "Params", None)

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"



# One registry per plugin kind. Plugin modules register themselves on import;
# `multiscale.plugins.load_all()` imports every built-in plugin module.
POTENTIALS: Registry[Any] = Registry("potential")
SHAPES: Registry[Any] = Registry("region shape")
ELEMENTS: Registry[Any] = Registry("element")
MESHES: Registry[Any] = Registry("mesh generator")
MATERIALS: Registry[Any] = Registry("material")
BLENDS: Registry[Any] = Registry("blending function")
COUPLINGS: Registry[Any] = Registry("coupling method")
LOADS: Registry[Any] = Registry("load")
THERMOSTATS: Registry[Any] = Registry("thermostat")
MINIMIZERS: Registry[Any] = Registry("minimizer")

ALL_REGISTRIES: dict[str, Registry[Any]] = {
    r.kind: r for r in (POTENTIALS, SHAPES, ELEMENTS, MESHES, MATERIALS, BLENDS,
                        COUPLINGS, LOADS, THERMOSTATS, MINIMIZERS)
}
