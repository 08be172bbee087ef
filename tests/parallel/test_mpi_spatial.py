"""The spatial engine (multiscale/parallel/engine.py) on free boxes and with handshake weights, under
``mpiexec -n P`` against serial msim.

* Free boxes (open outer slab faces): `msim run` of a free Cu cluster (EAM, every axis free) and of a
  Lennard-Jones slab free along x on 2 ranks against the serial run of the same deck, 1 000 steps; the
  same P twice bitwise; restart across rank counts (200 + 200 steps). One force evaluation of jittered
  free crystals (atoms beyond the box faces) on 2 and 3 ranks against the serial `AtomisticRegion`.
* Weights (multiscale/parallel/weights.py): the atoms of coupled decks with their site weights β̄ and
  bond weights (the deck's `Handshake.bond_weight_fn`) evaluated on 2 ranks: forces, per-atom energies
  and the energy against the serial weighted `AtomisticRegion.compute`, and every rank's bond weight of
  every list entry bitwise the serial weight of that pair; a weighted periodic crystal (image counts,
  seam-shifted ghosts), once and after 150 NVE steps with migration (the per-rank weight cache).

References are computed in this (serial) pytest process or by a plain serial `msim run`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mpi_helpers import (
    assert_same_layout,
    compare,
    deck_copy,
    rel,
    restart_across,
    run_driver,
    serial_and_two,
)
from test_mpi_run import assert_two_ranks_twice_bitwise

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from mpi_driver import crystal  # noqa: E402
from mpi_spatial_driver import free_crystal, site_weights, smooth_bond_factory, weighted_atoms  # noqa: E402

from multiscale.md.system import AtomisticRegion  # noqa: E402

CLUSTER = HERE / "decks" / "cu_eam_cluster.yaml"
SLAB = HERE / "decks" / "lj_free_slab.yaml"


def driver(n_ranks: int, case: str, *args: str, tmp_path: Path, flags: tuple = (),
           timeout: float = 300) -> dict:
    out = tmp_path / f"{case}_{n_ranks}_{time.monotonic_ns()}.npz"
    return run_driver("mpi_spatial_driver.py", n_ranks, case, *args, out, *flags, out=out, timeout=timeout)


# ---------------------------------------------------------------------------------------- free boxes
@pytest.mark.parametrize("deck", [CLUSTER, SLAB], ids=["cu_cluster_fff", "lj_slab_fpp"])
def test_free_box_one_vs_two_ranks(tmp_path: Path, deck: Path) -> None:
    """A free box, 1 000 steps serially and on 2 ranks (spatially decomposed: open outer faces):
    positions and thermo energies of every frame ≤ 1e-12 relative, velocities and per-atom energies
    ≤ 1e-10; the results file has the serial layout."""
    s, p = serial_and_two(deck, tmp_path)
    got = compare(p, s, 1e-12)
    print(deck.name, got)
    assert_same_layout(s, p)


def test_free_box_two_ranks_twice_bitwise(tmp_path: Path) -> None:
    """The free cluster on 2 ranks twice: bitwise-identical frames and thermo."""
    assert_two_ranks_twice_bitwise(CLUSTER, tmp_path, 300)


@pytest.mark.parametrize("first,second", [(2, 0), (0, 2)], ids=["2to1", "1to2"])
def test_free_box_restart_across_rank_counts(tmp_path: Path, first: int, second: int) -> None:
    """The free cluster: 200 steps on ``first`` ranks, checkpoint, restart on ``second`` to step 400 =
    a straight serial 400-step run to 1e-12 (the checkpoint of P ranks is the serial checkpoint)."""
    deck = deck_copy(CLUSTER, tmp_path, integrator={"steps": 400},
                     output={"every": 100, "thermo_every": 50, "checkpoint_every": 200})
    print(restart_across(deck, tmp_path, first, second, 200))


@pytest.mark.parametrize("newton,overlap", [(False, False), (True, True)], ids=["full", "newton_overlap"])
@pytest.mark.parametrize(("ranks", "pot", "boundary"),
                         [(2, "eam", "fff"), (3, "lj", "fff"), (2, "lj", "fpp")])
def test_free_forces_match_serial(tmp_path: Path, ranks: int, pot: str, boundary: str, newton: bool,
                                  overlap: bool) -> None:
    """One force evaluation of a jittered crystal in a free box (atoms beyond the open faces: a dimer
    2·rlist beyond each, owned by the first / last slab) on 2 and 3 ranks (3: a middle slab with two
    neighbours, outer slabs with one): forces, the energy and (full cross pairs) the per-atom energies
    equal the serial `AtomisticRegion` to 1e-12; every rank owns atoms; full cross pairs: the outer ranks
    receive ghosts from one side only (fewer than the middle rank); newton: every rank but the top one
    receives ghosts from the rank above only (half shell)."""
    c = free_crystal(pot, boundary)
    assert np.any(c["X"][:, 0] < c["box"].lo[0] - 2 * float(c["potential"].cutoff))   # beyond the faces
    assert np.any(c["X"][:, 0] > c["box"].hi[0] + 2 * float(c["potential"].cutoff))
    reg = AtomisticRegion(c["X"], 1.0, c["potential"], c["box"], c["skin"])
    E = reg.compute()
    flags = (*(("--newton",) if newton else ()), *(("--overlap",) if overlap else ()))
    r = driver(ranks, "free", pot, boundary, tmp_path=tmp_path, flags=flags)
    assert int(r["size"]) == ranks and np.all(r["atoms_per_rank"] > 0)
    np.testing.assert_array_equal(r["gid"], np.arange(reg.n))
    assert rel(r["forces"], reg.forces) <= 1e-12
    assert rel(r["energies"], reg.energies) <= 1e-12      # newton too: ghosts' halves sent back (gather)
    assert abs(float(r["epot"]) - E) <= 1e-12 * abs(E)
    if ranks == 3:
        gh = r["ghosts_per_rank"]
        if newton:      # half shell: ghosts from the rank above only (none for the top slab's open face)
            assert gh[2] == 0 and gh[0] > 0 and gh[1] > 0
        else:
            assert gh[1] > max(gh[0], gh[2])


# ---------------------------------------------------------------------------------------- weights
@pytest.mark.parametrize("pot", ["lj", "eam"])
def test_weighted_periodic_after_steps(tmp_path: Path, pot: str) -> None:
    """The weighted periodic crystal drifting along x, 150 NVE steps on 2 ranks (atoms migrate, lists
    are rebuilt, ghosts change: the weights of reference pairs seen before come from each rank's
    `BondWeightCache`, the others are computed afresh): at the last step every entry's bond weight is
    bitwise the serial weight of that pair, and the forces at the gathered positions equal the serial
    weighted forces there to 1e-12."""
    c = crystal(pot)
    r = driver(2, "periodic", pot, tmp_path=tmp_path, flags=("--steps", "150"))
    assert int(r["builds"]) >= 3 and int(r["migrated"]) > 10
    assert int(r["cache_hits"]) > 0 and int(r["cache_misses"]) > 0
    reg = AtomisticRegion(c["X"], 1.0, c["potential"], c["box"], c["skin"])
    reg.set_weights(site_weights(c["X"]), smooth_bond_factory(c["X"]))
    reg.x[...] = r["x"]
    reg.rebuild()
    E = reg.compute()
    assert rel(r["forces"], reg.forces) <= 1e-12
    assert abs(float(r["epot"]) - E) <= 1e-12 * abs(E)
    check_bond_weights(r, reg, False)


WEIGHT_DECKS = [ROOT / "decks" / "wave2d.yaml", HERE / "decks" / "coupled3d_eam.yaml"]


def check_bond_weights(r: dict, reg: AtomisticRegion, newton: bool) -> None:
    """Every engine list entry's bond weight (every rank) is bitwise the serial weight of that pair; in
    full mode some cross pairs (listed on both ranks) have weights strictly inside (0, 1); every serial
    pair within the cut-off is computed on some rank."""
    # bond weights, bitwise: key every pair by its (smaller, larger) global id
    i, j = reg.nlist.pairs()
    n = reg.n
    ks = np.minimum(i, j) * n + np.maximum(i, j)
    assert np.unique(ks).size == ks.size               # one entry per pair (free, or boxes > 2 rlist)
    o = np.argsort(ks)
    ks, ws = ks[o], reg.bond_w[o]
    ei, ej, ew = r["ent_i"].astype(np.int64), r["ent_j"].astype(np.int64), r["ent_w"]
    ke = np.minimum(ei, ej) * n + np.maximum(ei, ej)
    pos = np.searchsorted(ks, ke)
    assert np.all(pos < ks.size) and np.array_equal(ks[pos], ke), "an engine pair the serial list lacks"
    assert np.array_equal(ew, ws[pos]), f"bond weights differ: max |dw| {np.max(np.abs(ew - ws[pos]))}"
    if not newton:      # cross pairs (listed on both ranks) with weights strictly inside (0, 1)
        uk, cnt = np.unique(ke, return_counts=True)
        twice = uk[cnt == 2]
        wt = ws[np.searchsorted(ks, twice)]
        assert np.any((wt > 0) & (wt < 1)), "no weighted pair crosses the slab face"
    # every serial pair within the cut-off is computed somewhere
    d = reg.nlist.separations(reg.x)
    close = ks[np.sum(d * d, axis=1)[o] < float(reg.potential.cutoff) ** 2]
    assert np.all(np.isin(close, ke))


@pytest.mark.parametrize("newton,overlap", [(False, False), (True, True)], ids=["full", "newton_overlap"])
@pytest.mark.parametrize("pot", ["lj", "eam"])
def test_weighted_periodic_match_serial(tmp_path: Path, pot: str, newton: bool, overlap: bool) -> None:
    """A periodic jittered crystal (atoms outside the box: image counts ≠ 0; pairs across the periodic
    seam, whose ghosts are shifted by a period) with site weights and a smooth bond-weight function of
    the reference bond on 2 ranks: forces, energy (full: per-atom energies) ≤ 1e-12 of the serial weighted
    `AtomisticRegion`, every bond weight bitwise the serial one."""
    c = crystal(pot)
    reg = AtomisticRegion(c["X"], 1.0, c["potential"], c["box"], c["skin"])
    reg.set_weights(site_weights(c["X"]), smooth_bond_factory(c["X"]))
    E = reg.compute()
    assert np.any(reg.nlist.image != 0) and np.any(np.abs(reg.nlist.shifts) > 0)
    assert np.any((reg.bond_w > 0.1) & (reg.bond_w < 0.9))
    flags = (*(("--newton",) if newton else ()), *(("--overlap",) if overlap else ()))
    r = driver(2, "periodic", pot, tmp_path=tmp_path, flags=flags)
    assert np.all(r["atoms_per_rank"] > 0)
    assert rel(r["forces"], reg.forces) <= 1e-12
    if not newton:
        assert rel(r["energies"], reg.energies) <= 1e-12
    assert abs(float(r["epot"]) - E) <= 1e-12 * abs(E)
    check_bond_weights(r, reg, newton)


@pytest.mark.parametrize("newton,overlap", [(False, False), (True, True)], ids=["full", "newton_overlap"])
@pytest.mark.parametrize("deck", WEIGHT_DECKS, ids=["wave2d_lj", "coupled3d_eam"])
def test_weighted_forces_match_serial(tmp_path: Path, deck: Path, newton: bool, overlap: bool) -> None:
    """The atoms of a coupled deck with their handshake weights on 2 ranks: forces, the energy and (full
    cross pairs) the per-atom energies equal the serial weighted `AtomisticRegion.compute` to 1e-12;
    every list entry's bond weight on every rank is bitwise the serial weight of that pair (cross pairs
    on both ranks alike). The weights are not trivial: some site weights and bond weights lie strictly
    between 0 and 1 and the weighted forces differ from the unweighted ones."""
    model, x = weighted_atoms(str(deck))
    a = model.atoms
    assert a.site_w is not None and a.bond_weight_fn is not None
    reg = AtomisticRegion(a.X, 1.0, a.potential, a.box, a.nlist.skin, types=a.types)
    reg.x[...] = x
    reg.set_weights(a.site_w, model.system.handshake.bond_weight_fn(a.X))
    reg.rebuild()
    E = reg.compute()
    assert np.any((a.site_w > 0) & (a.site_w < 1)) and np.any((reg.bond_w > 0) & (reg.bond_w < 1))
    plain = AtomisticRegion(a.X, 1.0, a.potential, a.box, a.nlist.skin, types=a.types)
    plain.x[...] = x
    plain.rebuild()
    plain.compute()
    assert rel(plain.forces, reg.forces) > 1e-3
    flags = (*(("--newton",) if newton else ()), *(("--overlap",) if overlap else ()))
    r = driver(2, "weights", str(deck), tmp_path=tmp_path, flags=flags)
    assert np.all(r["atoms_per_rank"] > 0)
    np.testing.assert_array_equal(r["gid"], np.arange(reg.n))
    assert rel(r["forces"], reg.forces) <= 1e-12
    if not newton:
        assert rel(r["energies"], reg.energies) <= 1e-12
    assert abs(float(r["epot"]) - E) <= 1e-12 * abs(E)
    check_bond_weights(r, reg, newton)
