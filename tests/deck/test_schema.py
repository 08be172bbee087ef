"""Deck validation: models, plugin sections, defaults, Deck.error (multiscale.deck)."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from multiscale.deck import DeckErrors, deck_from_dict, load_deck, load_deck_text, plugin_of, use_registries
from multiscale.deck.schema import DEFAULT_SKIN
from multiscale.errors import DeckError
from multiscale.registry import PluginParams, Registry, did_you_mean

from .bad_decks import VALID
from .fake_plugins import LJ, Box

PURE_MD = """\
msim: 1
units: {units}
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5}}
atoms:
  lattice: {{type: square, a: relaxed}}
  region: {{type: box, lo: [0, 0], hi: [10, 10]}}
  mass: 1.0
integrator: {{dt: 0.001, time: 1.0}}
"""


def test_valid_deck_config(fake_registries):
    deck = load_deck(VALID)
    c = deck.config
    assert c.units == "lj" and c.atoms.lattice.type == "hex" and c.atoms.lattice.a == 1.1
    assert c.potential.type == "lj" and c.potential.epsilon == 1.0
    assert isinstance(c.potential, LJ.Params) and plugin_of(c.potential) is LJ
    assert plugin_of(c.atoms.region) is Box
    assert c.loads[1].type == "indenter" and c.loads[1].radius == 5.0
    assert c.loads[0].region.hi == [80.0, -38.0]
    assert c.integrator.type == "verlet" and c.integrator.steps == 1000
    assert deck.dim == 2 and deck.text == VALID.read_text() and deck.data["msim"] == 1
    with pytest.raises(ValidationError):  # frozen
        c.integrator.dt = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("units", ["lj", "metal"])
def test_defaults_are_filled_in(fake_registries, units):
    deck = load_deck_text(PURE_MD.format(units=units))
    d = deck.with_defaults()
    assert d["atoms"]["skin"] == DEFAULT_SKIN[units]
    assert d["integrator"] == {"type": "verlet", "dt": 0.001, "steps": None, "time": 1.0,
                               "thermostat": None, "threads": None, "seed": 0, "allow_unstable_dt": False,
                               "continues": None}
    assert d["output"]["every"] == 100 and d["expect"] == {} and d["loads"] == []
    assert list(d["potential"]) == ["type", "epsilon", "sigma", "cutoff", "truncation"]
    assert deck.config.atoms.lattice.a == "relaxed"


def test_shown_deck_is_a_valid_deck_with_the_same_config(fake_registries):
    deck = load_deck(VALID)
    text = yaml.safe_dump(deck.with_defaults(), sort_keys=False, default_flow_style=None)
    again = load_deck_text(text)
    assert again.config == deck.config
    assert again.config.continuum.material.type == "linear"


def test_omitted_plugin_sections_take_their_default(fake_registries):
    text = VALID.read_text().replace("  material: {type: linear}\n", "").replace(
        "  blend: {type: cubic}\n", "").replace("  coupling: {type: projected}\n", "")
    deck = load_deck_text(text)
    assert deck.config.continuum.material.type == "linear"
    assert deck.config.handshake.blend.type == "cubic"
    assert deck.config.handshake.coupling.type == "projected"


def test_bare_plugin_name(fake_registries):
    text = VALID.read_text().replace("blend: {type: cubic}", "blend: quintic")
    assert load_deck_text(text).config.handshake.blend.type == "quintic"


def test_error_points_at_key_or_nearest_parent(fake_registries):
    deck = load_deck(VALID)
    lines = VALID.read_text().splitlines()
    e = deck.error("handshake.width", "2.0 is narrower than cut-off + skin = 2.8", "widen it")
    assert isinstance(e, DeckError) and e.key == "handshake.width"
    assert lines[e.line - 1].strip() == "width: 4.0" and lines[e.line - 1][e.column - 1:] == "4.0"
    assert e.hint == "widen it" and e.file == str(VALID)
    e = deck.error("handshake.damping.gamma0", "needed")
    assert lines[e.line - 1] == "handshake:" and e.key == "handshake.damping.gamma0"
    e = deck.error("loads[1].radius", "too large")
    assert lines[e.line - 1].strip() == "radius: 5.0"


def test_resolve_file(fake_registries, tmp_path):
    deck = load_deck(VALID)
    with pytest.raises(DeckError) as info:
        deck.resolve_file("potential", "missing.eam.alloy")
    assert "file not found" in info.value.message and str(VALID.parent) in info.value.message
    assert deck.resolve_file("potential", VALID.name) == VALID


def test_several_mistakes_are_all_reported_in_line_order(fake_registries):
    text = VALID.read_text().replace("dt: 0.002", "dt: -1").replace("mass: 1.0", "mass: 0")
    with pytest.raises(DeckErrors) as info:
        load_deck_text(text, "two.yaml")
    errs = info.value.errors
    assert [e.key for e in errs] == ["atoms.mass", "integrator.dt"]
    assert errs[0].line < errs[1].line and info.value.line == errs[0].line
    assert info.value.format().endswith("2 errors in two.yaml")


def test_plugins_registered_later_are_picked_up(fake_registries):
    """Nothing in the schema lists plugin names: a plugin registered after import validates at once."""
    text = VALID.read_text().replace("blend: {type: cubic}", "blend: {type: smoothstep, order: 3}")
    with pytest.raises(DeckError, match="unknown blending function 'smoothstep'"):
        load_deck_text(text)

    @fake_registries["blending function"].register("smoothstep")
    class Smoothstep:
        class Params(PluginParams):
            order: int

    deck = load_deck_text(text)
    assert deck.config.handshake.blend.order == 3 and plugin_of(deck.config.handshake.blend) is Smoothstep


def test_global_registries_are_used_outside_the_override():
    regs = {"potential": Registry("potential")}
    with use_registries(regs):
        from multiscale.deck.section import active
        from multiscale.registry import POTENTIALS, SHAPES
        assert active(POTENTIALS) is regs["potential"] and active(SHAPES) is SHAPES
    assert active(POTENTIALS) is POTENTIALS


def test_registry_rejects_duplicate_names_and_suggests():
    reg: Registry = Registry("widget")

    @reg.register("lattice")
    class A:
        pass

    with pytest.raises(ValueError, match="registered twice"):
        reg.register("lattice")(type("B", (), {}))
    with pytest.raises(DeckError) as info:
        reg.get("latice")
    assert info.value.hint == "did you mean 'lattice'?"
    assert did_you_mean("zzz", ["lattice"]) is None


def _only_error(text: str) -> DeckError:
    with pytest.raises(DeckError) as info:
        load_deck_text(text, "d.yaml")
    assert not isinstance(info.value, DeckErrors), info.value.format()
    return info.value


def test_union_noise_is_dropped(fake_registries):
    e = _only_error(VALID.read_text().replace("mass: 1.0", "mass: [1.0, -2.0]"))
    assert e.key == "atoms.mass[1]" and e.message == "expected a number > 0, got -2.0"


def test_section_without_type(fake_registries):
    e = _only_error(VALID.read_text().replace("blend: {type: cubic}", "blend: {order: 3}"))
    assert e.key == "handshake.blend" and "needs a 'type:' key; known: cubic, linear, quintic" in e.message


def test_integrator_type_defaults_to_verlet_and_minimizers_come_from_the_registry(fake_registries):
    text = VALID.read_text()
    assert load_deck_text(text.replace("  type: verlet\n", "")).config.integrator.type == "verlet"
    e = _only_error(text.replace("  type: verlet\n", "  type: fire\n"))
    assert e.key == "integrator.type" and "unknown integrator 'fire'; known: verlet" in e.message

    @fake_registries["minimizer"].register("fire")
    class Fire:
        class Params(PluginParams):
            fmax: float = 1e-6
            max_steps: int = 10000

    thermo = "  thermostat: {type: langevin, temperature: 0.1, damp: 1.0, seed: 7}\n"
    deck = load_deck_text(text.replace("  type: verlet\n  dt: 0.002\n  steps: 1000\n", "  type: fire\n")
                          .replace(thermo, ""))
    assert deck.config.integrator.type == "fire" and deck.config.integrator.fmax == 1e-6


def test_deck_that_is_not_a_mapping():
    e = _only_error("- msim: 1\n")
    assert (e.line, e.column) == (1, 1) and "a deck is a mapping" in e.message


def test_pure_continuum_deck_takes_its_dimension_from_the_mesh(fake_registries):
    text = ("msim: 1\nunits: metal\ncontinuum:\n"
            "  mesh: {type: rectangle, lo: [0, 0], hi: [1, 1], size: 0.1}\n"
            "  material: {type: isotropic, E: 1.0, nu: 0.3}\nintegrator: {dt: 0.1, steps: 3}\n")
    deck = load_deck_text(text)
    assert deck.dim == 2 and deck.config.atoms is None and deck.config.potential is None


def test_deck_from_dict_and_units(fake_registries):
    data = yaml.safe_load(VALID.read_text())
    deck = deck_from_dict(data)
    assert deck.config == load_deck(VALID).config and deck.units.name == "lj"
    data["integrator"]["dt"] = -1.0
    with pytest.raises(DeckError) as info:
        deck_from_dict(data)
    assert info.value.key == "integrator.dt" and info.value.file == "<dict>"


def test_the_readme_example_is_a_valid_deck(fake_registries):
    """decks/README.md documents the format: its example must pass the schema (with the test plugins,
    which take the README's parameter names)."""
    import re

    readme = (VALID.parents[1] / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    deck = load_deck_text(block, "README.md")
    assert deck.config.handshake.damping.gamma0 == 1.0 and deck.config.expect["energy_drift"].max == 1e-9


def test_lookup_errors_inside_a_plugin_validator_are_located_at_its_section(fake_registries):
    """A plugin that validates a nested name itself (``SHAPES.get`` in a field validator) raises a
    DeckError without a location; it is reported at that plugin's section."""
    from pydantic import field_validator

    shapes = fake_registries["region shape"]

    @fake_registries["load"].register("selfcheck")
    class SelfCheck:
        class Params(PluginParams):
            region: dict

            @field_validator("region")
            @classmethod
            def _ok(cls, v: dict) -> dict:
                shapes.get(v["type"])
                return v

    text = VALID.read_text().replace("  - type: fixed\n", "  - type: selfcheck\n").replace(
        "    components: [x, y]\n", "")
    assert load_deck_text(text).config.loads[0].type == "selfcheck"
    e = _only_error(text.replace("{type: box, lo: [-40", "{type: boxx, lo: [-40"))
    assert e.key == "loads[0]" and "unknown region shape 'boxx'" in e.message
    assert e.hint == "did you mean 'box'?"
    assert text.splitlines()[e.line - 1] == "  - type: selfcheck"
    e = _only_error(text.replace("{type: box, lo: [-40", "{lo: [-40"))
    assert e.key == "loads[0]" and "invalid load section (KeyError: 'type')" in e.message
