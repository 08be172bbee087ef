"""2D wave: a circular pulse started in the atomistic core crosses the handshake into a tri3 mesh. The
energy left in the core after the pulse has gone (reflected + the lattice's own dispersive tail) is
compared between a smooth handshake (projected, cubic, 8a), a sharp one (strong, linear, narrowest
allowed width) and a purely atomistic reference (the tail alone)."""

import numpy as np

from multiscale.coupling.coupled import CoupledSystem
from multiscale.coupling.handshake import Handshake
from multiscale.coupling.methods import get_method
from multiscale.integrate.verlet import VelocityVerlet

R_CORE, SIGMA, AMP, DT = 12.0, 2.0, 0.01, 0.1
SLAVE = 0.01


def _pulse(X):
    r2 = np.sum(X * X, axis=1)
    return AMP * np.exp(-0.5 * r2 / SIGMA**2)[:, None] * X / SIGMA


def _run(kind, T):
    from multiscale.fem.continuum import ContinuumRegion
    from multiscale.fem.generators._structured import GridParams, build_grid
    from multiscale.fem.materials.linear import Linear
    from multiscale.geometry.box import BoxShape
    from multiscale.md.box import Box
    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.harmonic import HarmonicSprings
    from multiscale.md.system import AtomisticRegion

    lat = Lattice("hex", 1.0)
    pot = HarmonicSprings(1.0, 1.0, 1.2)
    skin = 0.2
    reach = pot.cutoff + skin
    L = R_CORE + 8.0 + 1.1 * T + 4.0
    if kind == "atoms":
        X = lat.sites_in_box([-L, -L], [L, L])
        atoms = AtomisticRegion(X, np.ones(len(X)), pot, Box(X.min(0) - 5, X.max(0) + 5, [False] * 2), skin)
        system = CoupledSystem(atoms=atoms)
    else:
        h = 2.0
        width, blend, method = ((8.0, "cubic", "projected") if kind in ("smooth", "damped")
                                else (h, "linear", "strong"))
        hs = Handshake(BoxShape([-R_CORE] * 2, [R_CORE] * 2), width, blend)
        n = int(np.ceil(2 * L / h))
        mesh = build_grid(GridParams(lo=[-0.5 * n * h] * 2, hi=[0.5 * n * h] * 2, size=h), "tri3")
        ext = R_CORE + width + reach + 1.0
        Xc = lat.sites_in_box([-ext, -ext], [ext, ext])
        cls = hs.classify(Xc, lat.primitive_vectors, reach)
        X = Xc[cls.keep]
        atoms = AtomisticRegion(X, np.ones(len(X)), pot, Box(X.min(0) - 5, X.max(0) + 5, [False] * 2), skin)
        cont = ContinuumRegion(mesh, Linear.from_potential(pot, lat), 1.0 / lat.volume_per_atom)
        params = {"slave_below": SLAVE} if method == "projected" else {}
        system = CoupledSystem(atoms, cont, hs, get_method(method, **params), cell=lat.primitive_vectors)
    s = system
    s.atoms.x[...] = s.atoms.X + _pulse(s.atoms.X)
    ops = []
    if kind == "damped":  # band on the fine-scale velocity, ω0 = 2√(Σ_b k_b / 2m) = 2√3 for 6 unit springs
        from multiscale.coupling.damping import DampingBand
        ops = [DampingBand(1.0, 2.0 * np.sqrt(3.0))]
    integ = VelocityVerlet(s, DT, velocity_ops=ops)
    integ.project_state()
    integ.initialize()
    E0 = sum(s.kinetic()) + integ.potential
    integ.step(int(round(T / DT)))
    core = s.free[np.max(np.abs(s.atoms.X[s.free]), axis=1) < R_CORE - 2.0]
    v = s.atoms.v[core]
    Ec = float(np.sum(0.5 * s.atom_mass[core] * np.sum(v * v, axis=1)) + np.sum(s.atoms.energies[core]))
    return Ec / E0, integ.constraint_residual()


def test_circular_pulse_smooth_vs_sharp_handshake():
    T = 30.0
    ref, _ = _run("atoms", T)
    smooth, res_s = _run("smooth", T)
    sharp, res_h = _run("sharp", T)
    damped, res_d = _run("damped", T)
    print(f"\n2D pulse, energy left in the core / initial: atoms-only {ref:.3e}, smooth {smooth:.3e}, "
          f"sharp {sharp:.3e}, smooth + damping band {damped:.3e}; reflected (minus tail): smooth "
          f"{smooth - ref:.3e}, sharp {sharp - ref:.3e}, damped {damped - ref:.3e}")
    assert res_s < 1e-13 and res_h < 1e-13 and res_d < 1e-13
    assert smooth - ref < 0.5 * (sharp - ref)
    assert damped - ref < 0.5 * (smooth - ref)
