"""``msim export --frames`` off the gallery: a selection of no frame (``5:2``, an index past the last)
wrote an empty extxyz file (0 bytes) or no VTU piece and exited 0; a zero step (``0:3:0``) was an internal
error (ValueError, exit 1). Now both are usage errors naming the option (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from multiscale.cli import cli

MD = """\
msim: 1
units: lj
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: hex, a: relaxed}
  cells: [6, 4]
  boundary: [p, p]
  mass: 1.0
  velocity: {temperature: 0.1, seed: 1}
integrator: {type: verlet, dt: 0.005, steps: 20}
output: {every: 10, thermo_every: 10, fields: [position, velocity]}
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:  # noqa: ANN001
    d = tmp_path_factory.mktemp("frames")
    (d / "md.yaml").write_text(MD)
    out = d / "md.h5"
    res = CliRunner().invoke(cli, ["run", str(d / "md.yaml"), "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize("fmt", ["extxyz", "vtu"])
@pytest.mark.parametrize("spec,words", [("5:2", "selects none of the 3 frames"),
                                        ("3", "selects none of the 3 frames"),
                                        ("0:3:0", "the step cannot be 0")])
def test_empty_or_bad_selection_is_refused(results: Path, tmp_path: Path, fmt: str, spec: str,
                                           words: str) -> None:
    out = tmp_path / f"x.{fmt}"
    res = CliRunner().invoke(cli, ["export", str(results), "--format", fmt, "-o", str(out), "--frames", spec])
    assert res.exit_code == 2, res.output
    assert "--frames" in res.output and words in res.output and "internal error" not in res.output
    assert not out.exists()


@pytest.mark.parametrize("spec,n", [("-1", 1), ("2", 1), ("1:", 2), ("::-1", 3)])
def test_valid_selections(results: Path, tmp_path: Path, spec: str, n: int) -> None:
    import ase.io
    out = tmp_path / "x.extxyz"
    res = CliRunner().invoke(cli, ["export", str(results), "--format", "extxyz", "-o", str(out),
                                   "--frames", spec])
    assert res.exit_code == 0, res.output
    assert len(ase.io.read(out, index=":")) == n
