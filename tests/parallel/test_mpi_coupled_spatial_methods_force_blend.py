"""The ``force_blend`` coupling with a native potential on the spatial coupled path
(`parallel.coupled_spatial.SpatialCoupled`, `parallel.spatial_coupling.SpatialForceBlend` and
`ReplicatedContinuum`, ``msim run --decompose spatial``), under ``mpiexec``.

Decks: ``fb_strong``: decks/wave2d.yaml with ``coupling: {type: force_blend, constraint: strong}`` (the
gallery's force-blend decks use external engines — LAMMPS, SNAP — which the spatial path refuses at
``potential``); ``fb_projected``: the default constraint (projected) with ``node_weight: lumped``.
The engine runs the unweighted lattice; the owned rows' forces are scaled by β(X_a), the replicated node
forces by the node weights, no pad transfer; the continuum is evaluated whole on every rank (force blending's
energy report reads W at every quadrature point). The ``coupling`` term's atoms part Σ (β̄ − 1) e_a is a
sum of per-rank dot products (newton mode: over the ghost rows too, where the cross pairs' halves are).

Contract: 1 rank 200 steps bitwise the serial run (state, every ledger term); 2 ranks 1 000 steps
positions ≤ 1e-12, U and velocities ≤ 1e-9 and ≤ 3× the control (the serial run with its atoms' forces
perturbed by one rounding), every ledger term ≤ 1e-12 of its largest value (measured: x 1.6e-15, U 5.8e-11,
V 5.7e-11, v 1.0e-10 (control 6.1e-11, 5.3e-11, 1.1e-10), ledger ≤ 9.5e-13 — the continuum's potential
energy; control 1.4e-12 for that term —, coupling 3.4e-16).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_methods_driver import prepared, serial_reference
from mpi_helpers import (
    ROOT,
    assert_near_serial,
    assert_thermo_close,
    deck_dict,
    msim,
    rel,
    serial_one_two,
    thermo,
    write_deck,
)
from mpi_helpers import spatial_methods as spatial

WAVE2D = ROOT / "decks" / "wave2d.yaml"


def fb(name: str, tmp: Path, steps: int = 1000) -> Path:
    d = deck_dict(WAVE2D)
    d["handshake"]["coupling"] = ({"type": "force_blend", "constraint": "strong"} if name == "fb_strong" else
                                  {"type": "force_blend", "node_weight": "lumped"})
    d["integrator"]["steps"] = steps
    return write_deck(d, tmp / f"{name}.yaml")


def test_force_blend_accepted(tmp_path: Path) -> None:
    """Accepted on 1 and 2 ranks (refused at ``handshake.coupling`` before); the engine is built without
    bond weights and the continuum is not split."""
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.coupled_spatial import SpatialCoupled, spatial_refusal
    from multiscale.parallel.spatial_coupling import ReplicatedContinuum
    for name in ("fb_strong", "fb_projected"):
        sim = prepared(str(fb(name, tmp_path)))
        assert spatial_refusal(sim.model, sim.integrator) is None
        assert spatial_refusal(sim.model, sim.integrator, 2) is None
    sc = SpatialCoupled(sim.model, sim.integrator, SerialComm())
    assert sc.engine.bond_weight_fn is None and isinstance(sc.split, ReplicatedContinuum)


@pytest.mark.parametrize("name", ["fb_strong", "fb_projected"])
def test_force_blend_one_rank_bitwise(tmp_path: Path, name: str) -> None:
    """One rank, 200 steps: bitwise the serial run (x, v, U, V, every ledger row with the coupling term,
    which is not zero)."""
    deck = fb(name, tmp_path)
    z = spatial(1, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    assert np.all(ref["ledger"][:, 4] != 0.0)


@pytest.mark.parametrize("mode", ["newton", "full"])
def test_force_blend_two_ranks_1000_steps(tmp_path: Path, mode: str) -> None:
    """fb_strong, 2 ranks, 1 000 steps vs serial in both force modes (module docstring's contract)."""
    deck = fb("fb_strong", tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path, *(["full"] if mode == "full" else []))
    ref = serial_reference(str(deck), 1000, 100)
    ctl = serial_reference(str(deck), 1000, 100, perturb=2.2e-16)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    assert_near_serial(z, ref, ctl, mode, nodes=prepared(str(deck)).model.continuum.nodes)
    L, R = z["ledger"], ref["ledger"]
    assert L.shape == R.shape == (11, 7)
    err = np.max(np.abs(L[:, :6] - R[:, :6]), axis=0) / np.max(np.abs(R[:, :6]), axis=0)
    print(mode, "force_blend ledger rel", err, "x", rel(z["x"], ref["x"]))
    assert np.all(err <= 1e-12), err
    assert float(R[-1, 1]) > 0.01 * float(R[:, 1].max()) and float(R[:, 1].max()) > 0.0


def test_msim_run_force_blend(tmp_path: Path) -> None:
    """`msim run --decompose spatial` of fb_strong (300 steps): 1 rank every results dataset bitwise the
    serial run's; 2 ranks the thermo energies (coupling included) ≤ 1e-12 of their largest values, frames
    ≤ 1e-9, the constraint residual ≤ 1e-12."""
    a, _, c = serial_one_two(fb("fb_strong", tmp_path, steps=300), tmp_path)
    ta, tc = thermo(tmp_path / "ser.h5"), thermo(tmp_path / "two.h5")
    assert_thermo_close(tc, ta, ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms",
                                 "potential_continuum", "coupling"))
    assert float(np.max(tc["constraint_residual"])) <= 1e-12


def test_msim_run_gallery_force_blend_engine_refused(tmp_path: Path) -> None:
    """The gallery's force-blend deck decks/wave2d_lammps_cb.yaml (LAMMPS engine) stays refused under
    mpiexec on 2 ranks with `--decompose spatial`: exit 2, one message naming ``potential`` (external engines
    are not split over ranks)."""
    deck = ROOT / "decks" / "wave2d_lammps_cb.yaml"
    p = msim(2, str(deck), "-o", str(tmp_path / "r.h5"), "--decompose", "spatial")
    assert p.returncode == 2, p.stderr[-2000:]
    assert "potential:" in p.stderr and p.stderr.count("external engines are not split over ranks") == 1, \
        p.stderr[-2000:]
