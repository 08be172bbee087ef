"""Stable time-step estimate of the weighted atoms (docs/physics.md §4: floppy handshake atoms).

In the handshake an atom's coupled mass β̄_a m_a falls toward zero while the bonds it takes part in keep
weights ≈ the bond averages of β, so its own frequency can exceed the lattice's ω_max. Atoms tied to the
mesh by a strong (per-atom) row of the constraint matrix move with the mesh and are left out. For every
other free atom a (Gershgorin bound of M⁻¹K, as `build._max_lattice_frequency` for the perfect lattice):

    ω_a² = ω_lattice² · (Σ_b w_b k_b / Σ_b k_b) · m_a / M_a,     k_b = max(φ''(r_b), 0)

with w_b the bond weights, M_a the coupled mass; the stable Verlet step is 2/max ω_a [time].
"""

from __future__ import annotations

import dataclasses

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
    return _dt_of_omega2(*weighted_atoms_omega2(system, potential, omega_lattice))


def weighted_atoms_omega2(system, potential, omega_lattice: float) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(idx (k,) region indices of the free atoms that no strong row slaves, ω_a² (k,) [1/time²]): the
    per-atom bound of the module docstring behind `weighted_atoms_stable_dt` (which is 2/√max ω_a²);
    the same list handling."""
    return _omega2_of_ratio(system, _weighted_ratio(system, potential), omega_lattice)


def _weighted_ratio(system, potential) -> np.ndarray:  # noqa: ANN001
    """(n,) the bond ratio Σ w k / Σ k of the region's atoms (see `weighted_atoms_stable_dt`)."""
    from .weighted_band import band_ratio
    atoms = system.atoms
    if atoms.bond_weight_fn is None:
        return np.ones(atoms.n)
    ratio = band_ratio(system, potential)
    if ratio is not None:
        return ratio
    if atoms.nlist.x_build is not None:
        return _list_ratio(atoms, potential)
    atoms.rebuild()
    try:
        return _list_ratio(atoms, potential)
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
    return _dt_of_omega2(*_omega2_of_ratio(system, ratio, omega_lattice))


def _dt_of_omega2(idx: np.ndarray, om2: np.ndarray) -> tuple[float, int]:
    if idx.size == 0:
        return float("inf"), -1
    a = int(np.argmax(om2))
    return (2.0 / float(np.sqrt(om2[a])) if om2[a] > 0 else float("inf")), int(idx[a])


def _omega2_of_ratio(system, ratio: np.ndarray, omega_lattice: float) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(idx (k,) region indices of the free atoms no strong row slaves, ω_a² (k,) [1/time²] of each)."""
    atoms = system.atoms
    free = np.asarray(system.free)
    keep = np.ones(len(free), bool)
    keep[slaved_atoms(system.G, system.n_free, system.d)] = False
    idx = free[keep]
    m_full = np.asarray(atoms.mass, float)[idx]
    M = np.asarray(system.atom_mass, float)[idx]
    with np.errstate(divide="ignore"):
        om2 = omega_lattice**2 * ratio[idx] * np.where(M > 0, m_full / M, np.inf)
    return idx, om2


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
    """(n, d, d) `weighted_eam_onsite_blocks` from the region's list (its entries inside the cut-off)."""
    t = potential.tables
    n = atoms.n
    i, j = atoms.nlist.pairs()
    dX = atoms.nlist.separations(atoms.X)
    r = np.sqrt(np.sum(dX * dX, axis=1))
    inside = r < t.cutoff
    wb = np.ones(len(r)) if atoms.bond_w is None else np.asarray(atoms.bond_w, float)
    types = np.zeros(n, np.int64) if atoms.types is None else np.asarray(atoms.types, np.int64)
    ws = np.ones(n) if atoms.site_w is None else np.asarray(atoms.site_w, float)
    return _eam_onsite_blocks(t, types, ws, i[inside], j[inside], dX[inside], r[inside], wb[inside])


def _eam_onsite_blocks(t, types: np.ndarray, ws: np.ndarray, i: np.ndarray, j: np.ndarray,  # noqa: ANN001
                       dX: np.ndarray, r: np.ndarray, wb: np.ndarray,
                       rows: np.ndarray | None = None) -> np.ndarray:
    """(n, d, d) on-site blocks (`weighted_eam_onsite_blocks`) of n atoms (types (n,), site weights ws (n,);
    numbered in increasing order of their index in the region) from the half-list entries (i, j) (e,)
    inside the cut-off (dX (e, d) = X_j − X_i, r (e,), bond weights wb (e,)). Canonical sums: each atom's
    ρ, g and K over its entries in the order of the neighbour's index, each entry's terms in the order of
    its two atoms' indices, so that an atom's block has the same bits from any list that holds its
    neighbours and theirs (`_band_onsite_blocks`). ``rows`` (n,) bool: only these atoms' blocks are
    formed (the others are 0; ρ is summed for every atom)."""
    from ..md.potentials.eam_tables import eval_embedding, eval_embedding_d2

    n, d = types.shape[0], dX.shape[1]
    dphi, d2phi, rho_ji, drho_ji, d2rho_ji, rho_ij, drho_ij, d2rho_ij = _eam_entry_terms(
        t, types[i], types[j], r)

    def canonical(i: np.ndarray, j: np.ndarray):  # noqa: ANN202
        """Σ over each atom's entries in the neighbour's order: (on_i (e,), on_j (e,)) -> (n,)."""
        o = np.argsort(np.concatenate([i * n + j, j * n + i]))      # distinct keys: a unique order
        at = np.concatenate([i, j])[o]
        return lambda on_i, on_j: np.bincount(at, np.concatenate([on_i, on_j])[o], n)

    rho = canonical(i, j)(rho_ji, rho_ij)
    Fp = np.zeros(n)
    Fpp = np.zeros(n)
    for e in np.unique(types):
        s = types == e
        Fp[s] = eval_embedding(t, int(e), rho[s])[1]
        Fpp[s] = eval_embedding_d2(t, int(e), rho[s])
    if rows is not None:     # the entries of the rows' blocks
        k = np.flatnonzero(rows[i] | rows[j])
        i, j, dX, r, wb = i[k], j[k], dX[k], r[k], wb[k]
        dphi, d2phi, drho_ji, d2rho_ji, drho_ij, d2rho_ij = (
            dphi[k], d2phi[k], drho_ji[k], d2rho_ji[k], drho_ij[k], d2rho_ij[k])
    del rho_ji, rho_ij
    per_atom = canonical(i, j)
    u = dX / r[:, None]
    ti = ws[i] * Fp[i] * drho_ji
    tj = ws[j] * Fp[j] * drho_ij
    first = i < j
    c_t = (wb * dphi + np.where(first, ti, tj) + np.where(first, tj, ti)) / r
    del ti, tj, first
    c_ri = wb * d2phi + ws[i] * Fp[i] * d2rho_ji + ws[j] * (Fp[j] * d2rho_ij + Fpp[j] * drho_ij ** 2)
    c_rj = wb * d2phi + ws[j] * Fp[j] * d2rho_ij + ws[i] * (Fp[i] * d2rho_ji + Fpp[i] * drho_ji ** 2)
    K = np.zeros((n, d, d))
    g = np.zeros((n, d))
    for p in range(d):       # one component at a time: O(entries) memory
        g[:, p] = per_atom(drho_ji * u[:, p], -(drho_ij * u[:, p]))
        for q in range(p, d):
            upq = u[:, p] * u[:, q]
            rest = (1.0 if p == q else 0.0) - upq
            K[:, p, q] = per_atom(c_ri * upq + c_t * rest, c_rj * upq + c_t * rest)
            K[:, q, p] = K[:, p, q]
    K += (ws * Fpp)[:, None, None] * g[:, :, None] * g[:, None, :]
    if rows is not None:
        K[~rows] = 0.0
    return K


def _band_onsite_blocks(system, potential) -> tuple[np.ndarray, np.ndarray] | None:  # noqa: ANN001
    """(atoms (k,) in the region's numbering, their blocks (k, d, d)) of `weighted_eam_onsite_blocks` for
    the atoms of the handshake band from its own list (`weighted_band.band_list`, hops = 2: the rows'
    neighbours' ρ needs their neighbours), or None when the band does not apply. The band holds every
    atom with a weight ≠ 1 among its terms (its site weight, its bonds' weights, its neighbours' site
    weights); any other atom's block is the unweighted energy's. The same bits as the list of all atoms
    (`_eam_onsite_blocks`' canonical sums)."""
    from .weighted_band import band_list
    atoms = system.atoms
    t = potential.tables
    ws = np.asarray(atoms.site_w, float)
    band = band_list(system, float(t.cutoff), 2, ws)
    if band is None:
        return None
    sel, ring, _, i, j, dX, r, w = band
    del band
    k = np.flatnonzero(np.minimum(ring[i], ring[j]) <= 1)   # ρ of the rows and of their neighbours
    i, j, dX, r, w = i[k], j[k], dX[k], r[k], w[k]
    del k
    types = np.zeros(atoms.n, np.int64) if atoms.types is None else np.asarray(atoms.types, np.int64)
    rows = ring == 0
    K = _eam_onsite_blocks(t, types[sel], ws[sel], i, j, dX, r, w, rows)
    return sel[rows], K[rows]


def unstable_weighted_atoms(system, potential) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Free atoms of a coupled `CoupledSystem` with a weighted tabulated EAM energy whose on-site block
    K_aa (`weighted_eam_onsite_blocks`) has a negative eigenvalue at the reference: the blended energy is
    not stable there (Π decreases along e_a: the atom falls toward a neighbour — its own and its
    neighbours' embedding terms, site-weighted w = β̄, pull it while the bonds' repulsion, weighted by the
    bonds' averages of β, can be much weaker or exactly 0 at H's continuum edge). Atoms tied to the mesh by
    a strong row (`slaved_atoms`) are left out. Returns (atoms (k,) in the region's numbering, their
    smallest eigenvalue (k,) [energy/length²]); empty for other potentials (pair potentials weight
    their whole energy by the bonds). For a convex core in a free atom box only the handshake band's atoms
    are checked (`_band_onsite_blocks`: every atom with a weight ≠ 1 among the terms of its block, and
    the atoms within r_cut of them; any other block is the unweighted energy's, which the blending does
    not change), from the band's own list (no list of all atoms; the same bits as the full list's blocks);
    otherwise every free atom, from the list of all atoms. The tolerance −1e-9 max |K| runs over the
    blocks checked."""
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
    band = _band_onsite_blocks(system, potential)
    if band is None:
        K = weighted_eam_onsite_blocks(atoms, potential)[idx]
    else:                    # the other atoms' blocks are the unweighted energy's: not flagged here
        rows, K = band
        pos = np.searchsorted(rows, idx)
        hit = pos < rows.size
        hit[hit] = rows[pos[hit]] == idx[hit]
        idx, K = idx[hit], K[pos[hit]]
    lam = np.linalg.eigvalsh(0.5 * (K + np.swapaxes(K, 1, 2)))[:, 0]
    scale = float(np.max(np.abs(K))) if K.size else 0.0
    bad = lam < -1e-9 * scale
    return idx[bad].astype(np.int64), lam[bad]


# ---------------------------------------------------------------------------------------------------------
# Collective modes of the constrained blended energy (pair potentials)
# ---------------------------------------------------------------------------------------------------------

#: a constrained mode counts as negative below −`NEGATIVE_TOL` × the largest diagonal entry of M⁻¹K on the
#: handshake's dofs (round-off zero modes of the gallery decks: |λ| ≤ 1e-13 of max λ)
NEGATIVE_TOL = 1e-8

#: a negative mode with at least this share (mass-weighted) in the rigid motions of the free body is a
#: rotation of a pre-stressed floating body (the Morse twin of tests/parallel: 99.98 %), not reported
RIGID_SHARE = 0.99

#: the constraint block's regularisation δ = `_PENALTY_DELTA` / ‖M⁻¹K‖ (rows of C M^-½ of unit norm): the
#: negative count of the Morse twin (1 at slave_below 0, 0 at 1e-3) is the same for 1e-3 … 1e-12
_PENALTY_DELTA = 1e-6


@dataclasses.dataclass
class CollectiveModes:
    """Result of `collective_unstable_modes`.

    lam : (k,) eigenvalues of M⁻¹K on the constraint null space below the tolerance [1/time²], ascending,
          rigid-body ones left out;  atoms : (k,) index (region numbering) of the atom with the largest
          displacement of each mode;  rigid : (r,) the negative ones that are rigid motions (not counted);
    n_dof : size of the subspace (handshake dofs);  n_rigid_removed : rigid motions projected out (the
    subspace held the whole free body);  n_negative : the count of eigenvalues below −tol (the inertia
    of the factorised KKT matrix, rigid ones included when not projected out);  found : the eigenvalues
    computed (ascending; only when the count is positive);
    reason : why the check did not run ('' when it ran)."""

    lam: np.ndarray
    atoms: np.ndarray
    rigid: np.ndarray
    n_dof: int = 0
    n_rigid_removed: int = 0
    n_negative: int = 0
    found: np.ndarray | None = None
    reason: str = ""


def _skip(reason: str) -> CollectiveModes:
    return CollectiveModes(np.zeros(0), np.zeros(0, np.int64), np.zeros(0), reason=reason)


def collective_check_applies(system, potential) -> str:  # noqa: ANN001
    """'' when `collective_unstable_modes` can run on this model, else the reason it cannot."""
    s = system
    if s.atoms is None or s.continuum is None or not getattr(s, "coupled", False):
        return "no handshake"
    if getattr(potential, "many_body", False) or not hasattr(potential, "pair"):
        return ("not a pair potential (EAM: `unstable_weighted_atoms` checks the on-site blocks; an "
                "external engine has no radial functions)")
    if not getattr(s.method, "energy_based", True):
        return "the coupling has no energy (force blending)"
    return ""


def _pair_terms(potential, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """φ'(r), φ''(r) [energy/length, energy/length²] (φ'' from `pair_d2` when the potential has it,
    else by a central difference of φ' with h = 1e-5 of the cut-off)."""
    d1 = np.asarray(potential.pair(r)[1], float)
    if hasattr(potential, "pair_d2"):
        return d1, np.asarray(potential.pair_d2(r), float)
    h = 1e-5 * float(potential.cutoff)
    return d1, (np.asarray(potential.pair(r + h)[1], float) - np.asarray(potential.pair(r - h)[1], float)) / (2 * h)


def handshake_dofs(system, pairs: tuple) -> np.ndarray:  # noqa: ANN001
    """Sorted stacked-dof indices (k,) of the handshake's free dofs: the free atoms with β̄ < 1, the free
    atoms bonded to one of those or to a pad (``pairs`` = (i, j) within the cut-off), and the nodes of
    every element that holds a node of a constraint row or of a pad's interpolation. Only dofs with a
    non-zero inverse mass (fixed dofs and massless nodes stay out)."""
    s = system
    d, n = s.d, s.n_atoms
    i, j = pairs
    weighted = s.atom_weight < 1.0                          # pads (β̄ = 0) included
    near = weighted.copy()
    near[i[weighted[j]]] = True
    near[j[weighted[i]]] = True
    near &= ~s.pad
    pos = -np.ones(n, np.int64)
    pos[s.free] = np.arange(s.n_free)
    atoms = pos[np.flatnonzero(near)]
    k0 = s.n_free * d
    cols = np.zeros(0, np.int64)
    if s.G is not None and s.G.shape[0]:
        cols = np.unique(sp.csr_matrix(s.G).indices)
        cols = cols[cols >= k0] - k0
    nodes = np.unique(np.concatenate([cols // d, sp.csr_matrix(s.N_pad).indices.astype(np.int64)]))
    touch = np.zeros(s.n_nodes, bool)
    touch[nodes] = True
    ring = [nodes]
    for blk in s.continuum.mesh.blocks:
        conn = np.asarray(blk.conn)
        ring.append(conn[np.any(touch[conn], axis=1)].ravel())
    nodes = np.unique(np.concatenate(ring)).astype(np.int64)
    ax = np.arange(d)
    dofs = np.concatenate([(atoms[:, None] * d + ax).ravel(), (k0 + nodes[:, None] * d + ax).ravel()])
    dofs = np.unique(dofs)
    return dofs[np.asarray(s.inv_mass_dof)[dofs] > 0.0]


def blended_pair_hessian(system, potential, dofs: np.ndarray, bonds: tuple) -> sp.csr_matrix:  # noqa: ANN001
    """(k, k) Hessian of the blended energy Π = Σ w_ab φ(r_ab) + Σ_q α_q W(F_q) V_q (+ a penalty
    coupling's ½ qᵀ K_p q) with respect to the stacked dofs ``dofs`` (k,) at the reference [energy/length²];
    every other dof held at 0. ``bonds`` = (i (m,), j (m,), dX (m, d), w (m,)): the atoms' pairs within the
    cut-off at the reference and their bond weights. Atoms: Σ_bonds w [φ'' e eᵀ + φ'/r (I − e eᵀ)] (the
    exact pair Hessian), pads through x_pad = X + N_pad U; continuum: `ContinuumRegion.stiffness_matrix`
    (the material's reference tangent: exact for a stress-free reference)."""
    from ..coupling.thermal_qh import _pair_hessian
    from ..integrate.precon import atoms_to_q
    s = system
    d, n = s.d, s.n_atoms
    i, j, dX, w = bonds
    T = atoms_to_q(s).tocsc()[:, dofs].tocsr()               # (n·d, k): the atoms that move with `dofs`
    moving = np.zeros(n, bool)
    moving[np.unique(T.nonzero()[0] // d)] = True
    keep = (moving[i] | moving[j]) & (w > 0.0)
    i, j, dX, w = i[keep], j[keep], dX[keep], w[keep]
    r = np.sqrt(np.einsum("md,md->m", dX, dX))
    d1, d2 = _pair_terms(potential, r)
    H = _pair_hessian(n, d, i, j, dX, r, w, d1, d2)
    K = (T.T @ H @ T).tocsr()
    k0 = s.n_free * d
    nd = dofs[dofs >= k0] - k0
    if nd.size:
        Kc = s.continuum.stiffness_matrix().tocsr()[nd][:, nd]
        pos = np.flatnonzero(dofs >= k0)
        Kc = Kc.tocoo()
        K = K + sp.csr_matrix((Kc.data, (pos[Kc.row], pos[Kc.col])), shape=K.shape)
    Kp = getattr(s.method, "_K", None)
    if Kp is not None:
        K = K + sp.csr_matrix(Kp)[dofs][:, dofs]
    K = 0.5 * (K + K.T)
    return K.tocsr()


def _rigid_vectors(system, dofs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R (k, r), whole (r,) bool): the translations and rotations (in planes of two non-periodic axes) of
    the free atoms and nodes together, about their centroid, restricted to ``dofs``; ``whole``: the motion
    vanishes on every movable dof outside ``dofs`` (it lies in the subspace)."""
    s = system
    d = s.d
    P = np.vstack([s.atoms.X[s.free], np.asarray(s.continuum.mesh.nodes)[:, :d]])
    Y = P - P.mean(0)
    per = np.asarray(getattr(s.atoms.box, "periodic", np.zeros(d, bool)), bool)
    vecs = []
    for k in range(d):
        t = np.zeros_like(Y)
        t[:, k] = 1.0
        vecs.append(t.ravel())
    for p, q in ([(0, 1)] if d == 2 else [(0, 1), (1, 2), (0, 2)] if d == 3 else []):
        if per[p] or per[q]:
            continue
        t = np.zeros_like(Y)
        t[:, p], t[:, q] = -Y[:, q], Y[:, p]
        vecs.append(t.ravel())
    R = np.array(vecs).T
    movable = np.asarray(s.inv_mass_dof) > 0.0
    outside = movable.copy()
    outside[dofs] = False
    whole = ~np.any(R[outside] != 0.0, axis=0)
    return R[dofs], whole


def collective_unstable_modes(system, potential, k: int = 12) -> CollectiveModes:  # noqa: ANN001
    """The negative modes of the blended energy's Hessian on the handshake's dofs (`handshake_dofs`, every
    other dof held at 0: a subspace, so each negative found is one of the whole model), restricted to the
    constraint null space (G q = 0) and mass-weighted as the integrator sees it: K z = λ M z, G z = 0 with
    M the coupled masses (β̄ m for atoms, the α-lumped masses for nodes) [λ: 1/time²; growth rate √−λ].

    The count of eigenvalues below σ = −tol (tol = `NEGATIVE_TOL` × max diag M⁻¹K) is read from the
    inertia of one sparse LDLᵀ (SuperLU, symmetric mode, diagonal pivots) of the mass-scaled KKT matrix
    [[K̃ − σI, C̃ᵀ], [C̃, −δI]] (K̃ = M^-½ K M^-½, C̃ the rows of G M^-½ scaled to unit norm; Sylvester: its
    negative pivots are m + those of K̃ − σI + C̃ᵀC̃/δ, which is ≥ the constrained form and equal to it on
    C̃ z = 0, so a count of 0 proves there is no negative mode). Only when the count is positive are the
    modes computed: shift-invert Lanczos (`scipy.sparse.linalg.eigsh`, which="SA" on 1/(λ − σ), at most
    ``k``) with that factor as the inverse. Rigid motions of the free body that lie in the subspace (it
    holds the whole model) are added to the constraints (M-orthogonality); a negative mode that is
    ≥ `RIGID_SHARE` rigid (mass-weighted) is reported in ``rigid``, not in ``lam``. Pair potentials only
    (`collective_check_applies`). Uses the atoms' neighbour list (built here if none exists, then
    invalidated again, as `weighted_atoms_stable_dt`). Measured cost (CPU): 0.01–0.11 s on the 2D gallery
    decks, 0.35–1.05 s on the 3D Morse test deck (2 751 dofs)."""
    why = collective_check_applies(system, potential)
    if why:
        return _skip(why)
    atoms = system.atoms
    if atoms.nlist.x_build is not None:
        return _collective(system, potential, k)
    atoms.rebuild()
    try:
        return _collective(system, potential, k)
    finally:
        atoms.nlist.invalidate()
        atoms.bond_w = None


def _collective(system, potential, k: int) -> CollectiveModes:  # noqa: ANN001
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh, splu
    s = system
    atoms = s.atoms
    d = s.d
    i, j = atoms.nlist.pairs()
    dX = atoms.nlist.separations(atoms.X)
    inside = np.einsum("md,md->m", dX, dX) < float(potential.cutoff) ** 2
    w = np.ones(len(i)) if atoms.bond_w is None else np.asarray(atoms.bond_w, float)
    i, j, dX, w = i[inside], j[inside], dX[inside], w[inside]
    dofs = handshake_dofs(s, (i, j))
    nk = dofs.size
    if nk == 0:
        return _skip("no free handshake dofs")
    K = blended_pair_hessian(s, potential, dofs, (i, j, dX, w))
    mass = 1.0 / np.asarray(s.inv_mass_dof)[dofs]
    sc = 1.0 / np.sqrt(mass)
    Kt = (sp.diags(sc) @ K @ sp.diags(sc)).tocsr()          # M^-½ K M^-½: the eigenvalues of M⁻¹K
    tol = NEGATIVE_TOL * float(np.max(np.abs(Kt.diagonal())))
    gersh = float(np.max(np.asarray(abs(Kt).sum(axis=1)).ravel()))
    C = sp.csr_matrix((0, nk))
    if s.G is not None and s.G.shape[0]:
        C = sp.csr_matrix(s.G).tocsc()[:, dofs].tocsr()
        C = C[np.flatnonzero(np.diff(C.indptr) > 0)]
    R, whole = _rigid_vectors(s, dofs)
    n_rigid = int(np.count_nonzero(whole))
    if n_rigid:      # M-orthogonal to the rigid motions: Rᵀ M z = 0
        C = sp.vstack([C, sp.csr_matrix((R[:, whole] * mass[:, None]).T)], format="csr")
    Ct = (C @ sp.diags(sc)).tocsr()
    norm = np.sqrt(np.asarray(Ct.multiply(Ct).sum(axis=1)).ravel())
    Ct = (sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ Ct).tocsr()
    m = Ct.shape[0]
    # [[K̃ − σ I, C̃ᵀ], [C̃, −δ I]]: eliminating the −δ I block leaves K̃ − σ I + C̃ᵀC̃/δ, which equals K̃ − σ I
    # on C̃ z = 0 and is ≥ it (Courant–Fischer): its negative count bounds the constrained one from above
    # and equals it for δ small (C̃'s rows scaled to unit norm, δ = `_PENALTY_DELTA` / ‖K̃‖)
    delta = _PENALTY_DELTA / max(gersh, 1e-300)
    sigma = -tol
    KKT = sp.bmat([[Kt - sigma * sp.identity(nk), Ct.T], [Ct, -delta * sp.identity(m)]], format="csc")
    lu = splu(KKT, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    if not np.array_equal(lu.perm_r, lu.perm_c):
        return _skip("the factorisation needed a row interchange (no inertia)")
    piv = lu.U.diagonal()
    n_neg = int(np.count_nonzero(piv < 0)) - m
    out = CollectiveModes(np.zeros(0), np.zeros(0, np.int64), np.zeros(0), n_dof=nk,
                          n_rigid_removed=n_rigid, n_negative=max(n_neg, 0), found=np.zeros(0))
    if n_neg <= 0:
        return out

    def inv(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, float)
        b2 = b.reshape(nk, -1)
        return lu.solve(np.concatenate([b2, np.zeros((m, b2.shape[1]))]))[:nk].reshape(b.shape)

    op = LinearOperator((nk, nk), matvec=inv, dtype=float)
    kk = int(min(n_neg, k, nk - 2))
    v0 = np.random.default_rng(0).standard_normal(nk)
    v0 = inv(v0)                                   # start in the constrained space
    try:
        lam, V = eigsh(Kt, k=kk, sigma=sigma, which="SA", OPinv=op, v0=v0, maxiter=100 * nk)
    except ArpackNoConvergence as exc:              # the converged ones (a penalty-spurious count)
        lam, V = exc.eigenvalues, exc.eigenvectors
    order = np.argsort(lam)
    lam, V = lam[order], V[:, order]
    neg = lam < -tol
    share = np.zeros(len(lam))
    if neg.any():                                  # mass-weighted share of the rigid motions
        Rm = R / sc[:, None]
        coef, *_ = np.linalg.lstsq(Rm, V[:, neg], rcond=None)
        share[neg] = np.sum((Rm @ coef) ** 2, axis=0) / np.sum(V[:, neg] ** 2, axis=0)
    real = neg & (share < RIGID_SHARE)
    k0 = s.n_free * d
    is_atom = dofs < k0
    top = np.full(int(real.sum()), -1, np.int64)
    for c, col in enumerate(np.flatnonzero(real)):
        if is_atom.any():        # the atom that moves most (displacement = M^-½ times the mode)
            top[c] = s.free[dofs[int(np.argmax(np.abs(V[:, col] * sc) * is_atom))] // d]
    out.lam, out.atoms, out.rigid, out.found = lam[real], top, lam[neg & ~real], lam
    return out


# ---------------------------------------------------------------------------------------------------------
# Conditioning of the constraints' Gram matrix (review item F5 of session 28)
# ---------------------------------------------------------------------------------------------------------

#: `msim validate` warns when the smallest eigenvalue of the Jacobi-scaled Gram matrix Â is below this: a
#: re-projection of round-off r then moves dofs by up to ~|r|/λ_min(Â) relative (measured on a tri3
#: off-gallery deck: λ_min 8.8e-10, a 4.3e-14 residual moved an atom 3.8e-10 Å, ×9 000; gallery decks
#: ≥ 2.8e-3 (wave2d, cond 360); the projector's rank tolerance keeps rows down to pivots of 1e-10)
GRAM_WARN = 1e-6

#: Gram matrices up to this many rows take the dense pivoted Cholesky (the projector's dense-path test;
#: 1 605 rows of the 3D smoke deck: 0.6 s CPU dense, 0.03 s sparse)
_GRAM_DENSE = 500


def independent_gram_rows(As, rtol: float):  # noqa: ANN001, ANN201
    """(keep (n,) row indices, B the kept rows' block (sparse or dense), solve(b) -> B⁻¹ b) of a
    Jacobi-scaled Gram matrix As (r, r) (unit diagonal): the rows the projector's rank test keeps (pivots
    above ``rtol``; see `gram_condition`), or None when a block is too large for the blockwise fallback."""
    import scipy.linalg as sla
    from scipy.sparse.linalg import splu
    r = As.shape[0]
    lu = B = None
    if r > _GRAM_DENSE:             # sparse Cholesky in minimum-degree order (diagonal pivots), when it
        try:                        # shows every pivot above rtol (independent rows)
            lu = splu(As, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
            if not np.array_equal(lu.perm_r, lu.perm_c) or np.min(np.abs(lu.U.diagonal())) <= rtol:
                lu = None
        except RuntimeError:        # exactly singular
            lu = None
        if lu is None and r > 2000:     # the projector's fallback: dense pivoted Cholesky per connected block
            from ..coupling.projector import independent_rows_blockwise
            keep = independent_rows_blockwise(As, rtol)
            if keep is None:
                return None
            B = As[keep][:, keep].tocsc()
            lu = splu(B, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    if lu is not None:
        if B is None:
            keep, B = np.arange(r), As

        def solve(b: np.ndarray) -> np.ndarray:
            return lu.solve(np.asarray(b, float))
    else:                           # pivoted Cholesky: the projector's own rank test (its dense path)
        Ad = As.toarray()
        L, piv, rank, _ = sla.lapack.dpstrf(Ad.copy(), lower=1, tol=rtol)
        keep = piv[:rank] - 1
        B = Ad[np.ix_(keep, keep)]
        Lk = np.tril(L[:rank, :rank])

        def solve(b: np.ndarray) -> np.ndarray:
            return sla.cho_solve((Lk, True), np.asarray(b, float))
    return keep, B, solve


def gram_condition(G, inv_mass: np.ndarray, rtol: float | None = None) -> dict:  # noqa: ANN001
    """Conditioning of the constraints' Gram matrix in the integrator's metric: Â = D^-½ A D^-½ with
    A = G W Gᵀ (W = diag(``inv_mass``) (n_dof,), D = diag A), the matrix whose pivots the projector's rank
    test reads. Rows with no dof of w > 0 are left out; rows the rank test would drop (pivots ≤ ``rtol``,
    default the projector's `RTOL`) are counted in "dependent" and left out too: above `_GRAM_DENSE` rows a
    sparse Cholesky of Â in minimum-degree order (diagonal pivots) is tried first and kept when every
    pivot exceeds rtol; otherwise (up to 2 000 rows) the dense pivoted Cholesky (LAPACK dpstrf, the
    projector's dense-path test) picks the kept rows; beyond that with dependent rows the projector's
    fallback (`coupling.projector.independent_rows_blockwise`: dpstrf per connected block), and when a
    block is too large for it: "dependent" −1 and no estimate. Returns {"rows", "dependent", "lambda_min", "lambda_max", "cond"} of the kept rows' Â,
    the extreme eigenvalues by Lanczos (`eigsh`, 1e-4 relative; λ_min shift-invert at 0 on the factor).
    Empty dict without rows."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    from ..coupling.projector import RTOL
    rtol = RTOL if rtol is None else float(rtol)
    if G is None or G.shape[0] == 0:
        return {}
    G = sp.csr_matrix(G)
    A = (G @ sp.diags(np.asarray(inv_mass, float)) @ G.T).tocsc()
    dA = A.diagonal()
    live = np.flatnonzero(dA > 0.0)
    if live.size == 0:
        return {}
    sc = 1.0 / np.sqrt(dA[live])
    As = (sp.diags(sc) @ A[live][:, live] @ sp.diags(sc)).tocsc()
    r = As.shape[0]
    got = independent_gram_rows(As, rtol)
    if got is None:
        return {"rows": int(r), "dependent": -1}
    keep, B, solve = got
    n = len(keep)
    out = {"rows": int(r), "dependent": int(r - n)}
    if n == 0:
        return out
    if n <= 3:
        ev = np.linalg.eigvalsh(B.toarray() if sp.issparse(B) else B)
        lo, hi = float(ev[0]), float(ev[-1])
    else:
        op = LinearOperator((n, n), matvec=solve, dtype=float)
        v0 = np.ones(n)
        lo = float(eigsh(B, k=1, sigma=0.0, which="LM", OPinv=op, v0=v0, tol=1e-4)[0][0])
        hi = float(eigsh(B, k=1, which="LA", v0=v0, tol=1e-4, return_eigenvectors=False)[0])
    out.update(lambda_min=lo, lambda_max=hi, cond=hi / lo if lo > 0 else float("inf"))
    return out


# ---------------------------------------------------------------------------------------------------------
# Atoms held by penalty springs (coupling/methods/penalty.py): the static offset under the ghost forces
# ---------------------------------------------------------------------------------------------------------

#: `msim validate` / `run` refuse a penalty deck when an atom on a spring is moved by more than this fraction
#: of the nearest-neighbour distance by the linearised static response to the blended energy's forces at the
#: reference (decks/wave2d.yaml, κ = 1: 1.24 at ``slave_below: 0`` — atom 403 left the box at step 320 of
#: dt 0.002 —, 0.018 at 1e-4, 0.014 at the default 1e-3; tests/coupling/test_penalty_tiny_weights.py). Measured
#: on wave2d at κ 1 … 1e4 and slave_below 0 … 1e-3 (dt 0.004, 20 τ; tests/coupling/test_spring_hold_threshold.py):
#: runs blow up from offset 0.42 on and run at 0.37 and below (the held atoms then swing 0.11–0.23 r_nn, the
#: pulse moves atoms ≤ 0.03 r_nn): the refusal keeps a margin of ~4 below the measured failure
HOLD_FRACTION = 0.1


@dataclasses.dataclass
class SpringHold:
    """`spring_held_offsets`' result: ``atom`` (k,) region indices of the free atoms among the handshake's
    dofs, ``offset`` (k,) [length] their linearised static displacements, ``r_nn`` [length] the shortest
    reference bond, ``weight`` (k,) their β̄."""

    atom: np.ndarray
    offset: np.ndarray
    r_nn: float
    weight: np.ndarray


def spring_held_offsets(system, potential) -> SpringHold | None:  # noqa: ANN001
    """The linearised static response of a penalty-coupled model's handshake to the forces of its blended
    energy at the reference (the ghost forces: f = −∂Π/∂q at q = 0): K δq = f on the handshake's dofs
    (`handshake_dofs`; every other dof held at 0), K the Hessian of the blended pair energy plus the
    springs' (`blended_pair_hessian`), subject to the method's strong rows (``slave_below``: G δq = 0, one
    sparse LU of the KKT matrix). An atom of tiny β̄ on a spring is held by κ·β̄ and by bonds of weights
    ≈ their averages of β, but pushed by a ghost force of the size of its bonds' weights: the solve gives
    its offset. None when the check does not apply (a coupling without springs, not a pair potential:
    `collective_check_applies`). The state (positions, forces, energies) is restored; a neighbour list
    built here is dropped again (as `collective_unstable_modes`)."""
    s = system
    if not getattr(s.method, "springs", False) or collective_check_applies(s, potential):
        return None
    from scipy.sparse.linalg import splu
    atoms, cont = s.atoms, s.continuum
    had_list = atoms.nlist.x_build is not None
    saved = [(arr, arr.copy()) for arr in (atoms.x, cont.U, s.f_atoms, s.f_nodes, atoms.forces, cont.forces)]
    energy = dict(s.energy)
    try:
        atoms.x[s.free] = atoms.X[s.free]
        cont.U[...] = 0.0
        s.update_pads()
        s.compute_forces()
        f = s.forces_q()
        i, j = atoms.nlist.pairs()
        dX = atoms.nlist.separations(atoms.X)
        r2 = np.einsum("md,md->m", dX, dX)
        inside = r2 < float(potential.cutoff) ** 2
        w = np.ones(len(i)) if atoms.bond_w is None else np.asarray(atoms.bond_w, float)
        i, j, dX, w, r2 = i[inside], j[inside], dX[inside], w[inside], r2[inside]
    finally:
        for arr, old in saved:
            arr[...] = old
        s.update_pads()
        s.energy = energy
        if not had_list:
            atoms.nlist.invalidate()
            atoms.bond_w = None
    dofs = handshake_dofs(s, (i, j))
    d, k0 = s.d, s.n_free * s.d
    at = dofs < k0
    if not np.any(at):
        return None
    K = blended_pair_hessian(s, potential, dofs, (i, j, dX, w))
    C = sp.csr_matrix((0, dofs.size))
    if s.G is not None and s.G.shape[0]:
        C = sp.csr_matrix(s.G).tocsc()[:, dofs].tocsr()
        C = C[np.flatnonzero(np.diff(C.indptr) > 0)]
    A = sp.bmat([[K, C.T], [C, None]], format="csc") if C.shape[0] else K.tocsc()
    try:
        dq = splu(A).solve(np.concatenate([f[dofs], np.zeros(C.shape[0])]))[: dofs.size]
    except RuntimeError:            # singular: a floppy mode no spring or bond holds
        dq = np.full(dofs.size, np.inf)
    free_idx = dofs[at] // d
    off2 = np.zeros(s.n_free)
    np.add.at(off2, free_idx, dq[at] * dq[at])
    atom_f = np.unique(free_idx)
    region = s.free[atom_f]
    return SpringHold(region, np.sqrt(off2[atom_f]), float(np.sqrt(np.min(r2))) if r2.size else float("nan"),
                      np.asarray(s.atom_weight, float)[region])


# ---------------------------------------------------------------------------------------------------------
# The largest stable time step of the coupled, constrained operator (all dofs; penalty springs included)
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class StableStep:
    """`coupled_stable_dt`'s result: ``dt`` = 2/√``lam_max`` [time], ``lam_max`` [1/time²] the largest
    eigenvalue of the constrained, mass-weighted Hessian; ``n_dof`` the dofs with mass, ``n_rows`` the
    constraint rows kept (``dependent`` rows dropped, in the span of the kept ones); ``reason`` why the
    measurement did not run ('' when it ran)."""

    dt: float = float("nan")
    lam_max: float = float("nan")
    n_dof: int = 0
    n_rows: int = 0
    dependent: int = 0
    reason: str = ""


def coupled_stable_dt(system, potential, tol: float = 1e-8) -> StableStep:  # noqa: ANN001
    """The largest stable velocity-Verlet step [time] of the whole coupled model, linearised at the
    reference: dt = 2/√λ_max, λ_max the largest eigenvalue of K z = λ M z on the constraint null space
    G z = 0 (the integrator projects the accelerations in the metric of M⁻¹, so the linearised step is
    Verlet on z'' = −Q M^-½ K M^-½ z, Q the orthogonal projector on the null space of G M^-½: stable iff
    √λ_max dt < 2). K: the Hessian of the blended energy on every dof with a mass (free atoms, nodes with
    M^α > 0; pads through x_pad = X + N U; `blended_pair_hessian`), with a penalty coupling's springs
    κ Gᵀ C G (`PenaltyCoupling._K`) — so the springs' stiffness is in the figure. M: the coupled masses.
    Dofs the loads fix at `prepare` are counted as free here (a larger space: the figure is ≤ the run's
    limit). Lanczos (`eigsh`, which="LA", relative ``tol``) on Q K̃ Q; Q from the rows the projector's
    rank test keeps (`independent_gram_rows`). A linear limit: a run's amplitude changes φ'' (a hot or
    strongly loaded run can need a smaller dt). Pair potentials and energy-based couplings only
    (`collective_check_applies`); the state is not changed (a list built here is dropped again)."""
    why = collective_check_applies(system, potential)
    if why:
        return StableStep(reason=why)
    atoms = system.atoms
    if atoms.nlist.x_build is not None:
        return _coupled_stable_dt(system, potential, tol)
    atoms.rebuild()
    try:
        return _coupled_stable_dt(system, potential, tol)
    finally:
        atoms.nlist.invalidate()
        atoms.bond_w = None


def _coupled_stable_dt(system, potential, tol: float) -> StableStep:  # noqa: ANN001
    from scipy.sparse.linalg import LinearOperator, eigsh

    from ..coupling.projector import RTOL
    s = system
    atoms = s.atoms
    i, j = atoms.nlist.pairs()
    dX = atoms.nlist.separations(atoms.X)
    inside = np.einsum("md,md->m", dX, dX) < float(potential.cutoff) ** 2
    w = np.ones(len(i)) if atoms.bond_w is None else np.asarray(atoms.bond_w, float)
    inv = np.asarray(s.inv_mass_dof, float)
    dofs = np.flatnonzero(inv > 0.0)
    if dofs.size == 0:
        return StableStep(reason="no dof with a mass")
    K = blended_pair_hessian(s, potential, dofs, (i[inside], j[inside], dX[inside], w[inside]))
    sc = np.sqrt(inv[dofs])
    Kt = (sp.diags(sc) @ K @ sp.diags(sc)).tocsr()            # M^-½ K M^-½
    n_rows = dependent = 0
    op = Kt
    if s.G is not None and s.G.shape[0]:
        Ct = (sp.csr_matrix(s.G).tocsc()[:, dofs] @ sp.diags(sc)).tocsr()
        norm = np.sqrt(np.asarray(Ct.multiply(Ct).sum(axis=1)).ravel())
        live = np.flatnonzero(norm > 0.0)
        Ct = (sp.diags(1.0 / norm[live]) @ Ct[live]).tocsr()  # unit rows: the Jacobi-scaled Gram matrix
        got = independent_gram_rows((Ct @ Ct.T).tocsc(), RTOL)
        if got is None:
            return StableStep(n_dof=int(dofs.size), reason="a block of dependent constraint rows too large "
                                                             "for the blockwise rank test")
        keep, _, solve = got
        dependent = int(live.size - len(keep))
        Ck = Ct[np.asarray(keep, np.int64)].tocsr()
        CkT = Ck.T.tocsr()
        n_rows = int(Ck.shape[0])

        def proj(z: np.ndarray) -> np.ndarray:
            return z - CkT @ solve(Ck @ z)

        op = LinearOperator(Kt.shape, matvec=lambda z: proj(Kt @ proj(np.asarray(z, float).ravel())),
                            dtype=float)
    n = int(dofs.size)
    if n <= 2:
        lam = float(np.max(np.linalg.eigvalsh(np.array([op @ e for e in np.eye(n)]).T)))
    else:
        v0 = np.random.default_rng(0).standard_normal(n)
        lam = float(eigsh(op, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)[0])
    dt = 2.0 / np.sqrt(lam) if lam > 0.0 else float("inf")
    return StableStep(dt=float(dt), lam_max=lam, n_dof=n, n_rows=n_rows, dependent=dependent)
