"""A misspelt ``type:`` in a plugin section (``blend: {typ: cubic}``) is named (found off the gallery).

The message used to say only "handshake.blend: this blending function section needs a 'type:' key",
pointing at the section, so the user had to find the typo alone. Now the error is at the misspelt key,
names it and suggests 'type'; a section without anything like ``type`` lists the keys it has.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from multiscale.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def _validate(tmp_path: Path, old: str, new: str):  # noqa: ANN202
    text = (ROOT / "decks" / "wave2d.yaml").read_text()
    assert old in text
    deck = tmp_path / "typo.yaml"
    deck.write_text(text.replace(old, new))
    line = next(i for i, s in enumerate(deck.read_text().splitlines(), 1) if new in s)
    return CliRunner().invoke(cli, ["validate", str(deck)]), deck, line


@pytest.mark.parametrize("typo", ["typ", "tpye", "Type"])
def test_blend_type_typo_is_named(tmp_path: Path, typo: str) -> None:
    res, deck, line = _validate(tmp_path, "blend: {type: cubic}", f"blend: {{{typo}: cubic}}")
    assert res.exit_code == 2, res.output
    out = res.output
    assert f"{deck}:{line}:" in out                       # file and line
    assert f"handshake.blend.{typo}: unknown key '{typo}'" in out      # key path and the unknown key
    assert "needs a 'type:' key; known: cubic, linear, quintic" in out
    assert "did you mean 'type'?" in out
    assert "Traceback" not in out


def test_potential_type_typo_is_named(tmp_path: Path) -> None:
    res, deck, line = _validate(tmp_path, "potential: {type: lj,", "potential: {typ: lj,")
    assert res.exit_code == 2, res.output
    assert f"{deck}:{line}:" in res.output and "potential.typ: unknown key 'typ'" in res.output


def test_section_without_type_lists_its_keys(tmp_path: Path) -> None:
    res, deck, line = _validate(tmp_path, "blend: {type: cubic}", "blend: {order: 3}")
    assert res.exit_code == 2, res.output
    assert f"{deck}:{line}:" in res.output and "handshake.blend: " in res.output
    assert "(the section has: order)" in res.output
