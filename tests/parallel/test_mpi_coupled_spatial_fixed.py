"""Fixed dofs on the spatial coupled path (`parallel.coupled_spatial.SpatialCoupled`, ``msim run --decompose
spatial``), under ``mpiexec``: the suite's 3D smoke deck tests/parallel/decks/coupled3d_smoke.yaml UNMODIFIED
(Morse fcc Cu, hex8, strong coupling, 100 K core, ``loads: - type: fixed`` holding its bottom layer of atoms
AND nodes).

The held atoms' owned rows have zero inverse mass on the engine (their v stays 0, their x unchanged, as in the
serial kick); the held nodes are the replicated serial code; the load's reaction observable
(``bottom.reaction_x/_y/_z``) is summed from every rank's owned held atoms' forces (riding on the per-step
gather) plus the replicated node forces.

Contract (as tests/parallel/test_mpi_coupled_spatial_3d.py): against the serial `VelocityVerlet` in this
pytest process, 1 rank bitwise (state, ledger and reaction), 2 ranks after 1 000 steps positions ≤ 1e-12,
ledger ≤ 1e-12 of each term's largest value, U and velocities ≤ 1e-9 and ≤ 3× the control; the held dofs
exactly at rest on any P. What stays unsupported (prescribed motion; dofs with zero inverse mass that no
``fixed`` load names) is refused at ``loads``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_mpi_coupled_spatial import rel, spatial

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mpi_coupled_spatial_driver import prepared, serial_reference  # noqa: E402

SMOKE = HERE / "decks" / "coupled3d_smoke.yaml"     # Morse, 720 atoms (95 pads), 292 hex8 nodes, bottom fixed


def held(deck: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(held atom rows, held node rows, the atoms' initial x) of a prepared deck."""
    sim = prepared(str(deck))
    ld = [ld for ld in sim.model.loads if type(ld).__name__ == "Fixed"]
    assert len(ld) == 1
    a, n = ld[0].fixed_dofs()
    pads = np.isin(np.arange(sim.model.atoms.n), sim.model.system.pad_idx)
    return np.flatnonzero(a.all(axis=1) & ~pads), np.flatnonzero(n.all(axis=1)), sim.model.atoms.x.copy()


def test_smoke_deck_accepted() -> None:
    """The unmodified smoke deck (strong coupling, fixed bottom of atoms and nodes) is accepted on 1 and 2
    ranks, and it does hold atoms and nodes (the integrator's fixed dofs are the load's)."""
    from multiscale.parallel.coupled_spatial import fixed_stacked, spatial_refusal
    sim = prepared(str(SMOKE))
    assert spatial_refusal(sim.model, sim.integrator) is None
    assert spatial_refusal(sim.model, sim.integrator, 2) is None
    assert sim.integrator._f_atom.size > 0 and sim.integrator._f_node.size > 0
    np.testing.assert_array_equal(fixed_stacked(sim.model), sim.integrator._fixed)


def test_fixed_one_rank_bitwise(tmp_path: Path) -> None:
    """One rank, 200 steps: bitwise the serial run (x, v, U, V, every ledger row, the reaction every 50
    steps); the reaction is not zero."""
    z = spatial(1, SMOKE, 200, 50, tmp_path)
    ref = serial_reference(str(SMOKE), 200, 50)
    for k in ("x", "v", "U", "V", "ledger", "reactions"):
        np.testing.assert_array_equal(z[k], ref[k], err_msg=k)
    assert ref["reactions"].shape == (5, 3) and np.all(np.abs(ref["reactions"][-1]) > 0)


def test_fixed_two_ranks_1000_steps(tmp_path: Path) -> None:
    """1 000 steps on 2 ranks (both own held atoms) vs serial: positions and node positions X + U ≤ 1e-12,
    every ledger term at every 100th step ≤ 1e-12 of its largest value, U and velocities ≤ 1e-9 and ≤ 3×
    the control (the serial run with its atoms' forces perturbed by one rounding); the reaction (a sum of
    forces of ~10² magnitude that largely cancel) ≤ 1e-9 of its largest value and ≤ 3× the control's; the held
    atoms' x bitwise their initial x and their v exactly 0, the held nodes' U and V exactly 0."""
    z = spatial(2, SMOKE, 1000, 100, tmp_path)
    ref = serial_reference(str(SMOKE), 1000, 100)
    ctl = serial_reference(str(SMOKE), 1000, 100, perturb=2.2e-16)
    assert int(z["size"]) == 2 and np.all(z["atoms_per_rank"] > 0)
    ha, hn, x0 = held(SMOKE)
    assert ha.size and hn.size
    for r in (z, ref):
        np.testing.assert_array_equal(r["x"][ha], x0[ha])
        assert not np.any(r["v"][ha]) and not np.any(r["U"][hn]) and not np.any(r["V"][hn])
    xlo = x0[:, 0].min()
    assert np.any(x0[ha, 0] < xlo + 5.0) and np.any(x0[ha, 0] > x0[:, 0].max() - 5.0)   # held atoms on both slabs
    assert rel(z["x"], ref["x"]) <= 1e-12
    nodes = prepared(str(SMOKE)).model.continuum.nodes
    assert rel(nodes + z["U"], nodes + ref["U"]) <= 1e-12
    for k in ("U", "V", "v"):
        got, control = rel(z[k], ref[k]), rel(ctl[k], ref[k])
        print("fixed", k, got, "control", control)
        assert got <= 1e-9 and got <= 3.0 * control, k
    L, R = z["ledger"], ref["ledger"]
    assert L.shape == R.shape == (11, 6)
    np.testing.assert_array_equal(L[:, 5], R[:, 5])
    err = np.max(np.abs(L[:, :5] - R[:, :5]), axis=0) / np.max(np.abs(R[:, :5]), axis=0)
    print("fixed ledger rel", err, "x", rel(z["x"], ref["x"]))
    assert np.all(err <= 1e-12), err
    got, control = rel(z["reactions"], ref["reactions"]), rel(ctl["reactions"], ref["reactions"])
    print("fixed reaction rel", got, "control", control)
    assert z["reactions"].shape == (11, 3) and got <= 1e-9 and got <= 3.0 * control
    assert float(R[-1, 0]) > 0.01 * float(R[:, 0].max())     # the atoms still move at the end


def test_fixed_two_ranks_twice_bitwise(tmp_path: Path) -> None:
    """The same P twice: bitwise the same state, ledger and reaction (200 steps on 2 ranks)."""
    a = spatial(2, SMOKE, 200, 100, tmp_path)
    b = spatial(2, SMOKE, 200, 100, tmp_path)
    for k in ("x", "v", "U", "V", "ledger", "reactions"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_msim_run_decompose_spatial_smoke(tmp_path: Path) -> None:
    """`msim run --decompose spatial` of the unmodified smoke deck (300 steps, frames every 100, thermo every
    50): on 1 rank the results file is bitwise the plain serial run's (every frame, thermo and observable
    dataset, the reaction among them); on 2 ranks the thermo energies ≤ 1e-12 of their largest values,
    the constraint residual ≤ 1e-12, the frames ≤ 1e-9 and the reaction ≤ 1e-9 of its largest value."""
    from test_mpi_run import msim, ok, results, thermo
    ser, one, two = tmp_path / "serial.h5", tmp_path / "one.h5", tmp_path / "two.h5"
    ok(msim(0, str(SMOKE), "-o", str(ser)))
    ok(msim(0, str(SMOKE), "-o", str(one), "--decompose", "spatial"))
    ok(msim(2, str(SMOKE), "-o", str(two), "--decompose", "spatial"))
    a, b, c = results(ser), results(one), results(two)
    react = [k for k in a if "reaction" in k]
    assert len(react) == 3, sorted(a)
    assert a.keys() == b.keys() == c.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for k in ("frames/atoms/displacement", "frames/atoms/velocity", "frames/nodes/displacement",
              "frames/nodes/velocity"):
        assert rel(c[k], a[k]) <= 1e-9, k
    scale = max(float(np.max(np.abs(a[k]))) for k in react)
    for k in react:
        print(k, float(np.max(np.abs(c[k] - a[k]))) / scale)
        assert float(np.max(np.abs(c[k] - a[k]))) <= 1e-9 * scale, k
    ta, tc = thermo(ser), thermo(two)
    for k in ("total", "kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum"):
        assert float(np.max(np.abs(tc[k] - ta[k]))) <= 1e-12 * float(np.max(np.abs(ta[k]))), k
    assert float(np.max(tc["constraint_residual"])) <= 1e-12


# ---------------------------------------------------------------------------------------- refusals
def prescribed(tmp: Path) -> Path:
    """The smoke deck with its bottom moved (``prescribed``) instead of held."""
    d = yaml.safe_load(SMOKE.read_text())
    d["loads"] = [{**d["loads"][0], "type": "prescribed", "velocity": [0.0, 0.0, 0.1]}]
    out = tmp / "prescribed.yaml"
    out.write_text(yaml.safe_dump(d, sort_keys=False))
    return out


def test_refusals_fixed(tmp_path: Path) -> None:
    """Prescribed motion (``loads``: the load named) and dofs with zero inverse mass that no ``fixed`` load
    holds (``loads``) are refused with exact messages, by `spatial_refusal` and by `SpatialCoupled` itself."""
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.coupled_spatial import SpatialCoupled, spatial_refusal
    what = "is not supported by the spatial decomposition of coupled decks yet (--decompose spatial)"
    sim = prepared(str(prescribed(tmp_path)))
    got = spatial_refusal(sim.model, sim.integrator)
    assert got == ("loads", f"load 'Prescribed' {what} (initial conditions (radial_pulse) and fixed dofs "
                            "(fixed) only)"), got
    with pytest.raises(ValueError, match="^loads: load 'Prescribed'"):
        SpatialCoupled(sim.model, sim.integrator, SerialComm())
    sim = prepared(str(SMOKE))
    sim.integrator._fixed = sim.integrator._fixed[1:]       # a held dof the integrator does not hold
    got = spatial_refusal(sim.model, sim.integrator)
    assert got == ("loads", f"dofs with zero inverse mass other than the fixed loads' {what}"), got
    with pytest.raises(ValueError, match="^loads: dofs with zero inverse mass"):
        SpatialCoupled(sim.model, sim.integrator, SerialComm())


def test_msim_run_prescribed_refused(tmp_path: Path) -> None:
    """Under mpiexec on 2 ranks, `--decompose spatial` of the prescribed variant exits 2 with one message
    naming the deck key ``loads``."""
    from test_mpi_run import msim
    p = msim(2, str(prescribed(tmp_path)), "-o", str(tmp_path / "r.h5"), "--decompose", "spatial")
    assert p.returncode == 2, p.stderr[-2000:]
    assert "loads" in p.stderr and p.stderr.count("load 'Prescribed' is not supported by the spatial") == 1, \
        p.stderr[-2000:]
