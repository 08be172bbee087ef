"""A time step at or above the stable estimate is a deck error at integrator.dt (exit 2) in `msim validate`
and `msim run`, unless the deck sets `integrator.allow_unstable_dt: true`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from multiscale.cli import cli

ROOT = Path(__file__).resolve().parents[2]
WAVE1D = (ROOT / "decks" / "wave1d.yaml").read_text()


def _deck(tmp_path: Path, dt: float, allow: bool | None = None) -> tuple[Path, int]:
    text = WAVE1D
    old = next(ln for ln in text.splitlines() if ln.startswith("integrator:"))
    extra = "" if allow is None else f", allow_unstable_dt: {str(allow).lower()}"
    new = f"integrator: {{type: verlet, dt: {dt}, steps: 20{extra}}}"
    text = text.replace(old, new)
    p = tmp_path / "deck.yaml"
    p.write_text(text)
    line = text.splitlines().index(new) + 1
    return p, line


def test_stable_dt_validates(tmp_path):
    p, _ = _deck(tmp_path, 0.5)     # wave1d: smallest estimate 0.9376 (weighted handshake atoms)
    r = CliRunner().invoke(cli, ["validate", str(p)])
    assert r.exit_code == 0, r.output
    assert "-> ok" in r.output and r.output.rstrip().endswith(": OK")


def test_too_large_dt_is_a_deck_error_in_validate_and_run(tmp_path):
    p, line = _deck(tmp_path, 1.2)
    for args in (["validate", str(p)], ["run", str(p), "-o", str(tmp_path / "o.h5"), "--quiet"]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2, r.output
        first = r.stderr.splitlines()[0]
        assert first.startswith(f"error: {p}:{line}:") and ": integrator.dt: time step 1.2 " in first
        assert "not below the stable estimate 0.9376" in first and "allow_unstable_dt" in r.stderr
        assert ": OK" not in r.output
    assert not (tmp_path / "o.h5").exists()


def test_allow_unstable_dt_runs_anyway(tmp_path):
    p, _ = _deck(tmp_path, 1.2, allow=True)
    r = CliRunner().invoke(cli, ["validate", str(p)])
    assert r.exit_code == 0 and "TOO LARGE" in r.output and r.output.rstrip().endswith(": OK")
