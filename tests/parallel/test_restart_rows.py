"""`parallel.restart_rows`: a checkpoint (or a results frame) read by global id, each rank its own rows —
against today's restart of the spatial path (every rank loads the whole checkpoint,
`SpatialIntegrator.set_state`) on 1, 2 and 3 ranks (tests/parallel/mpi_restart_rows_driver.py), both modes
("rows": each rank reads its row blocks; "scatter": rank 0 reads and sends); the model check over the rows
(`reference_mismatch`) giving the serial message; the streamed verification equal to `load_checkpoint`'s
and refusing a damaged file; a results frame's rows equal to `read_origin`'s.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from mpi_helpers import ROOT, deck_dict, msim, ok, run_driver, write_deck

from multiscale.errors import DeckError
from multiscale.output.checkpoint import load_checkpoint
from multiscale.parallel.comm import SerialComm
from multiscale.parallel.restart_rows import (
    PER_ATOM,
    read_checkpoint_rows,
    read_results_rows,
    verify_checkpoint,
)

DRIVER = "mpi_restart_rows_driver.py"


@pytest.fixture(scope="module")
def run_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(deck, checkpoint, results file) of a serial run of wave2d with a Langevin thermostat (thermostat
    forces in the checkpoint), 20 steps, a checkpoint at step 20."""
    tmp = tmp_path_factory.mktemp("restart_rows")
    d = deck_dict(ROOT / "decks" / "wave2d.yaml")
    d["integrator"] = {"type": "verlet", "dt": 0.01, "steps": 20,
                       "thermostat": {"type": "langevin", "temperature": 0.01, "damp": 1.0}}
    d["output"] = {"every": 10, "thermo_every": 10, "checkpoint_every": 20,
                   "fields": ["displacement", "velocity"]}
    deck = write_deck(d, tmp / "wave2d_th.yaml")
    out = tmp / "out.h5"
    ok(msim(0, str(deck), "-o", str(out)))
    ck = out.with_name("out.checkpoint.h5")
    assert ck.exists()
    return deck, ck, out


def _same(a, b) -> bool:  # noqa: ANN001
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray | np.generic):
        return a.dtype == np.asarray(b).dtype and np.array_equal(a, b)
    if isinstance(a, np.random.Generator):
        return a.bit_generator.state == b.bit_generator.state
    return a == b


def test_rows_one_rank_in_process(run_files: tuple[Path, Path, Path]) -> None:
    """Any ids, any order (repeats too): the rows bitwise the whole arrays' at those ids; the state without
    the per-atom arrays bitwise `load_checkpoint`'s; small blocks (many hyperslabs)."""
    _, ck, _ = run_files
    st = load_checkpoint(ck)
    n = st["integrator"]["x"].shape[0]
    gid = np.random.default_rng(2).integers(0, n, 777)
    for block in (5, 64, 1 << 16):
        rr = read_checkpoint_rows(ck, gid, SerialComm(), keys=PER_ATOM[:5] + PER_ATOM[7:], block=block)
        assert rr.n_atoms == n
        for k, arr in rr.rows.items():
            grp, key = k.split("/")
            assert np.array_equal(arr, st[grp][key][gid]), k
            assert arr.dtype == st[grp][key].dtype
        assert set(rr.rows) == {k for k in PER_ATOM[:5] + PER_ATOM[7:]}
        small = {**st, "integrator": {k: v for k, v in st["integrator"].items()
                                      if f"integrator/{k}" not in PER_ATOM},
                 "model": {k: v for k, v in st["model"].items() if f"model/{k}" not in PER_ATOM}}
        assert _same(small, rr.state)
    assert abs(float(np.max(np.abs(st["integrator"]["fext_atoms"])))) > 0.0   # the thermostat's forces


def test_streamed_verification_refuses_damage(run_files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The streamed state checksum (arrays hashed in blocks of 3 rows) is the stored one; a damaged copy is
    refused with `load_checkpoint`'s message (file digest), and a copy whose state was changed and whose file
    digest was recomputed is refused by the state checksum."""
    _, ck, _ = run_files
    meta = verify_checkpoint(ck, SerialComm(), block=3)
    assert "deck" in meta
    bad = tmp_path / "bad.h5"
    shutil.copy(ck, bad)
    raw = bytearray(bad.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    bad.write_bytes(bytes(raw))
    with pytest.raises(DeckError, match="damaged checkpoint"):
        verify_checkpoint(bad, SerialComm(), block=3)
    # a state change with a re-made file digest: only the state checksum can see it
    import h5py

    from multiscale.output.checkpoint import _MAGIC, _USERBLOCK, _file_digest
    forged = tmp_path / "forged.h5"
    shutil.copy(ck, forged)
    with h5py.File(forged, "r+") as f:
        ds = f["state/integrator/v"]
        v = ds[()]
        v[3, 0] += 1e-3
        ds[...] = v
    with open(forged, "rb+") as fh:
        fh.seek(_USERBLOCK)
        digest = _file_digest(fh)
        fh.seek(0)
        fh.write((_MAGIC + digest.encode() + b"\n").ljust(_USERBLOCK, b"\0"))
    with pytest.raises(DeckError, match="checksum of its state"):
        load_checkpoint(forged)
    with pytest.raises(DeckError, match="checksum of its state"):
        verify_checkpoint(forged, SerialComm(), block=3)


def test_results_frame_rows(run_files: tuple[Path, Path, Path]) -> None:
    """``--from OUT.h5[:STEP]``: the rows equal `read_origin`'s arrays at the ids (x = X + u, v), U and V."""
    from multiscale.output.continuation import read_origin
    _, _, out = run_files
    for step in (10, None):
        spec = f"{out}:{step}" if step is not None else str(out)
        o = read_origin(spec, need_velocities=True)
        gid = np.random.default_rng(4).permutation(o.x.shape[0])[:500]
        rr = read_results_rows(out, gid, SerialComm(), step=step, block=37)
        assert np.array_equal(rr.rows["x"], o.x[gid]) and np.array_equal(rr.rows["v"], o.v[gid])
        assert np.array_equal(rr.rows["reference"], o.reference[gid])
        assert np.array_equal(rr.state["U"], o.U) and np.array_equal(rr.state["V"], o.V)


@pytest.mark.parametrize("ranks", [0, 2, 3])
def test_against_todays_spatial_restart(ranks: int, run_files: tuple[Path, Path, Path],
                                        tmp_path: Path) -> None:
    """Each rank's rows (both modes) at the engine's owned ids after today's restart: x, v of the non-pad
    atoms and the thermostat's restart forces bitwise the engine's; the reference positions the engine's X;
    every atom owned once; every rank's small state bitwise the checkpoint's."""
    deck, ck, _ = run_files
    out = tmp_path / f"rr{ranks}.npz"
    z = run_driver(DRIVER, ranks, deck, ck, out, out=out, timeout=600)
    n = load_checkpoint(ck)["integrator"]["x"].shape[0]
    assert int(z["size"]) == max(ranks, 1)
    assert np.array_equal(np.sort(z["gid"]), np.arange(n))
    assert z["small_same"].all()
    live = ~z["pad"]
    for mode in ("rows", "scatter"):
        assert np.array_equal(z[f"{mode}_x"][live], z["x"][live]), mode
        assert np.array_equal(z[f"{mode}_v"][live], z["v"][live]), mode
        assert np.array_equal(z[f"{mode}_fext_atoms"], z["fext"]), mode
        assert np.array_equal(z[f"{mode}_reference_positions"], z["X"]), mode
    assert float(np.max(np.abs(z["fext"]))) > 0.0
    # the model check over the rows: no message for the deck's own sites, the serial message for a moved atom
    assert z["owned_same"].all()          # `owned_gids`: the engine's owned ids of today's restart
    assert z["check_same"].all(), z["check_msg"]
    assert "atom 5:" in str(z["check_msg"][0])
