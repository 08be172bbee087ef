"""Neighbour-list rebuild policy (LAMMPS ``neigh_modify every / delay / check``): rebuilds exactly on
schedule, dangerous builds counted, checkpoint continues on the same schedule."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale._kernels import load
from multiscale.md.box import Box
from multiscale.md.lattice import Lattice
from multiscale.md.neighbors import NeighborList, NeighborPolicy
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.system import AtomisticRegion
from multiscale.md.velocities import maxwell_boltzmann
from multiscale.units import LJ


def _cloud(n=60, L=10.0, seed=0):
    return Box([0, 0], [L, L], [True, True]), np.random.default_rng(seed).uniform(0, L, (n, 2))


def _steps_of_builds(nl, x, nsteps, move=None):
    """Call update once per step (after moving per ``move(step, x)``); steps at which it rebuilt."""
    built = []
    for step in range(1, nsteps + 1):
        if move is not None:
            move(step, x)
        if nl.update(x):
            built.append(step)
    return built


def test_every_without_check_rebuilds_exactly_on_schedule():
    box, x = _cloud()
    nl = NeighborList(box, 2.0, 0.4, policy={"every": 5, "delay": 0, "check": False})
    assert nl.update(x) and nl.n_builds == 1          # first call always builds
    assert _steps_of_builds(nl, x, 23) == [5, 10, 15, 20]   # even though nothing moved
    assert nl.n_builds == 5 and nl.n_dangerous == 0 and nl.since_build == 3
    nl.invalidate()                                   # next update builds, schedule restarts
    assert nl.update(x) and nl.since_build == 0 and _steps_of_builds(nl, x, 6) == [5]


def test_check_with_delay_and_every():
    box, x = _cloud()
    # every 2 delay 5 check yes: checks at steps 6, 8, 10, ... after a build, rebuilds only on motion
    nl = NeighborList(box, 2.0, 0.4, policy=NeighborPolicy(every=2, delay=5, check=True))
    nl.update(x)

    def move(step, y):
        if step in (1, 8, 20):
            y[3, 0] += 0.3         # more than skin/2 = 0.2

    # moved at 1 -> first check (6 steps after the build at 0) at 6; moved at 8 -> first check 12;
    # moved at 20 -> checked at 20 (8 steps after 12)
    assert _steps_of_builds(nl, x, 30, move) == [6, 12, 20]
    assert nl.n_dangerous == 2   # at the first allowed check: the threshold may have been crossed earlier
    # the default policy rebuilds at the first step an atom moved more than skin/2, never dangerous
    nl = NeighborList(box, 2.0, 0.4)
    nl.update(x)
    assert _steps_of_builds(nl, x, 10, lambda s, y: y.__setitem__((3, 1), y[3, 1] + 0.11)) == [2, 4, 6, 8, 10]
    assert nl.n_dangerous == 0


def test_no_check_counts_builds_after_too_much_motion():
    box, x = _cloud()
    nl = NeighborList(box, 2.0, 0.4, policy={"every": 4, "check": False})
    nl.update(x)
    assert _steps_of_builds(nl, x, 8, lambda s, y: y.__setitem__((0, 0), y[0, 0] + (0.3 if s == 6 else 0))) \
        == [4, 8]
    assert nl.n_dangerous == 1     # at step 8: atom 0 had moved 0.3 > skin/2 since the build at step 4


@pytest.mark.parametrize("bad", [{"every": 0}, {"delay": -1}])
def test_policy_validation(bad):
    with pytest.raises(ValueError, match="every >= 1"):
        NeighborPolicy.make(bad)


def _lj_melt(policy, n_threads=1):
    a = (4 / 0.8442) ** (1 / 3)
    L = 4 * a
    X = Lattice("fcc", a).sites_in_box([0, 0, 0], [L, L, L])
    reg = AtomisticRegion(X, 1.0, LennardJones(), Box([0] * 3, [L] * 3, [True] * 3), skin=0.3,
                          n_threads=n_threads, neighbor=policy)
    reg.v[...] = maxwell_boltzmann(reg.mass, 3, 1.44, LJ.boltz, 87287)
    return reg


def _md(reg, nsteps, dt=0.005):
    k = load("verlet")
    inv_m = np.ascontiguousarray(1.0 / reg.mass)
    if reg.nlist.x_build is None:
        reg.compute()
    builds = []
    for _ in range(nsteps):
        k.kick(reg.v, reg.forces, inv_m, 0.5 * dt, reg.n_threads)
        k.drift(reg.x, reg.v, dt, reg.n_threads)
        nb = reg.nlist.n_builds
        reg.compute()
        builds.append(reg.nlist.n_builds > nb)
        k.kick(reg.v, reg.forces, inv_m, 0.5 * dt, reg.n_threads)
    return np.flatnonzero(builds) + 1


@pytest.mark.threads
def test_md_in_lj_policy_schedule_threads_and_restart_bitwise():
    """in.lj's ``every 20 delay 0 check no`` in an MD run: builds at steps 20, 40, 60 only; 1 and 2
    threads bitwise equal; a restart from the checkpoint state continues bitwise on the same schedule."""
    pol = {"every": 20, "delay": 0, "check": False}
    ref = _lj_melt(pol)
    assert list(_md(ref, 70)) == [20, 40, 60] and ref.nlist.n_builds == 4
    two = _lj_melt(pol, n_threads=2)
    _md(two, 70)
    assert np.array_equal(two.x, ref.x) and np.array_equal(two.v, ref.v)
    # restart at step 30 (10 steps after a build): same list, same schedule
    a = _lj_melt(pol)
    _md(a, 30)
    state, x, v, f = a.get_state(), a.x.copy(), a.v.copy(), a.forces.copy()
    b = _lj_melt(pol)
    b.x[...], b.v[...], b.forces[...] = x, v, f
    b.set_state(state)
    assert list(_md(b, 40)) == [10, 30]     # steps 40 and 60 of the whole run
    assert np.array_equal(b.x, ref.x) and np.array_equal(b.v, ref.v)


def test_deck_neighbor_policy_reaches_the_region():
    from pathlib import Path

    from multiscale.build import build_model
    from multiscale.deck import load_deck_text

    text = (Path(__file__).parents[2] / "decks" / "lj_melt.yaml").read_text()
    text = text.replace("  skin: 0.3\n", "  skin: 0.3\n  neighbor: {every: 20, delay: 0, check: false}\n")
    model = build_model(load_deck_text(text, "lj_melt.yaml"), threads=1)
    assert model.atoms.nlist.policy == NeighborPolicy(every=20, delay=0, check=False)
