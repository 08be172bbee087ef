"""`msim run --restart` of a ``ghost_corrected`` deck on the spatial coupled path (``--decompose spatial``,
`parallel.spatial_coupling.SpatialGhost`), under ``mpiexec``: the method's state (g, q_g, the last evaluated
state, the booked work, the evaluation counter) is in the checkpoint and restored on every rank before the
atoms are redistributed, and the restart's first force evaluation uses the checkpoint's g (no scheduled
update there: the serial restart makes no evaluation either).

Deck ``pulse7`` (tests/output/test_restart_ghost_corrected.py): decks/patch2d.yaml with an off-centre radial
pulse and ``every: 7`` (g changes every 7 steps), 300 steps, checkpoints every 150.

Contract: a 2-rank run of 150 steps restarted on 2 ranks to 300 equals the straight 2-rank run to ≤ 1e-12
of each dataset's largest value (measured: 8.7e-14; the restart's forces are recomputed with the engine's
own neighbour list, so not bit for bit; the momentum and the constraint residual, round-off-level values
~1e-15 and ~4e-14, are compared absolutely, ≤ 1e-12); before the fix it differed by 1.4e-4 of the largest
velocity. Across paths (serial checkpoint restarted on 2 ranks, 2-rank
checkpoint restarted serially) the runs agree with the straight run of the restarting path as the spatial
path agrees with the serial one (test_mpi_coupled_spatial_methods.py): positions X + u ≤ 1e-12, every
energy of the thermo table ≤ 1e-12 of its largest value (``coupling``, ~2e-3 here and moving by a few 1e-12
of itself with the rounding of the forces, of the largest total energy), velocities and U ≤ 1e-9.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "output"))
from mpi_helpers import msim, ok, rel, results  # noqa: E402
from test_restart_ghost_corrected import deck  # noqa: E402

ROUNDOFF = ("thermo/momentum_x", "thermo/momentum_y", "thermo/momentum_z", "thermo/constraint_residual")
ENERGIES = ("thermo/total", "thermo/kinetic_atoms", "thermo/kinetic_continuum", "thermo/potential_atoms",
            "thermo/potential_continuum", "thermo/total_modified")


def close_paths(a: dict, b: dict, X: np.ndarray, nodes: np.ndarray) -> None:
    """b (one path) against a (the other): the spatial path's contract (module docstring)."""
    ua, ub = a["frames/atoms/displacement"], b["frames/atoms/displacement"]
    assert rel(X + ub, X + ua) <= 1e-12
    Ua, Ub = a["frames/nodes/displacement"], b["frames/nodes/displacement"]
    assert rel(nodes + Ub, nodes + Ua) <= 1e-12
    for k in ("frames/atoms/velocity", "frames/nodes/velocity", "frames/nodes/displacement"):
        assert rel(b[k], a[k]) <= 1e-9, k
    for k in ENERGIES:
        assert float(np.max(np.abs(b[k] - a[k]))) <= 1e-12 * float(np.max(np.abs(a[k]))), k
    e = float(np.max(np.abs(a["thermo/total"])))
    dc = float(np.max(np.abs(b["thermo/coupling"] - a["thermo/coupling"])))
    print("across paths: coupling", dc / e, "of the total energy;", dc / float(np.max(np.abs(a["thermo/coupling"]))),
          "of itself")
    assert dc <= 1e-12 * e


def test_restart_on_spatial_path(tmp_path: Path) -> None:
    """2 ranks: 150 steps + a restart on 2 ranks vs the straight run; serial ↔ 2-rank restarts (module
    docstring)."""
    from mpi_coupled_spatial_methods_driver import prepared

    from multiscale.output.checkpoint import load_checkpoint
    t = tmp_path
    d = str(deck("pulse7", t))
    sp = ("--decompose", "spatial")
    ok(msim(2, d, "-o", str(t / "two.h5"), *sp))
    ok(msim(2, d, "-o", str(t / "a.h5"), "--steps", "150", *sp))
    st = load_checkpoint(t / "a.checkpoint.h5")["integrator"]
    assert {"method.g", "method.q_g", "method.work", "method.calls"} <= set(st)
    assert float(np.max(np.abs(st["method.g"]))) > 0
    ok(msim(2, d, "-o", str(t / "a.h5"), "--restart", str(t / "a.checkpoint.h5"), *sp))
    two, a = results(t / "two.h5"), results(t / "a.h5")
    assert sorted(two) == sorted(a)
    assert float(np.max(np.abs(two["frames/atoms/velocity"][-1]))) > 0.01
    worst = {}
    for k in two:
        if k in ROUNDOFF:
            assert float(np.max(np.abs(a[k] - two[k]))) <= 1e-12, k
            continue
        scale = max(float(np.max(np.abs(two[k]))), 1e-300)
        worst[k] = float(np.max(np.abs(a[k] - two[k]))) / scale
    print("2 ranks, 150 + restart vs straight: worst relative", max(worst.values()))
    assert max(worst.values()) <= 1e-12, {k: v for k, v in worst.items() if v > 1e-12}

    # across paths: a serial checkpoint restarted on 2 ranks, a 2-rank checkpoint restarted serially
    sim = prepared(d)
    X, nodes = sim.model.atoms.X, sim.model.continuum.nodes
    ok(msim(0, d, "-o", str(t / "ser.h5")))
    ok(msim(0, d, "-o", str(t / "b.h5"), "--steps", "150"))
    ok(msim(2, d, "-o", str(t / "b.h5"), "--restart", str(t / "b.checkpoint.h5"), *sp))
    close_paths(two, results(t / "b.h5"), X, nodes)
    ok(msim(2, d, "-o", str(t / "c.h5"), "--steps", "150", *sp))
    ok(msim(0, d, "-o", str(t / "c.h5"), "--restart", str(t / "c.checkpoint.h5")))
    close_paths(results(t / "ser.h5"), results(t / "c.h5"), X, nodes)
