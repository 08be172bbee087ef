"""A rank of `mpiexec -n 2 msim run` killed with SIGKILL mid-run: the other rank stops within seconds, the
results file (written by rank 0 in SWMR mode, flushed after every row) opens with h5py and holds every
frame and thermo row written before the kill — complete and equal to those of an uninterrupted run —
and ``--restart`` from the last checkpoint (on 2 ranks again) ends equal to the uninterrupted run to
1e-12 (positions, thermo; not bitwise: the restarted engine rebuilds its neighbour list and ghosts at the
checkpoint's positions, which changes the summation order — see docs/parallel.md). Deck: the EAM Cu crystal
of test_mpi_run (a crystal: no chaotic growth of the 1e-16 differences over the 1 200 steps after the
restart).

Which process is which rank: the test marks the job's environment with a unique token and reads
``PMI_RANK`` from /proc/PID/environ of the processes carrying it (Linux; mpich's hydra passes both).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest
from mpi_helpers import MPIEXEC, ROOT, compare, deck_copy, mpi_env
from test_mpi_run import CU
from test_mpi_statics import datasets

# 6 000 steps: with 1 500 the idle 2-rank run (fewer rendezvous since session 25) ended within the 0.5 s
# between its first checkpoint and the kill, and no rank was left to kill
STEPS, EVERY, CK_EVERY = 6000, 50, 300


def _rank_pids(token: str) -> dict[int, int]:
    """{rank: pid} of the running processes whose environment holds MSIM_TEST_TOKEN=token."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"MSIM_TEST_TOKEN={token}".encode() not in env:
            continue
        rank = next((e.split(b"=", 1)[1] for e in env if e.startswith(b"PMI_RANK=")), None)
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if rank is not None and b"multiscale.cli" in cmd:
            out[int(rank)] = int(d.name)
    return out


def _committed(path: Path) -> dict:
    """The rows of every frames/thermo/observables dataset that the writer committed (``len(step)`` of
    their table: columns are flushed before ``step``), read in SWMR mode as a killed writer leaves the
    file (its "open for write" flags set; `output.reader.ResultsReader` reads it the same way)."""
    out = {}
    with h5py.File(path, "r", swmr=True) as f:
        for top in ("frames", "thermo", "observables"):
            n = f[f"{top}/step"].shape[0]
            f[top].visititems(lambda name, o, t=top, n=n: out.__setitem__(f"{t}/{name}", o[:n])
                              if isinstance(o, h5py.Dataset) and name.split("/")[-1] != "wall" else None)
    return out


def _start(deck: Path, out: Path, token: str, *extra: str) -> subprocess.Popen:
    env = mpi_env()
    env["MSIM_TEST_TOKEN"] = token
    cmd = [str(MPIEXEC), "-n", "2", sys.executable, "-m", "multiscale.cli", "run", "--quiet", str(deck),
           "-o", str(out), *extra]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("victim", [1, 0], ids=["kill_rank1", "kill_rank0_writer"])
def test_killed_rank_stops_all_file_readable_restart(tmp_path: Path, victim: int) -> None:
    deck = deck_copy(CU, tmp_path, integrator={"steps": STEPS},
                     output={"every": EVERY, "thermo_every": EVERY, "checkpoint_every": CK_EVERY})
    ref = tmp_path / "ref.h5"
    p = _start(deck, ref, uuid.uuid4().hex)
    _, err = p.communicate(timeout=800)
    assert p.returncode == 0, err[-3000:]

    out = tmp_path / "run.h5"
    ck = out.with_name(out.stem + ".checkpoint.h5")
    token = uuid.uuid4().hex
    p = _start(deck, out, token)
    t0 = time.monotonic()
    while not ck.exists():                       # mid-run: after the first checkpoint
        assert p.poll() is None, "run ended before its first checkpoint: " + p.communicate()[1][-3000:]
        assert time.monotonic() - t0 < 600
        time.sleep(0.05)
    time.sleep(0.5)
    pids = _rank_pids(token)
    assert sorted(pids) == [0, 1], pids
    os.kill(pids[victim], signal.SIGKILL)
    t_kill = time.monotonic()
    _, err = p.communicate(timeout=120)
    stopped = time.monotonic() - t_kill
    assert p.returncode != 0
    assert stopped < 10.0, f"the job took {stopped:.1f} s to stop after rank {victim} was killed"
    time.sleep(0.2)
    assert not _rank_pids(token), "a rank outlived the job"
    print(f"rank {victim} killed: job stopped {stopped:.2f} s later, mpiexec status {p.returncode}")

    # the results file: every row written before the kill, complete and equal to the uninterrupted run's
    with h5py.File(out, "r", swmr=True) as f:
        steps = f["frames/step"][()]
        th = f["thermo/step"][()]
    assert steps.size >= CK_EVERY // EVERY + 1, steps
    assert np.array_equal(steps, EVERY * np.arange(steps.size)), steps
    assert np.array_equal(th, EVERY * np.arange(th.size)), th
    assert steps[-1] < STEPS
    part, full = _committed(out), datasets(ref)
    assert sorted(part) == sorted(full)
    for k, a in part.items():
        assert np.array_equal(a, full[k][: a.shape[0]]), k
    print(f"file holds {steps.size} frames (to step {steps[-1]}) and {th.size} thermo rows")

    p = _start(deck, out, uuid.uuid4().hex, "--restart", str(ck))
    _, err = p.communicate(timeout=800)
    assert p.returncode == 0, err[-3000:]
    assert sorted(datasets(out)) == sorted(datasets(ref))
    print("restart vs uninterrupted:", compare(out, ref, 1e-12))

