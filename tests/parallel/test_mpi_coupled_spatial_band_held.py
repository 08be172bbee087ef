"""A damping band with atoms HELD along every component inside the handshake on the spatial coupled path
(`parallel.spatial_operators.SpatialDamping`, ``msim run --decompose spatial``; rev30 F2), under ``mpiexec``,
against the serial `VelocityVerlet` in this pytest process.

Decks (rev30's reproducers, rebuilt):
``wall2d`` — decks/thermal2d.yaml (band with a bath at k_B T = 0.1, atoms started at 2T) with strong coupling
and a ``fixed`` box at x ∈ [7, 9] holding atoms and nodes: the strong rows of the held atoms whose mesh
nodes are held too are dropped, so 26 band atoms are in no constraint row (25 before rev32 F14's held-row
rule: the x and y rows of one more held atom keep 3.3e-6 of their Gram diagonal on free dofs, below
`coupling.projector.HELD_RATIO`, and are dropped as effectively held);
``floor3d`` — the 3D EAM Cu_u3 deck (projected, slave_below 0.05, its fixed bottom nodes) with the lowest
plane of free atoms held (z < 2.5) and a band with a bath at 100 K: 17 band atoms in no row (rev32 F14: the
projector drops 51 rows as held — 24 of free share ≤ 1.8e-6, 27 dependent in their free dofs only — and 15
as dependent; 15 atoms before, when 48 of the 75 rows dropped by the unscaled rank test were independent).
Those atoms are exactly the held ones: the serial band map keeps their velocity (zero inverse mass), which
stays 0; the spatial band reads that constant and writes nothing back.

Contract: 1 rank bitwise the serial run (state, every ledger term: the dissipated energy among them); 2 and
3 ranks after 400 steps positions and node positions X + U ≤ 1e-12, every ledger term ≤ 1e-12 of its
largest value; the held dofs exactly at rest on any P. A band atom outside the constraint rows with a free
component is refused at ``handshake.damping``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_driver import prepared
from mpi_coupled_spatial_ops_driver import serial_reference
from mpi_helpers import (
    ROOT,
    WHAT,
    assert_thermo_close,
    deck_dict,
    msim,
    ok,
    per_column,
    rel,
    results,
    serial_one_two,
    thermo,
    write_deck,
)
from mpi_helpers import spatial_ops as spatial

WALL = {"type": "fixed", "label": "wall", "region": {"type": "box", "lo": [7.0, -30.0], "hi": [9.0, 30.0]}}
FLOOR = {"type": "fixed", "label": "floor", "targets": "atoms",
         "region": {"type": "box", "lo": [-10.0, -10.0, -10.0], "hi": [40.0, 40.0, 2.5]}}


def deck_of(name: str, tmp: Path, **output) -> Path:  # noqa: ANN003
    """``wall2d``, ``roller2d`` (the wall holding x only) or ``floor3d`` (module docstring)."""
    if name == "floor3d":
        from test_mpi_coupled_spatial_3d import EAM
        from test_mpi_coupled_spatial_3d import variant as variant3d
        deck = variant3d(EAM, tmp, name, coupling={"type": "projected", "slave_below": 0.05}, keep_loads=True)
        d = deck_dict(deck, keep_expect=True)
        d["loads"].append(FLOOR)
        d["handshake"]["damping"] = {"gamma0": 1.0, "temperature": 100.0}
        d["integrator"] = {"type": "verlet", "dt": 0.002, "steps": 400, "seed": 7}
    else:
        d = deck_dict(ROOT / "decks" / "thermal2d.yaml")
        d["handshake"]["coupling"] = {"type": "strong"}
        d["loads"] = [WALL if name == "wall2d" else {**WALL, "label": "roller", "components": ["x"]}]
        d["integrator"]["steps"] = 400
    d["output"].update(output)
    return write_deck(d, tmp / f"{name}.yaml")


def outside(sim) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(atoms of H in no kept constraint row, the held dofs (k, 2) [row, component] of the prepared deck)."""
    s, it = sim.model.system, sim.integrator
    H = s.free[s.constrained]
    out = H[~np.isin(H, np.unique(it._t_atom // s.d))]
    inv = it._inv_atoms.copy()
    inv[s.pad_idx] = 1.0
    return out, np.argwhere(inv == 0.0)


@pytest.mark.parametrize("name", ["wall2d", "roller2d", "floor3d"])
def test_accepted(tmp_path: Path, name: str) -> None:
    """The decks are accepted on 1, 2 and 3 ranks. ``wall2d`` / ``floor3d``: 26 / 17 band atoms lie in no
    constraint row, every one held along every component at rest. ``roller2d`` (held along x only): every
    band atom is in a constraint row (its y row stays), so a partly held band atom outside the rows does not
    arise from these decks."""
    from multiscale.parallel.coupled_spatial import spatial_refusal
    sim = prepared(str(deck_of(name, tmp_path)))
    for p in (1, 2, 3):
        assert spatial_refusal(sim.model, sim.integrator, p) is None, p
    out, _ = outside(sim)
    assert out.size == {"wall2d": 26, "roller2d": 0, "floor3d": 17}[name], out.size
    assert np.all(sim.integrator._inv_atoms[out] == 0.0)
    assert not np.any(sim.model.atoms.v[out])


@pytest.mark.parametrize("name", ["wall2d", "floor3d"])
def test_one_rank_bitwise(tmp_path: Path, name: str) -> None:
    """One rank, 400 steps: bitwise the serial run (x, v, U, V, every ledger row: the band's dissipated
    energy, which is not zero)."""
    deck = deck_of(name, tmp_path)
    z = spatial(1, deck, 400, 100, tmp_path)
    ref = serial_reference(str(deck), 400, 100)
    for k in ("x", "v", "U", "V", "ledger"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    assert ref["ledger"][-1, 5] != 0.0


@pytest.mark.parametrize("n_ranks", [2, 3])
@pytest.mark.parametrize("name", ["wall2d", "floor3d"])
def test_ranks_400_steps(tmp_path: Path, name: str, n_ranks: int) -> None:
    """400 steps on 2 and 3 ranks (every rank owns atoms) vs serial: positions and node positions X + U
    ≤ 1e-12 relative, every ledger term (kinetic, potential, dissipated, total) at every 100th step ≤ 1e-12
    of its largest value, U, V and the velocities ≤ 1e-9 of their largest value; the held atoms' held
    components at their initial x with v exactly 0, on both sides of every slab boundary's rank."""
    deck = deck_of(name, tmp_path)
    z = spatial(n_ranks, deck, 400, 100, tmp_path)
    ref = serial_reference(str(deck), 400, 100)
    assert int(z["size"]) == n_ranks and np.all(z["atoms_per_rank"] > 0)
    sim = prepared(str(deck))
    out, hd = outside(sim)
    x0 = sim.model.atoms.x
    for r in (z, ref):
        np.testing.assert_array_equal(r["x"][hd[:, 0], hd[:, 1]], x0[hd[:, 0], hd[:, 1]])
        assert not np.any(r["v"][hd[:, 0], hd[:, 1]])
    assert rel(z["x"], ref["x"]) <= 1e-12
    nodes = sim.model.continuum.nodes
    assert rel(nodes + z["U"], nodes + ref["U"]) <= 1e-12
    for k in ("U", "V", "v"):
        print(name, n_ranks, k, rel(z[k], ref[k]))
        assert rel(z[k], ref[k]) <= 1e-9, k
    L, R = z["ledger"], ref["ledger"]
    assert L.shape == R.shape == (5, 8)
    np.testing.assert_array_equal(L[:, 7], R[:, 7])
    scale = np.max(np.abs(R[:, :7]), axis=0)
    err = per_column(L[:, :7], R[:, :7])
    print(name, n_ranks, "ledger rel", err, "x", rel(z["x"], ref["x"]))
    assert np.all(err <= 1e-12), err
    assert scale[5] > 0                                             # the band removed / added energy


def test_msim_run_and_restart(tmp_path: Path) -> None:
    """`msim run --decompose spatial` of ``wall2d`` (400 steps, checkpoint at 200): it runs (exit 0; it
    was refused with exit 2); 1 rank bitwise the serial results file (every frame, thermo and observable
    dataset, the wall's reactions among them); 2 ranks: thermo energies and the dissipated energy ≤ 1e-12 of
    their largest values, frames ≤ 1e-9; a serial checkpoint at step 200 restarted on 3 spatial ranks ends
    ≤ 1e-12 of the straight serial run."""
    deck = deck_of("wall2d", tmp_path, every=200, thermo_every=50, checkpoint_every=200)
    t = tmp_path
    a, _, c = serial_one_two(deck, t)
    assert any("wall.reaction" in k for k in a), sorted(a)
    keys = ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum",
            "dissipated", "total_plus_dissipated")
    ta, tc = thermo(t / "ser.h5"), thermo(t / "two.h5")
    assert float(np.max(np.abs(ta["dissipated"]))) > 0
    assert_thermo_close(tc, ta, keys)
    ok(msim(0, str(deck), "-o", str(t / "s200.h5"), "--steps", "200"))
    shutil.copy(t / "s200.h5", t / "r3.h5")
    ok(msim(3, str(deck), "-o", str(t / "r3.h5"), "--restart", str(t / "s200.checkpoint.h5"),
            "--decompose", "spatial"))
    tr = thermo(t / "r3.h5")
    for k in keys:
        assert tr[k].shape == ta[k].shape
    assert_thermo_close(tr, ta, keys)
    X = prepared(str(deck)).model.atoms.X
    u = results(t / "r3.h5")["frames/atoms/displacement"][-1]
    assert rel(X + u, X + a["frames/atoms/displacement"][-1]) <= 1e-12


def test_refusal_partly_held(tmp_path: Path) -> None:
    """A band atom in no constraint row with a free component (made by freeing one component of one of
    ``wall2d``'s held atoms in the integrator's inverse masses) is refused at ``handshake.damping`` with the
    exact message, by `spatial_refusal` and by `SpatialCoupled`; the deck itself is accepted."""
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.coupled_spatial import SpatialCoupled, spatial_refusal
    sim = prepared(str(deck_of("wall2d", tmp_path)))
    out, _ = outside(sim)
    a = int(out[3])
    sim.integrator._inv_atoms[a, 1] = 1.0
    got = spatial_refusal(sim.model, sim.integrator, 2)
    assert got == ("handshake.damping", "a damping band on atoms outside the constraint rows that are not held "
                                        f"along every component by fixed loads (1 atoms, e.g. atom {a}) {WHAT}"), got
    with pytest.raises(ValueError, match=r"^handshake\.damping: a damping band on atoms outside the constraint "
                                         r"rows that are not held along every component by fixed loads \(1 atoms"):
        SpatialCoupled(sim.model, sim.integrator, SerialComm())


def test_refusal_prescribed(tmp_path: Path) -> None:
    """``pushed2d`` (``wall2d`` with the wall moved by a ``prescribed`` load at v = (0.05, 0) instead of held):
    its 26 band atoms outside the rows have zero inverse mass but their velocity is imposed every step (the
    serial band map reads it), so the deck is refused at ``handshake.damping`` (read as held, it ran and
    1 rank differed from the serial run by 3e-4 in v after 200 steps), by `spatial_refusal` and by
    `SpatialDamping` itself."""
    from multiscale.parallel.coupled_spatial import spatial_refusal
    from multiscale.parallel.spatial_operators import SpatialDamping
    d = deck_dict(deck_of("wall2d", tmp_path), keep_expect=True)
    d["loads"] = [{**WALL, "type": "prescribed", "label": "push", "velocity": [0.05, 0.0]}]
    deck = write_deck(d, tmp_path / "pushed2d.yaml")
    sim = prepared(str(deck))
    out, _ = outside(sim)
    assert out.size == 26 and np.all(sim.integrator._inv_atoms[out] == 0.0)
    got = spatial_refusal(sim.model, sim.integrator, 2)
    assert got == ("handshake.damping", "a damping band on atoms outside the constraint rows that are not held "
                                        f"along every component by fixed loads (26 atoms, e.g. atom {int(out[0])}) "
                                        f"{WHAT}"), got
    T = np.unique(sim.integrator._t_atom // 2)

    class Stub:     # what `SpatialDamping` reads of its `SpatialCoupled`
        s, d, dt, model = sim.model.system, 2, sim.integrator.dt, sim.model
    Stub.T = T
    with pytest.raises(ValueError, match="not held along every component by fixed loads"):
        SpatialDamping(Stub(), sim.model.damping, sim.integrator)
