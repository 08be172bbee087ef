"""The spatial coupled path (`parallel.coupled_spatial.SpatialCoupled`, ``--decompose spatial``) with a
Langevin thermostat, a damping band and strong coupling (`parallel.spatial_operators`), under
``mpiexec -n 2``, against the serial `VelocityVerlet` computed in this pytest process.

Decks: variants of decks/wave2d.yaml (LJ, tri3, 2D): ``thermostat`` (langevin on every atom, k_B T = 0.01:
the neighbour lists are rebuilt and atoms change rank while the run goes on), ``damping`` (a damping band
with a bath: `DampingBand`'s map and keyed noise), ``strong`` (strong coupling: 2 012 rows, the block
factorisation, the augmented solve and 1 680 slaved dofs of `ConstraintProjector`), ``all`` (the three
together, the thermostat on a region), and decks/thermal2d.yaml itself (a band with a bath at k_B T = 0.1,
atoms started at 2T, a thermal_strain continuum), ``moving`` (thermostat and band with a 10× pulse off centre
and a small skin: lists rebuilt, atoms — band atoms among them — change rank), ``morse3d`` / ``eam3d`` (the
3D decks of test_mpi_coupled_spatial_3d.py — Morse fcc Cu with strong coupling, EAM Cu_u3 projected — with
a Langevin thermostat and a band with a bath at 100 K). Contract: 1 rank bitwise serial; 2 ranks vs serial after 1 000 steps
positions ≤ 1e-12 relative, every ledger term (kinetic, potential, external work, dissipated, total)
≤ 1e-12 of its largest value, U and the velocities ≤ 1e-9 and ≤ 3× the control of
tests/parallel/test_mpi_coupled_spatial.py (the serial run with its atoms' forces perturbed by one
rounding); the same P twice bitwise.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_driver import prepared
from mpi_coupled_spatial_driver import serial_reference as perturbed_reference
from mpi_coupled_spatial_ops_driver import serial_reference
from mpi_helpers import (
    ROOT,
    assert_near_serial,
    assert_thermo_close,
    assert_twice_bitwise,
    deck_dict,
    per_column,
    rel,
    restarts_crosswise,
    results,
    serial_one_two,
    thermo,
    write_deck,
)
from mpi_helpers import spatial_ops as spatial

WAVE2D = ROOT / "decks" / "wave2d.yaml"

VARIANTS = {
    "thermostat": {"integrator": {"thermostat": {"type": "langevin", "temperature": 0.01, "damp": 1.0},
                                  "seed": 3}},
    "damping": {"handshake": {"damping": {"gamma0": 1.0, "temperature": 0.002}}},
    "strong": {"handshake": {"coupling": {"type": "strong"}}},
    "all": {"integrator": {"thermostat": {"type": "langevin", "temperature": 0.01, "damp": 1.0,
                                          "region": {"type": "box", "lo": [-20.0, -20.0], "hi": [20.0, 20.0]}},
                           "seed": 3},
            "handshake": {"coupling": {"type": "strong"}, "damping": {"gamma0": 1.0, "temperature": 0.01}}},
    "moving": {"atoms": {"skin": 0.05},
               "loads": [{"type": "radial_pulse", "center": [0.3, 0.2], "sigma": 2.0, "amplitude": 0.1}],
               "integrator": {"thermostat": {"type": "langevin", "temperature": 0.002, "damp": 2.0}, "seed": 4},
               "handshake": {"damping": {"gamma0": 1.0, "temperature": 0.002}}},
}


OPS3D = {"integrator": {"type": "verlet", "dt": 0.002, "steps": 300, "seed": 7,
                         "thermostat": {"type": "langevin", "temperature": 100.0, "damp": 0.1}}}
BAND3D = {"gamma0": 1.0, "temperature": 100.0}


def variant(name: str, tmp_path: Path, **output) -> Path:  # noqa: ANN003
    if name == "thermal2d":       # the deck itself: band with a bath at k_B T = 0.1, thermal_strain mesh
        return ROOT / "decks" / "thermal2d.yaml"
    if name in ("morse3d", "eam3d"):    # the 3D decks of test_mpi_coupled_spatial_3d.py with both operators
        from test_mpi_coupled_spatial_3d import EAM, SMOKE
        from test_mpi_coupled_spatial_3d import variant as variant3d
        cpl = {"type": "strong"} if name == "morse3d" else {"type": "projected", "slave_below": 0.05}
        deck = variant3d(SMOKE if name == "morse3d" else EAM, tmp_path, name, coupling=cpl, **OPS3D)
        d = deck_dict(deck, keep_expect=True)
        d["handshake"]["damping"] = BAND3D
        d["output"].update(output)
        return write_deck(d, deck)
    d = deck_dict(WAVE2D)
    for sec, upd in VARIANTS[name].items():
        d[sec] = {**d[sec], **upd} if isinstance(upd, dict) else upd
    d["output"].update(output)
    return write_deck(d, tmp_path / f"wave2d_{name}.yaml")


@pytest.mark.parametrize("name", [*VARIANTS, "thermal2d", "morse3d", "eam3d"])
def test_one_rank_bitwise(tmp_path: Path, name: str) -> None:
    """On one rank 200 steps bitwise the serial run: atoms, nodes, every ledger term (the thermostat's
    booked work, the band's dissipated energy) and the thermostat's step counter."""
    deck = variant(name, tmp_path)
    z = spatial(1, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger", "th_step"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    L = ref["ledger"]
    if name in ("thermostat", "all", "moving", "morse3d", "eam3d"):
        assert abs(L[-1, 4]) > 1e-3 * abs(L[-1, 0])              # the thermostat did work
    if name in ("damping", "all", "thermal2d", "moving", "morse3d", "eam3d"):
        assert L[-1, 5] != 0.0                                    # the band removed / added energy


@pytest.mark.parametrize("name", ["thermostat", "damping", "strong", "thermal2d", "moving", "morse3d", "eam3d"])
def test_two_ranks_1000_steps(tmp_path: Path, name: str) -> None:
    """1 000 steps on 2 ranks (both own atoms) vs serial: positions ≤ 1e-12 relative, node positions
    X + U ≤ 1e-12, every ledger term at every 100th step ≤ 1e-12 of its largest value, U and the
    velocities ≤ 1e-9 of their largest value and ≤ 3× the control (round-off in the forces alone moves
    them as far). The thermostat run rebuilds its lists and migrates atoms (the thermostat forces redrawn
    in the new layout)."""
    deck = variant(name, tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path)
    ref = serial_reference(str(deck), 1000, 100)
    ctl = perturbed_reference(str(deck), 1000, 1000, perturb=2.2e-16)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    if name in ("thermostat", "moving"):
        assert int(z["builds"]) >= 4 and int(z["migrated"]) > 0, (z["builds"], z["migrated"])
        assert int(z["th_step"]) == int(ref["th_step"]) == 1001
    assert_near_serial(z, ref, ctl, name, nodes=prepared(str(deck)).model.continuum.nodes)
    L, R = z["ledger"], ref["ledger"]
    assert L.shape == R.shape == (11, 8)
    np.testing.assert_array_equal(L[:, 7], R[:, 7])
    scale = np.max(np.abs(R[:, :7]), axis=0)
    err = per_column(L[:, :7], R[:, :7])
    print(name, "ledger rel", err)
    assert np.all(err <= 1e-12), err
    assert np.all((scale > 0) == (np.max(np.abs(L[:, :7]), axis=0) > 0))   # the same terms are non-zero


def test_two_ranks_twice_bitwise(tmp_path: Path) -> None:
    """Thermostat, damping band and strong coupling together: the same P twice gives bitwise the same
    state and ledger (200 steps on 2 ranks)."""
    deck = variant("all", tmp_path)
    assert_twice_bitwise(spatial, deck, tmp_path, ("x", "v", "U", "V", "ledger"))


def test_msim_run_and_restarts(tmp_path: Path) -> None:
    """`msim run --decompose spatial` of the ``all`` variant (300 steps, checkpoint at 200): 1 rank bitwise
    the serial results file (every frame, thermo and observable dataset); 2 ranks: thermo energies, the
    external work and the dissipated energy ≤ 1e-12 of their largest values, frames ≤ 1e-9; restarts at
    step 200 to 300 — a serial checkpoint on 2 spatial ranks (the thermostat forces of the checkpoint,
    not redrawn) and a 2-rank spatial checkpoint serially — end ≤ 1e-12 of the straight serial run."""
    deck = variant("all", tmp_path, every=100, thermo_every=20, checkpoint_every=200)
    d = deck_dict(deck, keep_expect=True)
    d["integrator"]["steps"] = 300
    write_deck(d, deck)
    t = tmp_path
    a, _, c = serial_one_two(deck, t)
    keys = ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum",
            "external_work", "dissipated", "total_plus_dissipated")
    ta = thermo(t / "ser.h5")
    assert float(np.max(np.abs(ta["external_work"]))) > 0 and float(np.max(np.abs(ta["dissipated"]))) > 0
    tc = thermo(t / "two.h5")
    assert_thermo_close(tc, ta, keys)
    assert float(np.max(tc["constraint_residual"])) <= 1e-13
    # restarts at step 200: serial checkpoint -> 2 spatial ranks; 2-rank spatial checkpoint -> serial
    restarts_crosswise(deck, t, straight=False)
    X = prepared(str(deck)).model.atoms.X
    for name in ("r2", "r0"):
        tr = thermo(t / f"{name}.h5")
        for k in keys:
            assert tr[k].shape == ta[k].shape
        assert_thermo_close(tr, ta, keys, name)
        xr = results(t / f"{name}.h5")["frames/atoms/displacement"]
        assert rel(X + xr[-1], X + a["frames/atoms/displacement"][-1]) <= 1e-12, name


def test_refusals() -> None:
    """What stays unsupported with these operators is refused at its key, never run: a thermostat that is
    not the serial Langevin class, velocity operators besides the damping band, a damping band reaching
    atoms outside the constraint rows, a force hook that is not a load's; the variants themselves are
    accepted."""
    from multiscale.md.thermostats.langevin import Langevin
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.coupled_spatial import SpatialCoupled, spatial_refusal
    tmp = Path(__import__("tempfile").mkdtemp())
    try:
        for name in VARIANTS:
            sim = prepared(str(variant(name, tmp)))
            assert spatial_refusal(sim.model, sim.integrator) is None, name

        def case(name: str, change, key: str) -> None:  # noqa: ANN001
            sim = prepared(str(variant(name, tmp)))
            change(sim)
            got = spatial_refusal(sim.model, sim.integrator)
            assert got is not None and got[0] == key, got
            assert "not supported by the spatial decomposition" in got[1]
            with pytest.raises(ValueError, match=key.replace(".", r"\.")):
                SpatialCoupled(sim.model, sim.integrator, SerialComm())

        class OtherLangevin(Langevin):
            pass

        def other_thermostat(sim) -> None:  # noqa: ANN001
            th = sim.model.thermostat
            th.__class__ = OtherLangevin

        def extra_op(sim) -> None:  # noqa: ANN001
            sim.integrator.velocity_ops.append(sim.model.damping)

        def band_outside(sim) -> None:  # noqa: ANN001
            it, d = sim.integrator, sim.model.system.d
            first = int(sim.model.system.free[sim.model.system.constrained][0])
            it._t_atom = it._t_atom[it._t_atom // d != first]

        def foreign_hook(sim) -> None:  # noqa: ANN001
            class Push:
                def forces(self, system, t, f_atoms, f_nodes) -> None:  # noqa: ANN001
                    f_atoms += 1.0
            sim.integrator.force_hooks.append(Push())

        case("thermostat", other_thermostat, "integrator.thermostat")
        case("damping", extra_op, "handshake.damping")
        case("damping", band_outside, "handshake.damping")
        case("thermostat", foreign_hook, "integrator")
    finally:
        shutil.rmtree(tmp)
