"""The msim command line: exit statuses, messages, show, optional commands (click's CliRunner)."""

from __future__ import annotations

import sys
import types

import click
import pytest
import yaml
from click.testing import CliRunner
from deck.bad_decks import VALID, all_bad_decks

from multiscale.cli import MsimGroup, _register_commands, cli, debug_option
from multiscale.deck import load_deck_text
from multiscale.errors import DeckError

BAD = all_bad_decks()


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("command", ["validate", "run", "show"])
@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
def test_malformed_deck_exits_2_naming_line_and_key(bad, command, fake_registries):
    r = invoke(command, str(bad.path))
    assert r.exit_code == 2, r.output
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"error: {bad.path}:{bad.line}:"), r.stderr
    if bad.key:
        assert f": {bad.key}: " in first
    assert bad.message in first
    if bad.hint:
        assert f"hint: {bad.hint}" in r.stderr or bad.hint in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_debug_shows_the_traceback_and_still_exits_2(fake_registries):
    bad = next(b for b in BAD if b.name == "negative_dt")
    for args in (["run", str(bad.path), "--debug"], ["--debug", "validate", str(bad.path)]):
        r = invoke(*args)
        assert r.exit_code == 2
        assert "Traceback" in r.stderr and f"{bad.path}:{bad.line}:" in r.stderr


def test_show_prints_every_default_as_a_valid_deck(fake_registries):
    r = invoke("show", str(VALID))
    assert r.exit_code == 0, r.stderr
    shown = yaml.safe_load(r.stdout)
    assert shown["output"]["thermo_every"] == 10 and shown["continuum"]["density"] == "derived"
    assert shown["atoms"]["lattice"]["origin"] is None
    assert load_deck_text(r.stdout).config == load_deck_text(VALID.read_text()).config


def test_missing_deck_file_exits_2(tmp_path):
    r = invoke("validate", str(tmp_path / "nope.yaml"))
    assert r.exit_code == 2 and "deck file not found" in r.stderr


def test_bad_command_line_values_exit_2(fake_registries):
    assert invoke("run", str(VALID), "--steps", "0").exit_code == 2
    assert invoke("run", str(VALID), "--threads", "many").exit_code == 2
    assert invoke("frobnicate").exit_code == 2


def test_help_lists_only_existing_commands():
    r = invoke("--help")
    assert r.exit_code == 0
    listed = {ln.split()[0] for ln in r.stdout.split("Commands:")[1].splitlines() if ln.strip()}
    assert {"run", "validate", "show"} <= listed
    assert listed == set(cli.commands)
    for name in listed:
        assert invoke(name, "--help").exit_code == 0


def test_every_command_is_registered_and_a_failed_import_is_loud(monkeypatch):
    assert {"run", "validate", "show", "inspect", "plot", "export", "verify", "regress"} <= set(cli.commands)
    # a command module that cannot be imported must make msim fail, not drop the command
    monkeypatch.setitem(sys.modules, "multiscale.verify", None)
    with pytest.raises(ImportError):
        _register_commands(click.Group("g"))


def _group_raising(exc: BaseException) -> click.Group:
    @click.group(cls=MsimGroup)
    def g() -> None:
        pass

    @g.command()
    @debug_option
    def boom() -> None:
        raise exc

    return g


def test_exit_statuses_of_errors():
    runner = CliRunner()
    r = runner.invoke(_group_raising(DeckError("bad value", file="d.yaml", line=3, key="a.b")), ["boom"])
    assert r.exit_code == 2 and r.stderr.startswith("error: d.yaml:3: a.b: bad value")
    r = runner.invoke(_group_raising(RuntimeError("kaput")), ["boom"])
    assert r.exit_code == 1
    assert "internal error: RuntimeError: kaput" in r.stderr and "run with --debug" in r.stderr
    assert "Traceback" not in r.stderr
    r = runner.invoke(_group_raising(RuntimeError("kaput")), ["boom", "--debug"])
    assert r.exit_code == 1 and "Traceback" in r.stderr
    r = runner.invoke(_group_raising(KeyboardInterrupt()), ["boom"])
    assert r.exit_code == 130


def test_msim_debug_environment_variable(monkeypatch):
    monkeypatch.setenv("MSIM_DEBUG", "1")
    r = CliRunner().invoke(_group_raising(RuntimeError("kaput")), ["boom"])
    assert r.exit_code == 1 and "Traceback" in r.stderr


def test_unimportable_plugin_module_is_a_user_error(monkeypatch, fake_registries):
    monkeypatch.setenv("MSIM_PLUGINS", "msim_no_such_plugin_module")
    r = invoke("show", str(VALID))
    assert r.exit_code == 2 and "msim_no_such_plugin_module" in r.stderr


class _RecordingSimulation:
    """Test double of multiscale.simulation.Simulation: records how the CLI calls the API."""

    calls: list = []

    def __init__(self, deck, threads):
        self.deck, self.threads = deck, threads

    @classmethod
    def from_deck(cls, deck, threads=None):
        cls.calls.append(("from_deck", deck.path, threads))
        return cls(deck, threads)

    def summary(self) -> str:
        return f"atoms: 123 (threads {self.threads})"

    def check_loads(self) -> None:
        self.calls.append(("check_loads",))

    def held_row_note(self) -> None:
        return None

    def check_time_step(self) -> None:
        self.calls.append(("check_time_step",))

    def run(self, output=None, steps=None, restart=None, progress="auto"):
        self.calls.append(("run", output, steps, restart, progress))
        return output


@pytest.fixture
def recording_simulation(monkeypatch):
    mod = types.ModuleType("multiscale.simulation")
    mod.Simulation = _RecordingSimulation  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "multiscale.simulation", mod)
    _RecordingSimulation.calls = []
    return _RecordingSimulation.calls


def test_validate_and_run_call_the_python_api(recording_simulation, fake_registries, tmp_path):
    calls = recording_simulation
    r = invoke("validate", str(VALID), "--threads", "2")
    assert r.exit_code == 0, r.stderr
    assert "atoms: 123 (threads 2)" in r.stdout and r.stdout.rstrip().endswith(f"{VALID}: OK")
    assert calls == [("from_deck", VALID, 2), ("check_loads",), ("check_time_step",)]
    calls.clear()
    out, ckpt = tmp_path / "o.h5", tmp_path / "c.h5"
    ckpt.write_bytes(b"")
    r = invoke("run", str(VALID), "-o", str(out), "--steps", "7", "--quiet", "--restart", str(ckpt))
    assert r.exit_code == 0, r.stderr
    assert calls == [("from_deck", VALID, None), ("run", out, 7, ckpt, "quiet")] and r.stdout == ""
    calls.clear()
    r = invoke("run", str(VALID), "-o", str(out))
    assert r.exit_code == 0 and calls[1] == ("run", out, None, None, "auto")
    assert r.stdout.strip() == f"results: {out}"
