"""`msim run` of a `quasi_harmonic` deck reports its set-up (the handshake atoms' covariance by sparse
solves: 3D Morse Cu with 896 handshake atoms, 173 s CPU) on stderr: a line when it starts, one at most every
10 s of wall time with the columns done and the ETA, one when it is done. Before, nothing was printed
between `msim run` and the first step's progress line (minutes in 3D). `--quiet` prints none."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.output.progress import SetupLog

ROOT = Path(__file__).resolve().parents[2]


def _deck(tmp_path) -> Path:
    text = (ROOT / "decks" / "thermal2d.yaml").read_text()
    old = "material: {type: thermal_strain, strain: 0.00879, base: linear}"
    assert old in text
    path = tmp_path / "qh.yaml"
    path.write_text(text.replace(old, "material: {type: thermal_strain, strain: 0.00879, base: linear, "
                                      "handshake: quasi_harmonic}"))
    return path


def test_run_prints_the_set_up_lines(tmp_path) -> None:
    deck = _deck(tmp_path)
    r = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "a.h5"), "--steps", "2"])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("set-up: quasi_harmonic covariance")]
    assert len(lines) >= 2, r.stderr
    assert "handshake atoms): 0/" in lines[0] and "atoms' columns (0%)" in lines[0]
    assert "done in 0:00:" in lines[-1]
    r = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "b.h5"), "--steps", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "set-up:" not in r.stderr


def test_setup_log_cadence_and_eta() -> None:
    t = [0.0]
    out = io.StringIO()
    log = SetupLog("work", 100, "items", out, every_seconds=10.0, clock=lambda: t[0])
    for k in range(1, 101):
        t[0] = 0.5 * k                      # 2 items per second
        log.update(k)
    log.done()
    lines = out.getvalue().splitlines()
    assert lines[0] == "set-up: work: 0/100 items (0%) | elapsed 0:00:00 | ETA -:--:--"
    assert lines[1] == "set-up: work: 20/100 items (20%) | elapsed 0:00:10 | ETA 0:00:40"
    assert len(lines) == 1 + 5 + 1 and lines[-1] == "set-up: work: done in 0:00:50"
    quiet = SetupLog("work", 3, "items", None)
    quiet.update(3)
    quiet.done()                            # no stream: nothing printed, no error
