"""`msim --help` and every subcommand's `--help`: every option says what it does, and figure names in
the help text are not broken by click's re-wrapping (README walk-through, readme3)."""

from __future__ import annotations

import re

import click
from click.testing import CliRunner

from multiscale.cli import cli


def test_every_option_of_every_command_has_help():
    missing = [f"msim {name} {'/'.join(p.opts)}" for name, cmd in cli.commands.items() for p in cmd.params
               if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert missing == [], missing


def test_help_texts_render_without_broken_figure_names():
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0, top.output
    for name in cli.commands:
        res = runner.invoke(cli, [name, "--help"])
        assert res.exit_code == 0, (name, res.output)
        text = " ".join(res.output.split())
        # a <a|b|c> choice list split over two docstring lines renders as "<a|b| c>"
        assert not re.search(r"<[^<>]*\|\s[^<>]*>", text), (name, text)
        assert name in top.output
