"""`parallel.initial_velocity`: ``atoms.velocity`` (Maxwell–Boltzmann) drawn per rank from the rank's own rows
(free ids, coupled masses) — the raw normals bitwise the serial draw's, the velocities within round-off
(≤ 1e-15 of max |v|) of the serial `build_model`'s ``atoms.v``, on 1 rank in process and under
``mpiexec -n 2`` and ``-n 3`` (tests/parallel/mpi_initial_velocity_driver.py): wave2d with a temperature,
the 3D smoke deck, the smoke deck with a mass floor (113 floored atoms) and a synthetic case with massless free atoms (mixed
chunks), random ownership and 103 chunks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi_helpers import HERE, ROOT, deck_dict, run_driver, write_deck

from multiscale.md.velocities import maxwell_boltzmann
from multiscale.parallel.comm import SerialComm
from multiscale.parallel.initial_velocity import maxwell_boltzmann_rows, normal_rows, stream_positions

DRIVER = "mpi_initial_velocity_driver.py"
SMOKE = HERE / "decks" / "coupled3d_smoke.yaml"
#: the bar of the issue: the per-rank velocities within 1e-15 of the serial draw's largest component
BAR = 1e-15


def decks(tmp: Path) -> list[str]:
    d = deck_dict(ROOT / "decks" / "wave2d.yaml")
    d["atoms"]["velocity"] = {"temperature": 0.05, "seed": 11}
    wave = write_deck(d, tmp / "wave2d_T.yaml")
    s = deck_dict(SMOKE)
    s.pop("loads", None)
    s["handshake"]["coupling"] = {"type": "projected"}
    smoke_free = write_deck(s, tmp / "smoke_free.yaml")
    return [str(wave), str(SMOKE), f"{smoke_free}:floor=0.05", "synthetic"]


@pytest.mark.parametrize("size", [10, 97, 1000, 4096])
def test_chunked_draws_are_one_draw(size: int) -> None:
    """numpy's ``standard_normal`` in blocks of rows gives the bits of one big draw (what streaming rests
    on), and `normal_rows` picks any rows of it, in any order, at any block size."""
    n, d, seed = 5003, 3, 2026
    big = np.random.default_rng(seed).standard_normal((n, d))
    rng = np.random.default_rng(seed)
    parts = [rng.standard_normal((min(size, n - b), d)) for b in range(0, n, size)]
    assert np.array_equal(np.concatenate(parts), big)
    pos = np.random.default_rng(1).permutation(n)[:700]
    pos[::9] = -1
    got = normal_rows(pos, d, seed, chunk=size)
    assert np.array_equal(got[pos >= 0], big[pos[pos >= 0]])
    assert not got[pos < 0].any()


def test_positions_with_massless_atoms_one_rank() -> None:
    """Places in the stream = the number of live atoms (mass > 0) with a smaller free id, with mixed chunks
    (massless atoms), pads and rows in any order. Rows in free-id order: bitwise the serial draw (the sums
    over the same array in the same order); rows permuted: within round-off (the sums' order differs)."""
    rng = np.random.default_rng(3)
    n = 2000
    m = rng.uniform(0.5, 2.0, n)
    m[rng.random(n) < 0.1] = 0.0
    perm = rng.permutation(n)
    fid = np.concatenate([[-1], perm, [-1]])
    mass = np.concatenate([[0.0], m[perm], [0.0]])
    pos, nl = stream_positions(fid, mass, n, SerialComm(), chunk=37)
    live = m > 0
    want = np.full(n, -1)
    want[live] = np.arange(int(live.sum()))
    assert nl == int(live.sum())
    assert np.array_equal(pos[1:-1], want[perm]) and pos[0] == -1 and pos[-1] == -1
    ref = maxwell_boltzmann(m, 3, 2.5, 0.7, seed=99)
    v = maxwell_boltzmann_rows(np.arange(n), m, n, 3, 2.5, 0.7, 99, SerialComm(), chunk=37)
    assert np.array_equal(v, ref)               # free-id order: the serial sums' order
    v = maxwell_boltzmann_rows(fid, mass, n, 3, 2.5, 0.7, 99, SerialComm(), chunk=37)
    assert not v[[0, -1]].any()
    assert float(np.max(np.abs(v[1:-1] - ref[perm]))) <= BAR * float(np.max(np.abs(ref)))


def test_refuses_incomplete_ownership() -> None:
    with pytest.raises(ValueError, match="owned by exactly one rank"):
        stream_positions(np.arange(10), np.ones(10), 11, SerialComm())


@pytest.mark.parametrize("ranks", [0, 2, 3])
def test_per_rank_draw_matches_serial(ranks: int, tmp_path: Path) -> None:
    """Each case: every free id once over the ranks; raw normals bitwise the serial stream's rows; the
    velocities ≤ 1e-15 relative to the serial `build_model` draw (measured values printed)."""
    out = tmp_path / f"iv{ranks}.npz"
    specs = decks(tmp_path)
    z = run_driver(DRIVER, ranks, out, *specs, out=out, timeout=600)
    assert int(z["size"]) == max(ranks, 1)
    for c, spec in enumerate(specs):
        fid, v, raw, pos = z[f"{c}/free_id"], z[f"{c}/v"], z[f"{c}/raw"], z[f"{c}/pos"]
        ref_v, ref_m = z[f"{c}/ref_v"], z[f"{c}/ref_mass"]
        f = fid >= 0
        n_free = ref_v.shape[0]
        assert np.array_equal(np.sort(fid[f]), np.arange(n_free)), spec        # each free atom once
        assert not v[~f].any()
        assert float(np.max(np.abs(ref_v))) > 0.0, spec
        if "floor=" in spec:
            assert int(z[f"{c}/floored"]) > 0, spec          # the floor changed some masses
        live = ref_m > 0
        big = np.random.default_rng(int(z[f"{c}/seed"])).standard_normal((int(live.sum()), ref_v.shape[1]))
        where = np.full(n_free, -1)
        where[live] = np.arange(int(live.sum()))
        assert np.array_equal(pos[f], where[fid[f]]), spec
        lf = f & (pos >= 0)
        assert np.array_equal(raw[lf], big[pos[lf]]), spec                       # bitwise raw draws
        err = float(np.max(np.abs(v[f] - ref_v[fid[f]]))) / float(np.max(np.abs(ref_v)))
        print(f"{Path(spec).name} P={max(ranks, 1)}: n_free {n_free}, rows/rank "
              f"{z[f'{c}/rows_per_rank'].tolist()}, max|v - v_serial|/max|v_serial| = {err:.3g}")
        assert err <= BAR, (spec, err)
        if ranks == 0 and spec != "synthetic":
            assert err == 0.0, spec         # one rank: rows in gid order = free-id order, the serial sums
