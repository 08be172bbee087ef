"""Checkpoints: bitwise round trip of every supported leaf; a kill during a save never corrupts."""

from __future__ import annotations

import os
import signal
import struct
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


# ---------------------------------------------------------------------- damage: checksum, unreadable files
def test_every_flipped_bit_is_refused_or_harmless(tmp_path):
    """Flip one bit at many places of a checkpoint: loading either refuses with a one-line `DeckError`
    (checksum or HDF5 cannot read it) or returns the state bitwise (the bit was in unused bytes). The old
    code returned silently changed values or raised OSError / KeyError / ValueError."""
    state = {"kind": "dynamics", "integrator": {"x": np.linspace(0.0, 1.0, 600).reshape(200, 3),
                                                "step": np.array(7), "time": np.array(0.25)},
             "guard": {"e_ref": 1.5, "regions_ref": {}}, "name": "abc"}
    good = tmp_path / "good.h5"
    save_checkpoint(good, state, meta={"step": 7, "deck": '{"a": "1"}'})
    raw = good.read_bytes()
    refused = harmless = 0
    offsets = sorted(set(range(0, len(raw), 37)) | set(range(0, 2048, 3)))
    for off in offsets:
        bad = bytearray(raw)
        bad[off] ^= 1 << (off % 8)
        p = tmp_path / "bad.h5"
        p.write_bytes(bytes(bad))
        try:
            back = load_checkpoint(p)
        except DeckError as exc:
            msg = exc.format()
            assert "\n" not in msg, msg
            refused += 1
            continue
        _same(state, back)
        harmless += 1
    print(f"{len(offsets)} bit flips: {refused} refused, {harmless} harmless (unused bytes)")
    assert refused > len(offsets) // 2


def test_data_bit_flip_is_caught_by_the_checksums(tmp_path):
    """One mantissa bit of x[500]: a valid file holding a different number. The file digest refuses it;
    with the digest forged to match, the checksum of the state still does."""
    import hashlib

    import h5py
    p = tmp_path / "c.h5"
    save_checkpoint(p, {"x": np.arange(1000, dtype=float)})
    with h5py.File(p, "r") as f:
        off = f["state/x"].id.get_offset()
    raw = bytearray(p.read_bytes())
    raw[off + 8 * 500 + 3] ^= 0x10
    p.write_bytes(bytes(raw))
    with pytest.raises(DeckError, match="checksum of the file does not match"):
        load_checkpoint(p)
    digest = hashlib.sha256(bytes(raw[512:])).hexdigest().encode()
    raw[23:23 + 64] = digest
    p.write_bytes(bytes(raw))
    with pytest.raises(DeckError, match="checksum of its state does not match"):
        load_checkpoint(p)


def test_empty_or_unsummed_state_is_refused(tmp_path):
    import h5py
    p = tmp_path / "c.h5"
    save_checkpoint(p, {"integrator": {"x": np.zeros(3)}})
    with h5py.File(p, "r+") as f:                  # empty the state, keep everything else
        del f["state/integrator"]
    with pytest.raises(DeckError, match="checksum of the file does not match"):
        load_checkpoint(p)
    with h5py.File(p, "w") as f:                   # an old (version 1) file: no digest, no checksum
        f.attrs["msim_format"] = "msim-checkpoint"
        f.attrs["msim_format_version"] = 1
        f.create_group("state").attrs["t"] = "dict"
    with pytest.raises(DeckError, match="older msim"):
        load_checkpoint(p)


# ---------------------------------------------------------------------- the deck a checkpoint belongs to
PLATE = """\
msim: 1
units: lj
title: {title}
continuum:
  mesh: {{type: file, path: plate.vtu}}
  material: {{type: isotropic, E: 60.0, nu: 0.25}}
  density: 1.0
integrator: {{type: verlet, dt: {dt}, steps: {steps}}}
output: {{every: {every}, fields: [displacement]}}
"""


def test_fingerprint_lists_differing_keys_and_input_file_content(tmp_path):
    import meshio

    from multiscale.deck import load_deck
    from multiscale.output.checkpoint import deck_fingerprint, fingerprint_differences

    pts = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    meshio.write(tmp_path / "plate.vtu", meshio.Mesh(pts, [("quad", np.array([[0, 1, 2, 3]]))]))

    def fp(**kw):  # noqa: ANN003, ANN202
        args = {"title": "a", "dt": 0.01, "steps": 10, "every": 5, **kw}
        (tmp_path / "d.yaml").write_text(PLATE.format(**args))
        return deck_fingerprint(load_deck(tmp_path / "d.yaml"))

    base = fp()
    assert "continuum.mesh.path (sha256)" in base and base["integrator.dt"] == "0.01"
    assert fingerprint_differences(base, fp()) == []
    # run length, output cadence and title may change on a restart
    assert fingerprint_differences(base, fp(title="b", steps=20, every=2)) == []
    assert fingerprint_differences(base, fp(dt=0.02)) == ["integrator.dt: 0.01 -> 0.02"]
    pts[2, 0] = 1.0 + 1e-12                          # the same file name, another mesh
    meshio.write(tmp_path / "plate.vtu", meshio.Mesh(pts, [("quad", np.array([[0, 1, 2, 3]]))]))
    diff = fingerprint_differences(base, fp())
    assert len(diff) == 1 and diff[0].startswith("continuum.mesh.path (sha256): ")


def _old_record_digest(h, value):  # noqa: ANN001, ANN202
    """The checksum's record of an array as format 2 defined it (payload built with ``tobytes``): the
    reference of the streamed digest."""
    a = np.asarray(value)
    payload = f"{a.dtype.str}{a.shape}".encode() + np.ascontiguousarray(a).tobytes()
    t = "ndarray" if isinstance(value, np.ndarray) else "npscalar"
    h.update(t.encode() + b"\0" + struct.pack("<Q", len(payload)) + payload)


@pytest.mark.parametrize("value", [
    np.arange(12.0).reshape(3, 4), np.arange(12.0).reshape(3, 4).T,
    np.arange(24).reshape(2, 3, 4)[:, ::2, 1:], np.zeros((0, 3)), np.array(2.5), np.float32(1.5),
    np.array([True, False, True]), np.arange(6, dtype=">i4"),
    (np.arange(3000.0).reshape(1000, 3) + 1j)[::-3]])
def test_streamed_array_digest_equals_the_tobytes_record(value, monkeypatch):
    """`_digest` hashes arrays in place / in pieces (no copy of the state): the same SHA-256 as the record
    built from ``tobytes()`` (so checkpoints written before stay verifiable), also for non-contiguous
    arrays cut into several pieces."""
    import hashlib

    from multiscale.output import checkpoint as ck

    monkeypatch.setattr(ck, "_HASH_CHUNK", 64)      # non-contiguous arrays in several pieces
    h_new, h_old = hashlib.sha256(), hashlib.sha256()
    ck._digest(h_new, value)
    _old_record_digest(h_old, value)
    assert h_new.hexdigest() == h_old.hexdigest()
