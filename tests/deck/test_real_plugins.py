"""Plugin-level mistakes against the REAL registered plugins (whatever is registered at test time).

For every registered plugin of every kind that has a place in the base deck, a section of that type with
an unknown parameter must be reported at that parameter's line and key path (and every plugin's
``Params`` must forbid unknown keys). Every built-in plugin is loaded (`plugins.load_all`); none is skipped.
"""

from __future__ import annotations

import pytest
import yaml

from multiscale.deck import DeckErrors, load_deck_text, use_registries
from multiscale.errors import DeckError
from multiscale.plugins import load_all
from multiscale.registry import ALL_REGISTRIES

from .bad_decks import VALID
from .fake_plugins import private_registries

load_all()

#: where a section of each plugin kind sits in the base deck
PLACES = {
    "potential": ("potential",),
    "region shape": ("atoms", "region"),
    "mesh generator": ("continuum", "mesh"),
    "material": ("continuum", "material"),
    "blending function": ("handshake", "blend"),
    "coupling method": ("handshake", "coupling"),
    "load": ("loads", 0),
    "thermostat": ("integrator", "thermostat"),
}
CASES = [(kind, name) for kind in PLACES for name in ALL_REGISTRIES[kind].names()]
BOGUS = "bogus_parameter_xyz"


def _errors(text: str) -> list[DeckError]:
    try:
        load_deck_text(text, "deck.yaml")
    except DeckErrors as exc:
        return exc.errors
    except DeckError as exc:
        return [exc]
    return []


def _deck_with(place: tuple, section: dict) -> tuple[str, int]:
    data = yaml.safe_load(VALID.read_text())
    parent = data
    for p in place[:-1]:
        parent = parent[p]
    parent[place[-1]] = section
    text = yaml.safe_dump(data, sort_keys=False)
    line = next(i + 1 for i, ln in enumerate(text.splitlines()) if BOGUS in ln)
    return text, line


@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}:{n}" for k, n in CASES] or None)
def test_unknown_parameter_of_a_real_plugin(kind, name):
    place = PLACES[kind]
    text, line = _deck_with(place, {"type": name, BOGUS: 1})
    fakes = {k: r for k, r in private_registries().items() if k != kind}
    with use_registries(fakes):
        errs = _errors(text)
    key = ".".join(str(p) for p in place).replace(".0", "[0]") + f".{BOGUS}"
    hits = [e for e in errs if e.key == key]
    assert hits, f"{kind} '{name}' accepted an unknown parameter (its Params must use extra='forbid'); " \
                 f"got: {[e.format() for e in errs]}"
    assert hits[0].line == line and hits[0].message == f"unknown key '{BOGUS}'"


def test_misspelt_real_potential_name():
    assert "lj" in ALL_REGISTRIES["potential"].names()
    text = VALID.read_text().replace("  type: lj\n", "  type: ljj\n", 1)
    fakes = {k: r for k, r in private_registries().items() if k != "potential"}
    with use_registries(fakes):
        errs = _errors(text)
    hit = next(e for e in errs if e.key == "potential.type")
    assert "unknown potential 'ljj'" in hit.message and hit.hint == "did you mean 'lj'?"
    assert text.splitlines()[hit.line - 1] == "  type: ljj"


@pytest.mark.parametrize("minimizer,refused", [("lbfgs", True), ("precon_lbfgs", True), ("fire", False)])
def test_force_blend_statics_needs_a_force_minimiser(minimizer, refused):
    """force_blend's forces have no potential: a line-search minimiser would search the reported Π, which
    is not what the forces descend; the deck is refused at integrator.type (fire is accepted)."""
    data = yaml.safe_load(VALID.read_text())
    data["handshake"]["coupling"] = {"type": "force_blend"}
    data["integrator"] = {"type": minimizer, "ftol": 1e-6}
    text = yaml.safe_dump(data, sort_keys=False)
    line = next(i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip() == f"type: {minimizer}")
    hits = [e for e in _errors(text) if e.key == "integrator.type"]
    if refused:
        assert hits and hits[0].line == line and "not the gradient of an energy" in hits[0].message
        assert "fire" in hits[0].hint
    else:
        assert not hits
