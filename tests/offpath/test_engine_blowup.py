"""A LAMMPS-engine run that blows up stops with exit 3 and the last good state, like a native one. Found by
the slow fuzz test: `decks/wave2d_lammps_cb.yaml` with dt x100 (and `allow_unstable_dt`) ended in exit 1,
"internal error: Exception: ERROR on proc 0: Too many neighbor bins" — LAMMPS's error for atoms flown far
apart was not a numeric error the run loop routes to its blow-up path."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from multiscale.cli import cli

DECK = Path(__file__).resolve().parents[2] / "decks" / "wave2d_lammps_cb.yaml"


def test_engine_blowup_is_exit_3_with_the_last_good_state(tmp_path) -> None:
    d = yaml.safe_load(DECK.read_text())
    d["integrator"]["dt"] = d["integrator"]["dt"] * 100
    d["integrator"]["allow_unstable_dt"] = True
    d.pop("expect", None)
    deck = tmp_path / "bad.yaml"
    deck.write_text(yaml.safe_dump(d, sort_keys=False))
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "out.h5"), "--steps", "5", "--quiet"])
    assert res.exit_code == 3, res.output
    assert "unstable" in res.output and "LAMMPS" in res.output and "internal error" not in res.output
    assert (tmp_path / "out.lastgood.h5").is_file()
