"""`msim validate --ranks P` says which path `mpiexec -n P msim run` would take (`run.distributed.
choose_decomposition`, the line `msim run` logs on rank 0): the spatial decomposition for the coupled
dynamics decks it supports and for plain MD, replicated for quasi-statics and — with the refused key —
for coupled decks the spatial path refuses; a forced path that cannot run exits 2 with the deck error the
run would give. Without --ranks (one rank) the output has no such line. Under ``mpiexec -n 2 msim
validate`` the rank count is the launcher's and rank 0 alone prints (tests/parallel/test_mpi_coupled.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from multiscale.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DECKS = ROOT / "decks"


def _validate(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["validate", *args])
    return r.exit_code, r.output + (r.stderr or "")


def _line(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("decomposition:")]
    assert len(lines) == 1, out
    return lines[0]


@pytest.mark.parametrize(("deck", "ranks", "start", "more"), [
    ("wave2d.yaml", 2, "decomposition: spatial (the atoms in slabs along x, mesh and constraint solve "
     "replicated) on 2 MPI ranks, coupled dynamics, --decompose auto", None),
    ("wave1d.yaml", 2, "decomposition: replicated (the whole model on every rank, forces split over the "
     "ranks) on 2 MPI ranks, coupled dynamics, --decompose auto; not spatial: the spatial decomposition "
     "refuses this deck at atoms: 1D is not supported", None),
    ("lj_melt.yaml", 2, "decomposition: spatial (the atoms in slabs along x, `DistributedMD`) on 2 MPI "
     "ranks, plain MD, --decompose auto", None),
    ("crack2d_coupled_small.yaml", 2, "decomposition: replicated (the whole model on every rank, forces "
     "split over the ranks) on 2 MPI ranks, quasi-statics", None),
])
def test_validate_says_the_path(deck: str, ranks: int, start: str, more: str | None) -> None:
    code, out = _validate(str(DECKS / deck), "--ranks", str(ranks))
    assert code == 0, out
    assert _line(out).startswith(start), out
    assert "--decompose spatial" not in _line(out), out      # the note is about auto (review rev31 F3)
    assert out.rstrip().endswith(": OK")


def test_validate_slab_limit_falls_back() -> None:
    """wave2d on more ranks than its slabs allow: auto says replicated, naming ``atoms.region``; forcing
    spatial exits 2 with that refusal."""
    code, out = _validate(str(DECKS / "wave2d.yaml"), "--ranks", "64")
    assert code == 0, out
    line = _line(out)
    assert line.startswith("decomposition: replicated") and "refuses this deck at atoms.region: 64 slabs" \
        in line, line
    code, out = _validate(str(DECKS / "wave2d.yaml"), "--ranks", "64", "--decompose", "spatial")
    assert code == 2 and "atoms.region" in out and "64 slabs" in out and "Traceback" not in out, out


def test_validate_forced_paths_refused() -> None:
    """``--decompose spatial`` of a 1D coupled deck or of a quasi-static deck and ``--decompose replicated``
    of a plain-MD deck on 2 ranks: exit 2 with the run's message; ``--decompose replicated`` of wave2d
    says replicated with no refusal."""
    code, out = _validate(str(DECKS / "wave1d.yaml"), "--ranks", "2", "--decompose", "spatial")
    assert code == 2 and "1D is not supported" in out and "Traceback" not in out, out
    code, out = _validate(str(DECKS / "crack2d_coupled_small.yaml"), "--ranks", "2", "--decompose", "spatial")
    assert code == 2 and "runs coupled dynamics only" in out, out
    code, out = _validate(str(DECKS / "lj_melt.yaml"), "--ranks", "2", "--decompose", "replicated")
    assert code == 2 and "no replicated path" in out, out
    code, out = _validate(str(DECKS / "wave2d.yaml"), "--ranks", "2", "--decompose", "replicated")
    assert code == 0 and _line(out).endswith("--decompose replicated"), out


def test_validate_one_rank_unchanged() -> None:
    """Without --ranks (or with 1) no decomposition line: `msim validate` of one rank is as before."""
    for extra in ([], ["--ranks", "1"]):
        code, out = _validate(str(DECKS / "wave2d.yaml"), *extra)
        assert code == 0 and "decomposition:" not in out, out
