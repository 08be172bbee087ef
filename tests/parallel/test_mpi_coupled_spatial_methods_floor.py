"""A coupled system with a mass floor (``CoupledSystem(mass_floor=F)``: atoms of H with β̄ < F get mass F·m, the
nodes give up the added mass) on the spatial coupled path (`parallel.coupled_spatial.SpatialCoupled`), under
``mpiexec``. ``mass_floor`` is an option of the Python API (the 1D reflection diagnostics use it), not a deck
key: the driver builds the model with it (``floor=F``).

Nothing in the spatial step needed changing: the engine takes the coupled masses (`CoupledSystem.atom_mass`,
the floored ones among them), the touched copy and the nodes the serial integrator's inverse masses; the
refusal (``s.floored``) was lifted. (On decks/wave2d.yaml no floor can be built: its edge nodes cannot give up
the mass, `CoupledSystem._floor_masses` refuses even 0.003.)

Deck ``smoke_free``: tests/parallel/decks/coupled3d_smoke.yaml (Morse, hex8) with projected coupling and its
fixed bottom removed; floor 0.05 floors 113 atoms. Contract: 1 rank 200 steps bitwise the serial model with
the same floor; 2 ranks 1 000 steps positions ≤ 1e-12, U and velocities ≤ 1e-9, every ledger term ≤ 1e-12 of
its largest value (measured x 1.1e-14, v 1.0e-12, U 4.9e-13, V 7.9e-13, ledger ≤ 2.8e-14).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mpi_coupled_spatial_methods_driver import prepared, serial_reference
from mpi_helpers import HERE, deck_dict, rel, write_deck
from mpi_helpers import spatial_methods as spatial

SMOKE = HERE / "decks" / "coupled3d_smoke.yaml"
FLOOR = 0.05


def smoke_free(tmp: Path) -> Path:
    d = deck_dict(SMOKE)
    d.pop("loads", None)
    d["handshake"]["coupling"] = {"type": "projected"}
    return write_deck(d, tmp / "smoke_free.yaml")


def test_floor_accepted(tmp_path: Path) -> None:
    """The floored model is accepted (it was refused at ``handshake``); 113 atoms are floored, their coupled
    masses F·m, above β̄·m."""
    from multiscale.parallel.coupled_spatial import spatial_refusal
    sim = prepared(str(smoke_free(tmp_path)), FLOOR)
    s = sim.model.system
    assert s.floored.size == 113
    m = np.asarray(sim.model.atoms.mass, float)[s.floored]
    np.testing.assert_array_equal(s.atom_mass[s.floored], FLOOR * m)
    assert np.all(s.atom_weight[s.floored] * m < s.atom_mass[s.floored])
    assert spatial_refusal(sim.model, sim.integrator) is None
    assert spatial_refusal(sim.model, sim.integrator, 2) is None


def test_floor_one_rank_bitwise(tmp_path: Path) -> None:
    """One rank, 200 steps: bitwise the serial floored run (x, v, U, V, every ledger row)."""
    deck = smoke_free(tmp_path)
    z = spatial(1, deck, 200, 50, tmp_path, f"floor={FLOOR}")
    ref = serial_reference(str(deck), 200, 50, FLOOR)
    assert z["floored"].size == ref["floored"].size == 113
    for k in ("x", "v", "U", "V", "ledger"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)


def test_floor_two_ranks_1000_steps(tmp_path: Path) -> None:
    """2 ranks, 1 000 steps vs the serial floored run (module docstring's contract)."""
    deck = smoke_free(tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path, f"floor={FLOOR}")
    ref = serial_reference(str(deck), 1000, 100, FLOOR)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    assert rel(z["x"], ref["x"]) <= 1e-12
    for k in ("U", "V", "v"):
        print("floor", k, rel(z[k], ref[k]))
        assert rel(z[k], ref[k]) <= 1e-9, k
    L, R = z["ledger"], ref["ledger"]
    cols = [0, 1, 2, 3, 5]
    err = np.max(np.abs(L[:, cols] - R[:, cols]), axis=0) / np.max(np.abs(R[:, cols]), axis=0)
    print("floor ledger rel", err)
    assert np.all(err <= 1e-12), err
