"""`parallel.rank_sites`: each rank's own kept sites of a coupled deck (positions, types, β̄, pads, coupled
masses, global and free ids) and the replicated handshake band, from the deck-level pieces only — bitwise
the serial `build_model`'s arrays at those ids, on 1 rank in process and under ``mpiexec -n 2`` and ``-n 3``
(tests/parallel/mpi_rank_sites_driver.py), for the coupled gallery decks with a lattice region, rotated
lattices, non-box cores and random wave2d variants; the decks it does not cover are refused with a key.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_mpi_run import MPIEXEC, _env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DECKS = ROOT / "decks"
WAVE2D = DECKS / "wave2d.yaml"
SMOKE3D = HERE / "decks" / "coupled3d_smoke.yaml"

#: the coupled gallery decks with a lattice region that the per-rank build covers
GALLERY = [DECKS / f"{n}.yaml" for n in (
    "wave2d", "wave2d_sharp", "wave2d_lammps_cb", "patch2d", "thermal2d", "crack2d_coupled",
    "crack2d_coupled_small", "indent2d", "indent2d_small", "indent2d_dyn_T", "indent2d_dyn_T_equil",
    "indent3d", "indent3d_small")] + [HERE / "decks" / "coupled3d_smoke.yaml",
                                      HERE / "decks" / "coupled3d_eam.yaml"]


#: slab faces just outside the handshake's outer edge (wave2d: |x| = 20; the rotated sphere core: 22.5), where
#: the pads of one slab have their weighted neighbours only in the other: the halo decides their verdict
EDGE_CUTS = {2: "cut=21.0", 3: "cut=-21.3,23.2"}


def _write(tmp: Path, name: str, d: dict) -> Path:
    d.pop("expect", None)
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def variants(tmp: Path) -> list[Path]:
    """Rotated lattices and non-box cores (2D and 3D) and random wave2d variants (handshake box, width and
    blend drawn; seed fixed)."""
    out = []
    d = yaml.safe_load(WAVE2D.read_text())
    d["atoms"]["lattice"]["orient"] = 17.0
    d["handshake"]["shape"] = {"type": "sphere", "center": [0.5, -0.3], "radius": 14.5}
    out.append(_write(tmp, "wave2d_rot_sphere", d))
    d = yaml.safe_load(WAVE2D.read_text())
    d["atoms"]["lattice"]["orient"] = -31.0
    d["handshake"]["shape"] = {"type": "difference", "shapes": [
        {"type": "box", "lo": [-13.0, -13.0], "hi": [13.0, 13.0]},
        {"type": "sphere", "center": [13.0, 13.0], "radius": 2.5}]}
    d["handshake"]["blend"] = {"type": "quintic"}
    out.append(_write(tmp, "wave2d_rot_difference", d))
    d = yaml.safe_load(WAVE2D.read_text())
    d["handshake"]["shape"] = {"type": "union", "shapes": [
        {"type": "box", "lo": [-12.0, -12.0], "hi": [12.0, 12.0]},
        {"type": "sphere", "center": [12.0, 0.0], "radius": 4.0}]}
    d["atoms"]["region"] = {"type": "difference", "shapes": [
        {"type": "box", "lo": [-30.0, -30.0], "hi": [30.0, 30.0]},
        {"type": "sphere", "center": [0.0, 0.0], "radius": 3.0}]}
    out.append(_write(tmp, "wave2d_union_holed", d))
    s = yaml.safe_load(SMOKE3D.read_text())
    s["atoms"]["lattice"]["orient"] = [[1, 1, 0], [-1, 1, 0], [0, 0, 1]]
    s["handshake"]["shape"] = {"type": "union", "shapes": [
        {"type": "box", "lo": [5.0, 5.0, 8.0], "hi": [16.0, 16.0, 30.0]},
        {"type": "sphere", "center": [10.5, 10.5, 8.0], "radius": 3.0}]}
    out.append(_write(tmp, "smoke3d_rot_union", s))
    rng = np.random.default_rng(14)
    for k in range(4):
        d = yaml.safe_load(WAVE2D.read_text())
        lo = -rng.uniform(10.5, 14.0, 2)
        hi = rng.uniform(10.5, 14.0, 2)
        d["handshake"]["shape"] = {"type": "box", "lo": lo.round(3).tolist(), "hi": hi.round(3).tolist()}
        d["handshake"]["width"] = float(round(rng.uniform(3.0, 9.0), 3))
        d["handshake"]["blend"] = {"type": str(rng.choice(["linear", "cubic", "quintic"]))}
        out.append(_write(tmp, f"wave2d_random{k}", d))
    return out


def serial(path: Path) -> dict:
    """The serial model's arrays (all atoms) and its band's global ids."""
    from multiscale.build import build_model
    from multiscale.deck import load_deck
    m = build_model(load_deck(path))
    s = m.system
    free_id = np.full(m.atoms.n, -1, np.int64)
    free_id[s.free] = np.arange(s.n_free)
    return {"X": m.atoms.X, "types": m.atom_types, "weight": s.atom_weight, "pad": s.pad,
            "mass": s.atom_mass, "mass_full": np.asarray(m.atoms.mass, float), "free_id": free_id,
            "site_id": np.asarray(m.site_ids, np.int64),
            "band": np.sort(np.concatenate([s.pad_idx, s.free[s.constrained]])), "n_free": s.n_free,
            "G": None if s.G is None else s.G.tocsr(), "pad_idx": s.pad_idx.astype(np.int64),
            "gid_constrained": s.free[s.constrained].astype(np.int64), "node_mass": s.node_mass}


def mismatches(z: dict, c: int, ranks: int, ref: dict) -> list[str]:
    """What differs between the ranks' arrays of deck c in the driver's output ``z`` and the serial ``ref``
    (empty: every field bitwise equal, every atom owned once, the band equal; a rank may hold no atom
    when the kept atoms do not reach its slab: indent2d on 3 ranks)."""
    bad = []
    gids = [z[f"{c}/{r}/gid"] for r in range(ranks)]
    n = len(ref["X"])
    if not np.array_equal(np.sort(np.concatenate(gids)), np.arange(n)):
        bad.append("gid")
        return bad
    if int(z[f"{c}/n_atoms"]) != n or int(z[f"{c}/n_free"]) != ref["n_free"]:
        bad.append("counts")
    bounds = z[f"{c}/bounds"]
    for r, g in enumerate(gids):
        if not np.array_equal(g, np.sort(g)):
            bad.append(f"rank {r} order")
        x0 = z[f"{c}/{r}/X"][:, 0]
        if (r > 0 and np.any(x0 < bounds[r])) or (r < ranks - 1 and np.any(x0 >= bounds[r + 1])):
            bad.append(f"rank {r} slab")
        for k in ("X", "types", "weight", "pad", "mass", "mass_full", "free_id", "site_id"):
            if not np.array_equal(z[f"{c}/{r}/{k}"], ref[k][g]):
                bad.append(f"{k} rank {r}")
    b = ref["band"]
    if not np.array_equal(z[f"{c}/band/gid"], b):
        bad.append("band gid")
    else:
        for k in ("X", "free_id", "weight", "pad", "mass", "mass_full"):
            if not np.array_equal(z[f"{c}/band/{k}"], ref[k][b]):
                bad.append(f"band {k}")
    if f"{c}/bs/indptr" in z:           # the band system built from the band (no serial model)
        G = ref["G"]
        if not (np.array_equal(z[f"{c}/bs/indptr"], G.indptr)
                and np.array_equal(z[f"{c}/bs/indices"], G.indices)
                and np.array_equal(z[f"{c}/bs/data"], G.data) and tuple(z[f"{c}/bs/shape"]) == G.shape):
            bad.append("band system G")
        for k in ("pad_idx", "gid_constrained", "node_mass"):
            if not np.array_equal(z[f"{c}/bs/{k}"], ref[k]):
                bad.append(f"band system {k}")
        if not np.array_equal(z[f"{c}/bs/atom_mass"], ref["mass"][b]):
            bad.append("band system atom_mass")
        if not bool(z[f"{c}/bs_same"]):
            bad.append("band system differs between ranks")
    if not bool(z[f"{c}/band_same"]):
        bad.append("band differs between ranks")
    return bad


def _drive(tmp: Path, ranks: int, specs: list[str], brk: str = "") -> dict:
    out = tmp / f"rank_sites_{ranks}_{brk or 'ok'}.npz"
    env = _env()
    if brk:
        env["BREAK"] = brk
    cmd = [str(MPIEXEC), "-n", str(ranks), sys.executable, str(HERE / "mpi_rank_sites_driver.py"), str(out),
           *specs]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    z = dict(np.load(out))
    assert int(z["size"]) == ranks
    return z


@pytest.mark.parametrize("ranks", [2, 3])
def test_rank_sites_bitwise_serial(tmp_path: Path, ranks: int) -> None:
    """Under ``mpiexec -n 2`` / ``-n 3``, for every coupled gallery deck with a lattice region (2D and 3D),
    rotated lattices with sphere / difference / union cores (2D, 3D), a region with a hole, four random
    wave2d variants, and wave2d and the rotated ones with the slab faces moved onto planes of sites: the
    union over the ranks of (gid, X, type, β̄, pad, coupled mass, mass, free id) is the serial model's,
    bit for bit, each atom once, in its slab (on every rank for wave2d); every rank holds the same band,
    the serial one (the pads and the non-pad atoms of the handshake, by gid, with X, free id, β̄, pad,
    mass). Slab faces: the engine's, on planes of sites, and just outside the handshake (`EDGE_CUTS`).
    Steps 2–4 together: `BandSystem` (step 4) built on every rank from that band, the deck's mesh and
    coupling (no serial model anywhere) gives the serial G, pads, atoms of H, node and atom masses bitwise
    (every deck but those whose coupling it refuses: ghost_corrected, force_blend)."""
    specs = [str(p) for p in GALLERY + variants(tmp_path)]
    specs += [f"{WAVE2D}:plane", f"{tmp_path / 'wave2d_rot_sphere.yaml'}:plane",
              f"{tmp_path / 'smoke3d_rot_union.yaml'}:plane", f"{WAVE2D}:{EDGE_CUTS[ranks]}",
              f"{tmp_path / 'wave2d_rot_sphere.yaml'}:{EDGE_CUTS[ranks]}"]
    z = _drive(tmp_path, ranks, specs)
    assert all(z[f"0/{r}/gid"].size > 0 for r in range(ranks))         # wave2d: every rank holds atoms
    n_bs = sum(f"{c}/bs/indptr" in z for c in range(len(specs)))
    assert n_bs >= len(specs) - 3, n_bs          # the band system built on all but the refused couplings
    failed = {}
    for c, spec in enumerate(specs):
        bad = mismatches(z, c, ranks, serial(Path(spec.partition(":")[0])))
        if bad:
            failed[spec] = bad
    assert not failed, failed


@pytest.mark.parametrize("brk", ["halo0", "nofreecounts"])
def test_rank_sites_broken_on_purpose_fails(tmp_path: Path, brk: str) -> None:
    """The checks of `test_rank_sites_bitwise_serial` see a broken build on 2 ranks, wave2d and the rotated
    sphere-core variant: a halo of 0 with the slabs cut at x = 21, just outside the handshake (the pads
    beyond the face lose their weighted neighbours, all on the other rank: atoms missing), and free ids
    numbered without the other ranks' per-row pad counts, cut at x = 0 (both ranks hold free atoms)."""
    v = variants(tmp_path)
    cut = f":{EDGE_CUTS[2]}" if brk == "halo0" else ""
    specs = [f"{WAVE2D}{cut}", f"{v[0]}{cut}"]
    z = _drive(tmp_path, 2, specs, brk)
    for c, spec in enumerate(specs):
        bad = mismatches(z, c, 2, serial(Path(spec.partition(":")[0])))
        print(brk, spec, bad)
        assert bad and (brk == "halo0" or all(b.startswith(("free_id", "band free_id")) for b in bad)), \
            (brk, spec, bad)


@pytest.mark.parametrize("name", ["wave2d", "coupled3d_smoke"])
def test_rank_sites_one_rank_in_process(name: str) -> None:
    """One rank (`SerialComm`), in process: every kept site with its serial id 0..n−1 and the serial
    arrays bitwise; the band is the serial band."""
    from multiscale.deck import load_deck
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.rank_sites import handshake_band, rank_sites_from_deck
    path = WAVE2D if name == "wave2d" else SMOKE3D
    ref = serial(path)
    rs, hs, dec = rank_sites_from_deck(load_deck(path), SerialComm())
    np.testing.assert_array_equal(rs.gid, np.arange(len(ref["X"])))
    assert rs.n_atoms == len(ref["X"]) and rs.n_free == ref["n_free"]
    for k in ("X", "types", "weight", "pad", "mass", "mass_full", "free_id", "site_id"):
        np.testing.assert_array_equal(getattr(rs, k), ref[k], err_msg=k)
    band = handshake_band(rs, hs, SerialComm())
    np.testing.assert_array_equal(band.gid, ref["band"])
    for k in ("X", "free_id", "weight", "pad", "mass", "mass_full"):
        np.testing.assert_array_equal(getattr(band, k), ref[k][ref["band"]], err_msg=k)
    assert 0 < band.gid.size < rs.n_atoms


def test_rank_sites_refusals(tmp_path: Path) -> None:
    """Decks the per-rank build does not cover are refused with the deck key: a 1D chain, relax_atoms, a
    structure file (pure MD: no handshake), periodic atoms, a cylinder core, a half-space cut of the atoms'
    region; the covered decks are not refused."""
    from multiscale.deck import load_deck
    from multiscale.parallel.rank_sites import rank_sites_refusal
    d = yaml.safe_load(WAVE2D.read_text())
    d["atoms"]["boundary"] = ["p", "f"]
    periodic = _write(tmp_path, "periodic", d)
    d = yaml.safe_load(WAVE2D.read_text())
    d["handshake"]["shape"] = {"type": "cylinder", "center": [0.0, 0.0], "radius": 12.0}
    cyl = _write(tmp_path, "cyl", d)
    d = yaml.safe_load(WAVE2D.read_text())
    d["atoms"]["region"] = {"type": "difference", "shapes": [
        {"type": "box", "lo": [-30.0, -30.0], "hi": [30.0, 30.0]},
        {"type": "halfspace", "point": [0.0, 29.0], "normal": [0.0, -1.0]}]}
    half = _write(tmp_path, "half", d)
    cases = {DECKS / "wave1d.yaml": "atoms.lattice", DECKS / "indent3d_ml_small.yaml":
             "continuum.surface_stress.relax_atoms", DECKS / "ni3al_file_md.yaml": "handshake",
             periodic: "atoms.boundary", cyl: "handshake.shape", half: "atoms.region"}
    for path, key in cases.items():
        r = rank_sites_refusal(load_deck(path))
        assert r is not None and r[0] == key and r[1], (path, r)
    for path in GALLERY + variants(tmp_path):
        assert rank_sites_refusal(load_deck(path)) is None, path

