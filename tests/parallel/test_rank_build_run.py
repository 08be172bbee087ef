"""``msim run`` on the spatial path built per rank (`run.spatial_rank`: no rank builds the serial model)
against the same run with the serial build (tests/parallel/mpi_serial_build_run.py: `cli._per_rank_simulation`
switched off, today's path), under ``mpiexec -n P``.

The two do the same arithmetic on the same values in the same order (tests/parallel/test_rank_build.py
holds the steppers bitwise), so the results files are compared dataset by dataset with ``array_equal``:
every dataset (static groups, every frame's fields, thermo and observables rows) and the checkpoint's state
bitwise, the same HDF5 paths, the same root attributes except the start time and the decomposition record
(``build: "per rank"``). Decks: wave2d on 1 (``--decompose spatial``), 2 and 3 ranks with every frame field
the per-rank path writes and a checkpoint; its strong-coupling variant and the 3D Morse smoke deck at rest
with a pulse on 2 ranks. A checkpoint of the per-rank run restarts on the serial build (the serial
checkpoint format). Deck errors of the checks the per-rank build makes on its own pieces (the time-step
check, the pads' check) are the serial build's, message for message.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from mpi_helpers import ROOT, deck_dict, mpirun, write_deck

HERE = Path(__file__).resolve().parent
FIELDS = ["position", "displacement", "velocity", "force", "energy", "weight", "stress", "strain"]


def _datasets(path: Path) -> dict:
    out: dict = {}
    with h5py.File(path) as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


def _attrs(path: Path) -> dict:
    with h5py.File(path) as f:
        return {k: str(f.attrs[k]) for k in f.attrs}


def assert_same_file(a: Path, b: Path) -> int:
    """Every dataset of two HDF5 files bitwise equal, the same paths; returns the number of datasets."""
    A, B = _datasets(a), _datasets(b)
    assert sorted(A) == sorted(B), set(A) ^ set(B)
    for k, x in A.items():
        y = B[k]
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), k
        else:
            assert x == y, k
    return len(A)


def _run(n: int, deck: Path, out: Path, *extra: str, serial_build: bool = False):  # noqa: ANN202
    args = ["run", "--quiet", str(deck), "-o", str(out), "--overwrite", *extra]
    if serial_build:
        return mpirun(n, HERE / "mpi_serial_build_run.py", *args, timeout=900)
    return mpirun(n, "-m", "multiscale.cli", *args, timeout=900)


def _deck(tmp: Path, name: str, src: str = "decks/wave2d.yaml", steps: int = 200, **changes) -> Path:  # noqa: ANN003
    d = deck_dict(ROOT / src)
    d["integrator"]["steps"] = steps
    d["output"] = {**d["output"], "fields": FIELDS, "checkpoint_every": steps // 2}
    for k, v in changes.items():
        d[k] = {**d[k], **v} if isinstance(v, dict) and isinstance(d.get(k), dict) else v
    return write_deck(d, tmp / f"{name}.yaml")


def _pair(n: int, deck: Path, tmp: Path, *extra: str) -> tuple[Path, Path]:
    new, old = tmp / f"new{n}.h5", tmp / f"old{n}.h5"
    p = _run(n, deck, new, *extra)
    assert p.returncode == 0, p.stderr[-3000:]
    q = _run(n, deck, old, *extra, serial_build=True)
    assert q.returncode == 0, q.stderr[-3000:]
    rec = json.loads(_attrs(new)["decomposition"])
    assert rec.get("build") == "per rank" and rec["path"] == "spatial", rec
    assert "build" not in json.loads(_attrs(old)["decomposition"])
    an, ao = _attrs(new), _attrs(old)
    assert sorted(an) == sorted(ao)
    for k in an:
        if k not in ("start_time", "decomposition"):
            assert an[k] == ao[k], k
    return new, old


@pytest.mark.parametrize("n", [1, 2, 3])
def test_wave2d_results_bitwise(n: int, tmp_path: Path) -> None:
    deck = _deck(tmp_path, "wave2d")
    extra = ("--decompose", "spatial") if n == 1 else ()
    new, old = _pair(n, deck, tmp_path, *extra)
    assert assert_same_file(new, old) > 50
    ck_new, ck_old = (p.parent / (p.stem + ".checkpoint.h5") for p in (new, old))
    assert ck_new.exists() and ck_old.exists(), list(tmp_path.iterdir())
    assert_same_file(ck_new, ck_old)


def test_strong_and_3d_results_bitwise(tmp_path: Path) -> None:
    strong = _deck(tmp_path, "wave2d_strong", handshake={"coupling": {"type": "strong"}})
    new, old = _pair(2, strong, tmp_path)
    assert_same_file(new, old)
    d = deck_dict(ROOT / "tests/parallel/decks/coupled3d_smoke.yaml")
    d["atoms"].pop("velocity")
    d["loads"] = [{"type": "radial_pulse", "center": [10.5, 10.5, 12.0], "sigma": 2.0, "amplitude": 0.05}]
    d["integrator"]["steps"] = 100
    d["output"] = {**d["output"], "every": 50, "thermo_every": 25}
    smoke = write_deck(d, tmp_path / "smoke_pulse.yaml")
    sub = tmp_path / "s3"
    sub.mkdir()
    new, old = _pair(2, smoke, sub)
    assert_same_file(new, old)


def test_restart_of_a_per_rank_checkpoint(tmp_path: Path) -> None:
    """The per-rank run's checkpoint (step 100 of 200) restarts on the serial build (a restart is not
    built per rank) and ends where the straight per-rank run ends: the serial checkpoint format."""
    deck = _deck(tmp_path, "wave2d_r")
    straight, part = tmp_path / "straight.h5", tmp_path / "part.h5"
    p = _run(2, deck, straight)
    assert p.returncode == 0, p.stderr[-3000:]
    p = _run(2, deck, part, "--steps", "100")
    assert p.returncode == 0, p.stderr[-3000:]
    ck = tmp_path / "part.checkpoint.h5"
    assert ck.exists(), list(tmp_path.iterdir())
    p = _run(2, deck, part, "--restart", str(ck))
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = _datasets(straight), _datasets(part)
    # positions X + u relative to their extent (the restart redistributes the atoms: the cross pairs' forces
    # are summed in another order, round-off), as tests/parallel/test_mpi_spatial_memory.py
    for key, ref in (("frames/atoms/displacement", "static/atoms/reference_positions"),
                     ("frames/nodes/displacement", "static/mesh/nodes")):
        X = np.asarray(a[ref])
        x, y = X + np.asarray(a[key]), X + np.asarray(b[key])
        assert x.shape == y.shape
        assert float(np.max(np.abs(x - y))) <= 1e-12 * float(np.max(np.abs(X))), key


def test_deck_errors_as_the_serial_build(tmp_path: Path) -> None:
    """A time step above the stable estimate and a region that misses pads: exit 2 with the serial build's
    message (printed once)."""
    big_dt = _deck(tmp_path, "wave2d_dt", integrator={"dt": 0.2})
    small = _deck(tmp_path, "wave2d_small", atoms={"region": {"type": "box", "lo": [-21.0, -21.0],
                                                                "hi": [21.0, 21.0]}})
    for deck, key in ((big_dt, "integrator.dt"), (small, "atoms.region")):
        p = _run(2, deck, tmp_path / f"{deck.stem}.h5")
        q = _run(2, deck, tmp_path / f"{deck.stem}_old.h5", serial_build=True)
        assert p.returncode == 2 and q.returncode == 2, (p.stderr[-2000:], q.stderr[-2000:])
        assert key in p.stderr
        strip = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("decomposition")]
        strip_q = [ln for ln in q.stderr.splitlines() if ln.strip() and not ln.startswith("decomposition")]
        assert strip == strip_q, (p.stderr, q.stderr)


def test_stable_dt_as_serial(tmp_path: Path) -> None:
    """`rank_build.stable_dt` (one rank, in process) is `run.summary.stable_dt` of the serial model, bitwise,
    on wave2d, wave2d with a sphere core off the lattice's centre and the 3D smoke deck."""
    from multiscale.build import build_model
    from multiscale.deck import load_deck
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.rank_build import build_rank_model, stable_dt
    from multiscale.run.summary import stable_dt as serial_dt
    d = deck_dict(ROOT / "decks/wave2d.yaml")
    d["handshake"]["shape"] = {"type": "sphere", "center": [0.5, -0.3], "radius": 15.0}
    sph = write_deck(d, tmp_path / "wave2d_sphere.yaml")
    d3 = deck_dict(ROOT / "tests/parallel/decks/coupled3d_smoke.yaml")
    d3["atoms"].pop("velocity")
    d3["loads"] = []
    smoke = write_deck(d3, tmp_path / "smoke.yaml")
    for path in (ROOT / "decks/wave2d.yaml", sph, smoke):
        ref = serial_dt(build_model(load_deck(path)))
        got = stable_dt(build_rank_model(load_deck(path), SerialComm()), SerialComm())
        assert list(got) == list(ref) and all(got[k] == ref[k] for k in ref), (path.name, got, ref)


def test_state_box_and_blowup_as_serial(tmp_path: Path) -> None:
    """The guard's lost-atom test and the blow-up routing read the atoms' box from the run's state: the
    per-rank state carries the serial model's box (in process, one rank); a run blowing up (dt 20x too
    large, ``allow_unstable_dt``) on 2 ranks stops with exit 3 and the serial build's message (the
    blow-up is found inside one rank's step: neither build leaves OUT.lastgood.h5 then, docs/parallel.md)."""
    from multiscale.build import build_model
    from multiscale.deck import load_deck
    from multiscale.parallel.comm import SerialComm
    from multiscale.run.spatial_rank import RankSimulation
    deck = load_deck(ROOT / "decks/wave2d.yaml")
    sim = RankSimulation(deck, SerialComm(), 1, "spatial")
    sim.prepare()
    ref = build_model(load_deck(ROOT / "decks/wave2d.yaml")).atoms.box
    box = sim.state.atoms.box
    assert np.array_equal(box.lo, ref.lo) and np.array_equal(box.hi, ref.hi)
    assert np.array_equal(box.periodic, ref.periodic)
    bad = _deck(tmp_path, "wave2d_blow", integrator={"dt": 0.2, "allow_unstable_dt": True})
    p = _run(2, bad, tmp_path / "blow.h5")
    q = _run(2, bad, tmp_path / "blow_old.h5", serial_build=True)
    assert p.returncode == 3 and q.returncode == 3, (p.stderr[-2000:], q.stderr[-2000:])
    msg = [ln for ln in p.stderr.splitlines() if "blow-up at step" in ln]
    msg_q = [ln.replace("blow_old", "blow") for ln in q.stderr.splitlines() if "blow-up at step" in ln]
    assert msg and msg == msg_q, (p.stderr[-2000:], q.stderr[-2000:])


def test_validate_says_per_rank() -> None:
    """`msim validate --ranks 2` tells whether the run would be built per rank: wave2d yes, the 3D smoke deck
    (a Maxwell–Boltzmann start, a fixed bottom) no."""
    def line(deck: Path) -> str:
        p = mpirun(0, "-m", "multiscale.cli", "validate", str(deck), "--ranks", "2", timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        out = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.startswith("decomposition:")]
        assert len(out) == 1, p.stdout + p.stderr
        return out[0]
    assert line(ROOT / "decks/wave2d.yaml").endswith("; built per rank (no rank builds the whole model)")
    assert "built per rank" not in line(ROOT / "tests/parallel/decks/coupled3d_smoke.yaml")


def test_prestress_warning_once(tmp_path: Path) -> None:
    """A lattice off its zero-stress spacing: the per-rank run warns as `Simulation.run` does, once."""
    d = deck_dict(ROOT / "decks/wave2d.yaml")
    d["atoms"]["lattice"] = {"type": "hex", "a": 1.11}
    d["integrator"]["steps"] = 20
    deck = write_deck(d, tmp_path / "pre.yaml")
    p = _run(2, deck, tmp_path / "pre.h5")
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stderr.count("the lattice is not at zero stress at a = 1.11") == 1, p.stderr[-2000:]


def test_maxwell_boltzmann_start(tmp_path: Path) -> None:
    """``atoms.velocity`` (T > 0) on the per-rank build: each rank draws its own rows of the serial stream
    (`parallel.initial_velocity`), the momentum removal and rescale from allreduced sums (round-off from
    the serial sums), the band's rows from their owners. wave2d at k_B T = 0.005, 200 steps on 2 and 3
    ranks against the serial build: positions ≤ 1e-12 of the extent, every thermo energy ≤ 1e-12 of the
    energy scale, velocities ≤ 1e-10 of their largest value (measured on 2 ranks: positions 1.6e-15,
    velocities 6.9e-13)."""
    d = deck_dict(ROOT / "decks/wave2d.yaml")
    d["atoms"]["velocity"] = {"temperature": 0.005, "seed": 7}
    d["integrator"]["steps"] = 200
    d["output"] = {"every": 100, "thermo_every": 20, "fields": ["displacement", "velocity"]}
    deck = write_deck(d, tmp_path / "wave2d_T.yaml")
    for n in (2, 3):
        sub = tmp_path / f"p{n}"
        sub.mkdir()
        new, old = _pair(n, deck, sub)
        a, b = _datasets(old), _datasets(new)
        assert sorted(a) == sorted(b)
        X = np.asarray(a["static/atoms/reference_positions"])
        u_a, u_b = np.asarray(a["frames/atoms/displacement"]), np.asarray(b["frames/atoms/displacement"])
        assert float(np.max(np.abs(u_a - u_b))) <= 1e-12 * float(np.max(np.abs(X)))
        assert not np.array_equal(u_a[-1], np.zeros_like(u_a[-1]))
        va, vb = np.asarray(a["frames/atoms/velocity"]), np.asarray(b["frames/atoms/velocity"])
        assert float(np.max(np.abs(va - vb))) <= 1e-10 * float(np.max(np.abs(va)))
        keys = ("kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum", "total")
        scale = sum(float(np.max(np.abs(a[f"thermo/{k}"]))) for k in keys[:4])
        for k in keys:
            assert float(np.max(np.abs(a[f"thermo/{k}"] - b[f"thermo/{k}"]))) <= 1e-12 * scale, k
        for k, x in a.items():       # the static groups bitwise
            if k.startswith("static/"):
                assert np.array_equal(np.asarray(x), np.asarray(b[k])), k
