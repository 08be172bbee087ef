"""Quasi-static driver on a small fully atomistic indentation (AtomisticRegion + indenter + minimisers)
and the relaxed surface energy of md/properties.py against a relaxed AtomisticRegion slab."""

from __future__ import annotations

import numpy as np
import pytest


def _lj():
    from multiscale.md.potentials.lj import LennardJones
    return LennardJones(1.0, 1.0, 2.5, "shift")


@pytest.mark.parametrize("method", ["fire", "lbfgs", "precon_lbfgs"])
def test_indentation_load_is_derivative_of_minimised_energy(method):
    """Minimised Π*(d): dΠ*/dd = ∂Π/∂d = Σ_a F_a·n = P(d) (the reaction), checked by central differences."""
    _lj()
    from multiscale.integrate.quasistatic import indent2d_atomistic
    d0, h = 0.6, 0.01
    recs = indent2d_atomistic(30, 16, radius=4.0, depths=[0.0, d0 - h, d0, d0 + h], minimizer=method,
                              ftol=1e-9)
    assert all(r["converged"] and r["max_force"] <= 1e-9 for r in recs)
    E = [r["energy"] for r in recs]
    P = recs[2]["indenter.load"]
    assert P > 0.5
    assert abs((E[3] - E[1]) / (2 * h) - P) < 5e-4 * P
    assert recs[0]["indenter.load"] == 0.0 and recs[0]["indenter.depth"] == 0.0


@pytest.mark.parametrize("other", ["lbfgs", "precon_lbfgs"])
def test_minimisers_reach_the_same_state(other):
    _lj()
    from multiscale.integrate.quasistatic import indent2d_atomistic
    a = indent2d_atomistic(24, 12, radius=3.0, depths=[0.0, 0.5], minimizer="fire", ftol=1e-8)
    b = indent2d_atomistic(24, 12, radius=3.0, depths=[0.0, 0.5], minimizer=other, ftol=1e-8)
    for ra, rb in zip(a, b, strict=True):
        assert abs(ra["energy"] - rb["energy"]) < 1e-10 * abs(ra["energy"])
        assert abs(ra["indenter.load"] - rb["indenter.load"]) < 1e-6


def test_relaxed_surface_energy_matches_md_slab():
    """γ(relaxed) of properties.surface_energy = (E_slab − N e_bulk)/(2L) of an AtomisticRegion slab
    (periodic along x with the bulk period, free along y) relaxed by the L-BFGS minimiser."""
    pot = _lj()
    from multiscale.coupling.coupled import CoupledSystem
    from multiscale.integrate.minimize import LBFGS
    from multiscale.md import properties as P
    from multiscale.md.box import Box
    from multiscale.md.lattice import Lattice
    from multiscale.md.system import AtomisticRegion

    a0 = P.zero_stress_lattice_constant(pot, "hex")
    nx, ny = 8, 16
    h = a0 * np.sqrt(3) / 2
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    X = np.stack([(i + (j % 2) / 2) * a0, j * h], axis=-1).reshape(-1, 2)
    box = Box([-0.25 * a0, -10.0], [(nx - 0.25) * a0, ny * h + 10.0], [True, False])
    atoms = AtomisticRegion(X, 1.0, pot, box, skin=0.3)
    s = CoupledSystem(atoms=atoms)

    def fun(q):
        atoms.x[...] = atoms.X + q.reshape(-1, 2)
        E = s.compute_forces()
        return E, -s.forces_q()

    res = LBFGS(ftol=1e-10).minimize(fun, np.zeros(X.size))
    assert res.converged
    e_b = P.energy_per_atom(pot, Lattice("hex", a0))
    gamma_md = (res.energy - X.shape[0] * e_b) / (2 * nx * a0)
    gamma = P.surface_energy(pot, "hex", a0, relax=True, n_rows=ny)
    assert abs(gamma_md - gamma) < 1e-9
    assert abs(gamma - P.surface_energy(pot, "hex", a0, relax=True)) < 1e-10
