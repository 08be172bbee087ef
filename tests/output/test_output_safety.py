"""`msim run` never destroys data through its output path (issue 17, items 1, 2, 3, 6, 10).

1. an output named like one of the run's own companion files (``-o res.xdmf``: the sidecar) is refused;
2. an output (or a companion) that is one of the run's inputs (deck, potential file, --restart
   checkpoint; also through a hard link or a symlink) is refused and the input stays byte for byte;
3. an existing file at the output path is kept unless ``--overwrite`` (a restart continues its own file);
6. a symlink or hard link planted as ``OUT.h5.lock`` never makes msim write into another file, and the
   lock's release cannot let two writers both hold it;
10. impossible output locations are refused (exit 2) before the model is built.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.errors import DeckError
from multiscale.output import _lock
from multiscale.output.checkpoint import checkpoint_path
from multiscale.output.hdf5 import ResultsWriter

from . import synth

DECK = """\
msim: 1
units: lj
title: output safety (2D LJ, 120 atoms)
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: hex, a: 1.1}
  region: {type: box, lo: [0, 0], hi: [11, 11.43153532]}
  boundary: [p, p]
  mass: 1.0
  velocity: {temperature: 0.1, seed: 1}
integrator: {type: verlet, dt: 0.005, steps: 20}
output:
  every: 10
  thermo_every: 10
  fields: [displacement, velocity]
  checkpoint_every: 10
"""


def _deck(tmp: Path, name: str = "deck.yaml", text: str = DECK) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def _msim(*args: str, cwd: Path):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args])
    finally:
        os.chdir(old)


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _is_hdf5(p: Path) -> bool:
    return p.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"


@pytest.fixture
def no_build(monkeypatch):
    """Fail loudly if the model gets built: refusals must come before it."""
    from multiscale import simulation

    def boom(*_a, **_k):
        raise AssertionError("the model was built before the output location was checked")

    monkeypatch.setattr(simulation.Simulation, "from_deck", classmethod(lambda cls, *a, **k: boom()))


# ------------------------------------------------------------------------------------------------ 1
@pytest.mark.parametrize("name", ["res.xdmf", "res.mesh.xdmf", "sub/RES.xdmf"])
def test_output_named_like_its_own_sidecar_is_refused(tmp_path, name):
    deck = _deck(tmp_path)
    r = _msim("run", deck, "-o", name, "--quiet", cwd=tmp_path)
    assert r.exit_code == 2, r.output
    assert "sidecar" in r.stderr and Path(name).name in r.stderr
    assert not (tmp_path / name).exists()


def test_companion_colliding_with_an_input_is_refused(tmp_path):
    deck = _deck(tmp_path, "b.xdmf")                      # the deck would be replaced by b.h5's sidecar
    before = _digest(deck)
    r = _msim("run", deck, "-o", "b.h5", "--quiet", cwd=tmp_path)
    assert r.exit_code == 2 and "sidecar" in r.stderr and "the deck" in r.stderr, r.output
    assert _digest(deck) == before


def test_companion_that_is_another_runs_results_is_refused(tmp_path):
    """`-o out.h5` would checkpoint into out.checkpoint.h5: refused if that is someone's results file."""
    deck = _deck(tmp_path)
    r = _msim("run", deck, "-o", "out.checkpoint.h5", "--quiet", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    before = _digest(tmp_path / "out.checkpoint.h5")
    r = _msim("run", deck, "-o", "out.h5", "--quiet", cwd=tmp_path)
    assert r.exit_code == 2 and "checkpoint" in r.stderr and "results" in r.stderr, r.output
    assert _digest(tmp_path / "out.checkpoint.h5") == before


# ------------------------------------------------------------------------------------------------ 2
def test_output_that_is_the_deck_is_refused(tmp_path):
    deck = _deck(tmp_path, "self.yaml")
    before = _digest(deck)
    for alias in ("self.yaml", "./self.yaml", str(deck), "../" + tmp_path.name + "/self.yaml"):
        r = _msim("run", deck, "-o", alias, "--quiet", cwd=tmp_path)
        assert r.exit_code == 2, (alias, r.output)
        assert "input of this run" in r.stderr and "the deck" in r.stderr
    os.link(deck, tmp_path / "hard.h5")                   # same inode, another name
    os.symlink("self.yaml", tmp_path / "soft.h5")
    for alias in ("hard.h5", "soft.h5"):
        r = _msim("run", deck, "-o", alias, "--quiet", cwd=tmp_path)
        assert r.exit_code == 2 and "input of this run" in r.stderr, (alias, r.output)
    assert _digest(deck) == before and not _is_hdf5(deck)


def test_output_that_is_the_potential_file_is_refused(tmp_path):
    from md.refcodes import lammps_potential_dir
    pot = tmp_path / "Cu_u3.eam"
    shutil.copy(lammps_potential_dir() / "Cu_u3.eam", pot)
    deck = _deck(tmp_path, "cu.yaml", """\
msim: 1
units: metal
potential: {type: eam, file: Cu_u3.eam}
atoms:
  lattice: {type: fcc, a: 3.615}
  region: {type: box, lo: [0, 0, 0], hi: [10.845, 10.845, 10.845]}
  boundary: [p, p, p]
  mass: 63.546
integrator: {type: verlet, dt: 0.001, steps: 2}
""")
    before = _digest(pot)
    r = _msim("run", deck, "-o", "Cu_u3.eam", "--quiet", cwd=tmp_path)
    assert r.exit_code == 2 and "potential.file" in r.stderr, r.output
    assert _digest(pot) == before


def test_output_that_is_the_restart_checkpoint_is_refused(tmp_path):
    deck = _deck(tmp_path)
    assert _msim("run", deck, "-o", "a.h5", "--quiet", cwd=tmp_path).exit_code == 0
    ck = checkpoint_path(tmp_path / "a.h5")
    before = _digest(ck)
    r = _msim("run", deck, "-o", ck.name, "--restart", ck.name, "--quiet", cwd=tmp_path)
    assert r.exit_code == 2 and "--restart" in r.stderr, r.output
    assert _digest(ck) == before


# ------------------------------------------------------------------------------------------------ 3
def test_existing_results_are_kept_without_overwrite(tmp_path):
    deck = _deck(tmp_path)
    r = _msim("run", deck, "-o", "res.h5", "--quiet", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    first = _digest(tmp_path / "res.h5")
    r = _msim("run", deck, "-o", "res.h5", "--quiet", "--steps", "10", cwd=tmp_path)   # a second batch job
    assert r.exit_code == 2 and "exists" in r.stderr and "--overwrite" in r.stderr, r.output
    assert _digest(tmp_path / "res.h5") == first
    r = _msim("run", deck, "-o", "res.h5", "--quiet", "--steps", "10", "--overwrite", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "res.h5", "r") as f:
        assert f["frames/step"][()].tolist() == [0, 10]   # the second run's results


def test_other_files_are_kept_without_overwrite(tmp_path):
    deck = _deck(tmp_path)
    notes = tmp_path / "notes.h5"
    notes.write_text("my notes, not msim results\n")
    r = _msim("run", deck, "-o", "notes.h5", "--quiet", cwd=tmp_path)
    assert r.exit_code == 2 and "not msim results" in r.stderr, r.output
    assert notes.read_text() == "my notes, not msim results\n"


def test_restart_continues_its_own_file_without_overwrite(tmp_path):
    deck = _deck(tmp_path)
    assert _msim("run", deck, "-o", "r.h5", "--quiet", "--steps", "10", cwd=tmp_path).exit_code == 0
    ck = checkpoint_path(tmp_path / "r.h5")
    r = _msim("run", deck, "-o", "r.h5", "--restart", ck.name, "--quiet", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["frames/step"][()].tolist() == [0, 10, 20]


def test_help_documents_overwriting():
    r = CliRunner().invoke(cli, ["run", "--help"])
    assert r.exit_code == 0 and "--overwrite" in r.output and "refuses" in r.output


# ------------------------------------------------------------------------------------------------ 6
@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_symlinked_lock_file_is_never_followed(tmp_path, dangling):
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text("precious\n")
    os.symlink(victim, tmp_path / "out.h5.lock")
    with pytest.raises(DeckError, match="symbolic link"):
        ResultsWriter(tmp_path / "out.h5", static={}, **synth.WRITER_KW)
    if dangling:
        assert not victim.exists()                         # not created through the link
    else:
        assert victim.read_text() == "precious\n"
    assert not (tmp_path / "out.h5").exists()


def test_hard_linked_or_foreign_lock_file_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.link(victim, tmp_path / "out.h5.lock")
    with pytest.raises(DeckError, match="hard links"):
        ResultsWriter(tmp_path / "out.h5", static={}, **synth.WRITER_KW)
    assert victim.read_text() == "precious\n"
    os.unlink(tmp_path / "out.h5.lock")
    (tmp_path / "out.h5.lock").write_text("someone's data\n")
    with pytest.raises(DeckError, match="not an msim lock"):
        ResultsWriter(tmp_path / "out.h5", static={}, **synth.WRITER_KW)
    assert (tmp_path / "out.h5.lock").read_text() == "someone's data\n"


class _StaleOpen:
    """`os` as seen by the lock module, except that the first open of the lock file returns a
    descriptor opened earlier: the state of a process that opened the lock file just before its
    holder released (removed and closed) it."""

    def __init__(self, fd: int, name: str) -> None:
        self.fd, self.name, self.used = fd, name, False

    def open(self, path, flags, *args):  # noqa: ANN001, ANN202
        if not self.used and os.fspath(path).endswith(self.name):
            self.used = True
            return self.fd
        return os.open(path, flags, *args)

    def __getattr__(self, name):  # noqa: ANN001, ANN204
        return getattr(os, name)


def test_lock_release_race_never_gives_two_holders(tmp_path, monkeypatch):
    path = tmp_path / "out.h5"
    first = ResultsWriter(path, static={}, **synth.WRITER_KW)
    stale = os.open(tmp_path / "out.h5.lock", os.O_RDWR)   # process B opens the lock file ...
    first.close()                                          # ... its holder releases it ...
    monkeypatch.setattr(_lock, "os", _StaleOpen(stale, "out.h5.lock"))
    second = ResultsWriter(path, static={}, append=True, **synth.WRITER_KW)   # ... B locks
    monkeypatch.undo()
    try:
        with pytest.raises(DeckError, match="another msim run is writing"):   # C must be kept out
            ResultsWriter(path, static={}, append=True, **synth.WRITER_KW)
    finally:
        second.close()
    assert not (tmp_path / "out.h5.lock").exists()


def test_concurrent_cli_writer_is_refused_before_building(tmp_path, no_build):
    deck = _deck(tmp_path)
    w = ResultsWriter(tmp_path / "busy.h5", static={}, **synth.WRITER_KW)     # a live writer
    try:
        r = _msim("run", deck, "-o", "busy.h5", "--overwrite", "--quiet", cwd=tmp_path)
        assert r.exit_code == 2 and "another msim run is writing" in r.stderr, r.output
    finally:
        w.close()


# ----------------------------------------------------------------------------------------------- 10
@pytest.mark.parametrize(("where", "message"), [
    ("/proc/msim-out.h5", "cannot write in /proc"),
    ("", "empty"),
    (".", "directory"),
    ("sub", "directory"),
    ("file.txt/out.h5", "not a directory"),
])
def test_impossible_output_locations_exit_2_before_building(tmp_path, where, message, no_build):
    deck = _deck(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "file.txt").write_text("x")
    r = _msim("run", deck, "-o", where, "--quiet", cwd=tmp_path)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.stderr and "internal error" not in r.stderr


@pytest.mark.parametrize(("value", "message"), [("''", "empty"), ("sub", "directory")])
def test_impossible_output_file_in_the_deck(tmp_path, value, message, no_build):
    (tmp_path / "sub").mkdir()
    deck = _deck(tmp_path, text=DECK.replace("output:\n", f"output:\n  file: {value}\n"))
    r = _msim("run", deck, "--quiet", cwd=tmp_path)
    assert r.exit_code == 2 and message in r.stderr and "internal error" not in r.stderr, r.output


def _root_mount(tmp: Path, *opts: str) -> Path:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp / "mnt"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(opts), "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"mount not permitted here: {p.stderr.strip()}")
    return mnt


def test_read_only_mount_exits_2_before_building(tmp_path, no_build):
    mnt = _root_mount(tmp_path, "size=1m", "ro")
    try:
        deck = _deck(tmp_path)
        r = _msim("run", deck, "-o", mnt / "out.h5", "--quiet", cwd=tmp_path)
        assert r.exit_code == 2 and "read-only file system" in r.stderr, r.output
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_python_api_refuses_inputs_and_sidecar_names(tmp_path):
    """`Simulation.run` checks too (items 1 and 2), before writing anything."""
    from multiscale import Simulation, load_deck
    deck = _deck(tmp_path)
    before = _digest(deck)
    sim = Simulation.from_deck(load_deck(deck))
    for out in (deck, tmp_path / "x.xdmf"):
        with pytest.raises(DeckError):
            sim.run(output=out, progress="quiet")
    assert _digest(deck) == before and not (tmp_path / "x.xdmf").exists()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
