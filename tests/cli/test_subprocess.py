"""A few malformed decks through a real subprocess of the installed ``msim`` console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from deck.bad_decks import VALID, all_bad_decks

ROOT = Path(__file__).resolve().parents[2]
MSIM = Path(sys.executable).parent / "msim"
BAD = {b.name: b for b in all_bad_decks()}
CASES = ["bad_yaml_syntax", "duplicate_key", "negative_dt", "misspelt_lattice", "unknown_potential",
         "missing_msim_version"]



def test_console_script_is_installed():
    """`make test` installs the package (editable): the `msim` console script must be there."""
    assert MSIM.exists(), f"console script not installed at {MSIM} (run `make build` / `pip install -e .`)"


def _msim(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # the test plugins fill whatever names the real plugins do not register yet
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    env["MSIM_PLUGINS"] = "deck.msim_test_plugins"
    env.pop("MSIM_DEBUG", None)
    return subprocess.run([str(MSIM), *args], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)


@pytest.mark.parametrize("name", CASES)
def test_subprocess_validate_exits_2_naming_line_and_key(name):
    bad = BAD[name]
    rel = str(bad.path.relative_to(ROOT))
    p = _msim("validate", rel)
    assert p.returncode == 2, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith(f"error: {rel}:{bad.line}:")]
    assert lines, p.stderr
    if bad.key:
        assert any(f": {bad.key}: " in ln and bad.message in ln for ln in lines), p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_subprocess_show_and_help():
    p = _msim("show", str(VALID.relative_to(ROOT)))
    assert p.returncode == 0, p.stderr
    assert "thermo_every: 10" in p.stdout
    p = _msim("--help")
    assert p.returncode == 0 and "validate" in p.stdout
