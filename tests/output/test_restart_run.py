"""End-to-end: a real `msim run` killed with SIGKILL and restarted ends bitwise equal to an unbroken run;
a deck made to blow up stops with the guard's message; thread count does not change the results.

Uses `multiscale.simulation.Simulation` and the `msim run` command (with `-o`, `--restart`, `--quiet`).
Conventions used (from multiscale.output):
the checkpoint of a run writing OUT.h5 is `checkpoint_path(OUT.h5)` = OUT.checkpoint.h5.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from multiscale.output.checkpoint import checkpoint_path

DECK = """\
msim: 1
units: lj
title: restart test (2D LJ; with the Langevin thermostat the RNG state matters too)
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: 1.1}}
  region: {{type: box, lo: [0, 0], hi: [11, 11.43153532]}}   # 10 x 12 periodic cells of a = 1.1
  boundary: [p, p]
  mass: 1.0
  velocity: {{temperature: 0.1, seed: 1}}
integrator:
  type: verlet
  dt: {dt}
  steps: {steps}
{thermostat}  threads: {threads}
{allow}output:
  file: out.h5
  every: 50
  thermo_every: 10
  fields: [displacement, velocity, force, energy]
  checkpoint_every: 200
"""


def _msim(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from multiscale.cli import main; main()", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


THERMOSTAT = "  thermostat: {type: langevin, temperature: 0.1, damp: 1.0, seed: 7}\n"


def _deck(tmp: Path, name: str, dt: float = 0.005, steps: int = 2000, threads: int = 1,
          thermostat: bool = True, allow_unstable_dt: bool = False) -> Path:
    p = tmp / name
    p.write_text(DECK.format(dt=dt, steps=steps, threads=threads,
                             thermostat=THERMOSTAT if thermostat else "",
                             allow="  allow_unstable_dt: true\n" if allow_unstable_dt else ""))
    return p


def _datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        for table in ("frames", "thermo", "observables"):
            if table in f:
                f[table].visititems(lambda n, d, t=table: out.__setitem__(f"{t}/{n}", d[()])
                                    if isinstance(d, h5py.Dataset) else None)
    return out


def _assert_bitwise_equal(a: Path, b: Path) -> None:
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    for k in da:
        assert da[k].shape == db[k].shape, k
        assert da[k].tobytes() == db[k].tobytes(), f"{k} differs"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("thermostat", [False, True], ids=["nve", "langevin"])
def test_sigkill_and_restart_is_bitwise_identical(tmp_path, thermostat):
    deck = _deck(tmp_path, "deck.yaml", thermostat=thermostat)
    ref = tmp_path / "ref.h5"
    p = _msim("run", str(deck), "-o", str(ref), "--quiet", cwd=tmp_path)
    _, err = p.communicate(timeout=500)
    assert p.returncode == 0, err

    out = tmp_path / "run.h5"
    ck = checkpoint_path(out)
    p = _msim("run", str(deck), "-o", str(out), "--quiet", cwd=tmp_path)
    t0 = time.monotonic()
    while not ck.exists():                       # kill once a checkpoint exists, mid-run
        assert p.poll() is None, "run ended before its first checkpoint: make it longer"
        assert time.monotonic() - t0 < 300
        time.sleep(0.01)
    time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL
    p = _msim("run", str(deck), "-o", str(out), "--restart", str(ck), "--quiet", cwd=tmp_path)
    _, err = p.communicate(timeout=500)
    assert p.returncode == 0, err
    _assert_bitwise_equal(ref, out)


@pytest.mark.timeout(300)
def test_blow_up_deck_stops_with_guard_message(tmp_path):
    # dt = 8x the stable estimate: a deck error unless allowed, which it is here to reach the guard
    deck = _deck(tmp_path, "boom.yaml", dt=0.5, steps=2000, thermostat=False, allow_unstable_dt=True)
    p = _msim("run", str(deck), "-o", str(tmp_path / "boom.h5"), "--quiet", cwd=tmp_path)
    _, err = p.communicate(timeout=250)
    assert p.returncode not in (0, 2), err       # an internal failure, not a deck mistake
    assert "blow-up at step" in err and "region '" in err, err


@pytest.mark.threads
@pytest.mark.timeout(600)
@pytest.mark.parametrize("thermostat", [False, True], ids=["nve", "langevin"])
def test_thread_count_does_not_change_results(tmp_path, thermostat):
    outs = []
    for threads in (1, 2):
        deck = _deck(tmp_path, f"t{threads}.yaml", steps=400, threads=threads, thermostat=thermostat)
        out = tmp_path / f"t{threads}.h5"
        p = _msim("run", str(deck), "-o", str(out), "--quiet", cwd=tmp_path)
        _, err = p.communicate(timeout=250)
        assert p.returncode == 0, err
        outs.append(out)
    _assert_bitwise_equal(*outs)
