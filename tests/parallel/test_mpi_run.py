"""`mpiexec -n 2 msim run DECK` (multiscale/run/distributed.py) against the serial `msim run` of the deck.

Each test runs the real command line (``python -m multiscale.cli run``) in subprocesses: plainly (serial,
no MPI: the reference, the ordinary run loop with `VelocityVerlet` on `AtomisticRegion`) and under the
venv's mpiexec (mpich from ``pip install msim[mpi]``), and compares the results files.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import mpi_helpers
import numpy as np
import pytest
from mpi_helpers import (
    HERE,
    ROOT,
    assert_same_layout,
    compare,
    deck_copy,
    msim,
    ok,
    rel,
    restart_across,
    results,
    serial_and_two,
    thermo,
)

# the launcher's names under their old spelling here: rkclass's tests/parallel/test_rank_sites.py (written the
# same session as mpi_helpers.py) imports them from this module; drop once it imports them from mpi_helpers
MPIEXEC, _env = mpi_helpers.MPIEXEC, mpi_helpers.mpi_env

LJ = ROOT / "decks" / "lj_melt.yaml"
CU = HERE / "decks" / "cu_eam_md.yaml"


@pytest.mark.parametrize("deck,steps", [(LJ, 300), (CU, 400)], ids=["lj_melt", "cu_eam"])
def test_one_vs_two_ranks(tmp_path: Path, deck: Path, steps: int) -> None:
    """The same deck serially and on 2 ranks: every frame's positions, velocities and per-atom energies
    and the thermo energies agree to 1e-12 relative; the file layout (static groups) is the same."""
    s, p = serial_and_two(deck, tmp_path, "--steps", str(steps))
    got = compare(p, s, 1e-12)
    print(deck.name, got)
    assert_same_layout(s, p)
    with h5py.File(s, "r") as fs, h5py.File(p, "r") as fp:
        for g in ("static/atoms/ids", "static/atoms/types", "static/atoms/reference_positions"):
            assert np.array_equal(fs[g][()], fp[g][()]), g
    assert (tmp_path / "mpi2.xdmf").exists()


def assert_two_ranks_twice_bitwise(deck: Path, tmp_path: Path, steps: int) -> None:
    """``deck`` run twice on 2 ranks: bitwise-identical frames and thermo."""
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    for out in (a, b):
        ok(msim(2, str(deck), "-o", str(out), "--steps", str(steps)))
    ra, rb = results(a), results(b)
    keys = [k for k in ra if k.startswith(("frames", "thermo")) and ra[k].dtype.kind == "f"]
    assert keys and sorted(ra) == sorted(rb)
    for k in keys:
        assert np.array_equal(ra[k], rb[k]), k


def test_two_ranks_twice_bitwise(tmp_path: Path) -> None:
    """The same P twice: bitwise-identical frames and thermo."""
    assert_two_ranks_twice_bitwise(CU, tmp_path, 200)


@pytest.mark.parametrize("first,second", [(2, 0), (0, 2)], ids=["2to1", "1to2"])
def test_restart_across_rank_counts(tmp_path: Path, first: int, second: int) -> None:
    """100 steps on ``first`` ranks, checkpoint, restart on ``second`` to step 200: equal to a straight
    serial 200-step run to 1e-12 (the checkpoint of P ranks is the serial checkpoint)."""
    deck = deck_copy(LJ, tmp_path, integrator={"steps": 200},
                     output={"every": 50, "thermo_every": 50, "checkpoint_every": 100})
    print(restart_across(deck, tmp_path, first, second, 100))


LANGEVIN = {"type": "langevin", "temperature": 300.0, "damp": 0.1, "seed": 12345,
            # half the crystal: the mask is taken on reference positions by global id on every rank
            "region": {"type": "box", "lo": [-1.0, -1.0, -1.0], "hi": [100.0, 7.0, 100.0]}}


def test_langevin_one_vs_two_ranks(tmp_path: Path) -> None:
    """Langevin (on a region) serially and on 2 ranks, 1 000 steps: the same trajectory (positions and
    thermo energies incl. the thermostat's work ≤ 1e-12 relative): the noise is keyed by (seed, step,
    global id), the engine keys it with its step index and masks the region by global id."""
    deck = deck_copy(CU, tmp_path, integrator={"steps": 1000, "thermostat": LANGEVIN},
                     output={"every": 500, "thermo_every": 100, "checkpoint_every": 1000})
    s, p = serial_and_two(deck, tmp_path)
    got = compare(p, s, 1e-12)
    ts = thermo(s)
    assert abs(ts["external_work"][-1]) > 1e-3 * abs(ts["kinetic_atoms"][-1])   # the thermostat acted
    rel_w = rel(thermo(p)["external_work"], ts["external_work"])
    assert rel_w <= 1e-12, rel_w
    print(got, rel_w)


def test_langevin_restart_2to1(tmp_path: Path) -> None:
    """Langevin: 100 steps on 2 ranks, checkpoint, restart serially to 200 = a straight serial run
    (the checkpoint carries the step counter, the thermostat forces and the booked work)."""
    deck = deck_copy(CU, tmp_path, integrator={"steps": 200, "thermostat": LANGEVIN},
                     output={"every": 50, "thermo_every": 50, "checkpoint_every": 100})
    ref, out = tmp_path / "ref.h5", tmp_path / "run.h5"
    ok(msim(0, str(deck), "-o", str(ref)))
    ok(msim(2, str(deck), "-o", str(out), "--steps", "100"))
    ok(msim(0, str(deck), "-o", str(out), "--restart", str(tmp_path / "run.checkpoint.h5")))
    print(compare(out, ref, 1e-12))
    assert rel(thermo(out)["external_work"], thermo(ref)["external_work"]) <= 1e-12


def test_blowup_on_two_ranks(tmp_path: Path) -> None:
    """A time step 6x too large on 2 ranks: the guard's verdict is collective — exit 3, the message once,
    OUT.lastgood.h5 written by rank 0 (a checkpoint the serial run accepts), the results file closed
    with the frames before the blow-up."""
    deck = deck_copy(LJ, tmp_path, integrator={"dt": 0.03, "allow_unstable_dt": True},
                     output={"thermo_every": 10})
    out = tmp_path / "b.h5"
    p = msim(2, str(deck), "-o", str(out), "--steps", "200")
    assert p.returncode == 3, p.stderr[-3000:]
    assert p.stderr.count("the run became unstable") == 1, p.stderr
    assert "MPI_Abort" not in p.stderr and "Traceback" not in p.stderr, p.stderr
    lastgood = tmp_path / "b.lastgood.h5"
    assert lastgood.exists()
    from multiscale.output.checkpoint import load_checkpoint
    st = load_checkpoint(lastgood)
    assert st["integrator"]["x"].shape == (500, 3) and np.all(np.isfinite(st["integrator"]["x"]))
    from multiscale.output.reader import ResultsReader
    with ResultsReader(out) as r:
        assert r.nframes >= 1 and np.all(np.isfinite(r.field("atoms", "position", 0)))


def test_blowup_inside_a_step_on_one_rank_saves_the_last_good_state(tmp_path: Path) -> None:
    """A blow-up inside a step (non-finite positions: dt 0.2, T* 30) found by one rank's part of the state.
    Review rev28: both ranks printed "is saved in OUT.lastgood.h5" and no file existed; then (rev32 F16)
    the message said the file could not be saved: the rank's kernel raised alone and `run_guarded`
    aborted every rank. Now the engine's rebuild check raises it on every rank together
    (tests/parallel/test_in_step_blowup.py): the file is saved and the message names it."""
    deck = deck_copy(LJ, tmp_path, integrator={"dt": 0.2, "allow_unstable_dt": True},
                     atoms={"region": {"type": "box", "lo": [0.0, 0.0, 0.0], "hi": [16.796, 8.398, 8.398]},
                            "velocity": {"temperature": 30.0, "seed": 87287}},
                     output={"thermo_every": 50})
    out = tmp_path / "b.h5"
    p = msim(2, str(deck), "-o", str(out), "--steps", "200")
    assert p.returncode == 3, p.stderr[-3000:]
    assert "Traceback" not in p.stderr and "MPI_Abort" not in p.stderr, p.stderr
    assert (tmp_path / "b.lastgood.h5").exists(), p.stderr[-3000:]
    assert p.stderr.count("is saved in") == 1 and "could NOT be saved" not in p.stderr, p.stderr[-3000:]


def test_from_on_two_ranks(tmp_path: Path) -> None:
    """``--from`` another run's last frame: the 2-rank continuation equals the serial one to 1e-12."""
    first, s, p = tmp_path / "first.h5", tmp_path / "s.h5", tmp_path / "p.h5"
    ok(msim(0, str(LJ), "-o", str(first), "--steps", "100"))
    ok(msim(0, str(LJ), "-o", str(s), "--steps", "100", "--from", str(first)))
    ok(msim(2, str(LJ), "-o", str(p), "--steps", "100", "--from", str(first)))
    print(compare(p, s, 1e-12))
