"""Fixed dofs on the spatial coupled path (`parallel.coupled_spatial.SpatialCoupled`, ``msim run --decompose
spatial``), under ``mpiexec``: the suite's 3D smoke deck tests/parallel/decks/coupled3d_smoke.yaml UNMODIFIED
(Morse fcc Cu, hex8, strong coupling, 100 K core, ``loads: - type: fixed`` below z = −0.4: its region holds
the bottom layer of NODES only — the lowest atom plane, z = 0, is pads), and ``held``, the smoke deck with
two more fixed loads on ATOMS: the lowest plane of free atoms (z < 2.5: z = 1.88), every component, and a
roller face (x < 0.5, z > 2.5), the x component only; ``held_thermo``: ``held`` with a Langevin thermostat at 100 K on every atom (its
work booked with the serial mask of the dofs that move).

The held atoms' owned rows have zero inverse mass on the engine (their v stays 0, their x unchanged, as in the
serial kick); the held nodes are the replicated serial code; the load's reaction observable
(``bottom.reaction_x/_y/_z``) is summed from every rank's owned held atoms' forces (riding on the per-step
gather) plus the replicated node forces.

Contract (as tests/parallel/test_mpi_coupled_spatial_3d.py): against the serial `VelocityVerlet` in this
pytest process, 1 rank bitwise (state, ledger and reaction), 2 ranks after 1 000 steps positions ≤ 1e-12,
ledger ≤ 1e-12 of each term's largest value, U and velocities ≤ 1e-9 and ≤ 3× the control; the held dofs
exactly at rest on any P. Dofs with zero inverse mass that no ``fixed`` (or ``prescribed``) load names
are refused at ``loads``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_driver import prepared, serial_reference
from mpi_helpers import (
    HERE,
    assert_ledger_close,
    assert_near_serial,
    assert_thermo_close,
    assert_twice_bitwise,
    deck_dict,
    per_column,
    rel,
    restarts_crosswise,
    results,
    serial_one_two,
    spatial,
    spatial_ops,
    thermo,
    write_deck,
)

SMOKE = HERE / "decks" / "coupled3d_smoke.yaml"     # Morse, 720 atoms (95 pads), 292 hex8 nodes, bottom fixed
FLOOR = {"type": "fixed", "label": "floor", "targets": "atoms",
         "region": {"type": "box", "lo": [-10.0, -10.0, -10.0], "hi": [40.0, 40.0, 2.5]}}
ROLLER = {"type": "fixed", "label": "roller", "targets": "atoms", "components": ["x"],
          "region": {"type": "box", "lo": [-10.0, -10.0, 2.5], "hi": [0.5, 40.0, 40.0]}}
THERMO = {"thermostat": {"type": "langevin", "temperature": 100.0, "damp": 0.1}, "seed": 7}


def deck_of(name: str, tmp: Path) -> Path:
    """``smoke`` (the deck itself), ``held`` or ``held_thermo`` (module docstring)."""
    if name == "smoke":
        return SMOKE
    d = deck_dict(SMOKE, keep_expect=True)
    d["loads"] = [*d["loads"], FLOOR, ROLLER]
    if name == "held_thermo":
        d["integrator"].update(THERMO)
    return write_deck(d, tmp / f"{name}.yaml")


def held(deck: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(held atom dofs (k, 2) [row, component], held node rows, the atoms' initial x, the held atoms'
    rows) of a prepared deck (pads excluded)."""
    sim = prepared(str(deck))
    s = sim.model.system
    am, nm = np.zeros((s.n_atoms, 3), bool), np.zeros((s.n_nodes, 3), bool)
    for ld in sim.model.loads:
        a, n = ld.fixed_dofs()
        am |= False if a is None else a
        nm |= False if n is None else n
    am[s.pad_idx] = False
    return np.argwhere(am), np.flatnonzero(nm.all(axis=1)), s.atoms.x.copy(), np.flatnonzero(am.any(axis=1))


@pytest.mark.parametrize("name", ["smoke", "held", "held_thermo"])
def test_accepted(tmp_path: Path, name: str) -> None:
    """The unmodified smoke deck (strong coupling, fixed bottom nodes) and the variants holding atoms are
    accepted on 1 and 2 ranks; the integrator's fixed dofs are the loads' (`fixed_stacked`): nodes only on
    the smoke deck, atoms and nodes on ``held``."""
    from multiscale.parallel.coupled_spatial import fixed_stacked, spatial_refusal
    sim = prepared(str(deck_of(name, tmp_path)))
    assert spatial_refusal(sim.model, sim.integrator) is None
    assert spatial_refusal(sim.model, sim.integrator, 2) is None
    it = sim.integrator
    assert it._f_node.size == 147 and (it._f_atom.size > 0) == (name != "smoke"), it._f_atom.size
    np.testing.assert_array_equal(fixed_stacked(sim.model), it._fixed)


@pytest.mark.parametrize("name", ["smoke", "held"])
def test_fixed_one_rank_bitwise(tmp_path: Path, name: str) -> None:
    """One rank, 200 steps: bitwise the serial run (x, v, U, V, every ledger row, every fixed load's
    reaction every 50 steps); the reactions are not zero."""
    deck = deck_of(name, tmp_path)
    z = spatial(1, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger", "reactions"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    assert ref["reactions"].shape == (5, 3 if name == "smoke" else 7)    # roller: x only
    assert np.all(np.abs(ref["reactions"][-1]) > 0)


@pytest.mark.parametrize("name", ["smoke", "held"])
def test_fixed_two_ranks_1000_steps(tmp_path: Path, name: str) -> None:
    """1 000 steps on 2 ranks vs serial: positions and node positions X + U ≤ 1e-12, every ledger term at
    every 100th step ≤ 1e-12 of its largest value, U and velocities ≤ 1e-9 and ≤ 3× the control (the
    serial run with its atoms' forces perturbed by one rounding); the reactions (sums of forces) ≤ 1e-12
    of their largest value (measured 5.5e-14 smoke, 1.7e-14 held) and ≤ 3× the control's; the held
    components of the held atoms' x bitwise their initial x and of v exactly 0 (held atoms on both ranks'
    slabs), the held nodes' U and V exactly 0. Measured (load ~12): smoke x 1.7e-15, ledger ≤ 5.0e-14,
    U, V, v ≤ 6.3e-13 (control ≤ 5.4e-13); held x 2.7e-15, ledger ≤ 5.2e-14, U, V, v ≤ 5.4e-13."""
    deck = deck_of(name, tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path)
    ref = serial_reference(str(deck), 1000, 100)
    ctl = serial_reference(str(deck), 1000, 100, perturb=2.2e-16)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    hd, hn, x0, rows = held(deck)
    assert hn.size and (hd.size > 0) == (name == "held")
    for r in (z, ref):
        np.testing.assert_array_equal(r["x"][hd[:, 0], hd[:, 1]], x0[hd[:, 0], hd[:, 1]])
        assert not np.any(r["v"][hd[:, 0], hd[:, 1]]) and not np.any(r["U"][hn]) and not np.any(r["V"][hn])
    if name == "held":      # held atoms on both slabs; the roller's atoms move along y and z
        mid = 0.5 * (x0[:, 0].min() + x0[:, 0].max())
        assert np.any(x0[rows, 0] < mid) and np.any(x0[rows, 0] > mid)
        roll = hd[hd[:, 1] == 0, 0]
        roll = roll[x0[roll, 2] > 2.5]
        assert roll.size and np.all(np.abs(z["v"][roll, 1:]) > 0)
    assert_near_serial(z, ref, ctl, "fixed", nodes=prepared(str(deck)).model.continuum.nodes)
    R = ref["ledger"]
    assert_ledger_close(z["ledger"], R, (11, 6), "fixed")
    got, control = rel(z["reactions"], ref["reactions"]), rel(ctl["reactions"], ref["reactions"])
    print("fixed reaction rel", got, "control", control)
    assert z["reactions"].shape == (11, 3 if name == "smoke" else 7) and got <= 1e-12 and got <= 3.0 * control
    assert float(R[-1, 0]) > 0.01 * float(R[:, 0].max())     # the atoms still move at the end


def test_fixed_two_ranks_twice_bitwise(tmp_path: Path) -> None:
    """The same P twice: bitwise the same state, ledger and reactions (``held``, 200 steps on 2 ranks)."""
    deck = deck_of("held", tmp_path)
    assert_twice_bitwise(spatial, deck, tmp_path, ("x", "v", "U", "V", "ledger", "reactions"))


@pytest.mark.parametrize("name", ["smoke", "held"])
def test_msim_run_decompose_spatial(tmp_path: Path, name: str) -> None:
    """`msim run --decompose spatial` of the unmodified smoke deck and of ``held`` (300 steps, frames every
    100, thermo every 50: temperatures, Verlet correction, reactions among them): on 1 rank the results file is bitwise the plain serial run's (every frame, thermo and observable
    dataset, the reaction among them); on 2 ranks the thermo energies ≤ 1e-12 of their largest values,
    the constraint residual ≤ 1e-12, the frames ≤ 1e-9 and the reaction ≤ 1e-12 of its largest value
    (measured 1.6e-14)."""
    a, _, c = serial_one_two(deck_of(name, tmp_path), tmp_path)
    react = [k for k in a if "reaction" in k]
    assert len(react) == (3 if name == "smoke" else 7), sorted(a)
    scale = max(float(np.max(np.abs(a[k]))) for k in react)
    for k in react:
        print(k, float(np.max(np.abs(c[k] - a[k]))) / scale)
        assert float(np.max(np.abs(c[k] - a[k]))) <= 1e-12 * scale, k
    ta, tc = thermo(tmp_path / "ser.h5"), thermo(tmp_path / "two.h5")
    assert_thermo_close(tc, ta, ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms",
                                 "potential_continuum"))
    assert float(np.max(tc["constraint_residual"])) <= 1e-12


def test_fixed_restarts_across_paths(tmp_path: Path) -> None:
    """``held`` with a checkpoint at step 200 (of 300): a 2-rank spatial checkpoint restarted serially and a
    serial checkpoint restarted on 2 spatial ranks end ≤ 1e-12 of the straight serial run (thermo energies
    and the floor's reaction: of their largest values; atom positions X + u), the held dofs at rest."""
    deck = deck_of("held", tmp_path)
    t = tmp_path
    restarts_crosswise(deck, t, checkpoint=True)
    a, ta = results(t / "ser.h5"), thermo(t / "ser.h5")
    hd, _, x0, _ = held(deck)
    X = prepared(str(deck)).model.atoms.X
    for name in ("r2", "r0"):
        tr, r = thermo(t / f"{name}.h5"), results(t / f"{name}.h5")
        keys = ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum")
        for k in keys:
            assert tr[k].shape == ta[k].shape
        assert_thermo_close(tr, ta, keys, name)
        for k in ("observables/floor.reaction_x", "observables/floor.reaction_z"):
            assert rel(r[k], a[k]) <= 1e-12, (name, k)
        u = r["frames/atoms/displacement"][-1]
        assert rel(X + u, X + a["frames/atoms/displacement"][-1]) <= 1e-12, name
        np.testing.assert_array_equal((X + u)[hd[:, 0], hd[:, 1]], x0[hd[:, 0], hd[:, 1]])


# ---------------------------------------------------------------------------------------- refusals
def test_refusals_fixed(tmp_path: Path) -> None:
    """Dofs with zero inverse mass that no ``fixed`` (or ``prescribed``) load holds are refused at ``loads``
    with an exact message, by `spatial_refusal` and by `SpatialCoupled` itself (prescribed motion is
    supported since spload: tests/parallel/test_mpi_coupled_spatial_loads.py)."""
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.coupled_spatial import SpatialCoupled, spatial_refusal
    what = "is not supported by the spatial decomposition of coupled decks yet (--decompose spatial)"
    sim = prepared(str(SMOKE))
    sim.integrator._fixed = sim.integrator._fixed[1:]       # a held dof the integrator does not hold
    got = spatial_refusal(sim.model, sim.integrator)
    assert got == ("loads", f"dofs with zero inverse mass other than the fixed, prescribed and kfield loads' {what}"), got
    with pytest.raises(ValueError, match="^loads: dofs with zero inverse mass"):
        SpatialCoupled(sim.model, sim.integrator, SerialComm())


# ---------------------------------------------------------------------------------------- with a thermostat
def test_fixed_with_thermostat(tmp_path: Path) -> None:
    """``held_thermo`` (held atoms and nodes, Langevin at 100 K on every atom, the held ones included: their
    thermostat forces do not move them and do no work) with the operators' driver: 1 rank 200 steps
    bitwise the serial run (state, every ledger term, the booked external work among them); 2 ranks 1 000
    steps positions ≤ 1e-12, every ledger term ≤ 1e-12 of its largest value, the held dofs exactly at
    rest."""
    from mpi_coupled_spatial_ops_driver import serial_reference as ops_reference
    deck = deck_of("held_thermo", tmp_path)
    z = spatial_ops(1, deck, 200, 50, tmp_path)
    ref = ops_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger", "th_step"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    assert abs(ref["ledger"][-1, 4]) > 1e-3 * abs(ref["ledger"][-1, 0])        # the thermostat did work
    z = spatial_ops(2, deck, 1000, 100, tmp_path)
    ref = ops_reference(str(deck), 1000, 100)
    hd, hn, x0, _ = held(deck)
    for r in (z, ref):
        np.testing.assert_array_equal(r["x"][hd[:, 0], hd[:, 1]], x0[hd[:, 0], hd[:, 1]])
        assert not np.any(r["v"][hd[:, 0], hd[:, 1]]) and not np.any(r["U"][hn]) and not np.any(r["V"][hn])
    assert rel(z["x"], ref["x"]) <= 1e-12
    L, R = z["ledger"], ref["ledger"]
    assert L.shape == R.shape == (11, 8)
    err = per_column(L[:, :7], R[:, :7])
    print("held_thermo ledger rel", err, "x", rel(z["x"], ref["x"]))
    assert np.all(err <= 1e-12), err
