"""Atoms in periodic boxes are wrapped at neighbour rebuilds (msim issue 11, item 2).

Reproduction: a dilute LJ gas run for ~30 000–47 000 steps died with "atoms are spread over too many
periodic images" (exit 1): positions were never wrapped and the neighbour list's image code overflowed.
Now the list records each atom's periodic image at every rebuild and the kernels get ``x − image·L``;
``x`` stays the unwrapped, continuous position (x − X = ∫ v dt), image counts go into checkpoints, and
results hold wrapped positions and unwrapped displacements.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from multiscale import Simulation
from multiscale.deck import load_deck_text
from multiscale.md.box import Box
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.system import AtomisticRegion


def _lj_reference(x: np.ndarray, box: Box, rc: float) -> tuple[float, np.ndarray]:
    """Brute-force minimum-image LJ (ε = σ = 1, energy shifted to 0 at rc): E, forces (n, 3)."""
    dx = x[None, :, :] - x[:, None, :]                     # x_j - x_i
    L = box.lengths
    dx -= L * np.round(dx / L)
    r2 = np.sum(dx * dx, axis=2)
    np.fill_diagonal(r2, np.inf)
    inside = r2 < rc * rc
    ir6 = np.where(inside, 1.0 / r2**3, 0.0)
    shift = 4 * (rc**-12 - rc**-6)
    E = 0.5 * float(np.sum(np.where(inside, 4 * (ir6 * ir6 - ir6) - shift, 0.0)))
    fmag = np.where(inside, 24 * (2 * ir6 * ir6 - ir6) / np.where(inside, r2, 1.0), 0.0)   # -dφ/dr / r
    F = -np.sum(fmag[:, :, None] * dx, axis=1)
    return E, F


def _liquid_like(seed: int = 3) -> tuple[np.ndarray, Box]:
    lat = Lattice("fcc", 1.6796)
    L = 4 * 1.6796
    x = lat.sites_in_box(np.zeros(3), np.full(3, L))
    x = x + np.random.default_rng(seed).uniform(-0.15, 0.15, x.shape)
    return x, Box(np.zeros(3), np.full(3, L), [True, True, True])


def test_energy_and_forces_do_not_depend_on_the_periodic_image():
    """The same configuration with every atom moved by up to ±100 box lengths: same E and forces (1e-12),
    equal to a brute-force minimum-image reference. (Unwrapped positions that far apart overflowed the
    old list's image code.)"""
    x, box = _liquid_like()
    pot = LennardJones(1.0, 1.0, 2.5, truncation="shift")
    k = np.random.default_rng(9).integers(-100, 101, x.shape)
    xs = x + k * box.lengths
    regions = []
    for pos in (x, xs):
        a = AtomisticRegion(pos, 1.0, pot, box, skin=0.3)
        a.compute()
        regions.append(a)
    a0, a1 = regions
    np.testing.assert_array_equal(a1.image, k + a0.image)
    assert abs(a1.energy - a0.energy) <= 1e-12 * abs(a0.energy)
    np.testing.assert_allclose(a1.forces, a0.forces, rtol=0, atol=1e-12 * np.max(np.abs(a0.forces)))
    E, F = _lj_reference(x, box, 2.5)
    assert a0.energy == pytest.approx(E, rel=1e-12)
    np.testing.assert_allclose(a0.forces, F, rtol=0, atol=1e-11 * np.max(np.abs(F)))
    # reference bond vectors and separations stay in the frame of the unwrapped positions
    np.testing.assert_allclose(a1.nlist.separations(xs), a0.nlist.separations(x), atol=1e-11)
    np.testing.assert_allclose(a1.wrapped_positions(), box.wrap(x), atol=1e-11)


GAS = """\
msim: 1
units: lj
title: hot dilute gas (T* = 50, rho* = 0.011) in a small periodic box (atoms cross the boundary many times)
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {{type: sc, a: 4.5}}
  region: {{type: box, lo: [0, 0, 0], hi: [13.5, 13.5, 13.5]}}
  boundary: [p, p, p]
  mass: 1.0
  skin: 0.3
  velocity: {{temperature: 50.0, seed: 11}}
integrator: {{type: verlet, dt: 0.002, steps: {steps}}}
output:
  every: {every}
  thermo_every: 100
  fields: [position, displacement, velocity]
  {checkpoint}
"""


def _gas(steps: int = 10000, every: int = 1000, checkpoint: str = "") -> Simulation:
    return Simulation.from_deck(load_deck_text(GAS.format(steps=steps, every=every, checkpoint=checkpoint),
                                               name="gas.yaml"))


def test_hot_gas_crosses_the_boundary_many_times_unwrapped_displacement_is_the_integral_of_v():
    sim = _gas()
    sim.prepare()
    integ, a = sim.integrator, sim.model.atoms
    box, dt = a.box, integ.dt
    integ.initialize()
    E0 = integ.potential + a.kinetic_energy()
    acc0 = a.forces / a.mass[:, None]
    v_int = np.zeros_like(a.x)
    v_prev = a.v.copy()
    img_prev = np.floor((a.x - box.lo) / box.lengths)
    crossings = 0.0
    for _ in range(10000):
        integ.step(1)
        v_int += 0.5 * dt * (v_prev + a.v)
        v_prev[...] = a.v
        img = np.floor((a.x - box.lo) / box.lengths)
        crossings += float(np.sum(np.abs(img - img_prev)))
        img_prev = img
    acc1 = a.forces / a.mass[:, None]
    # velocity Verlet: x_N - x_0 = Σ dt (v_n + v_{n+1})/2 - dt²/4 (a_N - a_0) exactly (telescoping sum)
    expected = v_int - 0.25 * dt * dt * (acc1 - acc0)
    u = a.x - a.X
    np.testing.assert_allclose(u, expected, rtol=0, atol=1e-9)
    assert crossings / a.n > 15                        # each atom crossed a box face many times (25)
    assert np.max(np.ptp(img, axis=0)) > 20            # spread over > 20 box lengths: the old list's
    #                                                    image code held 18 (measured 27-33)
    # the list's images are those of its last build (at most skin/2 ago)
    np.testing.assert_array_equal(a.image, np.floor((a.nlist.x_build - box.lo) / box.lengths))
    # energy conserved; energy and forces the same as for the wrapped configuration
    E1 = integ.potential + a.kinetic_energy()
    assert abs(E1 - E0) < 1e-3 * abs(E0), (E0, E1)
    f, e = a.forces.copy(), a.energy
    fresh = AtomisticRegion(box.wrap(a.x), 1.0, a.potential, box, skin=0.3)
    fresh.compute()
    assert abs(fresh.energy - e) <= 1e-12 * max(abs(e), 1.0)
    np.testing.assert_allclose(fresh.forces, f, rtol=0, atol=1e-12 * max(np.max(np.abs(f)), 1.0))
    assert np.all((a.wrapped_positions() >= box.lo) & (a.wrapped_positions() < box.hi))


def test_results_hold_wrapped_positions_and_unwrapped_displacements(tmp_path):
    sim = _gas(steps=6000, every=3000)
    out = sim.run(output=tmp_path / "gas.h5", progress="quiet")
    a = sim.model.atoms
    with h5py.File(out, "r") as f:
        pos = f["frames/atoms/position"][-1]
        disp = f["frames/atoms/displacement"][-1]
        X = f["static/atoms/reference_positions"][()]
    np.testing.assert_array_equal(disp, a.x - a.X)
    assert np.max(np.abs(disp)) > 5 * a.box.lengths[0]
    assert np.all((pos >= a.box.lo) & (pos < a.box.hi))
    np.testing.assert_allclose(pos, a.box.wrap(X + disp), atol=1e-10)


def test_image_counts_survive_checkpoint_and_restart(tmp_path):
    ck = "checkpoint_every: 3000"
    full = _gas(steps=6000, every=3000, checkpoint=ck)
    out_a = full.run(output=tmp_path / "a.h5", progress="quiet")
    part = _gas(steps=6000, every=3000, checkpoint=ck)
    out_b = part.run(output=tmp_path / "b.h5", steps=3000, progress="quiet")
    mid = part.model.atoms
    assert np.any(mid.image != 0)
    with h5py.File(tmp_path / "b.checkpoint.h5", "r") as f:
        names = []
        f.visit(names.append)
        key = [n for n in names if n.endswith("atoms.image")]
        assert key, names
        np.testing.assert_array_equal(f[key[0]][()], mid.image)
    # restored as saved (no step run: the images are those of the checkpointed list, not recomputed)
    same = _gas(steps=6000, every=3000, checkpoint=ck)
    shutil.copy(out_b, tmp_path / "c.h5")
    same.run(output=tmp_path / "c.h5", steps=3000, restart=tmp_path / "b.checkpoint.h5", progress="quiet")
    assert same.integrator.step_count == 3000
    np.testing.assert_array_equal(same.model.atoms.image, mid.image)
    np.testing.assert_array_equal(same.model.atoms.nlist.wrapped(same.model.atoms.x),
                                  mid.nlist.wrapped(mid.x))
    again = _gas(steps=6000, every=3000, checkpoint=ck)
    again.run(output=out_b, restart=tmp_path / "b.checkpoint.h5", progress="quiet")
    a, b = full.model.atoms, again.model.atoms
    np.testing.assert_array_equal(b.image, a.image)
    np.testing.assert_array_equal(b.x, a.x)
    np.testing.assert_array_equal(b.v, a.v)
    with h5py.File(out_a, "r") as fa, h5py.File(out_b, "r") as fb:
        np.testing.assert_array_equal(fb["frames/atoms/displacement"][-1],
                                      fa["frames/atoms/displacement"][-1])


LIQUID = """\
msim: 1
units: lj
title: 10^6-step periodic LJ liquid (NVE), atoms wrapped at neighbour rebuilds
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: fcc, a: 1.6796}
  region: {type: box, lo: [0, 0, 0], hi: [6.7184, 6.7184, 6.7184]}
  boundary: [p, p, p]
  mass: 1.0
  skin: 0.3
  velocity: {temperature: 1.5, seed: 4}
integrator: {type: verlet, dt: 0.005, steps: 1000000}
output: {every: 100000, thermo_every: 10000, fields: [position, displacement]}
"""


@pytest.mark.slow
def test_million_step_periodic_liquid_run(tmp_path):
    sim = Simulation.from_deck(load_deck_text(LIQUID, name="liquid.yaml"))
    out = sim.run(output=tmp_path / "liquid.h5", progress="quiet")
    with h5py.File(out, "r") as f:
        steps = f["thermo/step"][()]
        etot = f["thermo/total"][()]
        disp = f["frames/atoms/displacement"][-1]
    assert steps[-1] == 1_000_000
    drift = abs(etot[-1] - etot[0]) / abs(etot[0])
    L = sim.model.atoms.box.lengths[0]
    print(f"\n{sim.model.atoms.n} atoms, {steps[-1]} steps: E {etot[0]:.6f} -> {etot[-1]:.6f} "
          f"(drift {drift:.2e}, max |E - E0|/|E0| {np.max(np.abs(etot - etot[0])) / abs(etot[0]):.2e}); "
          "rms displacement "
          f"{np.sqrt(np.mean(np.sum(disp**2, axis=1))) / L:.1f} box lengths; images "
          f"{np.abs(sim.model.atoms.image).max()} max")
    assert drift < 1e-2, drift
    assert np.sqrt(np.mean(np.sum(disp**2, axis=1))) > 3 * sim.model.atoms.box.lengths[0]   # diffused far


def test_wrap_never_returns_hi():
    """Review rev33 R4: an atom a rounding below lo (x − lo = −1e-16) was wrapped to lo + L, written as exactly
    hi (a Cu [110] box from −7.0: 5 atoms at x = hi in frame 0), outside the documented [lo, hi)."""
    import numpy as np

    from multiscale.md.box import Box
    lo, hi = np.array([-7.0, -5.0]), np.array([13.4495, 8.2])
    box = Box(lo, hi, periodic=np.array([True, True]))
    x = np.array([[np.nextafter(-7.0, -np.inf), -5.0], [-7.0, np.nextafter(-5.0, -np.inf)],
                  [13.4495, 8.2], [0.3, 1.0]])
    w = box.wrap(x)
    assert np.all(w >= lo) and np.all(w < hi), w
    assert np.allclose(w[3], x[3], rtol=0, atol=1e-14)
