"""Blow-up guard: NaN/inf, lost atoms and energy jumps raise BlowUpError naming step, region, quantity."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from multiscale.diagnostics.guard import BlowUpGuard
from multiscale.errors import BlowUpError

BOX = SimpleNamespace(lo=np.array([0.0, 0.0]), hi=np.array([10.0, 10.0]), periodic=np.array([True, False]))


def _arrays(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return {"atoms": {"x": rng.uniform(0, 10, (n, 2)), "v": rng.normal(size=(n, 2))},
            "continuum": {"U": rng.normal(size=(9, 2)), "V": rng.normal(size=(9, 2))}}


def test_quiet_on_good_state():
    g = BlowUpGuard()
    for step in range(5):
        g.check(step, _arrays(seed=step), energy_total=-100.0 + 0.01 * step, box=BOX)
    assert g.last_good_step == 4


@pytest.mark.parametrize(("region", "quantity", "bad", "index"),
                         [("atoms", "v", np.nan, "atom 7, component 1"),
                          ("continuum", "U", np.inf, "node 3, component 0")])
def test_non_finite(region, quantity, bad, index):
    arrays = _arrays()
    arrays[region][quantity][int(index.split()[1].rstrip(",")), int(index[-1])] = bad
    with pytest.raises(BlowUpError) as exc:
        BlowUpGuard().check(42, arrays, energy_total=1.0, box=BOX)
    e = exc.value
    assert (e.step, e.region, e.quantity) == (42, region, quantity)
    msg = str(e)
    assert "step 42" in msg and f"region '{region}'" in msg and quantity in msg and index in msg


def test_atom_leaving_the_box():
    g = BlowUpGuard(margin=1.0)
    arrays = _arrays()
    arrays["atoms"]["x"][5] = [-30.0, 10.9]          # far out along x, but x is periodic; y within margin
    g.check(1, arrays, box=BOX)
    arrays["atoms"]["x"][11, 1] = 11.2               # beyond hi + margin along free y
    with pytest.raises(BlowUpError) as exc:
        g.check(2, arrays, box=BOX)
    e = exc.value
    assert (e.step, e.region, e.quantity) == (2, "atoms", "position")
    assert "step 2" in str(e) and "atom 11" in str(e) and "along y" in str(e)
    # default margin: 10 % of the box; tuple box form
    free_box = ([0, 0], [10, 10], [False, False])
    BlowUpGuard().check(3, {"atoms": {"x": np.array([[5.0, 10.9]])}}, box=free_box)
    with pytest.raises(BlowUpError):
        BlowUpGuard().check(3, {"atoms": {"x": np.array([[5.0, 11.1]])}}, box=free_box)


def test_energy_jump_and_running_reference():
    g = BlowUpGuard(energy_jump=0.5)
    e = -100.0
    for step in range(100):                          # slow drift: 40 % in total, < 50 % per check: passes
        e *= 1.0 - 0.004
        g.check(step, {}, energy_total=e, energies={"atoms": e - 1.0, "continuum": 1.0})
    with pytest.raises(BlowUpError) as exc:
        g.check(100, {}, energy_total=e + 80.0, energies={"atoms": e - 1.0, "continuum": 81.0})
    err = exc.value
    assert (err.step, err.region, err.quantity) == (100, "continuum", "energy_total")
    assert "step 100" in str(err) and "region 'continuum'" in str(err)
    with pytest.raises(BlowUpError, match="not finite"):
        g.check(101, {}, energy_total=float("nan"))


def test_zero_energy_needs_floor():
    g = BlowUpGuard(energy_floor=1.0)
    g.check(0, {}, energy_total=0.0)
    g.check(1, {}, energy_total=0.3)
    with pytest.raises(BlowUpError):
        g.check(2, {}, energy_total=1.0)


def test_restart_state_round_trip():
    g = BlowUpGuard()
    g.check(0, {}, energy_total=-10.0, energies={"atoms": -10.0})
    h = BlowUpGuard()
    h.set_state(g.state())
    with pytest.raises(BlowUpError):
        h.check(1, {}, energy_total=-1.0, energies={"atoms": -1.0})


def _chain_run(dt: float, steps: int, check_every: int):
    """Velocity-Verlet of a free harmonic chain (m = k = a = 1, ω_max = 2: stable for dt < 1)."""
    n = 64
    X = np.arange(n, dtype=float)
    rng = np.random.default_rng(3)
    u = rng.normal(0, 0.01, n)
    v = rng.normal(0, 0.01, n)

    def forces(u):
        s = np.diff(u)
        f = np.zeros(n)
        f[:-1] += s
        f[1:] -= s
        return f, 0.5 * np.sum(s**2)

    f, pe = forces(u)
    g = BlowUpGuard()
    box = ([-1.0], [float(n)], [False])
    for step in range(1, steps + 1):
        v += 0.5 * dt * f
        u += dt * v
        f, pe = forces(u)
        v += 0.5 * dt * f
        if step % check_every == 0:
            ke = 0.5 * np.sum(v**2)
            g.check(step, {"atoms": {"x": (X + u)[:, None], "v": v, "forces": f}}, energy_total=pe + ke,
                    box=box, energies={"atoms": pe + ke})
    return g


def test_real_blow_up_of_a_chain_with_too_large_time_step():
    _chain_run(dt=0.05, steps=2000, check_every=1)   # stable: no false alarm over 2000 steps
    with pytest.raises(BlowUpError) as exc:                # checked every step: the energy jump comes first
        _chain_run(dt=1.02, steps=2000, check_every=1)
    e = exc.value
    assert e.region == "atoms" and e.quantity == "energy_total" and e.step <= 50, str(e)
    assert f"step {e.step}" in str(e)
    with pytest.raises(BlowUpError) as exc:                # checked rarely: the atoms are gone by then
        _chain_run(dt=1.2, steps=2000, check_every=10)
    e = exc.value
    assert e.region == "atoms" and e.quantity == "position" and e.step == 10, str(e)
