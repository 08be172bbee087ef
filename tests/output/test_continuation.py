"""Continuation (`msim run NEXT.yaml --from PREV.h5[:STEP]`): a new deck starts from the state of a step of
an earlier run. Indentation loading then unloading from its last stage equals one run that does both; the
new file records its provenance chain; an incompatible model is refused with exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from multiscale.output.checkpoint import checkpoint_path
from multiscale.output.reader import ResultsReader

ROOT = Path(__file__).resolve().parents[2]

FILM = """\
msim: 1
units: lj
title: small film under a cylinder (continuation tests)
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed, origin: [{ox}, 0.0]}}
  region: {{type: box, lo: [{lx}, -0.2], hi: [{hx}, 13.6]}}
  boundary: [f, f]
  mass: 1.0
  skin: 0.3
loads:
- type: fixed
  label: bottom
  region: {{type: box, lo: [-10.0, -10.0], hi: [50.0, 1.5]}}
- type: indenter
  shape: cylinder
  radius: 5.0
  stiffness: 10.0
  center: [16.6, 18.6]
  depths: {depths}
integrator: {{type: lbfgs, ftol: 1.0e-8}}
output:
  every: 1
  thermo_every: 1
  fields: [displacement, force]
"""

LOAD = [0.0, 0.25, 0.5, 0.75, 1.0]
UNLOAD = [1.0, 0.75, 0.5, 0.25, 0.0]


def _film(path: Path, depths: list[float], ox: float = 0.0, lx: float = -0.2, hx: float = 33.4) -> Path:
    path.write_text(FILM.format(depths=json.dumps(depths), ox=ox, lx=lx, hx=hx))
    return path


def _run(*args: str, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", "from multiscale.cli import main; main()", *args], cwd=cwd,
                       capture_output=True, text=True, env=env, timeout=600)
    return p.returncode, p.stderr


def _loads(path: Path) -> np.ndarray:
    with ResultsReader(path) as r:
        return r.observables()["indenter.load"]


def _provenance(path: Path) -> list[dict]:
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs["provenance"]) if "provenance" in f.attrs else []


@pytest.mark.timeout(900)
def test_unloading_continued_from_the_last_stage_equals_one_run(tmp_path):
    load = _film(tmp_path / "load.yaml", LOAD)
    unload = _film(tmp_path / "unload.yaml", UNLOAD)
    both = _film(tmp_path / "both.yaml", LOAD + UNLOAD)
    for args in (["run", str(load), "-o", "load.h5"],
                 ["run", str(unload), "-o", "unload.h5", "--from", "load.h5"],
                 ["run", str(both), "-o", "both.h5"]):
        code, err = _run(*args, "--quiet", cwd=tmp_path)
        assert code == 0, err
    P_load, P_unload, P_both = _loads(tmp_path / "load.h5"), _loads(tmp_path / "unload.h5"), \
        _loads(tmp_path / "both.h5")
    scale = float(np.max(np.abs(P_both)))
    assert scale > 1.0                                          # the indenter really pushes
    # the continuation is the second half of the single run (to the minimiser's tolerance)
    dev = float(np.max(np.abs(P_unload - P_both[5:]))) / scale
    print(f"continued unloading vs one run: max |dP|/max P = {dev:.2e}; loads {P_unload}")
    assert dev < 1e-6
    assert np.array_equal(P_load, P_both[:5])                    # same deck prefix: bitwise
    # elastic film: unloading retraces loading
    assert float(np.max(np.abs(P_unload[::-1] - P_load))) / scale < 1e-5
    with ResultsReader(tmp_path / "unload.h5") as r:
        assert list(r.steps) == [0, 1, 2, 3, 4] and int(r.thermo()["iterations"][0]) <= 2
    prov = _provenance(tmp_path / "unload.h5")
    assert len(prov) == 1 and prov[0]["step"] == 4
    assert prov[0]["file"] == str((tmp_path / "load.h5").resolve())
    # a chain: reload from stage 2 of the unloading (depth 0.5), and from a checkpoint
    code, err = _run("run", str(load), "-o", "again.h5", "--quiet", "--from", "unload.h5:2", "--stages", "2",
                     cwd=tmp_path)
    assert code == 0, err
    prov = _provenance(tmp_path / "again.h5")
    assert [p["file"] for p in prov] == [str((tmp_path / n).resolve()) for n in ("load.h5", "unload.h5")]
    assert [p["step"] for p in prov] == [4, 2]
    code, err = _run("run", str(unload), "-o", "ck.h5", "--quiet", "--from",
                     str(checkpoint_path(tmp_path / "load.h5")), cwd=tmp_path)
    assert code == 0, err
    assert float(np.max(np.abs(_loads(tmp_path / "ck.h5") - P_unload))) / scale < 1e-6


@pytest.mark.timeout(600)
def test_incompatible_model_or_missing_step_is_refused(tmp_path):
    load = _film(tmp_path / "load.yaml", LOAD[:2])
    code, err = _run("run", str(load), "-o", "load.h5", "--quiet", cwd=tmp_path)
    assert code == 0, err
    cases = {"wider.yaml": ({"hx": 40.0}, "atom count or dimension: 458 atoms in 2D there, 540 in 2D here"),
             "shifted.yaml": ({"ox": 0.05, "lx": -0.15, "hx": 33.45},
                              "atom reference positions differ by up to 0.05")}
    for name, (kw, msg) in cases.items():
        deck = _film(tmp_path / name, UNLOAD, **kw)
        code, err = _run("run", str(deck), "-o", "x.h5", "--quiet", "--from", "load.h5", cwd=tmp_path)
        assert code == 2 and "--from: the deck's model does not match the state's" in err and msg in err, err
    code, err = _run("run", str(load), "-o", "x.h5", "--quiet", "--from", "load.h5:7", cwd=tmp_path)
    assert code == 2 and "no frame at step 7 (frames at steps 0, 1)" in err, err
    code, err = _run("run", str(load), "-o", "x.h5", "--quiet", "--from", "load.h5", "--restart",
                     str(checkpoint_path(tmp_path / "load.h5")), cwd=tmp_path)
    assert code == 2 and "exclude each other" in err, err
    assert not (tmp_path / "x.h5").exists()


DYN = """\
msim: 1
units: lj
title: NVE film (dynamics continuation)
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: 1.1}}
  region: {{type: box, lo: [0, 0], hi: [11, 11.43153532]}}
  boundary: [p, p]
  mass: 1.0
  velocity: {{temperature: 0.1, seed: 1}}
integrator: {{type: verlet, dt: 0.005, steps: {steps}}}
output: {{every: 50, thermo_every: 10, fields: {fields}, checkpoint_every: 100}}
"""


@pytest.mark.timeout(600)
def test_dynamics_continuation_needs_velocities_and_matches_the_unbroken_run(tmp_path):
    (tmp_path / "a.yaml").write_text(DYN.format(steps=100, fields="[displacement, velocity]"))
    (tmp_path / "nov.yaml").write_text(DYN.format(steps=100, fields="[displacement]"))
    (tmp_path / "b.yaml").write_text(DYN.format(steps=50, fields="[displacement, velocity]"))
    (tmp_path / "ref.yaml").write_text(DYN.format(steps=150, fields="[displacement, velocity]"))
    for deck, out in (("a", "a.h5"), ("nov", "nov.h5"), ("ref", "ref.h5")):
        code, err = _run("run", f"{deck}.yaml", "-o", out, "--quiet", cwd=tmp_path)
        assert code == 0, err
    code, err = _run("run", "b.yaml", "-o", "x.h5", "--quiet", "--from", "nov.h5", cwd=tmp_path)
    assert code == 2 and "lacks atoms velocity" in err, err
    # from the frame at step 100 (x = X + u to one rounding), and from the checkpoint at step 100
    for src, name in (("a.h5:100", "b.h5"), (str(checkpoint_path(tmp_path / "a.h5")), "c.h5")):
        code, err = _run("run", "b.yaml", "-o", name, "--quiet", "--from", src, cwd=tmp_path)
        assert code == 0, err
        with ResultsReader(tmp_path / "ref.h5") as r, ResultsReader(tmp_path / name) as c:
            assert list(c.steps) == [0, 50]
            for i, k in enumerate((2, 3)):
                for f in ("displacement", "velocity"):
                    a, b = r.field("atoms", f, k), c.field("atoms", f, i)
                    assert np.max(np.abs(a - b)) < 1e-9, (name, f, k)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_indent2d_small_continued_with_unloading_from_its_last_stage(tmp_path):
    """decks/indent2d_small.yaml (coupled, depths 0 … 2σ), then a deck that unloads 2 … 0σ from its last
    stage: the first unloading stage reproduces the last loading stage, the elastic film retraces the
    loading curve, and the indenter leaves the surface at d = 0."""
    src = ROOT / "decks" / "indent2d_small.yaml"
    text = src.read_text()
    old = "depth_steps: {start: 0.0, stop: 2.0, step: 0.5}"
    assert old in text
    new = "depth_steps: {start: 2.0, stop: 0.0, step: -0.5}"
    (tmp_path / "unload.yaml").write_text(text.replace(old, new))
    code, err = _run("run", str(src), "-o", "load.h5", "--quiet", cwd=tmp_path)
    assert code == 0, err
    code, err = _run("run", "unload.yaml", "-o", "unload.h5", "--quiet", "--from", "load.h5", cwd=tmp_path)
    assert code == 0, err
    P_load, P_unload = _loads(tmp_path / "load.h5"), _loads(tmp_path / "unload.h5")
    scale = float(np.max(P_load))
    print(f"indent2d_small loading {P_load}\n  unloading {P_unload}")
    assert scale > 40.0
    assert abs(P_unload[0] - P_load[-1]) / scale < 1e-6
    assert float(np.max(np.abs(P_unload[::-1] - P_load))) / scale < 1e-5
    assert abs(P_unload[-1]) / scale < 1e-6
    assert _provenance(tmp_path / "unload.h5")[0]["step"] == 4


HOT = """\
msim: 1
units: lj
title: small hot film (integrator.continues tests)
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: hex, a: relaxed}}
  region: {{type: box, lo: [-0.2, -0.2], hi: [12.0, 8.0]}}
  boundary: [f, f]
  mass: 1.0
  skin: 0.3
{velocity}
integrator:
  type: verlet
  dt: 0.005
  steps: 20{continues}
output: {{every: 10, thermo_every: 10, fields: [displacement, velocity]}}
"""


def test_a_deck_that_continues_a_run_refuses_to_start_cold(tmp_path):
    """``integrator.continues``: the production deck of a two-stage workflow (equilibrate, then run
    --from it) started without --from would silently run from the cold lattice: exit 2 at the key."""
    (tmp_path / "equil.yaml").write_text(HOT.format(velocity="  velocity: {temperature: 0.05}",
                                                     continues=""))
    deck = tmp_path / "prod.yaml"
    deck.write_text(HOT.format(velocity="", continues="\n  continues: equil.yaml"))
    code, err = _run("run", str(deck), "-o", "cold.h5", "--quiet", cwd=tmp_path)
    assert code == 2, err
    assert "Traceback" not in err
    assert "prod.yaml:" in err and "integrator.continues" in err and "equil.yaml" in err
    assert not (tmp_path / "cold.h5").exists()
    # the hint's command names the earlier deck as the user types it (next to this deck, not the cwd)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "equil.yaml").write_text((tmp_path / "equil.yaml").read_text())
    (sub / "prod.yaml").write_text(deck.read_text())
    code, err = _run("run", "sub/prod.yaml", "-o", "cold.h5", "--quiet", cwd=tmp_path)
    assert code == 2 and "`msim run sub/equil.yaml -o EARLIER.h5`" in err, err
    # the workflow the key names runs: equilibrate, then continue --from its last frame
    code, err = _run("run", "equil.yaml", "-o", "eq.h5", "--quiet", cwd=tmp_path)
    assert code == 0, err
    code, err = _run("run", str(deck), "-o", "hot.h5", "--quiet", "--from", "eq.h5", cwd=tmp_path)
    assert code == 0, err
    with ResultsReader(tmp_path / "hot.h5") as r:
        v = r.frame(0)["atoms"]["velocity"]
    assert np.abs(v).max() > 0.0           # started hot, from the equilibration's state
    assert "warning" not in err
    # --from results of another deck than the one named: a warning; a named deck that does not exist: exit 2
    code, err = _run("run", str(deck), "-o", "hot2.h5", "--quiet", "--from", "hot.h5", cwd=tmp_path)
    assert code == 0 and "warning: --from hot.h5 was not written by equil.yaml" in err, err
    deck.write_text(HOT.format(velocity="", continues="\n  continues: nowhere.yaml"))
    code, err = _run("run", str(deck), "-o", "hot3.h5", "--quiet", "--from", "eq.h5", cwd=tmp_path)
    assert code == 2 and "integrator.continues" in err and "nowhere.yaml" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["indent2d_dyn_T.yaml", "indent2d_dyn_T_full.yaml"])
def test_the_gallery_production_decks_name_their_equilibration(name):
    from multiscale.deck import load_deck
    d = load_deck(ROOT / "decks" / name)
    eq = d.config.integrator.continues
    assert eq is not None and (ROOT / "decks" / eq).is_file()
