"""Quasi-static runs: a checkpoint after every converged load stage; a run killed with SIGKILL at random
moments and restarted (again and again) ends bitwise identical to an unbroken run; `--stages` limits the
stages; non-finite values stop the run with a blow-up (exit 3) and save the last good stage.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from multiscale.deck import load_deck
from multiscale.errors import BlowUpError
from multiscale.output.checkpoint import checkpoint_path, load_checkpoint
from multiscale.output.reader import ResultsReader
from multiscale.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]

#: a small fully atomistic indentation (458 atoms, 16 load stages, ~0.3 s per stage)
TINY = """\
msim: 1
units: lj
title: tiny indentation (statics restart tests)
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [-0.2, -0.2], hi: [33.4, 13.6]}}
  boundary: [f, f]
  mass: 1.0
  skin: 0.3
loads:
- type: fixed
  label: bottom
  region: {{type: box, lo: [-10.0, -10.0], hi: [50.0, 1.5]}}
- type: indenter
  shape: cylinder
  radius: {radius}
  stiffness: 10.0
  center: [16.6, 18.6]
  {depths}
integrator: {{type: lbfgs, ftol: 1.0e-6}}
output:
  every: 1
  thermo_every: 1
  fields: [displacement, force]
{extra}"""


def tiny_deck(path: Path, radius: str = "5.0",
              depths: str = "depth_steps: {start: 0.0, stop: 1.5, step: 0.1}", extra: str = "") -> Path:
    path.write_text(TINY.format(radius=radius, depths=depths, extra=extra))
    return path


def _msim(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", "from multiscale.cli import main; main()", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        for table in ("frames", "thermo", "observables"):
            f[table].visititems(lambda n, d, t=table: out.__setitem__(f"{t}/{n}", d[()])
                                if isinstance(d, h5py.Dataset) else None)
    return out


def assert_bitwise_equal(a: Path, b: Path, skip: tuple[str, ...] = ("thermo/wall",)) -> int:
    """Every frame, thermo and observable dataset bitwise equal (the wall-clock column aside)."""
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    n = 0
    for k in da:
        if k in skip:
            continue
        assert da[k].shape == db[k].shape, k
        assert da[k].tobytes() == db[k].tobytes(), f"{k} differs"
        n += 1
    return n


@pytest.mark.timeout(900)
def test_sigkill_at_random_moments_and_restart_is_bitwise_identical(tmp_path):
    deck = tiny_deck(tmp_path / "tiny.yaml")
    ref = tmp_path / "ref.h5"
    p = _msim("run", str(deck), "-o", str(ref), "--quiet", cwd=tmp_path)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    with ResultsReader(ref) as r:
        n_stages = r.nframes
    assert n_stages == 16

    out = tmp_path / "run.h5"
    ck = checkpoint_path(out)
    rng = random.Random(20261206)
    kills, restarts, args = 0, 0, ["run", str(deck), "-o", str(out), "--quiet"]
    while True:
        p = _msim(*args, cwd=tmp_path)
        before = load_checkpoint(ck, with_meta=True)[1]["next_stage"] if ck.exists() else 0
        t0 = time.monotonic()
        # wait for one more converged stage than the last checkpoint held, then kill at a random moment
        while p.poll() is None:
            if ck.exists() and load_checkpoint(ck, with_meta=True)[1]["next_stage"] > before:
                break
            assert time.monotonic() - t0 < 300
            time.sleep(0.02)
        if p.poll() is not None:                     # finished before the kill
            _, err = p.communicate()
            assert p.returncode == 0, err
            break
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(p.pid, signal.SIGKILL)
        p.communicate()
        if p.returncode == 0:                         # it finished within the delay
            break
        assert p.returncode == -signal.SIGKILL
        kills += 1
        # the killed run's file opens and holds every stage up to its checkpoint
        st, meta = load_checkpoint(ck, with_meta=True)
        assert st["kind"] == "statics" and meta["next_stage"] == st["next_stage"]
        with ResultsReader(out) as r:
            assert list(r.steps[: st["next_stage"]]) == list(range(st["next_stage"]))
        args = ["run", str(deck), "-o", str(out), "--quiet", "--restart", str(ck)]
        restarts += 1
    print(f"statics SIGKILL test: {n_stages} stages, {kills} kills, {restarts} restarts")
    assert kills >= 3
    assert assert_bitwise_equal(ref, out) >= 10
    with h5py.File(out, "r") as f:
        import json
        assert len(json.loads(f.attrs["restarts"])) == restarts


@pytest.mark.timeout(600)
def test_crack_restart_continues_the_kfield_bitwise(tmp_path):
    """crack2d_small (kfield with increment_interior: the load carries the last imposed K): --steps 2,
    then --restart to the end, equals an unbroken run; the old code failed with an internal ValueError."""
    deck = ROOT / "decks" / "crack2d_small.yaml"
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    for args in (["-o", str(ref)], ["-o", str(out), "--steps", "2"],
                 ["-o", str(out), "--restart", str(checkpoint_path(out))]):
        p = _msim("run", str(deck), "--quiet", *args, cwd=tmp_path)
        _, err = p.communicate(timeout=500)
        assert p.returncode == 0, err
    assert assert_bitwise_equal(ref, out) >= 5
    with ResultsReader(ref) as r0, ResultsReader(out) as r:
        assert r0.nframes > 3 and list(r.steps) == list(range(r0.nframes))


def test_stages_option(tmp_path):
    deck = tiny_deck(tmp_path / "tiny.yaml")
    p = _msim("run", str(deck), "-o", str(tmp_path / "a.h5"), "--quiet", "--stages", "3", cwd=tmp_path)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    with ResultsReader(tmp_path / "a.h5") as r:
        assert list(r.steps) == [0, 1, 2]
    st, meta = load_checkpoint(checkpoint_path(tmp_path / "a.h5"), with_meta=True)
    assert st["next_stage"] == 3 and meta["step"] == 2
    p = _msim("run", str(deck), "-o", str(tmp_path / "b.h5"), "--quiet", "--stages", "17", cwd=tmp_path)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2 and "--stages 17: the deck has 16 load stages" in err, err
    # the message names the option given (it said "--stages 17" for `--steps 17`: found by the slow fuzz test)
    p = _msim("run", str(deck), "-o", str(tmp_path / "b.h5"), "--quiet", "--steps", "17", cwd=tmp_path)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2 and "--steps 17: the deck has 16 load stages" in err, err
    dyn = ROOT / "decks" / "wave1d.yaml"
    p = _msim("run", str(dyn), "-o", str(tmp_path / "c.h5"), "--quiet", "--stages", "3", cwd=tmp_path)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2 and "use --steps" in err, err


def test_nan_inside_the_minimiser_is_a_blow_up_and_keeps_the_last_good_stage(tmp_path, monkeypatch):
    """A potential that returns NaN once the film is pressed deep enough: BlowUpError naming the stage;
    OUT.lastgood.h5 holds the state after the last good stage (equal to that stage's frame)."""
    deck = load_deck(tiny_deck(tmp_path / "tiny.yaml"))
    sim = Simulation.from_deck(deck)
    pot = sim.model.potential
    real = pot.compute

    def poisoned(x, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        E = real(x, *args, **kwargs)
        if sim.model.loads[1].stage >= 4:
            return float("nan")
        return E

    monkeypatch.setattr(pot, "compute", poisoned)
    out = tmp_path / "nan.h5"
    with pytest.raises(BlowUpError) as exc:
        sim.run(output=out, progress="quiet")
    e = exc.value
    assert e.step == 4 and "load stage 4" in str(e) and "after load stage 3" in str(e)
    st = load_checkpoint(tmp_path / "nan.lastgood.h5")
    assert st["kind"] == "statics" and st["next_stage"] == 4
    with ResultsReader(out) as r:
        assert list(r.steps) == [0, 1, 2, 3]
        u = r.field("atoms", "displacement", 3)
        X = r.static("atoms")["reference_positions"]
    assert np.array_equal(st["x"] - X, u)


def test_blow_up_at_stage_zero_saves_the_initial_state(tmp_path, monkeypatch):
    deck = load_deck(tiny_deck(tmp_path / "tiny.yaml"))
    sim = Simulation.from_deck(deck)
    monkeypatch.setattr(sim.model.potential, "compute", lambda *a, **k: float("nan"))
    with pytest.raises(BlowUpError, match="the initial state, before load stage 0"):
        sim.run(output=tmp_path / "n0.h5", progress="quiet")
    st = load_checkpoint(tmp_path / "n0.lastgood.h5")
    assert st["next_stage"] == 0 and np.array_equal(st["x"], sim.model.atoms.X)


@pytest.mark.parametrize(("radius", "codes"), [("1.0e150", (2,)), (".inf", (2,))])
def test_huge_indenter_radius_is_a_blow_up_not_exit_0(tmp_path, radius, codes):
    """The issue's reproduction (a radius of 1e150 or .inf made NaN in the indenter's overlap and the run
    ended with exit 0): both are now refused by the deck's number rule (exit 2: finite, magnitude at most
    1e100); the statics blow-up path itself (exit 3, last good stage) is tested with NaN potentials above."""
    deck = tiny_deck(tmp_path / "r.yaml", radius=radius)
    p = _msim("run", str(deck), "-o", str(tmp_path / "r.h5"), "--quiet", cwd=tmp_path)
    _, err = p.communicate(timeout=300)
    assert p.returncode in codes, err
    if p.returncode == 3:
        assert "blow-up in load stage 0" in err and "r.lastgood.h5" in err, err
        assert load_checkpoint(tmp_path / "r.lastgood.h5")["next_stage"] == 0
