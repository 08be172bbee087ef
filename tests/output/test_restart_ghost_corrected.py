"""`msim run --restart` of ``ghost_corrected`` decks (serial): the method's state (the correction g in use,
its reference state q_g, the last evaluated state, the booked work, the evaluation counter that schedules
the updates) is in the checkpoint, so 150 steps + a restart to 300 are bitwise a straight 300-step run.

Decks: decks/patch2d.yaml (``every: 1``, a perfect lattice at rest) and ``pulse7``: the same deck with an
off-centre radial pulse (amplitude 0.05) and ``every: 7``, so the atoms and the mesh move and g changes
every 7 steps; ``pulse_reference``: ``pulse7`` with ``correction: reference`` (a dead load of the set-up,
no state to store). Before the fix the restart continued with the set-up g and counters: ``pulse7``
differed from the straight run by 2.7e-5 in the atoms' velocities (max |v| 0.17), 24 of 57 datasets;
patch2d in ``thermo/coupling`` (the booked work).

A checkpoint without the method's state (written before msim stored it) is refused with exit 2 and one
line saying why, the results file untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from multiscale.output.checkpoint import checkpoint_path

ROOT = Path(__file__).resolve().parents[2]
PATCH = ROOT / "decks" / "patch2d.yaml"
PULSE = {"type": "radial_pulse", "center": [3.0, -2.0], "sigma": 2.0, "amplitude": 0.05}


def deck(name: str, tmp: Path) -> Path:
    """``patch2d``, ``pulse7`` or ``pulse_reference`` (module docstring): 300 steps, a checkpoint every
    150, frames every 50, thermo every 10."""
    d = yaml.safe_load(PATCH.read_text())
    d.pop("expect", None)
    d["integrator"]["steps"] = 300
    d["output"].update({"every": 50, "thermo_every": 10, "checkpoint_every": 150})
    if name != "patch2d":
        d["loads"] = [PULSE]
        d["handshake"]["coupling"] = ({"type": "ghost_corrected", "correction": "homogeneous", "every": 7}
                                      if name == "pulse7" else
                                      {"type": "ghost_corrected", "correction": "reference"})
    out = tmp / f"{name}.yaml"
    out.write_text(yaml.safe_dump(d, sort_keys=False))
    return out


def run(*args: str, cwd: Path) -> tuple[int, str]:
    """``msim run --quiet ARGS`` of this tree's code in a separate process: (exit status, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "multiscale.cli", "run", "--quiet", *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=600)
    return p.returncode, p.stderr


def datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of the results file's frames, thermo and observables groups."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        for top in ("frames", "thermo", "observables"):
            f[top].visititems(lambda n, d, t=top: out.__setitem__(f"{t}/{n}", d[()])
                              if isinstance(d, h5py.Dataset) else None)
    return out


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["patch2d", "pulse7", "pulse_reference"])
def test_restart_is_bitwise(tmp_path: Path, name: str) -> None:
    """150 steps + `--restart` to 300 == a straight 300-step run, every dataset bit for bit; the
    checkpoint holds the method's state (``integrator/method.*``) exactly when it has one."""
    from multiscale.output.checkpoint import load_checkpoint
    d = deck(name, tmp_path)
    code, err = run(str(d), "-o", str(tmp_path / "straight.h5"), cwd=tmp_path)
    assert code == 0, err
    code, err = run(str(d), "-o", str(tmp_path / "split.h5"), "--steps", "150", cwd=tmp_path)
    assert code == 0, err
    ck = checkpoint_path(tmp_path / "split.h5")
    keys = {k for k in load_checkpoint(ck)["integrator"] if k.startswith("method.")}
    want = set() if name == "pulse_reference" else {f"method.{k}" for k in
                                                   ("g", "q_g", "q_eval", "work", "calls", "updates")}
    assert keys == want
    code, err = run(str(d), "-o", str(tmp_path / "split.h5"), "--restart", str(ck), cwd=tmp_path)
    assert code == 0, err
    a, b = datasets(tmp_path / "straight.h5"), datasets(tmp_path / "split.h5")
    assert sorted(a) == sorted(b)
    assert a["frames/atoms/velocity"].shape[0] == 7
    if name != "patch2d":      # the pulse moves the atoms: the comparison is not one of zeros
        assert float(np.max(np.abs(a["frames/atoms/velocity"][-1]))) > 0.01
    differ = [k for k in a if a[k].tobytes() != b[k].tobytes()]
    assert not differ, differ


@pytest.mark.timeout(600)
def test_checkpoint_without_method_state_is_refused(tmp_path: Path) -> None:
    """The ``pulse7`` checkpoint at step 150 with the ``method.*`` entries removed (as written before msim
    stored them): exit 2, one line naming the checkpoint and why; the results file untouched."""
    from multiscale.output.checkpoint import load_checkpoint, save_checkpoint
    d = deck("pulse7", tmp_path)
    out = tmp_path / "split.h5"
    code, err = run(str(d), "-o", str(out), "--steps", "150", cwd=tmp_path)
    assert code == 0, err
    state, meta = load_checkpoint(checkpoint_path(out), with_meta=True)
    state["integrator"] = {k: v for k, v in state["integrator"].items() if not k.startswith("method.")}
    old = tmp_path / "old.checkpoint.h5"
    save_checkpoint(old, state, meta=meta)
    before = out.read_bytes()
    code, err = run(str(d), "-o", str(out), "--restart", str(old), cwd=tmp_path)
    lines = [ln for ln in err.splitlines() if not ln.startswith("hint:")]
    print(lines)
    assert code == 2, err
    assert len(lines) == 1 and str(old) in lines[0], err
    assert "holds no state of the coupling method (ghost_corrected" in lines[0], err
    assert out.read_bytes() == before


def statics_deck(tmp: Path) -> Path:
    """decks/indent2d_small.yaml (quasi-statics, precon_lbfgs with the linear predictor) with
    ``ghost_corrected`` (homogeneous) coupling instead of ``strong``."""
    d = yaml.safe_load((ROOT / "decks" / "indent2d_small.yaml").read_text())
    d.pop("expect", None)
    d["handshake"]["coupling"] = {"type": "ghost_corrected", "correction": "homogeneous"}
    out = tmp / "indent_gc.yaml"
    out.write_text(yaml.safe_dump(d, sort_keys=False))
    return out


@pytest.mark.timeout(600)
def test_statics_restart_is_bitwise(tmp_path: Path) -> None:
    """Quasi-statics: 2 load stages + `--restart` to 3 == 3 straight stages, every dataset bit for bit
    except the wall clock. Before the fix the statics checkpoint held no method state (the booked work
    restarted from the set-up's) and the predictor's trial evaluations before the restarted run's first
    stage made two scheduled updates the unbroken run never made: ``thermo/coupling`` 1.5 % off (2.1e-4 of
    the stages' |coupling| ≤ 1.4e-2) from the restarted stage on, positions equal."""
    d = statics_deck(tmp_path)
    code, err = run(str(d), "-o", str(tmp_path / "straight.h5"), "--stages", "3", cwd=tmp_path)
    assert code == 0, err
    code, err = run(str(d), "-o", str(tmp_path / "split.h5"), "--stages", "2", cwd=tmp_path)
    assert code == 0, err
    ck = checkpoint_path(tmp_path / "split.h5")
    code, err = run(str(d), "-o", str(tmp_path / "split.h5"), "--stages", "3", "--restart", str(ck),
                    cwd=tmp_path)
    assert code == 0, err
    a, b = datasets(tmp_path / "straight.h5"), datasets(tmp_path / "split.h5")
    assert sorted(a) == sorted(b)
    assert a["thermo/coupling"].shape == (3,) and float(np.max(np.abs(a["thermo/coupling"]))) > 1e-4
    differ = [k for k in a if k != "thermo/wall" and a[k].tobytes() != b[k].tobytes()]
    assert not differ, differ


@pytest.mark.timeout(600)
def test_statics_checkpoint_without_method_state_is_refused(tmp_path: Path) -> None:
    """A quasi-static checkpoint of a ghost_corrected deck without the ``method.*`` entries (as msim wrote
    them before): exit 2, one line naming the checkpoint and why; the results file untouched."""
    from multiscale.output.checkpoint import load_checkpoint, save_checkpoint
    d = statics_deck(tmp_path)
    out = tmp_path / "split.h5"
    code, err = run(str(d), "-o", str(out), "--stages", "1", cwd=tmp_path)
    assert code == 0, err
    state, meta = load_checkpoint(checkpoint_path(out), with_meta=True)
    assert {k for k in state if k.startswith("method.")} == {
        f"method.{k}" for k in ("g", "q_g", "q_eval", "work", "calls", "updates")}
    state = {k: v for k, v in state.items() if not k.startswith("method.")}
    old = tmp_path / "old.checkpoint.h5"
    save_checkpoint(old, state, meta=meta)
    before = out.read_bytes()
    code, err = run(str(d), "-o", str(out), "--stages", "2", "--restart", str(old), cwd=tmp_path)
    lines = [ln for ln in err.splitlines() if not ln.startswith("hint:")]
    assert code == 2, err
    assert len(lines) == 1 and str(old) in lines[0], err
    assert "holds no state of the coupling method (ghost_corrected" in lines[0], err
    assert out.read_bytes() == before
