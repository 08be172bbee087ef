"""Coupling methods with forces of their own (`parallel.spatial_coupling`) TOGETHER with loads
(`parallel.spatial_loads`) on the spatial coupled path, under ``mpiexec`` (the two were built in parallel:
sppen and spload; merged by spmerge).

Decks (`combined`):

* ``ghost_loads`` — decks/patch2d.yaml (``ghost_corrected``, homogeneous correction every step) with the
  off-centre radial pulse of test_mpi_coupled_spatial_methods.py, a ``prescribed`` block of atoms in the
  handshake (x in [9, 13], |y| ≤ 2: ghost-band atoms; for penalty some in its copy, some not; moved at 0.05 σ/τ along x), a
  cylinder ``indenter`` (R = 0.8 σ, K = 1) started at an interstitial site near (−3, 2) and moving down at
  0.2 σ/τ through the atoms (its forces depend on x: the homogeneous evaluation's rebuilds must not leave
  them drawn at the homogeneous state), and a ``body_force`` on atoms and nodes;
* ``penalty_loads`` — decks/wave2d.yaml (its pulse kept) with ``penalty`` coupling (κ = 1, Δt = 0.001: no
  constraint rows, its atoms the replicated copy) and the same three loads;
* ``blend_loads`` — decks/wave2d.yaml with ``force_blend`` (strong constraints: the unweighted engine scaled
  by β, the continuum not split) and the same three loads plus a flat punch from below on the lowest atom
  rows (pads only: its forces reach the nodes through Nᵀ).

The 2-rank test runs ``ghost_loads`` with skin 0.05 σ (the deck's 0.3: no rebuild in 200 steps): neighbour-list
rebuilds, also at the homogeneous states, after which the indenter's forces must be redrawn at the restored
state. (With skin 0.05 one rank is NOT bitwise the serial run, already without any load (patch2d + pulse
only: x differs by 3.6e-15 after 200 steps): the 1-rank test keeps the deck's skin.)

Contract (against the serial `VelocityVerlet` in this pytest process, the loads driver's record: x, v, U,
V, the ledger with the external work and the coupling term inside the potential, every load observable and
hook energy): 1 rank bitwise; 2 ranks positions ≤ 1e-12, every ledger column and every observable within
3× the control (the serial run with its atoms' forces perturbed by one rounding after every evaluation,
floor 1e-12 of the column's largest value), U, V, v ≤ 1e-9 and ≤ 3× the control.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi_coupled_spatial_driver import prepared
from mpi_coupled_spatial_loads_driver import serial_reference
from mpi_helpers import ROOT, assert_near_serial, deck_dict, msim, ok, per_column, results, write_deck
from mpi_helpers import spatial_loads as spatial

PATCH = ROOT / "decks" / "patch2d.yaml"
WAVE2D = ROOT / "decks" / "wave2d.yaml"
PULSE = {"type": "radial_pulse", "center": [3.0, -2.0], "sigma": 2.0, "amplitude": 0.05}
SIDE = {"type": "prescribed", "label": "side", "targets": "atoms", "velocity": [0.05, 0.0],
        "region": {"type": "box", "lo": [9.0, -2.0], "hi": [13.0, 2.0]}}
GRAV = {"type": "body_force", "label": "g", "acceleration": [0.0, -0.02], "ramp_time": 0.2}


def _interstitial(X: np.ndarray, near: tuple[float, float]) -> list[float]:
    """The centroid of a nearest-neighbour triangle of the lattice X (n, 2) next to ``near``."""
    i = int(np.argmin(np.sum((X - np.asarray(near)) ** 2, axis=1)))
    dist = np.sum((X - X[i]) ** 2, axis=1)
    nb = np.argsort(dist)[1:7]
    j = int(nb[0])
    k = int(min(nb[1:], key=lambda m: float(np.sum((X[m] - X[j]) ** 2))))
    return [float(v) for v in (X[i] + X[j] + X[k]) / 3.0]


def combined(name: str, tmp: Path, skin: float | None = None) -> Path:
    """``ghost_loads``, ``penalty_loads`` or ``blend_loads`` (module docstring); ``skin``: the atoms' list skin (None: the
    deck's)."""
    src = PATCH if name == "ghost_loads" else WAVE2D
    d = deck_dict(src)
    loads = [PULSE] if name == "ghost_loads" else list(d.get("loads") or [])     # (wave2d's own pulse)
    if skin is not None:
        d["atoms"]["skin"] = skin
    if name == "penalty_loads":
        d["handshake"]["coupling"] = {"type": "penalty", "kappa": 1.0}
        d["integrator"].update({"dt": 0.001})
    if name == "blend_loads":
        d["handshake"]["coupling"] = {"type": "force_blend", "constraint": "strong"}
    base = write_deck(d, tmp / f"{name}_base.yaml")
    X = prepared(str(base)).model.atoms.X
    tip = {"type": "indenter", "label": "tip", "shape": "cylinder", "radius": 0.8, "stiffness": 1.0,
           "center": _interstitial(X, (-3.0, 2.0)), "velocity": 0.2}
    d["loads"] = [*loads, SIDE, tip, GRAV]
    if name == "blend_loads":       # a flat punch on the lowest atom rows (pads: its forces go to the nodes)
        d["loads"].append({"type": "indenter", "label": "punch", "shape": "flat", "radius": 100.0,
                           "stiffness": 1.0, "center": [0.0, float(X[:, 1].min()) + 0.3],
                           "direction": [0.0, 1.0]})
    return write_deck(d, tmp / f"{name}.yaml")


@pytest.mark.parametrize("name", ["ghost_loads", "penalty_loads", "blend_loads"])
def test_combined_accepted(tmp_path: Path, name: str) -> None:
    """Accepted on 1 and 2 ranks; the prescribed atoms are in the method's replicated sets (ghost: band
    atoms; penalty: the replicated copy)."""
    from multiscale.parallel.coupled_spatial import spatial_refusal
    from multiscale.parallel.spatial_coupling import replicated_dofs
    sim = prepared(str(combined(name, tmp_path)))
    assert spatial_refusal(sim.model, sim.integrator) is None
    assert spatial_refusal(sim.model, sim.integrator, 2) is None
    s, m = sim.model.system, sim.model.system.method
    side = np.flatnonzero(sim.model.loads[-4 if name == "blend_loads" else -3].atom_sel)
    assert side.size
    if name == "ghost_loads":
        band = s.free[np.flatnonzero(m.band_atoms)]
        assert np.all(np.isin(side, band))
    elif name == "blend_loads":
        punch = sim.model.loads[-1]
        _, _, idx = punch.energy_forces(s.atoms.x, punch.center(0.0))
        assert idx.size and np.all(np.isin(idx, s.pad_idx))
    else:
        inT = np.isin(side, np.unique(replicated_dofs(sim.model) // s.d))
        assert np.any(inT) and not np.all(inT)


@pytest.mark.parametrize("name", ["ghost_loads", "penalty_loads", "blend_loads"])
def test_combined_one_rank_bitwise(tmp_path: Path, name: str) -> None:
    """One rank, 200 steps: bitwise the serial run (x, v, U, V, every ledger term with the external work and
    the coupling term, every observable and hook energy at every quarter); the indenter touches atoms,
    the loads do work."""
    deck = combined(name, tmp_path)
    z = spatial(1, deck, 200, 50, tmp_path)
    ref = serial_reference(str(deck), 200, 50)
    for k in ("x", "v", "U", "V", "ledger", "obs"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    names = list(ref["names"])
    assert ref["obs"][-1, names.index("tip.contacts")] > 0, names
    assert abs(ref["ledger"][-1, 4]) > 0


@pytest.mark.parametrize("name", ["ghost_loads", "penalty_loads", "blend_loads"])
def test_combined_two_ranks(tmp_path: Path, name: str) -> None:
    """2 ranks, 400 steps vs serial (module docstring's contract; ``ghost_loads`` with skin 0.05: rebuilds).
    Measured (load ~10): ghost_loads U 1.3e-13, V 1.6e-12, v 1.9e-11 (control 1.6e-13, 2.1e-12, 1.3e-11),
    ledger ≤ 4.4e-14, observables ≤ 2.0e-13 (control 2.5e-13); penalty_loads U, V, v ≤ 9.2e-17, ledger
    ≤ 4.2e-16, observables ≤ 1.2e-16; blend_loads U 1.2e-13, V 2.4e-12, v 2.7e-12 (control 9.6e-14, 2.1e-12,
    2.6e-12), ledger ≤ 1.0e-14, observables ≤ 1.0e-13. Without the redraw after a homogeneous-state rebuild
    (`SpatialGhost._correction`) ghost_loads' x is off by 3.0e-10."""
    deck = combined(name, tmp_path, 0.05 if name == "ghost_loads" else None)
    z = spatial(2, deck, 400, 50, tmp_path)
    ref = serial_reference(str(deck), 400, 50)
    ctl = serial_reference(str(deck), 400, 50, perturb=2.2e-16)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    assert_near_serial(z, ref, ctl, name)
    np.testing.assert_array_equal(z["ledger"][:, 7], ref["ledger"][:, 7])
    for key in ("ledger", "obs"):
        a, b, c = (r[key][:, :7] if key == "ledger" else r[key] for r in (z, ref, ctl))
        err, cerr = per_column(a, b), per_column(c, b)
        print(name, key, err, "control", cerr)
        assert a.shape == b.shape and np.all(err <= np.maximum(3.0 * cerr, 1e-12)), (err, cerr)


@pytest.mark.parametrize("name", ["ghost_loads", "penalty_loads", "blend_loads"])
def test_msim_run_combined_one_rank_bitwise(tmp_path: Path, name: str) -> None:
    """`msim run --decompose spatial` on 1 rank (200 steps, frames and thermo every 50): every dataset of the
    results file bitwise the plain serial run's (frames, thermo with the coupling term, the external work
    and energy, every load observable); the loads' observables are there."""
    d = deck_dict(combined(name, tmp_path), keep_expect=True)
    d["integrator"]["steps"] = 200
    d["output"].update({"every": 50, "thermo_every": 50})
    deck = write_deck(d, tmp_path / f"{name}_run.yaml")
    ser, one = tmp_path / "serial.h5", tmp_path / "one.h5"
    ok(msim(0, str(deck), "-o", str(ser)))
    ok(msim(1, str(deck), "-o", str(one), "--decompose", "spatial"))
    a, b = results(ser), results(one)
    assert a.keys() == b.keys()
    assert sum(k.startswith("observables/") and any(t in k for t in ("tip.", "side.", "g.")) for k in a) >= 8
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
