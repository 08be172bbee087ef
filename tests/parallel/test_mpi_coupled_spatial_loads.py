"""Loads of coupled dynamics on the spatial path (`parallel.spatial_loads`, ``msim run --decompose spatial``)
under ``mpiexec``: prescribed motion of atoms and nodes, indenters (a sphere on the free surface, a flat punch
on the pads), a body force (atoms and nodes) and a traction, with the ``fixed`` bottom of the suite's 3D
smoke deck (tests/parallel/decks/coupled3d_smoke.yaml: Morse fcc Cu, 720 atoms of which 95 pads, hex8,
strong coupling, 100 K core), and the gallery's dynamic indentation deck decks/indent2d_dyn_T.yaml
(LJ, tri3, projected coupling, damping band with its bath at T = 0.02, indenter and fixed bottom) unmodified.

Decks (`deck_of`): ``all`` — the smoke deck plus
``tip`` (sphere R = 5 Å, K = 1 eV/Å³, 0.19 Å above the top atom, 1 Å/ps down: contacts from about step 100),
``side`` (prescribed x velocity 0.5 Å/ps of the atoms of the face y < 0.5 above z = 2.5: constraint-row
atoms on both ranks' slabs), ``pull`` (prescribed nodes x > 21.5: velocity 0.3 Å/ps along x plus a 0.05 Å
ramp along y over 0.2 ps), ``g`` (body force −2 Å/ps² along z, ramped over 0.1 ps), ``push`` (traction on
the top faces) and ``punch`` (a flat punch from below on the lowest atom plane: pads only, its forces go to
the nodes through Nᵀ); ``free`` — the smoke deck without its fixed bottom, with ``tip`` and ``push`` only
(no fixed dof: the round-off check of G q after the forces, `VelocityVerlet.check_after_forces`);
``kfield`` — the smoke deck plus a K field (front along z at (10, 8), K = 0.01 + 0.05 t, cubic Cu
constants) on the atoms and nodes x > 20 (constraint-row atoms of one slab), every atom started on it.

Contract: against the serial `VelocityVerlet` in this pytest process — 1 rank bitwise (x, v, U, V, every
ledger term including the external work, every load observable and every load hook's energy); 2 ranks after
1 000 steps positions ≤ 1e-12, every ledger term and every observable ≤ 1e-12 of its largest value,
velocities ≤ 1e-9 and ≤ 3× the control (the serial run with its atoms' forces perturbed by one rounding);
the gallery deck (thermal noise of the band, contacts starting from zero overlap) ≤ 3× the control on
every term and observable. Restarts across the paths ≤ 1e-12. Loads that stay unsupported (``precrack``)
are refused at ``loads`` with an exact message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_driver import prepared
from mpi_coupled_spatial_loads_driver import serial_reference
from mpi_helpers import (
    HERE,
    ROOT,
    assert_near_serial,
    assert_thermo_close,
    deck_dict,
    msim,
    per_column,
    rel,
    restarts_crosswise,
    results,
    serial_one_two,
    thermo,
    write_deck,
)
from mpi_helpers import spatial_loads as spatial

SMOKE = HERE / "decks" / "coupled3d_smoke.yaml"
INDENT2D = ROOT / "decks" / "indent2d_dyn_T.yaml"
TIP = {"type": "indenter", "label": "tip", "shape": "sphere", "radius": 5.0, "stiffness": 1.0,
       "center": [10.5, 10.5, 21.7], "velocity": 1.0}
SIDE = {"type": "prescribed", "label": "side", "targets": "atoms", "components": ["x"],
        "velocity": [0.5, 0.0, 0.0], "region": {"type": "box", "lo": [-10.0, -10.0, 2.5], "hi": [40.0, 0.5, 40.0]}}
PULL = {"type": "prescribed", "label": "pull", "targets": "nodes", "velocity": [0.3, 0.0, 0.0],
        "displacement": [0.0, 0.05, 0.0], "ramp_time": 0.2,
        "region": {"type": "box", "lo": [21.5, -10.0, -10.0], "hi": [40.0, 40.0, 40.0]}}
G = {"type": "body_force", "label": "g", "acceleration": [0.0, 0.0, -2.0], "ramp_time": 0.1}
PUSH = {"type": "traction", "label": "push", "traction": [0.0, 0.002, -0.005],
        "region": {"type": "box", "lo": [-10.0, -10.0, 17.5], "hi": [40.0, 40.0, 40.0]}}
PUNCH = {"type": "indenter", "label": "punch", "shape": "flat", "radius": 40.0, "stiffness": 2.0,
         "center": [10.5, 10.5, 0.15], "direction": [0.0, 0.0, 1.0]}
CU = [[1.05, 0.76, 0.76, 0.0, 0.0, 0.0], [0.76, 1.05, 0.76, 0.0, 0.0, 0.0], [0.76, 0.76, 1.05, 0.0, 0.0, 0.0],
      [0.0, 0.0, 0.0, 0.47, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.47, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.47]]   # eV/Å³
KF = {"type": "kfield", "label": "kf", "tip": [10.0, 8.0], "K": 0.01, "K_rate": 0.05, "elastic": CU,
      "boundary": {"type": "box", "lo": [20.0, -10.0, -10.0], "hi": [40.0, 40.0, 40.0]}}
WHAT = "is not supported by the spatial decomposition of coupled decks yet (--decompose spatial)"


def deck_of(name: str, tmp: Path) -> Path:
    """``all``, ``free``, ``kfield`` (module docstring), ``kfield_nodes`` (the K field on the nodes only: the
    set-up crashed on its empty atom selection, review rev31 F1) or ``indent2d`` (the gallery deck, unmodified)."""
    if name == "indent2d":
        return INDENT2D
    d = deck_dict(SMOKE, keep_expect=True)
    d["loads"] = {"all": [*d["loads"], TIP, SIDE, PULL, G, PUSH, PUNCH], "free": [TIP, PUSH],
                  "kfield": [*d["loads"], KF], "kfield_nodes": [*d["loads"], {**KF, "targets": "nodes"}]}[name]
    return write_deck(d, tmp / f"{name}.yaml")


@pytest.mark.parametrize("name", ["all", "free", "kfield", "indent2d"])
def test_accepted(tmp_path: Path, name: str) -> None:
    """The decks are accepted on 1 and 2 ranks; the integrator's fixed dofs are the fixed and prescribed
    loads' (`fixed_stacked`); on ``all`` the punch touches pads only, the prescribed atoms lie on both
    halves of the box and are constraint-row atoms; ``free`` checks G q after the forces."""
    from multiscale.parallel.coupled_spatial import fixed_stacked, spatial_refusal
    sim = prepared(str(deck_of(name, tmp_path)))
    assert spatial_refusal(sim.model, sim.integrator) is None
    assert spatial_refusal(sim.model, sim.integrator, 2) is None
    np.testing.assert_array_equal(fixed_stacked(sim.model), sim.integrator._fixed)
    it, s = sim.integrator, sim.model.system
    assert it._check_after_forces() == (name == "free")
    if name == "all":
        punch = sim.model.loads[-1]
        _, _, idx = punch.energy_forces(s.atoms.x, punch.center(0.0))
        assert idx.size and np.all(np.isin(idx, s.pad_idx))
        side = np.flatnonzero(sim.model.loads[2].atom_sel & ~np.isin(np.arange(s.n_atoms), s.pad_idx))
        X = s.atoms.X[side, 0]
        mid = 0.5 * (s.atoms.X[:, 0].min() + s.atoms.X[:, 0].max())
        assert np.any(X < mid) and np.any(X > mid)
        assert np.all(np.isin(side, np.unique(it._t_atom // 3)))


@pytest.mark.parametrize(("name", "steps"), [("all", 200), ("free", 200), ("kfield", 200), ("kfield_nodes", 200),
                                             ("indent2d", 1200)])
def test_loads_one_rank_bitwise(tmp_path: Path, name: str, steps: int) -> None:
    """One rank: bitwise the serial run (x, v, U, V; every ledger term with the external work; every
    observable and hook energy at every quarter of the run); the loads act (contacts at the end, work,
    reactions not 0; the gallery deck's indenter starts 0.76 σ above the film: contacts from step 1 000)."""
    deck = deck_of(name, tmp_path)
    z = spatial(1, deck, steps, steps // 4, tmp_path)
    ref = serial_reference(str(deck), steps, steps // 4)
    for k in ("x", "v", "U", "V", "ledger", "obs"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    names = list(ref["names"])
    contacts = [i for i, n in enumerate(names) if n.endswith(".contacts")]
    assert all(ref["obs"][-1, i] > 0 for i in contacts), names
    assert abs(ref["ledger"][-1, 4]) > 0                       # external work booked
    for i, n in enumerate(names):
        if "reaction" in n and not n.startswith("pull.reaction_z"):
            assert ref["obs"][-1, i] != 0.0, n


def test_loads_two_ranks_1000_steps(tmp_path: Path) -> None:
    """``all`` 1 000 steps on 2 ranks vs serial: positions and X + U ≤ 1e-12; every ledger term and every
    load observable and hook energy at every 100th step ≤ 1e-12 of its largest value; U, V, v ≤ 1e-9 and
    ≤ 3× the control; the prescribed atoms' x components exactly X + 0.5 t and their velocity 0.5 on both
    runs. Measured (load ~15): ledger ≤ 3.9e-14, observables ≤ 6.3e-13, U, V, v ≤ 5.6e-13 (control ≤ 5.5e-13)."""
    deck = deck_of("all", tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path)
    ref = serial_reference(str(deck), 1000, 100)
    ctl = serial_reference(str(deck), 1000, 100, perturb=2.2e-16)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    sim = prepared(str(deck))
    s = sim.model.system
    side = np.flatnonzero(sim.model.loads[2].atom_sel & ~np.isin(np.arange(s.n_atoms), s.pad_idx))
    for r in (z, ref):
        np.testing.assert_array_equal(r["x"][side, 0], s.atoms.X[side, 0] + 0.5 * (1000 * 0.002))
        assert np.all(r["v"][side, 0] == 0.5)
    assert_near_serial(z, ref, ctl, "loads", nodes=sim.model.continuum.nodes)
    assert z["ledger"].shape == ref["ledger"].shape == (11, 8)
    np.testing.assert_array_equal(z["ledger"][:, 7], ref["ledger"][:, 7])
    err = per_column(z["ledger"][:, :7], ref["ledger"][:, :7])
    print("loads ledger", err)
    assert np.all(err <= 1e-12), err
    err = per_column(z["obs"], ref["obs"])
    print("loads obs", dict(zip(ref["names"], err, strict=False)))
    assert z["obs"].shape == ref["obs"].shape and np.all(err <= 1e-12), err


def test_kfield_two_ranks_1000_steps(tmp_path: Path) -> None:
    """``kfield`` 1 000 steps on 2 ranks vs serial: positions ≤ 1e-12, every ledger term (the work of the
    moving boundary among them) and the K observable ≤ 1e-12 of their largest values, velocities ≤ 1e-9 and
    ≤ 3× the control; the boundary atoms (constraint-row atoms of rank 1's slab) and nodes exactly on the
    field K(t) u₁ in both runs."""
    deck = deck_of("kfield", tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path)
    ref = serial_reference(str(deck), 1000, 100)
    ctl = serial_reference(str(deck), 1000, 100, perturb=2.2e-16)
    sim = prepared(str(deck))
    kf, s = sim.model.loads[-1], sim.model.system
    sel = np.flatnonzero(kf.atom_sel & ~np.isin(np.arange(s.n_atoms), s.pad_idx))
    K = kf.K(1000 * 0.002)
    assert sel.size and kf.node_sel.any()
    for r in (z, ref):
        ua = kf.unit_field(s.atoms.X[kf.atom_sel])[np.searchsorted(np.flatnonzero(kf.atom_sel), sel)]
        np.testing.assert_array_equal(r["x"][sel], s.atoms.X[sel] + K * ua)
        np.testing.assert_array_equal(r["U"][kf.node_sel], K * kf._node_field(sim.model.continuum)[kf.node_sel])
    assert_near_serial(z, ref, ctl, "kfield")
    err = per_column(z["ledger"][:, :7], ref["ledger"][:, :7])
    print("kfield ledger", err)
    assert np.all(err <= 1e-12) and abs(ref["ledger"][-1, 4]) > 0, err
    err = per_column(z["obs"], ref["obs"])
    assert np.all(err <= 1e-12), err


def test_gallery_indent2d_two_ranks(tmp_path: Path) -> None:
    """decks/indent2d_dyn_T.yaml unmodified, 2 000 steps on 2 ranks (the indenter touches from step 1 000,
    1 σ deep at the end): positions ≤ 1e-12; every ledger term and every observable ≤ 1e-10 of its largest
    value and within 3× the control's difference (the contacts start at zero overlap and the band's bath is
    thermal, so round-off is amplified). Measured (load ~15): ledger ≤ 2.8e-13 (control 4.2e-13), observables
    ≤ 6.6e-12 (the bottom's x reaction; control 3.8e-12)."""
    z = spatial(2, INDENT2D, 2000, 200, tmp_path)
    ref = serial_reference(str(INDENT2D), 2000, 200)
    ctl = serial_reference(str(INDENT2D), 2000, 200, perturb=2.2e-16)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    assert rel(z["x"], ref["x"]) <= 1e-12
    names = list(ref["names"])
    assert ref["obs"][-1, names.index("indenter.contacts")] > 0
    for k in ("ledger", "obs"):
        got = per_column(z[k][:, :7] if k == "ledger" else z[k], ref[k][:, :7] if k == "ledger" else ref[k])
        control = per_column(ctl[k][:, :7] if k == "ledger" else ctl[k], ref[k][:, :7] if k == "ledger" else ref[k])
        print("indent2d", k, got, "control", control)
        assert np.all(got <= 1e-10) and np.all(got <= 3.0 * np.maximum(control, 1e-13)), (k, got, control)


# ------------------------------------------------------------------------------------- msim run, restarts
def test_msim_run_decompose_spatial(tmp_path: Path) -> None:
    """`msim run --decompose spatial` of ``all`` (300 steps, frames every 100, thermo every 50): on 1 rank the
    results file is bitwise the plain serial run's (frames, thermo with the external work and energy, every
    observable); on 2 ranks thermo energies and every observable ≤ 1e-12 of their largest values, the
    frames ≤ 1e-9."""
    a, _, c = serial_one_two(deck_of("all", tmp_path), tmp_path, one=1)
    obs = [k for k in a if k.startswith("observables/") and any(t in k for t in ("tip.", "side.", "pull.", "g.",
                                                                                  "push.", "punch."))]
    assert len(obs) >= 20, sorted(a)
    for k in obs:
        scale = float(np.max(np.abs(a[k])))
        assert float(np.max(np.abs(c[k] - a[k]))) <= 1e-12 * max(scale, 1e-300), k
    ta, tc = thermo(tmp_path / "ser.h5"), thermo(tmp_path / "two.h5")
    assert_thermo_close(tc, ta, ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms",
                                 "potential_continuum", "external_work", "external_energy"))
    assert float(np.max(np.abs(ta["external_work"]))) > 0


def test_restarts_across_paths(tmp_path: Path) -> None:
    """``all`` with a checkpoint at step 200 (of 300): a 2-rank spatial checkpoint restarted serially and a
    serial checkpoint restarted on 2 spatial ranks end ≤ 1e-12 of the straight serial run (thermo energies
    with the external work, every load observable: of their largest values; atom positions X + u)."""
    deck = deck_of("all", tmp_path)
    t = tmp_path
    restarts_crosswise(deck, t, checkpoint=True)
    a, ta = results(t / "ser.h5"), thermo(t / "ser.h5")
    X = prepared(str(deck)).model.atoms.X
    obs = [k for k in a if k.startswith("observables/")]
    for name in ("r2", "r0"):
        tr, r = thermo(t / f"{name}.h5"), results(t / f"{name}.h5")
        keys = ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum",
                "external_work", "external_energy")
        for k in keys:
            assert tr[k].shape == ta[k].shape
        assert_thermo_close(tr, ta, keys, name)
        for k in obs:
            scale = float(np.max(np.abs(a[k])))
            assert float(np.max(np.abs(r[k] - a[k]))) <= 1e-12 * max(scale, 1e-300), (name, k)
        u = r["frames/atoms/displacement"][-1]
        assert rel(X + u, X + a["frames/atoms/displacement"][-1]) <= 1e-12, name


# ------------------------------------------------------------------------------------- refusals
def precrack_deck(tmp: Path) -> Path:
    """The smoke deck with a precrack (its own bond weights and a tracker of the serial atoms: not supported)."""
    d = deck_dict(SMOKE, keep_expect=True)
    d["loads"] = [*d["loads"], {"type": "precrack", "tip": [10.0, 8.0]}]
    return write_deck(d, tmp / "precrack.yaml")


def test_refusals_loads(tmp_path: Path) -> None:
    """A ``precrack`` load is refused at its item ``loads[1]`` (review rev31 F2: at ``loads``) with its exact message (by `spatial_refusal` and by
    `SpatialCoupled`); dofs with zero inverse mass that no fixed, prescribed or kfield load names too."""
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.coupled_spatial import SpatialCoupled, spatial_refusal
    sim = prepared(str(precrack_deck(tmp_path)))
    got = spatial_refusal(sim.model, sim.integrator)
    assert got == ("loads[1]", f"load 'PreCrack' {WHAT} (initial conditions (radial_pulse), fixed, prescribed, "
                            "kfield, indenter, body_force, traction only)"), got
    with pytest.raises(ValueError, match=r"^loads\[1\]: load 'PreCrack'"):
        SpatialCoupled(sim.model, sim.integrator, SerialComm())
    sim = prepared(str(deck_of("all", tmp_path)))
    sim.integrator._fixed = sim.integrator._fixed[1:]
    got = spatial_refusal(sim.model, sim.integrator)
    assert got == ("loads", f"dofs with zero inverse mass other than the fixed, prescribed and kfield loads' "
                            f"{WHAT}"), got


def test_msim_run_precrack_refused(tmp_path: Path) -> None:
    """Under mpiexec on 2 ranks, `--decompose spatial` of the precrack variant exits 2 with one message
    naming the deck key ``loads``."""
    p = msim(2, str(precrack_deck(tmp_path)), "-o", str(tmp_path / "r.h5"), "--decompose", "spatial")
    assert p.returncode == 2, p.stderr[-2000:]
    assert "precrack.yaml:" in p.stderr and " loads[1]: load 'PreCrack'" in p.stderr and p.stderr.count("load 'PreCrack' is not supported by the spatial") == 1, \
        p.stderr[-2000:]


def test_kfield_on_nodes_only_two_ranks(tmp_path: Path) -> None:
    """A K field with ``targets: nodes`` (no atoms): 2 ranks, 200 steps vs serial — positions ≤ 1e-12, every
    ledger term ≤ 1e-12 of its largest value, the nodes on the field (rev31 F1: internal error at set-up)."""
    deck = deck_of("kfield_nodes", tmp_path)
    z = spatial(2, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    sim = prepared(str(deck))
    kf = sim.model.loads[-1]
    assert kf.atom_sel is None or not np.any(kf.atom_sel)
    assert kf.node_sel.any()
    np.testing.assert_array_equal(z["U"][kf.node_sel], ref["U"][kf.node_sel])
    assert rel(z["x"], ref["x"]) <= 1e-12
    err = per_column(z["ledger"][:, :7], ref["ledger"][:, :7])
    assert np.all(err <= 1e-12) and abs(ref["ledger"][-1, 4]) > 0, err
