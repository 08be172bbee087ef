"""``msim run --decompose spatial`` without the run phase's O(n) serial mirror (`run.spatial`): thermo from
reductions of the ranks' shares, frames and checkpoints gathered to rank 0 only, the serial region's
neighbour list never built on ranks > 0 (the time-step check runs on rank 0, which releases the list).

The results of 1- and 2-rank runs against the serial run are in tests/parallel/test_mpi_coupled_spatial.py;
here: what the ranks hold, the reduced temperatures on 2 ranks, and a 2-rank checkpoint restarted on 2
ranks (`SpatialIntegrator.set_state`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml
from mpi_helpers import HERE, ROOT, deck_dict, msim, ok, rel, results, run_driver, thermo, write_deck

WAVE2D = ROOT / "decks" / "wave2d.yaml"


def _deck(tmp_path: Path, steps: int, **output) -> Path:  # noqa: ANN003
    d = deck_dict(WAVE2D)
    d["integrator"]["steps"] = steps
    d["output"].update(output)
    return write_deck(d, tmp_path / "wave2d.yaml")


def test_ranks_hold_no_serial_mirror(tmp_path: Path) -> None:
    """A 2-rank spatial run (300 steps, thermo and frames every 100): on rank 1 the serial atoms' x, v and
    the serial accelerations are never written (no per-call allgather of all atoms) and on no rank is the
    serial region's neighbour list left built (rank 1 never builds it: the time-step check runs on rank
    0, which releases it); rank 0's serial arrays were written (the frames' gathers); both ranks own
    atoms. The results file is a serial one (the frames' fields and thermo rows of the serial run)."""
    deck = _deck(tmp_path, 300, every=100, thermo_every=100)
    out, rep = tmp_path / "two.h5", tmp_path / "report.npz"
    r = run_driver("mpi_spatial_memory_driver.py", 2, deck, out, rep, out=rep, timeout=600)
    print({k: v.tolist() for k, v in r.items()})
    assert np.all(r["n_own"] > 0)
    assert not np.any(r["list_built"])
    assert r["x_untouched"][1] and r["v_untouched"][1] and r["acc_untouched"][1]
    assert not r["x_untouched"][0] and not r["acc_untouched"][0]
    ser = tmp_path / "serial.h5"
    ok(msim(0, str(deck), "-o", str(ser)))
    a, b = results(ser), results(out)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape, k


def test_temperatures_two_ranks(tmp_path: Path) -> None:
    """The reduced observables of a 2-rank spatial run (the temperature of the free atoms, of the core,
    handshake and pad groups and of the mesh; 300 steps, every 50) against the serial run's:
    ≤ 1e-10 relative to each series' largest value (the pads' and the mesh's come from the replicated
    U, V; the atoms' from the owned velocities, summed over the ranks)."""
    deck = _deck(tmp_path, 300, every=300, thermo_every=50)
    ser, two = tmp_path / "serial.h5", tmp_path / "two.h5"
    ok(msim(0, str(deck), "-o", str(ser)))
    ok(msim(2, str(deck), "-o", str(two), "--decompose", "spatial"))
    a, b = results(ser), results(two)
    names = [k for k in a if k.startswith("observables/") and "temperature" in k]
    assert {n.split("/")[-1] for n in names} >= {"temperature", "temperature_core", "temperature_handshake",
                                                 "temperature_pad", "temperature_continuum"}, names
    for k in names:
        assert b[k].shape == a[k].shape, k
        err = float(np.max(np.abs(b[k] - a[k])) / np.max(np.abs(a[k])))
        print(k, err)
        assert err <= 1e-10, k


def test_spatial_checkpoint_restarts_on_two_ranks(tmp_path: Path) -> None:
    """A 2-rank spatial run writes its checkpoint at step 200 (gathered to rank 0); a 2-rank spatial
    restart from it (every rank reads the checkpoint, the atoms are redistributed) runs to 400 and ends
    within round-off of a straight serial 400-step run: positions ≤ 1e-12 relative, thermo energies
    ≤ 1e-12 of their largest values, the thermo rows of both halves in the one results file."""
    from multiscale.output.reader import ResultsReader
    deck = _deck(tmp_path, 400, every=100, thermo_every=50, checkpoint_every=200)
    ref, out = tmp_path / "ref.h5", tmp_path / "run.h5"
    ok(msim(0, str(deck), "-o", str(ref)))
    ok(msim(2, str(deck), "-o", str(out), "--steps", "200", "--decompose", "spatial"))
    ck = tmp_path / "run.checkpoint.h5"
    assert ck.exists()
    ok(msim(2, str(deck), "-o", str(out), "--restart", str(ck), "--decompose", "spatial"))
    with ResultsReader(ref) as r, ResultsReader(out) as q:
        xa = np.asarray(r.field("atoms", "displacement"))
        xb = np.asarray(q.field("atoms", "displacement"))
        X = np.asarray(r.static()["atoms"]["reference_positions"])
    assert xa.shape == xb.shape
    assert rel(X + xb[-1], X + xa[-1]) <= 1e-12
    ta, tb = thermo(ref), thermo(out)
    for k in ("total", "kinetic_atoms", "potential_atoms", "potential_continuum"):
        assert ta[k].shape == tb[k].shape, k
        assert float(np.max(np.abs(tb[k] - ta[k]))) <= 1e-12 * float(np.max(np.abs(ta[k]))), k


def test_engine_weights_skip_certain_unit_pairs() -> None:
    """The engine's bond weights of wave2d's atoms (one rank, `SerialComm`): the entries that the
    handshake's ``certain_unit`` declares exactly 1.0 (both atoms deep inside the core, no image shift)
    are neither computed nor cached — the cache holds the other entries only — and every weight is bitwise
    the one computed for every entry with the function (``certain=False``, no cache) and the serial
    region's weight of that pair."""
    from mpi_coupled_spatial_driver import prepared

    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.engine import DistributedMD
    from multiscale.parallel.weights import entry_weights, local_bond_fn
    sim = prepared(str(WAVE2D))
    a, hs = sim.model.atoms, sim.model.system.handshake
    n = a.n
    md = DistributedMD(SerialComm(), np.array(a.x), np.zeros_like(a.x), np.ones(n), np.arange(n), a.potential,
                       a.box, a.nlist.skin, site_w=a.site_w, X_ref=a.X, bond_weight_fn=hs.bond_weight_fn)
    m = int(md.list.neighbors.size)
    fn = local_bond_fn(hs.bond_weight_fn, md.X_ref)
    i = np.repeat(np.arange(md.n_loc), np.diff(md.list.offsets))
    j = md.list.neighbors.astype(np.int64)
    unit = fn.certain_unit(i, j)
    assert 0 < int(unit.sum()) < m
    assert md._bw_cache.keys.size == m - int(unit.sum())
    lp = np.zeros(md.d)
    every = entry_weights(lambda: fn, md.list, md.X_ref, md._img_loc, md._gshift, md.period, lp,
                          certain=False)
    np.testing.assert_array_equal(md.bond_w, every)
    np.testing.assert_array_equal(md.bond_w[unit], 1.0)
    # the serial region's weights of the same pairs (its list at the same positions)
    a.rebuild()
    si, sj = a.nlist.pairs()
    ser = dict(zip(zip(np.minimum(si, sj).tolist(), np.maximum(si, sj).tolist()), a.bond_w.tolist()))
    gi, gj = md.gid[i], md.gid[j]
    got = [ser[(min(p, q), max(p, q))] for p, q in zip(gi.tolist(), gj.tolist())]
    np.testing.assert_array_equal(md.bond_w, np.array(got))


# ------------------------------------------------------------------------ per-rank build: slab sites
import pytest  # noqa: E402


@pytest.mark.parametrize("ranks", [2, 3])
def test_slab_sites_serial_ids(tmp_path: Path, ranks: int) -> None:
    """`parallel.slab_sites.slab_sites` on 2 and 3 ranks (slabs along x, one cut on a plane of sites):
    for a hexagonal lattice, a rotated one with a hole (kept sites: a pointwise predicate) and a rotated
    fcc crystal with a hole, the ranks' sites together are the serial `sites_in_box` sites (kept ones),
    each once, and each site's global id is its serial index: X and sublattice bitwise equal to the
    serial arrays at those indices; every rank holds some."""
    sys.path.insert(0, str(HERE))
    from mpi_slab_sites_driver import CASES, keep_fn

    from multiscale.md.lattice import Lattice
    out = tmp_path / "slab.npz"
    z = run_driver("mpi_slab_sites_driver.py", ranks, out, out=out, timeout=600)
    assert int(z["size"]) == ranks
    for name, (kind, a, orient, lo, hi, keep) in CASES.items():
        lat = Lattice(kind, a, orient=orient)
        X, sub = lat.sites_in_box(np.array(lo), np.array(hi), sublattice=True)
        if keep is not None:
            k = keep_fn(keep)(X, sub)
            X, sub = X[k], sub[k]
        gids = [z[f"{name}/{r}/gid"] for r in range(ranks)]
        assert all(g.size > 0 for g in gids), name
        allg = np.concatenate(gids)
        np.testing.assert_array_equal(np.sort(allg), np.arange(len(X)), err_msg=name)
        for r in range(ranks):
            g = z[f"{name}/{r}/gid"]
            np.testing.assert_array_equal(z[f"{name}/{r}/X"], X[g], err_msg=f"{name} rank {r}")
            np.testing.assert_array_equal(z[f"{name}/{r}/sub"], sub[g], err_msg=f"{name} rank {r}")


def test_time_step_refused_on_every_rank(tmp_path: Path) -> None:
    """The time-step check of a spatial run is made on rank 0 only (`check_time_step_root`) but refuses
    on every rank: a too large dt under `mpiexec -n 2 ... --decompose spatial` exits 2 with one message
    naming ``integrator.dt`` (no hang of the rank that did not check, no traceback)."""
    d = deck_dict(WAVE2D)
    d["integrator"]["dt"] = 1.0
    deck = write_deck(d, tmp_path / "bigdt.yaml")
    p = msim(2, str(deck), "-o", str(tmp_path / "r.h5"), "--decompose", "spatial")
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.count("integrator.dt: time step") == 1, p.stderr[-2000:]
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("ranks", [2, 3])
def test_engine_built_from_each_ranks_own_atoms(tmp_path: Path, ranks: int) -> None:
    """`SpatialCoupled` gives each rank's engine its own slab's atoms (no rank hands out all atoms, none
    migrates at the first rebuild): on 2 and 3 ranks of wave2d every rank's owned rows after construction
    are bitwise the serial arrays at their global ids (x, v — pads at rest —, coupled mass, site weight,
    reference position), every atom is owned once, each rank's atoms lie in its slab, no atom migrated."""
    sys.path.insert(0, str(HERE))
    from mpi_coupled_spatial_driver import prepared
    out = tmp_path / "build.npz"
    z = run_driver("mpi_spatial_build_driver.py", ranks, WAVE2D, out, out=out, timeout=600)
    assert int(z["size"]) == ranks
    sim = prepared(str(WAVE2D))
    a, s = sim.model.atoms, sim.model.system
    v = a.v.copy()
    v[s.pad_idx] = 0.0
    ref = {"x": a.x, "v": v, "mass": s.atom_mass, "site_w": a.site_w, "X_ref": a.X}
    gids = [z[f"{r}/gid"] for r in range(ranks)]
    np.testing.assert_array_equal(np.sort(np.concatenate(gids)), np.arange(a.n))
    for r, g in enumerate(gids):
        assert g.size > 0 and int(z[f"{r}/migrated"]) == 0, r
        lo, hi = z[f"{r}/slab"]
        x0 = z[f"{r}/x"][:, 0]
        assert (r == 0 or np.all(x0 >= lo)) and (r == ranks - 1 or np.all(x0 < hi)), r
        for k, arr in ref.items():
            np.testing.assert_array_equal(z[f"{r}/{k}"], arr[g], err_msg=f"{k} rank {r}")


def test_temperature_counts_free_components_two_ranks(tmp_path: Path) -> None:
    """rev32 F13 on the spatial path: wave2d with the x component of a strip of atoms (core and handshake)
    held by a `fixed` load; the 2-rank spatial `temperature` (dof = free components of the integrated
    atoms − d, counted over the ranks) equals the serial run's to 1e-10 of its largest value. Before the
    fix both counted d per atom; the serial figure itself is checked against 2K/(k_B dof) in
    tests/run/test_temperature_dof.py."""
    d = yaml.safe_load(WAVE2D.read_text())
    d.pop("expect", None)
    d["integrator"]["steps"] = 100
    d["output"].update(every=100, thermo_every=20)
    d["loads"].append({"type": "fixed", "label": "strip", "components": ["x"],
                       "region": {"type": "box", "lo": [-3.0, -60.0], "hi": [12.5, 60.0]}})
    deck = tmp_path / "wave2d_strip.yaml"
    deck.write_text(yaml.safe_dump(d, sort_keys=False))
    ser, two = tmp_path / "serial.h5", tmp_path / "two.h5"
    ok(msim(0, str(deck), "-o", str(ser)))
    ok(msim(2, str(deck), "-o", str(two), "--decompose", "spatial"))
    a, b = results(ser), results(two)
    k = "observables/temperature"
    err = float(np.max(np.abs(b[k] - a[k])) / np.max(np.abs(a[k])))
    print(k, err, a[k])
    assert err <= 1e-10
