"""Small test plugins, named and parametrised like the built-in ones of `decks/README.md`.

They only carry a ``Params`` model (the deck layer never calls anything else), so the deck tests do not
depend on the progress of the real plugins. In-process tests validate against `private_registries()`
(the global registries are never touched); a subprocess of the real ``msim`` gets them through
``MSIM_PLUGINS=msim_test_plugins``, which registers only the names that are still missing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from multiscale.deck import PluginSection
from multiscale.registry import ALL_REGISTRIES, SHAPES, PluginParams, Registry

Vec = list[float]


class LJ:
    class Params(PluginParams):
        epsilon: float = Field(gt=0, description="[energy]")
        sigma: float = Field(gt=0, description="[length]")
        cutoff: float = Field(gt=0, description="[length]")
        truncation: Literal["cut", "shift", "smooth"] = "shift"


class Harmonic:
    class Params(PluginParams):
        k: float = Field(gt=0, description="spring constant [energy/length^2]")
        r0: float = Field(gt=0, description="[length]")
        cutoff: float = Field(gt=0, description="[length]")


class Box:
    class Params(PluginParams):
        lo: Vec = Field(description="[length]")
        hi: Vec = Field(description="[length]")


class Sphere:
    class Params(PluginParams):
        center: Vec = Field(description="[length]")
        radius: float = Field(gt=0, description="[length]")


class Rectangle:
    class Params(PluginParams):
        lo: Vec
        hi: Vec
        element: Literal["tri3", "quad4"] = "quad4"
        size: float = Field(gt=0, description="element size [length]")


class Linear:
    class Params(PluginParams):
        pass


class Isotropic:
    class Params(PluginParams):
        E: float = Field(gt=0, description="Young's modulus [pressure]")
        nu: float = Field(gt=-1, lt=0.5)


class Blend:
    class Params(PluginParams):
        pass


class Projected:
    class Params(PluginParams):
        pass


class Fixed:
    class Params(PluginParams):
        region: PluginSection(SHAPES)  # type: ignore[valid-type]
        components: list[Literal["x", "y", "z"]] = Field(default_factory=lambda: ["x", "y", "z"])


class Indenter:
    class Params(PluginParams):
        shape: Literal["sphere", "cylinder", "flat"]
        radius: float = Field(gt=0)
        stiffness: float = Field(gt=0)
        center: Vec
        depth_steps: dict[str, float] | None = None


class Langevin:
    class Params(PluginParams):
        temperature: float = Field(ge=0)
        damp: float = Field(gt=0)
        seed: int = 0


PLUGINS: dict[str, list[tuple[str, type]]] = {
    "potential": [("lj", LJ), ("harmonic", Harmonic)],
    "region shape": [("box", Box), ("sphere", Sphere)],
    "mesh generator": [("rectangle", Rectangle)],
    "material": [("linear", Linear), ("isotropic", Isotropic)],
    "blending function": [("linear", Blend), ("cubic", Blend), ("quintic", Blend)],
    "coupling method": [("projected", Projected), ("strong", Projected)],
    "load": [("fixed", Fixed), ("indenter", Indenter)],
    "thermostat": [("langevin", Langevin)],
}


def private_registries() -> dict[str, Registry]:
    """Fresh registries (one per kind) holding only the test plugins."""
    regs: dict[str, Registry] = {kind: Registry(kind) for kind in ALL_REGISTRIES}
    for kind, items in PLUGINS.items():
        for name, cls in items:
            regs[kind]._items[name] = cls  # no decorator: the same class serves several names
    return regs


def fill_gaps() -> None:
    """Register the test plugins in the GLOBAL registries, only under names still free (subprocess use).
    The built-in plugins are imported first, so a real plugin always wins its name."""
    from multiscale.plugins import load_all

    load_all()
    for kind, items in PLUGINS.items():
        reg = ALL_REGISTRIES[kind]
        for name, cls in items:
            if name not in reg:
                reg._items[name] = cls


def merged_registries() -> dict[str, Registry]:
    """Fresh registries holding the real plugins, plus the test plugins under names still free."""
    from multiscale.plugins import load_all

    load_all()
    regs: dict[str, Registry] = {}
    for kind, real in ALL_REGISTRIES.items():
        reg: Registry = Registry(kind)
        reg._items.update(dict(real.items()))
        for name, cls in PLUGINS.get(kind, []):
            reg._items.setdefault(name, cls)
        regs[kind] = reg
    return regs
