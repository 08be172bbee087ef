"""`msim validate` of a `quasi_harmonic` deck says that the run-time estimate leaves out the quasi-harmonic
set-up (a 3D Morse Cu deck with 896 handshake atoms was estimated at "~0.13 s" and spent 173 s CPU and
1.07 GB in that set-up before its first step, with no output meanwhile)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from multiscale.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def _validate(tmp_path, material: str) -> str:
    text = (ROOT / "decks" / "thermal2d.yaml").read_text()
    old = "material: {type: thermal_strain, strain: 0.00879, base: linear}"
    assert old in text
    path = tmp_path / "t.yaml"
    path.write_text(text.replace(old, material))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output + r.stderr
    return r.output


def test_quasi_harmonic_set_up_is_named_beside_the_estimate(tmp_path) -> None:
    out = _validate(tmp_path, "material: {type: thermal_strain, strain: 0.00879, base: linear, "
                              "handshake: quasi_harmonic}")
    n = next(ln for ln in out.splitlines() if "atoms in the handshake" in ln).split()[0]
    assert f"quasi_harmonic set-up before the first step (not in this estimate): covariance of {n} " \
           "handshake atoms" in out, out


def test_no_note_for_a_uniform_thermal_strain(tmp_path) -> None:
    out = _validate(tmp_path, "material: {type: thermal_strain, strain: 0.00879, base: linear}")
    assert "quasi_harmonic set-up" not in out
