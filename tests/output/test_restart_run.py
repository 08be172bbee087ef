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


# ---------------------------------------------------------------------- unsafe restarts are refused
def _run(*args: str, cwd: Path, timeout: float = 400) -> tuple[int, str]:
    p = _msim(*args, cwd=cwd)
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err


def _restarts(path: Path) -> int:
    import json
    with h5py.File(path, "r") as f:
        return len(json.loads(f.attrs["restarts"]))


@pytest.fixture
def finished_run(tmp_path):
    """A 400-step NVE run with checkpoints at 200 and 400: (deck, results, checkpoint)."""
    deck = _deck(tmp_path, "deck.yaml", steps=400, thermostat=False)
    out = tmp_path / "run.h5"
    code, err = _run("run", str(deck), "-o", str(out), "--quiet", cwd=tmp_path)
    assert code == 0, err
    return deck, out, checkpoint_path(out)


@pytest.mark.timeout(600)
def test_restart_with_another_dt_or_loads_is_refused(tmp_path, finished_run):
    """The old code accepted a changed dt (time ran backwards) and failed with an internal error on
    changed loads. Now: exit 2, the differing keys, and the results file is not touched."""
    _, out, ck = finished_run
    before = out.read_bytes()
    deck2 = _deck(tmp_path, "dt.yaml", dt=0.01, steps=600, thermostat=False)
    code, err = _run("run", str(deck2), "-o", str(out), "--quiet", "--restart", str(ck), cwd=tmp_path)
    assert code == 2, err
    assert "differs from the one that wrote the checkpoint in 1 key(s): integrator.dt: 0.005 -> 0.01" in err
    text = (tmp_path / "deck.yaml").read_text().replace(
        "integrator:", "loads:\n- {type: fixed, region: {type: box, lo: [0, 0], hi: [2, 2]}}\nintegrator:")
    (tmp_path / "loads.yaml").write_text(text)
    code, err = _run("run", str(tmp_path / "loads.yaml"), "-o", str(out), "--quiet", "--restart", str(ck),
                     cwd=tmp_path)
    assert code == 2 and "loads[0].type: (absent) -> \"fixed\"" in err, err
    print("refusal messages:\n" + err)
    assert out.read_bytes() == before and _restarts(out) == 0


@pytest.mark.timeout(600)
def test_restart_may_extend_the_run(tmp_path, finished_run):
    """integrator.steps may change: restarting the finished 400-step run with 600 steps gives, bitwise,
    an unbroken 600-step run."""
    _, out, ck = finished_run
    longer = _deck(tmp_path, "longer.yaml", steps=600, thermostat=False)
    code, err = _run("run", str(longer), "-o", str(out), "--quiet", "--restart", str(ck), cwd=tmp_path)
    assert code == 0, err
    ref = tmp_path / "ref.h5"
    code, err = _run("run", str(longer), "-o", str(ref), "--quiet", cwd=tmp_path)
    assert code == 0, err
    _assert_bitwise_equal(ref, out)
    assert _restarts(out) == 1


@pytest.mark.timeout(600)
def test_damaged_or_foreign_checkpoints_are_refused_with_one_line(tmp_path, finished_run):
    """Bit-flipped (old code: OSError or silently wrong values), emptied (old: KeyError) and another deck's
    checkpoint (old: ValueError): each exit 2 with a one-line reason; the results file is not touched."""
    from multiscale.output.checkpoint import load_checkpoint, save_checkpoint

    deck, out, ck = finished_run
    before = out.read_bytes()
    raw = ck.read_bytes()
    cases = {}
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x04
    cases["flipped"] = bytes(flipped)
    state, meta = load_checkpoint(ck, with_meta=True)
    save_checkpoint(tmp_path / "empty.h5", {}, meta=meta)
    cases["empty"] = (tmp_path / "empty.h5").read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    text = deck.read_text().replace("hi: [11, 11.43153532]", "hi: [13.2, 11.43153532]")
    (other / "deck.yaml").write_text(text)
    code, err = _run("run", "deck.yaml", "-o", "o.h5", "--quiet", "--steps", "200", cwd=other)
    assert code == 0, err
    cases["other deck"] = checkpoint_path(other / "o.h5").read_bytes()
    expect = {"flipped": "damaged checkpoint: the checksum of the file does not match",
              "empty": "unusable checkpoint: state is empty",
              "other deck": "atoms.region.hi: [13.2, 11.43153532] -> [11.0, 11.43153532]"}
    for name, data in cases.items():
        bad = tmp_path / f"{name.replace(' ', '_')}.ck.h5"
        bad.write_bytes(data)
        code, err = _run("run", str(deck), "-o", str(out), "--quiet", "--restart", str(bad), cwd=tmp_path)
        lines = [ln for ln in err.splitlines() if not ln.startswith("hint:")]
        print(f"{name}: exit {code}: {lines}")
        assert code == 2, err
        assert len(lines) == 1 and expect[name] in lines[0], err
    assert out.read_bytes() == before and _restarts(out) == 0
    # the right checkpoint, but -o names another model's results file
    code, err = _run("run", str(deck), "-o", str(other / "o.h5"), "--quiet", "--restart", str(ck), cwd=tmp_path)
    assert code == 2 and "refusing to append results of a different model" in err, err


def test_blow_up_at_step_zero_saves_the_initial_state(tmp_path):
    """A state already non-finite at step 0: exit 3's BlowUpError, and OUT.lastgood.h5 holds the initial
    state (the old code saved nothing)."""
    from multiscale.deck import load_deck
    from multiscale.errors import BlowUpError
    from multiscale.output.checkpoint import load_checkpoint
    from multiscale.simulation import Simulation

    sim = Simulation.from_deck(load_deck(_deck(tmp_path, "d.yaml", steps=100, thermostat=False)))
    sim.prepare()
    sim.model.atoms.v[3, 0] = np.nan
    with pytest.raises(BlowUpError, match=r"the initial state, step 0\) is saved in"):
        sim.run(output=tmp_path / "b.h5", progress="quiet")
    st = load_checkpoint(tmp_path / "b.lastgood.h5")
    v = st["integrator"]["v"]
    assert int(st["integrator"]["step"]) == 0 and np.isnan(v[3, 0]) and np.isfinite(np.delete(v, 3, 0)).all()
