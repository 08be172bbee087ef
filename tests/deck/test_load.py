"""YAML loading with line marks (multiscale.deck.load)."""

from __future__ import annotations

import pytest

from multiscale.deck import Mark, as_path, format_path, parse_yaml
from multiscale.errors import DeckError

TEXT = """\
msim: 1
handshake:
  blend: {type: cubic}
  width: 8.0
loads:
  - type: fixed
  - type: indenter
    radius: 10.0
"""


def test_marks_of_keys_and_values():
    data, marks = parse_yaml(TEXT, "d.yaml")
    assert data["handshake"]["blend"] == {"type": "cubic"}
    assert marks.key("handshake.blend.type") == Mark(3, 11)
    assert marks.value("handshake.blend.type") == Mark(3, 17)
    assert marks.key("handshake.width") == Mark(4, 3)
    assert marks.value("handshake.width") == Mark(4, 10)
    assert marks.value("loads[1].radius") == Mark(8, 13)
    assert marks.value("loads[1]") == Mark(7, 5)
    assert marks.value(()) == Mark(1, 1)
    assert marks.nearest("handshake.damping.gamma0") == (("handshake",), marks.value("handshake"))


def test_paths_round_trip():
    for s in ("handshake.blend.type", "loads[1].radius", "a[0][2].b", "msim"):
        assert format_path(as_path(s)) == s
    assert as_path("loads[1].radius") == ("loads", 1, "radius")


def test_duplicate_key_is_an_error_at_the_second():
    with pytest.raises(DeckError) as info:
        parse_yaml("a: 1\nb:\n  c: 2\n  c: 3\n", "d.yaml")
    e = info.value
    assert (e.line, e.column, e.key) == (4, 3, "b.c")
    assert "first given at line 3" in e.message


def test_floats_with_exponents_are_numbers():
    data, _ = parse_yaml("a: 1e-3\nb: 2E5\nc: 1.0e5\nd: -3.5e-2\ne: 1_000\nf: .5\ng: '1e-3'\n")
    assert data == {"a": 1e-3, "b": 2e5, "c": 1e5, "d": -3.5e-2, "e": 1000, "f": 0.5, "g": "1e-3"}
    assert isinstance(data["b"], float) and isinstance(data["e"], int)


def test_keys_are_always_strings():
    data, _ = parse_yaml("on: 1\nyes: 2\n3: x\n")
    assert data == {"on": 1, "yes": 2, "3": "x"}


def test_merge_keys():
    data, _ = parse_yaml("base: &b {lo: [0, 0], hi: [1, 1]}\nother:\n  <<: *b\n  hi: [2, 2]\n")
    assert data["other"] == {"lo": [0, 0], "hi": [2, 2]}


def test_syntax_error_has_line_column_source_and_caret():
    text = "msim: 1\natoms:\n  mass: [1.0, 2.0\n  skin: 0.3\n"
    with pytest.raises(DeckError) as info:
        parse_yaml(text, "d.yaml")
    e = info.value
    assert e.file == "d.yaml" and e.line == 4 and e.column is not None
    assert e.source_line == "  skin: 0.3"
    assert "YAML syntax error" in e.message
    out = e.format().splitlines()
    assert out[0].startswith("error: d.yaml:4:")
    assert out[2].strip() == "^"


def test_empty_text_is_none():
    assert parse_yaml("# only a comment\n")[0] is None
