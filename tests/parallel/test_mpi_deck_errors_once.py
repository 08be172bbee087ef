"""Deck errors of a run on P ranks that are found in the run's set-up, printed ONCE (rev30 F8 / F6).

`mpiexec -n 2 msim run` of a coupled deck whose time step is above the stable estimate, whose weighted
EAM is unstable at the reference, or a `--restart` with an edited deck: the check ran inside
`run_guarded`, so on the replicated path every rank raised it and printed
"msim: rank r/2: DeckError: error: ..." followed by an MPI Abort line. README promises one message naming
the key, exit 2. Now `cli._run_mpi`'s agreed set-up makes the checks (rank 0 decides,
`parallel.comm.root_decides`): the plain serial form ``error: FILE:LINE:COL: key: ...`` once, exit 2, on
the replicated and spatial paths alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mpi_helpers import MPIEXEC, ROOT, msim, ok  # noqa: F401

WAVE2D = ROOT / "decks" / "wave2d.yaml"
EAM3D = ROOT / "tests" / "parallel" / "decks" / "coupled3d_eam.yaml"
PATHS = ["replicated", "spatial"]


def variant(src: Path, tmp: Path, name: str, edit) -> Path:  # noqa: ANN001
    d = yaml.safe_load(src.read_text())
    d.pop("expect", None)
    edit(d)
    out = tmp / f"{name}.yaml"
    out.write_text(yaml.safe_dump(d, sort_keys=False))
    return out


def assert_once(p, key: str, deck: Path | None = None) -> None:  # noqa: ANN001
    """Exit 2; one error line naming ``key`` in the serial form (no rank prefix, no MPI abort line)."""
    err = p.stderr
    assert p.returncode == 2, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err[-3000:]
    assert key in lines[0], lines[0]
    if deck is not None:
        assert lines[0].startswith(f"error: {deck}:"), lines[0]
    assert err.count(key) == 1, err[-3000:]
    for bad in ("msim: rank", "Abort", "Traceback", "DeckError"):
        assert bad not in err, err[-3000:]


@pytest.mark.parametrize("path", PATHS)
def test_time_step_error_once(tmp_path: Path, path: str) -> None:
    def edit(d: dict) -> None:
        d["integrator"]["dt"] = 1.0
    deck = variant(WAVE2D, tmp_path, "bigdt", edit)
    p = msim(2, str(deck), "-o", str(tmp_path / "r.h5"), "--decompose", path)
    assert_once(p, "integrator.dt: time step", deck)
    assert not (tmp_path / "r.h5").exists()


@pytest.mark.parametrize("path", PATHS)
def test_weighted_eam_error_once(tmp_path: Path, path: str) -> None:
    """coupled3d_eam at the default slave_below (1e-3, tests/coupling/test_weighted_eam_stability.py:
    82 free handshake atoms with a negative on-site eigenvalue): refused at handshake.coupling.slave_below."""
    def edit(d: dict) -> None:
        d["handshake"]["coupling"] = {"type": "projected"}
        d.pop("loads", None)
    deck = variant(EAM3D, tmp_path, "eam3d", edit)
    p = msim(2, str(deck), "-o", str(tmp_path / "r.h5"), "--decompose", path)
    assert_once(p, "handshake.coupling.slave_below", deck)


@pytest.mark.parametrize("path", PATHS)
def test_restart_with_edited_deck_once(tmp_path: Path, path: str) -> None:
    """A 2-rank run that writes a checkpoint, then ``--restart`` of it with a changed bath temperature
    (``handshake.damping.temperature``: not a key a restart may change)."""
    def short(d: dict) -> None:
        d["integrator"]["steps"] = 40
        d["output"] = {**d["output"], "checkpoint_every": 20, "every": 20, "thermo_every": 10}
    deck = variant(ROOT / "decks" / "thermal2d.yaml", tmp_path, "t2d", short)
    out = tmp_path / "r.h5"
    ok(msim(2, str(deck), "-o", str(out), "--decompose", path, "--steps", "20"))
    ckpt = tmp_path / "r.checkpoint.h5"
    assert ckpt.exists(), sorted(tmp_path.iterdir())
    d = yaml.safe_load(deck.read_text())
    d["handshake"]["damping"]["temperature"] = 0.15
    deck.write_text(yaml.safe_dump(d, sort_keys=False))
    p = msim(2, str(deck), "-o", str(out), "--decompose", path, "--restart", str(ckpt))
    assert_once(p, "cannot restart: this deck differs")
    assert "handshake.damping.temperature" in p.stderr, p.stderr[-3000:]
