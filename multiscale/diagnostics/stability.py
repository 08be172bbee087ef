"""Stable time-step estimate of the weighted atoms (docs/physics.md §4: floppy handshake atoms).

In the handshake an atom's coupled mass β̄_a m_a falls toward zero while the bonds it takes part in keep
weights ≈ the bond averages of β, so its own frequency can exceed the lattice's ω_max. Atoms tied to the
mesh by a strong (per-atom) row of the constraint matrix move with the mesh and are left out. For every
other free atom a (Gershgorin bound of M⁻¹K, as `build._max_lattice_frequency` for the perfect lattice):

    ω_a² = ω_lattice² · (Σ_b w_b k_b / Σ_b k_b) · m_a / M_a,     k_b = max(φ''(r_b), 0)

with w_b the bond weights, M_a the coupled mass; the stable Verlet step is 2/max ω_a [time].
"""

from __future__ import annotations

import numpy as np

from .._lazy import lazy_module

sp = lazy_module("scipy.sparse")


def slaved_atoms(G: sp.spmatrix | None, n_free: int, d: int) -> np.ndarray:
    """Free-atom indices (free numbering) that a constraint row ties alone to the mesh: rows of G (r, n_dof)
    with exactly one atom among their nonzero columns (strong rows)."""
    if G is None or G.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    G = sp.csr_matrix(G)
    cols = G.indices
    rows = np.repeat(np.arange(G.shape[0]), np.diff(G.indptr))
    atom = cols < n_free * d
    a_of = cols[atom] // d
    r_of = rows[atom]
    # a row with a single distinct atom: min == max of its atom ids
    lo = np.full(G.shape[0], np.iinfo(np.int64).max)
    hi = np.full(G.shape[0], -1)
    np.minimum.at(lo, r_of, a_of)
    np.maximum.at(hi, r_of, a_of)
    single = (hi >= 0) & (lo == hi)
    return np.unique(lo[single]).astype(np.int64)


def weighted_atoms_stable_dt(system, potential, omega_lattice: float) -> tuple[float, int]:  # noqa: ANN001
    """(stable dt [time], index of the limiting atom in the region's numbering) of the free atoms of a
    `CoupledSystem` with weights; ``omega_lattice`` [1/time] the perfect lattice's ω_max.

    Needs the atoms' neighbour list; one this call builds (at the current positions: before a run, the
    reference ones) is invalidated again before it returns, so that the run's first force evaluation
    builds its own after the loads' initial conditions, as the bare integrator does (`msim run` checks
    the time step before `prepare`); a list that existed is left as it was."""
    atoms = system.atoms
    if atoms.nlist.x_build is not None:
        return _weighted_atoms_stable_dt(system, potential, omega_lattice)
    atoms.rebuild()
    try:
        return _weighted_atoms_stable_dt(system, potential, omega_lattice)
    finally:
        atoms.nlist.invalidate()
        atoms.bond_w = None


def _weighted_atoms_stable_dt(system, potential, omega_lattice: float) -> tuple[float, int]:  # noqa: ANN001
    atoms = system.atoms
    n = atoms.n
    if atoms.bond_w is None:   # unit bond weights (force blending): the ratio is 1, no φ'' needed
        ratio = np.ones(n)
    else:
        i, j = atoms.nlist.pairs()
        dX = atoms.nlist.separations(atoms.X)
        r = np.sqrt(np.sum(dX * dX, axis=1))
        inside = r < potential.cutoff
        i, j, r = i[inside], j[inside], r[inside]
        h = 1e-6 * max(float(np.max(r)) if r.size else 1.0, 1.0)
        k = np.clip((potential.pair(r + h)[1] - potential.pair(r - h)[1]) / (2 * h), 0.0, None)
        w = atoms.bond_w[inside]
        kw = np.bincount(i, k * w, n) + np.bincount(j, k * w, n)
        k1 = np.bincount(i, k, n) + np.bincount(j, k, n)
        ratio = np.divide(kw, k1, out=np.ones(n), where=k1 > 0)
    free = np.asarray(system.free)
    keep = np.ones(len(free), bool)
    keep[slaved_atoms(system.G, system.n_free, system.d)] = False
    idx = free[keep]
    if idx.size == 0:
        return float("inf"), -1
    m_full = np.asarray(atoms.mass, float)[idx]
    M = np.asarray(system.atom_mass, float)[idx]
    with np.errstate(divide="ignore"):
        om2 = omega_lattice**2 * ratio[idx] * np.where(M > 0, m_full / M, np.inf)
    a = int(np.argmax(om2))
    return (2.0 / float(np.sqrt(om2[a])) if om2[a] > 0 else float("inf")), int(idx[a])
