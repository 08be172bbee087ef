"""The ``penalty`` coupling on the spatial coupled path (`parallel.coupled_spatial.SpatialCoupled` without a
constraint projector, or with the one of its ``slave_below`` strong rows, `parallel.spatial_coupling.
SpatialPenalty`, ``msim run --decompose spatial``), under ``mpiexec``.

Deck ``wave2d_penalty``: decks/wave2d.yaml with ``coupling: {type: penalty, kappa: 1.0, slave_below: 0}`` (the
pure penalty method, no constraint rows; run with ``allow_unstable_dt: true``, which `msim validate` demands
for it: its springs do not hold the atoms of tiny β̄) and Δt = 0.001 (1 000 steps: the pulse reaches the
handshake). At Δt = 0.004 (the value test_mpi_coupled_spatial.py used for its refusal test, and what `msim
validate` calls stable: "weighted atoms 0.00957") the serial run blows up within 1 000 steps, and at 0.002 the
serial run perturbed by one rounding in the forces ends 0.03 (x) … 1.5 (v) away from the unperturbed one after
1 000 steps (the weighted edge atoms of tiny β̄ that the springs do not hold:
tests/coupling/test_penalty_tiny_weights.py); at 0.001 the unperturbed serial run is smooth and the spatial
2-rank run stays at round-off of it. The control (every atom's forces perturbed by 2.2e-16·N(0, 1)) still
diverges at 0.001 (x 0.03 after 1 000 steps: the perturbation reaches the unstable mode of the pads and edge
atoms, which the cross pairs' rounding on 2 ranks evidently does not), so the 2-rank run is held to the
absolute contract only.

Contract: 1 rank 200 steps bitwise the serial run (state, every ledger term, the coupling term among
them); 2 ranks 1 000 steps positions and node positions ≤ 1e-12, U and velocities ≤ 1e-9, every ledger
term ≤ 1e-12 of its largest value (measured x 3.0e-14, v 1.2e-11, U 7.5e-16, V 2.4e-15, ledger ≤ 8.6e-14,
coupling 1.1e-14).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_methods_driver import prepared, serial_reference
from mpi_helpers import (
    ROOT,
    assert_thermo_close,
    assert_twice_bitwise,
    deck_dict,
    rel,
    serial_one_two,
    thermo,
    write_deck,
)
from mpi_helpers import spatial_methods as spatial

WAVE2D = ROOT / "decks" / "wave2d.yaml"


def wave2d_penalty(tmp: Path, steps: int = 1000, slave_below: float | None = 0.0,
                   **integrator: float) -> Path:
    """``slave_below``: 0 = the pure penalty method (no constraint rows: the tests above the tied ones);
    None = the default (1e-3: strong rows for the atoms below it, springs for the others)."""
    d = deck_dict(WAVE2D)
    d["handshake"]["coupling"] = {"type": "penalty", "kappa": 1.0}
    if slave_below is not None:
        d["handshake"]["coupling"]["slave_below"] = slave_below
    d["integrator"].update({"steps": steps, "dt": 0.001, **integrator})
    if slave_below == 0.0:      # `msim validate`/`run` refuse it (springs that do not hold atom 1603)
        d["integrator"]["allow_unstable_dt"] = True
    return write_deck(d, tmp / f"wave2d_penalty_{slave_below}.yaml")


def test_penalty_accepted(tmp_path: Path) -> None:
    """Accepted on 1 and 2 ranks: no constraint projector (the penalty builds none), its atoms in the
    replicated copy (the strong rows' atoms of H)."""
    from multiscale.parallel.coupled_spatial import spatial_refusal
    from multiscale.parallel.spatial_coupling import replicated_dofs
    sim = prepared(str(wave2d_penalty(tmp_path)))
    s = sim.model.system
    assert sim.integrator.projector is None
    assert spatial_refusal(sim.model, sim.integrator) is None
    assert spatial_refusal(sim.model, sim.integrator, 2) is None
    T = np.unique(replicated_dofs(sim.model) // s.d)
    np.testing.assert_array_equal(T, s.free[s.constrained])


def test_penalty_one_rank_bitwise(tmp_path: Path) -> None:
    """One rank, 200 steps: bitwise the serial run (x, v, U, V, every ledger row, coupling included; the
    coupling term is not zero)."""
    deck = wave2d_penalty(tmp_path)
    z = spatial(1, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    assert np.all(ref["ledger"][1:, 4] > 0.0)


def test_penalty_two_ranks_1000_steps(tmp_path: Path) -> None:
    """2 ranks, 1 000 steps vs serial (module docstring's contract); the same P twice bitwise (200 steps)."""
    deck = wave2d_penalty(tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path)
    ref = serial_reference(str(deck), 1000, 100)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    assert rel(z["x"], ref["x"]) <= 1e-12
    nodes = prepared(str(deck)).model.continuum.nodes
    assert rel(nodes + z["U"], nodes + ref["U"]) <= 1e-12
    for k in ("U", "V", "v"):
        print("penalty", k, rel(z[k], ref[k]))
        assert rel(z[k], ref[k]) <= 1e-9, k
    L, R = z["ledger"], ref["ledger"]
    assert L.shape == R.shape == (11, 7)
    err = np.max(np.abs(L[:, :6] - R[:, :6]), axis=0) / np.max(np.abs(R[:, :6]), axis=0)
    print("penalty ledger rel", err, "x", rel(z["x"], ref["x"]))
    assert np.all(err <= 1e-12), err
    assert float(R[-1, 1]) > 0.0 and float(R[-1, 4]) > 1e-4
    assert_twice_bitwise(spatial, deck, tmp_path, ("x", "v", "U", "V", "ledger"))


@pytest.mark.parametrize("slave_below", [0.0, None], ids=["pure", "tied"])
def test_msim_run_penalty(tmp_path: Path, slave_below: float | None) -> None:
    """`msim run --decompose spatial` of wave2d_penalty (300 steps): 1 rank every results dataset bitwise
    the serial run's; 2 ranks thermo energies (coupling included) ≤ 1e-12 of their largest values, frames
    ≤ 1e-9, the constraint residual 0 (pure: no constraints, as the serial run reports; tied: the strong
    rows' residual ≤ 1e-12 on both)."""
    serial_one_two(wave2d_penalty(tmp_path, steps=300, slave_below=slave_below), tmp_path)
    ta, tc = thermo(tmp_path / "ser.h5"), thermo(tmp_path / "two.h5")
    assert_thermo_close(tc, ta, ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms",
                                 "potential_continuum", "coupling"))
    if slave_below == 0.0:
        assert not np.any(tc["constraint_residual"]) and not np.any(ta["constraint_residual"])
    else:
        assert np.max(tc["constraint_residual"]) <= 1e-12 and np.max(ta["constraint_residual"]) <= 1e-12


# ---------------------------------------------------------------------------------------------------------
# The default slave_below (1e-3): strong rows for the 92 atoms below it (the projector, its touched atoms in
# the replicated copy) and springs for the other atoms of H (also in the copy, kicked plainly)
# ---------------------------------------------------------------------------------------------------------

def test_tied_penalty_accepted(tmp_path: Path) -> None:
    """Accepted on 1 and 2 ranks with its projector (the strong rows of the atoms below 1e-3); the replicated
    copy holds every atom of H: the springs' atoms and the tied ones."""
    from multiscale.coupling.methods.penalty import PenaltyCoupling
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.coupled_spatial import SpatialCoupled, spatial_refusal
    from multiscale.parallel.spatial_coupling import replicated_dofs
    sim = prepared(str(wave2d_penalty(tmp_path, slave_below=None)))
    s, it = sim.model.system, sim.integrator
    assert type(s.method) is PenaltyCoupling and it.projector is not None and s.G.shape[0] == 184
    assert spatial_refusal(sim.model, it) is None and spatial_refusal(sim.model, it, 2) is None
    springs = np.unique(replicated_dofs(sim.model) // s.d)
    tied = np.unique(it._t_atom // s.d)
    assert springs.size and tied.size and np.intersect1d(springs, tied).size == 0
    np.testing.assert_array_equal(np.union1d(springs, tied), s.free[s.constrained])
    sc = SpatialCoupled(sim.model, it, SerialComm())
    np.testing.assert_array_equal(sc.T, s.free[s.constrained])


def test_tied_penalty_one_rank_bitwise(tmp_path: Path) -> None:
    """One rank, 200 steps: bitwise the serial run (x, v, U, V, every ledger row, the coupling term among
    them)."""
    deck = wave2d_penalty(tmp_path, slave_below=None)
    z = spatial(1, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    assert np.all(ref["ledger"][1:, 4] > 0.0)


def test_tied_penalty_two_ranks_1000_steps(tmp_path: Path) -> None:
    """2 ranks, 1 000 steps vs serial: positions and node positions ≤ 1e-12, U, V, v ≤ 1e-9, every ledger
    term ≤ 1e-12 of its largest value. Measured: x 3.1e-16, U 9.1e-15, V 4.0e-14, v 2.8e-13, ledger
    ≤ 9.1e-15 (the coupling term; the others ≤ 7.8e-16; the pure penalty run above: v 1.2e-11)."""
    deck = wave2d_penalty(tmp_path, slave_below=None)
    z = spatial(2, deck, 1000, 100, tmp_path)
    ref = serial_reference(str(deck), 1000, 100)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    print("tied penalty x", rel(z["x"], ref["x"]))
    assert rel(z["x"], ref["x"]) <= 1e-12
    nodes = prepared(str(deck)).model.continuum.nodes
    assert rel(nodes + z["U"], nodes + ref["U"]) <= 1e-12
    for k in ("U", "V", "v"):
        print("tied penalty", k, rel(z[k], ref[k]))
        assert rel(z[k], ref[k]) <= 1e-9, k
    L, R = z["ledger"], ref["ledger"]
    err = np.max(np.abs(L[:, :6] - R[:, :6]), axis=0) / np.max(np.abs(R[:, :6]), axis=0)
    print("tied penalty ledger rel", err)
    assert np.all(err <= 1e-12), err
    assert float(R[-1, 1]) > 0.0 and float(R[-1, 4]) > 1e-4
