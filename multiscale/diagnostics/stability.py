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

    The bond ratio Σ w k / Σ k of each atom (`weighted_band.bond_ratio`: each atom's bonds summed in the
    order of the neighbour's index) comes from the handshake band's own list (`weighted_band.band_ratio`:
    a convex core and a free atom box; the other atoms' bonds all have weight 1.0, ratio 1 exactly) — no
    list of all atoms. Otherwise it needs the atoms' neighbour list; one this call builds (at the current
    positions: before a run, the reference ones) is invalidated again before it returns, so that the run's
    first force evaluation builds its own after the loads' initial conditions, as the bare integrator does
    (`msim run` checks the time step before `prepare`); a list that existed is left as it was. Unit bond
    weights (force blending: no bond weight function) give ratio 1 without a list."""
    from .weighted_band import band_ratio
    atoms = system.atoms
    if atoms.bond_weight_fn is None:
        return _dt_of_ratio(system, np.ones(atoms.n), omega_lattice)
    ratio = band_ratio(system, potential)
    if ratio is not None:
        return _dt_of_ratio(system, ratio, omega_lattice)
    if atoms.nlist.x_build is not None:
        return _dt_of_ratio(system, _list_ratio(atoms, potential), omega_lattice)
    atoms.rebuild()
    try:
        return _dt_of_ratio(system, _list_ratio(atoms, potential), omega_lattice)
    finally:
        atoms.nlist.invalidate()
        atoms.bond_w = None


def _list_ratio(atoms, potential) -> np.ndarray:  # noqa: ANN001
    """(n,) the bond ratio of every atom from the region's list (its entries inside the cut-off at X)."""
    from .weighted_band import bond_ratio, fd_stiffness
    n = atoms.n
    if atoms.bond_w is None:   # unit bond weights (force blending): the ratio is 1, no φ'' needed
        return np.ones(n)
    i, j = atoms.nlist.pairs()
    dX = atoms.nlist.separations(atoms.X)
    r = np.sqrt(np.sum(dX * dX, axis=1))
    inside = r < potential.cutoff
    return bond_ratio(n, i[inside], j[inside], fd_stiffness(potential, r[inside]), atoms.bond_w[inside],
                      np.arange(n, dtype=np.int64))


def _dt_of_ratio(system, ratio: np.ndarray, omega_lattice: float) -> tuple[float, int]:  # noqa: ANN001
    atoms = system.atoms
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


def _eam_entry_terms(tables, ti: np.ndarray, tj: np.ndarray, r: np.ndarray) -> tuple:  # noqa: ANN001
    """Per list entry (i, j) at distance r [Å]: φ', φ'' of the pair, and ρ, ρ', ρ'' of the density j gives
    at i (``ji``) and of the density i gives at j (``ij``), with the element pair's tables (setfl/funcfl:
    the giving element's row; eam/fs: row s·nel + t). Eight arrays (m,): φ', φ'', ρ_ji, ρ'_ji, ρ''_ji,
    ρ_ij, ρ'_ij, ρ''_ij."""
    from ..md.potentials.eam_tables import eval_pair, eval_pair_d2, eval_radial, eval_radial_d2

    nel = len(tables.elements)
    fs = nel > 1 and tables.rhor.shape[0] == nel * nel
    out = [np.zeros_like(r) for _ in range(8)]
    code = ti.astype(np.int64) * nel + tj
    for c in np.unique(code).tolist():
        a, b = divmod(int(c), nel)
        s = code == c
        rs = r[s]
        out[0][s] = eval_pair(tables, a, b, rs)[1]
        out[1][s] = eval_pair_d2(tables, a, b, rs)
        row_ji = tables.rhor[b * nel + a] if fs else tables.rhor[b]   # j (element b) gives at i (a)
        row_ij = tables.rhor[a * nel + b] if fs else tables.rhor[a]
        out[2][s], out[3][s] = eval_radial(tables, row_ji, rs)
        out[4][s] = eval_radial_d2(tables, row_ji, rs)
        out[5][s], out[6][s] = eval_radial(tables, row_ij, rs)
        out[7][s] = eval_radial_d2(tables, row_ij, rs)
    return tuple(out)


def weighted_eam_onsite_blocks(atoms, potential) -> np.ndarray:  # noqa: ANN001
    """(n, d, d) on-site blocks K_aa = ∂²E/∂x_a² [energy/length²] of the weighted EAM energy
    E = Σ_c w_c F(ρ_c) + Σ_{b<c} w_bc φ(r_bc) at the reference positions X of an `AtomisticRegion`
    (site weights ``atoms.site_w``, bond weights ``atoms.bond_w``; None = 1). With u the unit vector
    a → b over a's neighbours b:

        K_aa = Σ_b [c_r u uᵀ + c_t (I − u uᵀ)] + w_a F''(ρ_a) g gᵀ,   g = Σ_b ρ'_{b→a} u,
        c_r = w_ab φ'' + w_a F'(ρ_a) ρ''_{b→a} + w_b (F'(ρ_b) ρ''_{a→b} + F''(ρ_b) ρ'_{a→b}²),
        c_t = (w_ab φ' + w_a F'(ρ_a) ρ'_{b→a} + w_b F'(ρ_b) ρ'_{a→b}) / r.

    ``potential``: a `TabulatedEAM` (its ``tables``; atom types from ``atoms.types``)."""
    if atoms.nlist.x_build is not None:
        return _weighted_eam_onsite_blocks(atoms, potential)
    atoms.rebuild()     # a list built here is dropped again (as `weighted_atoms_stable_dt`): the run's
    try:                # first list is then built after the loads' initial conditions
        return _weighted_eam_onsite_blocks(atoms, potential)
    finally:
        atoms.nlist.invalidate()
        atoms.bond_w = None


def _weighted_eam_onsite_blocks(atoms, potential) -> np.ndarray:  # noqa: ANN001
    from ..md.potentials.eam_tables import eval_embedding, eval_embedding_d2

    t = potential.tables
    n, d = atoms.X.shape
    i, j = atoms.nlist.pairs()
    dX = atoms.nlist.separations(atoms.X)
    r = np.sqrt(np.sum(dX * dX, axis=1))
    inside = r < t.cutoff
    wb = np.ones(len(r)) if atoms.bond_w is None else np.asarray(atoms.bond_w, float)
    i, j, dX, r, wb = i[inside], j[inside], dX[inside], r[inside], wb[inside]
    types = np.zeros(n, np.int64) if atoms.types is None else np.asarray(atoms.types, np.int64)
    ws = np.ones(n) if atoms.site_w is None else np.asarray(atoms.site_w, float)
    dphi, d2phi, rho_ji, drho_ji, d2rho_ji, rho_ij, drho_ij, d2rho_ij = _eam_entry_terms(
        t, types[i], types[j], r)
    rho = np.bincount(i, rho_ji, n) + np.bincount(j, rho_ij, n)
    Fp = np.zeros(n)
    Fpp = np.zeros(n)
    for e in np.unique(types):
        s = types == e
        Fp[s] = eval_embedding(t, int(e), rho[s])[1]
        Fpp[s] = eval_embedding_d2(t, int(e), rho[s])
    u = dX / r[:, None]
    c_t = (wb * dphi + ws[i] * Fp[i] * drho_ji + ws[j] * Fp[j] * drho_ij) / r
    c_ri = wb * d2phi + ws[i] * Fp[i] * d2rho_ji + ws[j] * (Fp[j] * d2rho_ij + Fpp[j] * drho_ij ** 2)
    c_rj = wb * d2phi + ws[j] * Fp[j] * d2rho_ij + ws[i] * (Fp[i] * d2rho_ji + Fpp[i] * drho_ji ** 2)
    K = np.zeros((n, d, d))
    g = np.zeros((n, d))
    for p in range(d):       # one component at a time: O(entries) memory
        g[:, p] = np.bincount(i, drho_ji * u[:, p], n) - np.bincount(j, drho_ij * u[:, p], n)
        for q in range(p, d):
            upq = u[:, p] * u[:, q]
            rest = (1.0 if p == q else 0.0) - upq
            K[:, p, q] = (np.bincount(i, c_ri * upq + c_t * rest, n)
                          + np.bincount(j, c_rj * upq + c_t * rest, n))
            K[:, q, p] = K[:, p, q]
    K += (ws * Fpp)[:, None, None] * g[:, :, None] * g[:, None, :]
    return K


def unstable_weighted_atoms(system, potential) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Free atoms of a coupled `CoupledSystem` with a weighted tabulated EAM energy whose on-site block
    K_aa (`weighted_eam_onsite_blocks`) has a negative eigenvalue at the reference: the blended energy is
    not stable there (Π decreases along e_a: the atom falls toward a neighbour — its own and its
    neighbours' embedding terms, site-weighted w = β̄, pull it while the bonds' repulsion, weighted by the
    bonds' averages of β, can be much weaker or exactly 0 at H's continuum edge). Atoms tied to the mesh by
    a strong row (`slaved_atoms`) are left out. Returns (atoms (k,) in the region's numbering, their
    smallest eigenvalue (k,) [energy/length²]); empty for other potentials (pair potentials weight
    their whole energy by the bonds)."""
    empty = (np.zeros(0, np.int64), np.zeros(0))
    if getattr(potential, "tables", None) is None or not getattr(potential, "many_body", False):
        return empty
    atoms = system.atoms
    if atoms is None or atoms.site_w is None:
        return empty
    free = np.asarray(system.free)
    keep = np.ones(len(free), bool)
    keep[slaved_atoms(system.G, system.n_free, system.d)] = False
    idx = free[keep]
    if idx.size == 0:
        return empty
    K = weighted_eam_onsite_blocks(atoms, potential)[idx]
    lam = np.linalg.eigvalsh(0.5 * (K + np.swapaxes(K, 1, 2)))[:, 0]
    scale = float(np.max(np.abs(K))) if K.size else 0.0
    bad = lam < -1e-9 * scale
    return idx[bad].astype(np.int64), lam[bad]
