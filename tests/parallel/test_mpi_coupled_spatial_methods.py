"""The ``ghost_corrected`` coupling on the spatial coupled path (`parallel.coupled_spatial.SpatialCoupled` with
`parallel.spatial_coupling.SpatialGhost`, ``msim run --decompose spatial``), under ``mpiexec``.

Decks: the gallery deck decks/patch2d.yaml (hexagonal LJ crystal in a tri3 mesh, ghost-force correction of
the best-fit homogeneous deformation recomputed every step, projected constraints; a perfect lattice that
must stay at rest) UNMODIFIED, and ``patch_pulse``: the same deck with an off-centre radial pulse
(amplitude 0.05, centre (3, −2)), so the atoms, the handshake and the mesh move and the correction g
changes every step; ``patch_reference``: ``patch_pulse`` with ``correction: reference`` (a dead load fixed at
the reference); ``patch_every3``: ``patch_pulse`` with ``every: 3``; ``patch_none``: ``patch_pulse`` without
constraint rows (``constraint: none``: no projector, as penalty).

Contract (as the other spatial tests; the serial `VelocityVerlet` of the same deck, in this pytest process,
is the reference): 1 rank bitwise (state, every ledger term — the ``coupling`` term among them —, the
correction g in use and the method's update count); 2 ranks after 1 000 steps: positions and node positions
≤ 1e-12 relative, U and velocities ≤ 1e-9 and ≤ 3× the control (the serial run with its atoms' forces
perturbed by one rounding after every evaluation), every ledger term but ``coupling`` ≤ 1e-12 of its
largest value. The ``coupling`` term (the dead load's energy and the booked work: ~1e-3 here, a residual of
the cancelling forces at the homogeneous state) moves by 3.9e-12 of its largest value in the CONTROL run
already; the 2-rank run's ``coupling`` is asserted ≤ 3× the control's and ≤ 1e-12 of the largest total
energy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_methods_driver import prepared, serial_reference
from mpi_helpers import (
    FRAME_KEYS,
    ROOT,
    WHAT,
    assert_near_serial,
    assert_thermo_close,
    assert_twice_bitwise,
    deck_dict,
    msim,
    ok,
    rel,
    results,
    serial_one_two,
    thermo,
    write_deck,
)
from mpi_helpers import spatial_methods as spatial

PATCH = ROOT / "decks" / "patch2d.yaml"
PULSE = {"type": "radial_pulse", "center": [3.0, -2.0], "sigma": 2.0, "amplitude": 0.05}


def patch(name: str, tmp: Path) -> Path:
    """``patch2d`` (the gallery deck), ``patch_pulse``, ``patch_reference``, ``patch_every3`` (module
    docstring); ``steps`` as the deck's."""
    if name == "patch2d":
        return PATCH
    d = deck_dict(PATCH)
    d["loads"] = [PULSE]
    if name == "patch_reference":
        d["handshake"]["coupling"] = {"type": "ghost_corrected", "correction": "reference"}
    elif name == "patch_every3":
        d["handshake"]["coupling"] = {"type": "ghost_corrected", "correction": "homogeneous", "every": 3}
    elif name == "patch_none":
        d["handshake"]["coupling"] = {"type": "ghost_corrected", "constraint": "none"}
    return write_deck(d, tmp / f"{name}.yaml")


def test_accepted(tmp_path: Path) -> None:
    """patch2d and its variants are accepted on 1 and 2 ranks (the refusal of every coupling other than
    projected and strong is lifted for ghost_corrected)."""
    from multiscale.parallel.coupled_spatial import spatial_refusal
    for name in ("patch2d", "patch_pulse", "patch_reference", "patch_every3", "patch_none"):
        sim = prepared(str(patch(name, tmp_path)))
        assert spatial_refusal(sim.model, sim.integrator) is None, name
        assert spatial_refusal(sim.model, sim.integrator, 2) is None, name


@pytest.mark.parametrize("name", ["patch2d", "patch_pulse", "patch_reference", "patch_every3", "patch_none"])
def test_ghost_one_rank_bitwise(tmp_path: Path, name: str) -> None:
    """One rank, 200 steps: bitwise the serial run (x, v, U, V, every ledger row with its coupling term,
    the correction g in use at the end and the number of its updates); the pulse variants move and their
    coupling term is not zero."""
    deck = patch(name, tmp_path)
    z = spatial(1, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger", "g", "updates"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    upd = {"patch2d": 202, "patch_pulse": 202, "patch_reference": 1, "patch_every3": 68, "patch_none": 202}[name]
    assert int(ref["updates"]) == upd, ref["updates"]       # prepare's, the initial forces', one per step (or /3)
    if name != "patch2d":
        assert float(ref["ledger"][-1, 0]) > 0.01 and np.all(ref["ledger"][1:, 4] != 0.0)


@pytest.mark.parametrize("name", ["patch_pulse", "patch_reference"])
def test_ghost_two_ranks_1000_steps(tmp_path: Path, name: str) -> None:
    """1 000 steps on 2 ranks vs serial (module docstring's contract). Measured (load ~15): patch_pulse x
    1.0e-14, U, V, v ≤ 2.8e-11 (control ≤ 3.7e-11), g 3.6e-11 (control 4.4e-11), ledger ≤ 1.1e-13 but the
    coupling term 3.5e-12 (control 3.9e-12)."""
    deck = patch(name, tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path)
    ref = serial_reference(str(deck), 1000, 100)
    ctl = serial_reference(str(deck), 1000, 100, perturb=2.2e-16)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    assert int(z["updates"]) == int(ref["updates"])
    assert_near_serial(z, ref, ctl, name, nodes=prepared(str(deck)).model.continuum.nodes,
                       keys=("U", "V", "v", "g"))
    L, R, C = z["ledger"], ref["ledger"], ctl["ledger"]
    assert L.shape == R.shape == (11, 7)
    np.testing.assert_array_equal(L[:, 6], R[:, 6])
    scale = np.max(np.abs(R[:, :6]), axis=0)
    err = np.max(np.abs(L[:, :6] - R[:, :6]), axis=0) / scale
    cerr = np.max(np.abs(C[:, :6] - R[:, :6]), axis=0) / scale
    print(name, "ledger rel", err, "control", cerr)
    assert np.all(err[[0, 1, 2, 3, 5]] <= 1e-12), err
    assert err[4] <= 3.0 * cerr[4] and err[4] * scale[4] <= 1e-12 * scale[5], (err[4], cerr[4])
    assert float(R[-1, 1]) > 0.1 and scale[4] > 1e-4       # the pulse reached the mesh; g does work


def test_ghost_two_ranks_twice_bitwise(tmp_path: Path) -> None:
    """The same P twice: bitwise the same state, ledger and g (patch_pulse, 200 steps on 2 ranks)."""
    deck = patch("patch_pulse", tmp_path)
    assert_twice_bitwise(spatial, deck, tmp_path, ("x", "v", "U", "V", "ledger", "g"))


def test_ghost_rebuilds_and_migration(tmp_path: Path) -> None:
    """patch_pulse with a 10× pulse, skin 0.05 (list rebuilds, also at the homogeneous states, and atoms
    changing rank), 400 steps on 2 ranks in both force modes: positions ≤ 1e-12, U, v, V ≤ 1e-9, every
    ledger term but coupling ≤ 1e-12 of its largest value (coupling ≤ 1e-12 of the total's)."""
    d = deck_dict(patch("patch_pulse", tmp_path), keep_expect=True)
    d["loads"] = [{**PULSE, "amplitude": 0.5}]
    d["atoms"]["skin"] = 0.05
    deck = write_deck(d, tmp_path / "patch_fast.yaml")
    ref = serial_reference(str(deck), 400, 100)
    for mode in ((), ("full",)):
        z = spatial(2, deck, 400, 100, tmp_path, *mode)
        assert int(z["builds"]) >= 10 and int(z["migrated"]) >= 10, (z["builds"], z["migrated"])
        assert rel(z["x"], ref["x"]) <= 1e-12
        for k in ("U", "V", "v"):
            assert rel(z[k], ref[k]) <= 1e-9, k
        L, R = z["ledger"], ref["ledger"]
        scale = np.max(np.abs(R[:, :6]), axis=0)
        err = np.max(np.abs(L[:, :6] - R[:, :6]), axis=0) / scale
        print(mode, "builds", z["builds"], "migrated", z["migrated"], "x", rel(z["x"], ref["x"]), "ledger", err)
        assert np.all(err[[0, 1, 2, 3, 5]] <= 1e-12) and err[4] * scale[4] <= 1e-12 * scale[5], err


# ---------------------------------------------------------------------------------------- msim run
def test_msim_run_patch2d(tmp_path: Path) -> None:
    """`msim run --decompose spatial` of the gallery deck patch2d (400 steps): on 1 rank every dataset of
    the results file bitwise the plain serial run's; on 2 ranks too every thermo and frame dataset within
    1e-12 of its largest value (the lattice stays at rest: kinetic energies ≤ 1e-20, the deck's
    ``expect``) and the coupling term in the thermo rows."""
    serial_one_two(PATCH, tmp_path, frames=False)
    ta, tc = thermo(tmp_path / "ser.h5"), thermo(tmp_path / "two.h5")
    assert "coupling" in ta and np.any(ta["coupling"] != 0.0)
    for k in ("total", "potential_atoms", "potential_continuum", "coupling"):
        assert float(np.max(np.abs(tc[k] - ta[k]))) <= 1e-12 * float(np.max(np.abs(ta["total"]))), k
    assert float(np.max(tc["kinetic_atoms"])) <= 1e-20 and float(np.max(tc["kinetic_continuum"])) <= 1e-20


def test_msim_run_patch_pulse(tmp_path: Path) -> None:
    """`msim run --decompose spatial` of patch_pulse (300 steps, frames every 100, thermo every 20): 1 rank
    every results dataset bitwise the serial run's; 2 ranks the thermo energies ≤ 1e-12 of their largest
    values (coupling: of the total's), the frames ≤ 1e-9, the constraint residual ≤ 1e-12."""
    d = deck_dict(patch("patch_pulse", tmp_path), keep_expect=True)
    d["integrator"]["steps"] = 300
    deck = write_deck(d, tmp_path / "patch_pulse300.yaml")
    ser, one, two = tmp_path / "serial.h5", tmp_path / "one.h5", tmp_path / "two.h5"
    ok(msim(0, str(deck), "-o", str(ser)))
    ok(msim(0, str(deck), "-o", str(one), "--decompose", "spatial"))
    ok(msim(2, str(deck), "-o", str(two), "--decompose", "spatial"))
    a, b, c = results(ser), results(one), results(two)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for k in FRAME_KEYS:
        assert rel(c[k], a[k]) <= 1e-9, k
    ta, tc = thermo(ser), thermo(two)
    assert_thermo_close(tc, ta, ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms",
                                 "potential_continuum"))
    assert float(np.max(np.abs(tc["coupling"] - ta["coupling"]))) <= 1e-12 * float(np.max(np.abs(ta["total"])))
    assert float(np.max(tc["constraint_residual"])) <= 1e-12


# ---------------------------------------------------------------------------------------- refusals
def test_refusal_ghost_switched_off() -> None:
    """Every registered coupling method runs on the spatial path now (penalty, force_blend:
    test_mpi_coupled_spatial_methods_penalty.py, _force_blend.py); a ghost_corrected coupling switched off
    (``enabled``, the diagnostics toggle of the Python API) is refused at ``handshake.coupling``, by
    `spatial_refusal` and by `SpatialCoupled` itself."""
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.coupled_spatial import SpatialCoupled, spatial_refusal
    sim = prepared(str(PATCH))
    sim.model.system.method.enabled = False
    assert spatial_refusal(sim.model, sim.integrator) == (
        "handshake.coupling", f"a ghost_corrected coupling switched off or frozen {WHAT}")
    with pytest.raises(ValueError, match="^handshake.coupling: a ghost_corrected coupling switched off"):
        SpatialCoupled(sim.model, sim.integrator, SerialComm())
