"""eam/fs files with several elements (one density table per element PAIR: rhor row s·nel + t, the density an
atom of element s gives to one of element t) on the spatial engine (`parallel.engine.DistributedMD`) and on
the spatial coupled path (`parallel.coupled_spatial.SpatialCoupled`), under ``mpiexec``.

The engine's density pass now tells the kernel the number of elements (``nel``: the kernel's default,
rhor's row count, is right for setfl / funcfl only); the force pass took it from z2r already.

* the engine (tests/parallel/mpi_eam_fs_driver.py): a jittered B2-cell crystal with a random element per
  site (AlFe_mm.eam.fs: Al, Fe, so Al–Al, Al–Fe, Fe–Al and Fe–Fe neighbours) in a free box on 2 and 3
  ranks, one evaluation and after 200 NVE steps (rebuilds, atoms changing rank): forces, per-atom energies
  and the energy ≤ 1e-12 of the serial `AtomisticRegion` (at the gathered positions);
* the coupled path: coupled decks take element 0 of the potential only (`build`), so a coupled deck with
  a multi-element eam/fs file is the 3D EAM deck with AlFe_mm and Al atoms (the deck the refusal test of
  test_mpi_coupled_spatial_3d.py used): 1 rank 200 steps bitwise the serial run, 2 ranks 1 000 steps
  positions ≤ 1e-12, every ledger term ≤ 1e-12 of its largest value.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_methods_driver import prepared, serial_reference
from mpi_eam_fs_driver import crystal
from mpi_helpers import HERE, deck_dict, rel, run_driver, write_deck
from mpi_helpers import spatial_methods as spatial

EAM = HERE / "decks" / "coupled3d_eam.yaml"


def engine(n_ranks: int, steps: int, tmp_path: Path, *flags: str) -> dict:
    out = tmp_path / f"eamfs_{n_ranks}_{time.monotonic_ns()}.npz"
    return run_driver("mpi_eam_fs_driver.py", n_ranks, out, steps, *flags, out=out, timeout=600)


@pytest.mark.parametrize("ranks,steps,flags", [(2, 0, ()), (3, 0, ("--newton",)), (2, 200, ()),
                                               (2, 200, ("--newton",))])
def test_engine_eam_fs_two_elements(tmp_path: Path, ranks: int, steps: int, flags: tuple) -> None:
    """The engine's forces, per-atom energies and energy with AlFe_mm (two elements, random per site) equal
    the serial region's at the same positions to 1e-12 (both force modes; after 200 steps with rebuilds and
    migration). The serial cross check: the densities an Al and an Fe atom give differ (a setfl-style
    reading of the tables would not be caught otherwise)."""
    from multiscale.md.system import AtomisticRegion
    c = crystal()
    t = c["potential"].tables
    assert t.rhor.shape[0] == 4 and t.frho.shape[0] == 2 and set(np.unique(c["types"])) == {0, 1}
    r = engine(ranks, steps, tmp_path, *flags)
    assert int(r["size"]) == ranks and np.all(r["atoms_per_rank"] > 0)
    np.testing.assert_array_equal(r["gid"], np.arange(len(c["X"])))
    if steps:
        assert int(r["builds"]) >= 3 and int(r["migrated"]) > 0, (r["builds"], r["migrated"])
    reg = AtomisticRegion(r["x"] if steps else c["X"], 1.0, c["potential"], c["box"], c["skin"], types=c["types"])
    E = reg.compute()
    print(ranks, steps, flags, rel(r["forces"], reg.forces), rel(r["energies"], reg.energies))
    assert rel(r["forces"], reg.forces) <= 1e-12
    assert rel(r["energies"], reg.energies) <= 1e-12
    assert abs(float(r["epot"]) - E) <= 1e-12 * abs(E)


# ---------------------------------------------------------------------------------------- coupled
def eam_fs_coupled(tmp: Path) -> Path:
    """The 3D EAM deck with AlFe_mm.eam.fs (elements Al, Fe: 4 density tables), Al atoms, projected coupling
    (slave_below 0.05), no loads; the handshake 8 Å wide (cut-off 6.5 + skin 1)."""
    d = deck_dict(EAM)
    d.pop("loads", None)
    d["potential"] = {"type": "eam", "file": "AlFe_mm.eam.fs"}
    d["atoms"]["mass"] = 26.98
    d["handshake"] = {**d["handshake"], "width": 8.0, "coupling": {"type": "projected", "slave_below": 0.05}}
    return write_deck(d, tmp / "eam_fs.yaml")


def test_coupled_eam_fs_accepted(tmp_path: Path) -> None:
    """The multi-element eam/fs deck is accepted on 1 and 2 ranks (it was refused at ``potential``)."""
    from multiscale.parallel.coupled_spatial import spatial_refusal
    sim = prepared(str(eam_fs_coupled(tmp_path)))
    assert sim.model.potential.tables.rhor.shape[0] == 4
    assert spatial_refusal(sim.model, sim.integrator) is None
    assert spatial_refusal(sim.model, sim.integrator, 2) is None


def test_coupled_eam_fs_one_rank_bitwise(tmp_path: Path) -> None:
    """One rank, 200 steps: bitwise the serial run (x, v, U, V, every ledger row)."""
    deck = eam_fs_coupled(tmp_path)
    z = spatial(1, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)


def test_coupled_eam_fs_two_ranks_1000_steps(tmp_path: Path) -> None:
    """2 ranks, 1 000 steps vs serial: positions ≤ 1e-12, U, V, v ≤ 1e-9, every ledger term (coupling: 0
    for projected) ≤ 1e-12 of its largest value."""
    deck = eam_fs_coupled(tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path)
    ref = serial_reference(str(deck), 1000, 100)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    assert rel(z["x"], ref["x"]) <= 1e-12
    for k in ("U", "V", "v"):
        print(k, rel(z[k], ref[k]))
        assert rel(z[k], ref[k]) <= 1e-9, k
    L, R = z["ledger"], ref["ledger"]
    cols = [0, 1, 2, 3, 5]
    err = np.max(np.abs(L[:, cols] - R[:, cols]), axis=0) / np.max(np.abs(R[:, cols]), axis=0)
    print("eam/fs ledger rel", err, "x", rel(z["x"], ref["x"]))
    assert np.all(err <= 1e-12), err
    assert not np.any(R[:, 4]) and not np.any(L[:, 4])
