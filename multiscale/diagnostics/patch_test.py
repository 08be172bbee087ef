"""Patch test (docs/physics.md §6, traction equilibrium / ghost forces).

Every atom (pads included) and node is put at ``x = F X`` for a uniform deformation gradient F; the
largest residual force on a free atom or node is reported, relative to a typical bond force (the largest
|φ'(r)| over the neighbour shells of the deformed lattice). Nodes on the mesh's outer boundary (their
forces are the boundary tractions of the uniform stress) and massless nodes are excluded. Optionally the
configuration is relaxed (quenched velocity Verlet, boundary nodes fixed) and the largest spurious
displacement ``max |u − (F − I) X|`` is reported.

`patch_system_2d` builds the standard 2D case: hexagonal lattice, Lennard-Jones (cut-off 2.5σ, beyond the
nearest neighbours), zero-stress spacing, Cauchy–Born continuum on a tri3 mesh, square atomistic core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..coupling.coupled import CoupledSystem
from ..coupling.handshake import Handshake
from ..coupling.methods import get_method
from ..integrate.verlet import ConstraintProjector, VelocityVerlet


@dataclass
class PatchResult:
    """Forces [force], displacements [length]; ``relative`` = max_force / bond_force."""

    max_force_atoms: float
    max_force_nodes: float
    max_force: float
    bond_force: float
    relative: float
    constrained_relative: float
    relaxed_displacement: float | None = None
    relaxed_force: float | None = None
    uncorrected_relative: float | None = None


def boundary_nodes(mesh) -> np.ndarray:  # noqa: ANN001
    """(N,) bool: nodes on the bounding box of the mesh."""
    X = mesh.nodes
    lo, hi = X.min(axis=0), X.max(axis=0)
    tol = 1e-9 * float(np.max(hi - lo))
    return np.any((np.abs(X - lo) < tol) | (np.abs(X - hi) < tol), axis=1)


def apply_uniform(system: CoupledSystem, F: np.ndarray) -> None:
    """x = F X for every atom, U = (F − I) X for every node; velocities zero."""
    F = np.asarray(F, float)
    s = system
    s.atoms.x[...] = s.atoms.X @ F.T
    s.atoms.v[...] = 0.0
    s.continuum.U[...] = s.continuum.nodes @ (F - np.eye(s.d)).T
    s.continuum.V[...] = 0.0


def typical_bond_force(potential, lattice, F: np.ndarray) -> float:  # noqa: ANN001
    """max |φ'(|F R|)| over the reference neighbour shells R within the cut-off [force]."""
    R = lattice.neighbor_vectors(potential.cutoff) @ np.asarray(F, float).T
    return float(np.max(np.abs(potential.pair(np.linalg.norm(R, axis=1))[1])))


def _residuals(s: CoupledSystem, bnd: np.ndarray) -> tuple[float, float, float]:
    """(largest |f| on a free atom, on an interior active node, largest |M P M⁻¹ f| (constrained))."""
    s.update_pads()
    s.compute_forces()
    fa = s.f_atoms[s.free]
    keep_n = (~bnd) & (s.node_mass > 0)
    fn = s.f_nodes[keep_n]
    ma = float(np.max(np.linalg.norm(fa, axis=1))) if len(fa) else 0.0
    mn = float(np.max(np.linalg.norm(fn, axis=1))) if len(fn) else 0.0
    # residual after the constraint forces: M P M⁻¹ f with the boundary fixed
    inv = s.inv_mass_dof.copy().reshape(-1, s.d)
    inv[s.n_free:][bnd] = 0.0
    inv = inv.ravel()
    a = inv * s.forces_q()
    if s.G is not None:
        a = ConstraintProjector(s.G, inv).project(a)
    m = np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), 0.0)
    return ma, mn, float(np.max(np.abs(m * a))) if len(a) else 0.0


def patch_test(system: CoupledSystem, F: np.ndarray, bond_force: float, *, relax_steps: int = 0,
               dt: float | None = None) -> PatchResult:
    """Residual forces of the uniform state x = F X (and optionally the spurious relaxation).

    The forces are those the method gives at that state in an ordinary force evaluation: for
    ghost_corrected with ``correction: homogeneous`` and ``every: 1`` the correction is recomputed from
    the state (fitted F) in that evaluation; with ``every > 1`` or ``correction: reference`` the dead load
    in use stays. For a method with a switchable correction (``enabled``) the same residual without the
    correction is returned too (``uncorrected_relative``).
    """
    s = system
    bnd = boundary_nodes(s.continuum.mesh)
    apply_uniform(s, F)
    ma, mn, res = _residuals(s, bnd)
    out = PatchResult(ma, mn, max(ma, mn), bond_force, max(ma, mn) / bond_force, res / bond_force)
    if getattr(s.method, "enabled", None) is not None:
        s.method.enabled = False
        try:
            ua, un, _ = _residuals(s, bnd)
        finally:
            s.method.enabled = True
            s.compute_forces()
        out.uncorrected_relative = max(ua, un) / bond_force
    if relax_steps > 0:
        out.relaxed_displacement, out.relaxed_force = _relax(s, F, bnd, relax_steps, dt)
    return out


def _relax(s: CoupledSystem, F: np.ndarray, bnd: np.ndarray, n_steps: int, dt: float | None):
    """Global quench (velocities zeroed whenever the power f·v turns negative), boundary nodes fixed."""
    node_mask = np.repeat(bnd[:, None], s.d, axis=1)
    inv_save = s.inv_mass_dof.copy()
    s.fix_dofs(node_mask=node_mask)
    try:
        dt = dt if dt is not None else 0.2 * min(s.continuum.stable_dt(), 1.0)
        integ = VelocityVerlet(s, dt)
        for _ in range(n_steps):
            integ.step(1)
            v = s.gather_v()
            if float(s.forces_q() @ v) < 0.0:
                s.set_velocities_from_q(np.zeros_like(v))
        q = s.gather_q()
        Xq = np.concatenate([s.atoms.X[s.free].ravel(), s.continuum.nodes.ravel()])
        q_ref = (Xq.reshape(-1, s.d) @ (np.asarray(F) - np.eye(s.d)).T).ravel()
        disp = float(np.max(np.abs(q - q_ref)))
        f = np.abs(s.forces_q() * (s.inv_mass_dof > 0))
        return disp, float(np.max(f))
    finally:
        s.inv_mass_dof[...] = inv_save


def patch_system_2d(method: str = "projected", *, width: float = 4.0, blend: str = "cubic",
                    core: float = 6.0, h: float = 1.5, outer: float = 4.0, method_params: dict | None = None,
                    cutoff: float = 2.5, skin: float = 0.3):  # noqa: ANN201
    """Hexagonal LJ lattice (ε = σ = m = 1, zero-stress spacing) in a tri3 Cauchy–Born mesh.

    Atomistic core: square |x|, |y| ≤ core; handshake of the given width around it; mesh covering
    [−L, L]² with L = core + width + outer, element size ≈ h. Returns (system, lattice, potential).
    """
    from ..fem.continuum import ContinuumRegion
    from ..fem.generators._structured import GridParams, build_grid
    from ..fem.materials.cauchy_born import CauchyBorn
    from ..geometry.box import BoxShape
    from ..md.box import Box
    from ..md.lattice import Lattice
    from ..md.potentials.lj import LennardJones
    from ..md.properties import zero_stress_lattice_constant
    from ..md.system import AtomisticRegion

    pot = LennardJones(1.0, 1.0, cutoff, "shift")
    a = zero_stress_lattice_constant(pot, "hex", 1.1)
    lat = Lattice("hex", a)
    hs = Handshake(BoxShape([-core, -core], [core, core]), width, blend)
    L = core + width + outer
    n = max(2, int(np.ceil(2 * L / h)))
    Lm = 0.5 * n * h
    mesh = build_grid(GridParams(lo=[-Lm, -Lm], hi=[Lm, Lm], size=h), "tri3")
    hs.check_geometry(cutoff, skin, element_size=h)
    reach = cutoff + skin
    ext = core + width + reach + 2 * a
    Xc = lat.sites_in_box([-ext, -ext], [ext, ext])
    cls = hs.classify(Xc, lat.primitive_vectors, reach)
    X = Xc[cls.keep]
    box = Box(X.min(axis=0) - 10, X.max(axis=0) + 10, [False, False])
    atoms = AtomisticRegion(X, np.ones(len(X)), pot, box, skin)
    rho = 1.0 / lat.volume_per_atom
    cont = ContinuumRegion(mesh, CauchyBorn(pot, lat), rho)
    meth = get_method(method, **(method_params or {}))
    system = CoupledSystem(atoms, cont, hs, meth, cell=lat.primitive_vectors)
    return system, lat, pot
