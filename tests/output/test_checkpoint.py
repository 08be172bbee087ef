"""Checkpoints: bitwise round trip of every supported leaf; a kill during a save never corrupts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from multiscale.errors import DeckError
from multiscale.output.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _state() -> dict:
    rng = np.random.default_rng(12345)
    rng.normal(size=7)                                  # advance: the state is not the seed state
    rng_state = rng.bit_generator.state
    weird = np.array([np.nan, -0.0, np.inf, -np.inf, 5e-324, 1.0 / 3.0])
    weird.view(np.uint64)[0] |= 0x1234                  # a NaN with a payload
    return {
        "step": 1234, "time": 2.468000000000001, "dt": 0.002, "done": False, "name": "Cu – ünïcode",
        "blob": b"\x00\x01raw", "nothing": None,
        "atoms": {"x": rng.normal(size=(50, 3)), "v": np.asfortranarray(rng.normal(size=(50, 3))),
                  "ids": np.arange(50, dtype=np.int64), "types": np.ones(50, dtype=np.int8),
                  "mask": rng.uniform(size=50) > 0.5, "weird": weird, "empty": np.zeros((0, 3)),
                  "zero_d": np.array(3.25), "c": np.array([1 + 2j, -0.0 - 1j])},
        "continuum": {"U": rng.normal(size=(20, 2)).astype(np.float32), "V": rng.normal(size=(20, 2))},
        "scalars": [np.float64(1.5), np.int32(-7), np.uint64(2**64 - 1), (1, 2.0, "three")],
        "rng_state": rng_state,                                                   # 128-bit ints inside
        "mt_state": np.random.Generator(np.random.MT19937(5)).bit_generator.state,
        "thermostat_rng": np.random.Generator(np.random.PCG64DXSM(99)),
        "huge": -(2**100) + 17,
    }


def _same(a, b, where="state"):
    assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}/{i}")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), where
    elif isinstance(a, np.random.Generator):
        _same(a.bit_generator.state, b.bit_generator.state, where)
    elif isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes(), where
    else:
        assert a == b, where


def test_round_trip_bitwise(tmp_path):
    state = _state()
    save_checkpoint(tmp_path / "c.h5", state, meta={"step": 1234, "msim_version": "0.1.0"})
    back, meta = load_checkpoint(tmp_path / "c.h5", with_meta=True)
    _same(state, back)
    assert meta == {"step": 1234, "msim_version": "0.1.0"}
    # restored generators continue the same stream
    assert back["thermostat_rng"].normal(size=5).tobytes() == state["thermostat_rng"].normal(size=5).tobytes()
    g = np.random.Generator(np.random.PCG64())
    g.bit_generator.state = back["rng_state"]
    ref = np.random.default_rng(12345)
    ref.normal(size=7)
    assert g.normal(size=4).tobytes() == ref.normal(size=4).tobytes()


def test_bad_input(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        save_checkpoint(tmp_path / "c.h5", {"x": object()})
    with pytest.raises(ValueError, match="without '/'"):
        save_checkpoint(tmp_path / "c.h5", {"a/b": 1})
    assert not list(tmp_path.iterdir())                  # nothing half-written left behind
    with pytest.raises(DeckError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.h5")
    (tmp_path / "junk").write_bytes(b"not hdf5")
    with pytest.raises(DeckError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "junk")


SAVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import numpy as np
    from multiscale.output.checkpoint import save_checkpoint
    i = 0
    while True:
        save_checkpoint({path!r}, {{"i": i, "x": np.full((400_000,), float(i))}})
        print(i, flush=True)
        i += 1
""")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("delay", [0.0, 0.004, 0.011, 0.023, 0.037])
def test_kill_during_save_keeps_last_good(tmp_path, delay):
    path = tmp_path / "ck.h5"
    proc = subprocess.Popen([sys.executable, "-c", SAVER.format(root=str(ROOT), path=str(path))],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline()                    # one complete checkpoint exists
        time.sleep(delay)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    last = int(out.split()[-1]) if out.split() else 0
    state = load_checkpoint(path)
    assert state["i"] in (last, last + 1)                # the last announced one, or the one in flight
    assert np.all(state["x"] == float(state["i"])) and state["x"].shape == (400_000,)
    save_checkpoint(path, {"i": -1})                     # next save cleans the killed writer's temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.h5"]
