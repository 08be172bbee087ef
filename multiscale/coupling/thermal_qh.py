"""Quasi-harmonic thermal stress of the handshake atoms and the continuum's thermal strain that balances it.

Blended model at temperature T with the whole body on its thermally expanded lattice (x = (1 + ε_th) X).
The full crystal there is stress-free: its static tension is balanced by the thermal pressure of its
vibrations. In the handshake the atoms' static tension is weighted by their bonds (share s_a), but their
thermal pressure is whatever the constrained blended model's vibrations put into their bonds (share ρ_a):
neither β̄ nor the mode count of the mass metric (`thermal_share.atom_free_share`), because the configurational
fluctuations of a constrained mode follow the stiffness, not the mass (docs/physics.md §10).

ρ_a is computed to leading (quasi-harmonic) order, with no MD: the Boltzmann covariance of the displacements
on the constraint manifold, C = k_B T Z (Zᵀ K Z)⁻¹ Zᵀ (K: the coupled model's Hessian at the expanded
lattice — the atoms' bond-weighted pair Hessian, pads through the mesh interpolation, plus the continuum's
α-weighted stiffness; Z: the null space of the coupling's constraint rows and the held dofs), obtained from
the KKT system [[K, Gᵀ], [G, 0]] (sparse LU); a bond's mean virial to second order in the relative
displacement Δu of its atoms,

    ⟨g(|r + Δu|)⟩ − g(r) = ½ [g''(r) ⟨(e·Δu)²⟩ + g'(r)/r ⟨|Δu_⊥|²⟩],     g(r) = −w r φ'(r),

half to each atom; the kinetic term ⟨m_a v_a²⟩ = k_B T Σ_k (1 − P_kk), P = W Gᵀ (G W Gᵀ)⁻¹ G in the inverse
dynamical-mass metric W (exact). Both are divided by the same numbers for the unweighted periodic crystal at
the same lattice (a supercell of the deck's lattice, the same formulas), so ρ = 1 in the bulk and k_B T
drops out. The static share s_a = the atom's bond-weighted static virial / the crystal's.

A blended atom then holds (s_a − ρ_a) σ_s per atom volume (σ_s: the crystal's static tension = its thermal
pressure p_th at ε_th); a continuum point with thermal strain ε_q at the same F holds α_q σ_s (1 − ε_q/ε_th).
With the excess e = ρ − s and α = 1 − β̄ averaged onto the mesh nodes with the shape functions over the
handshake atoms, θ_I = e_I / α_I, the blended stress vanishes for

    ε_q = ε_th (1 − θ_q)         (θ interpolated to the quadrature points).

The leading-order (harmonic) ρ over-estimates the thermal pressure where the atoms' free modes are loosely
held (an anharmonic effect, docs/physics.md §10). With ``kT`` (deck: ``anharmonic: true``) each bond's thermal
virial is weighted by the crystal's anharmonic factor φ(T_b) at the bond's effective temperature T_b =
k_B T · tr D_b / tr D_shell (its relative-displacement variance over the periodic crystal's for the same
neighbour shell), the crystal's by φ(k_B T); φ(T) = v(T)/v₀ of the crystal's thermal virial per k_B T is
measured by three short Langevin runs of the periodic crystal (≥ 16 spacings per axis in 2D, 2 000 + 6 000
steps) at T_hi/3, 2T_hi/3, T_hi (T_hi the largest T_b) and fitted as 1 + c₁T + c₂T² (φ(0) = 1 exact);
cached per process; build + prepare 11.5 s CPU against 1.4 s without it on the benchmark.

The crystal reference is a periodic supercell ``_WIDTH`` = 10 cut-offs wide (capped at 3 000 dofs): its
thermal virial converges like 1/L², and 4 cut-offs (the first version) under-estimate it by 0.9 %, which
over-estimates every ρ by as much (measured on the benchmark: σ_H 1.91 % → 1.60 % of the unmatched). Pair
potentials only (φ(r), φ'(r) from `Potential.pair`; φ'', φ''' by central differences).

Cost: one sparse LU of the KKT matrix (n_dof + rows) and d solves per handshake atom and bonded neighbour
(chunked), a dense pseudo-inverse of the ≤ 3 000-dof reference supercell; once, at prepare. Measured (CPU):
1.1 s on benchmarks/thermal_expansion.py's model (404 handshake atoms, 2 314 dofs), 9 s with 1 032 handshake
atoms and 8 822 dofs (docs/physics.md §10): ~ N_H × nnz(LU), too slow for large 3D handshakes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

_H = 1e-4       # central-difference step for φ'' and φ''' [length]
_WIDTH = 10.0   # reference supercell width [cut-offs] (capped by max_dof); thermal virial ~ 1/L² (4: −0.9 %)


def _radial(potential, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """φ', φ'', and g(r) = −r φ'(r) with g', g'' (per unit bond weight) at r (m,)."""
    h = _H
    d1 = np.asarray(potential.pair(r)[1], float)
    dp = np.asarray(potential.pair(r + h)[1], float)
    dm = np.asarray(potential.pair(r - h)[1], float)
    d2 = (dp - dm) / (2 * h)
    d3 = (dp - 2 * d1 + dm) / (h * h)
    g = -r * d1
    g1 = -(d1 + r * d2)
    g2 = -(2 * d2 + r * d3)
    return d1, d2, g, np.stack([g1, g2])


def _bonds(X: np.ndarray, box, cutoff: float, scale: float, weight_fn=None):  # noqa: ANN001, ANN202
    """Pairs (i, j), vectors (m, d) and lengths at x = scale·X with r < cutoff, and their bond weights."""
    from ..md.neighbors import NeighborList
    nl = NeighborList(box, float(cutoff), 0.0, 1, wrap=True)
    nl.build(np.ascontiguousarray(X))
    i, j = nl.pairs()
    dX = X[j] - X[i] + nl.shift_vectors()
    r = scale * np.linalg.norm(dX, axis=1)
    keep = r < float(cutoff)
    i, j, dX, r = i[keep], j[keep], dX[keep], r[keep]
    if weight_fn is None:
        w = np.ones(len(i))
    elif hasattr(weight_fn, "symmetric"):
        w = np.asarray(weight_fn.symmetric(i, j, dX), float)
    else:
        w = 0.5 * (np.asarray(weight_fn(i, j, dX), float) + np.asarray(weight_fn(j, i, -dX), float))
    live = w > 0.0
    return i[live], j[live], scale * dX[live], r[live], w[live]


def _pair_hessian(n: int, d: int, i, j, dx, r, w, d1, d2) -> sp.csr_matrix:  # noqa: ANN001
    """(n·d, n·d) Hessian Σ_bonds w [φ'' e eᵀ + φ'/r (I − e eᵀ)] of the bond network."""
    e = dx / r[:, None]
    ee = e[:, :, None] * e[:, None, :]
    Kb = w[:, None, None] * (d2[:, None, None] * ee + (d1 / r)[:, None, None] * (np.eye(d) - ee))
    a = np.arange(d)
    ri, rj = i[:, None] * d + a, j[:, None] * d + a
    rows = np.concatenate([np.repeat(ri, d, 1), np.repeat(rj, d, 1)] * 2)
    cols = np.concatenate([np.tile(ri, (1, d)), np.tile(rj, (1, d)),
                           np.tile(rj, (1, d)), np.tile(ri, (1, d))])
    vals = np.concatenate([Kb.reshape(len(i), -1)] * 2 + [-Kb.reshape(len(i), -1)] * 2)
    H = sp.csr_matrix((vals.ravel(), (rows.ravel(), cols.ravel())), shape=(n * d, n * d))
    H.sum_duplicates()
    return H


def _bond_thermal_virial(dx, r, gd, D) -> np.ndarray:  # noqa: ANN001
    """(m,) ½ [g'' ⟨(e·Δu)²⟩ + g'/r ⟨|Δu_⊥|²⟩] for relative-displacement covariances D (m, d, d)."""
    e = dx / r[:, None]
    par = np.einsum("mp,mpq,mq->m", e, D, e)
    perp = np.einsum("mpp->m", D) - par
    return 0.5 * (gd[1] * par + gd[0] / r * perp)


def _crystal(potential, lattice, strain: float, max_dof: int = 3000) -> dict:  # noqa: ANN001
    """The unweighted periodic crystal of ``lattice`` at lattice parameter a (1 + strain), quasi-harmonic
    (dense pseudo-inverse of a supercell ≥ 4 cut-offs wide where ≤ ``max_dof`` dofs allow): per atom the
    static virial trace ``static``, the thermal virial trace at k_B T = 1 ``virial``, the kinetic trace
    ``kinetic`` = d (n − 1)/n; the bond shells' lengths ``shell_r`` (k,) and their bonds' relative-
    displacement variance tr D at k_B T = 1 ``shell_var`` (k,); the largest Hessian diagonal ``kmax``."""
    from ..md.box import Box
    lat = dataclasses.replace(lattice, a=float(lattice.a) * (1.0 + strain))
    per = np.array(lat.periods(), float)
    d = per.size
    cells = np.maximum(np.ceil(_WIDTH * potential.cutoff / per), 3).astype(int)
    n_prim = max(int(round(float(np.prod(per)) / lat.volume_per_atom)), 1)
    while np.prod(cells) * n_prim * d > max_dof and cells.max() > 3:
        cells[np.argmax(cells * per)] -= 1
    hi = per * cells
    X = lat.sites_in_box(-1e-9 * hi, hi - 1e-6 * lat.a)
    n = X.shape[0]
    i, j, dx, r, w = _bonds(X, Box(np.zeros(d), hi, np.ones(d, bool)), potential.cutoff, 1.0)
    d1, d2, g, gd = _radial(potential, r)
    K = _pair_hessian(n, d, i, j, dx, r, w, d1, d2).toarray()
    C = np.linalg.pinv(0.5 * (K + K.T), rcond=1e-10, hermitian=True)
    D = _rel_cov_dense(C, i, j, d)
    th = _bond_thermal_virial(dx, r, gd, D)
    var = np.einsum("mpp->m", D)
    key = np.round(r / lat.a, 6)
    shells, inv = np.unique(key, return_inverse=True)
    shell_var = np.bincount(inv, weights=var) / np.bincount(inv)
    # each bond once per pair entry of the list (half list): ½ to each atom
    return {"static": float(np.sum(w * g)) / n, "virial": float(np.sum(w * th)) / n,
            "kinetic": d * (n - 1) / n, "shell_r": shells * lat.a, "shell_var": shell_var,
            "kmax": float(np.max(np.diag(K))), "lattice": lat}


def crystal_reference(potential, lattice, strain: float, max_dof: int = 3000) -> tuple[float, float]:  # noqa: ANN001
    """(static virial trace, thermal virial + kinetic trace at k_B T = 1) per atom of the unweighted periodic
    crystal of ``lattice`` at lattice parameter a (1 + strain) (same formulas as the handshake atoms; dense
    pseudo-inverse of a supercell ≥ 4 cut-offs wide where ≤ ``max_dof`` dofs allow)."""
    c = _crystal(potential, lattice, strain, max_dof)
    return c["static"], c["virial"] + c["kinetic"]


_PHI_CACHE: dict = {}


def crystal_virial_md(potential, lattice, strain: float, kT: float, *, n_eq: int = 2000, n_avg: int = 6000,  # noqa: ANN001
                      every: int = 10, seed: int = 11, n_blocks: int = 10) -> tuple[float, float]:
    """(mean, block standard error) of the virial trace per atom [energy] of the periodic crystal of
    ``lattice`` at a (1 + strain), Langevin NVT at k_B T = ``kT`` (unit mass; configurational averages do
    not depend on it), ≥ 16 lattice spacings per axis in 2D (8 in 3D), Δt = 0.1/ω_max (ω_max² the largest
    diagonal of the crystal's Hessian), damping time 100 Δt."""
    from ..coupling.coupled import CoupledSystem
    from ..integrate.verlet import VelocityVerlet
    from ..md.box import Box
    from ..md.system import AtomisticRegion
    from ..md.thermostats.langevin import Langevin
    from ..md.velocities import maxwell_boltzmann
    c = _crystal(potential, lattice, strain)
    lat = c["lattice"]
    per = np.array(lat.periods(), float)
    d = per.size
    cells = np.ceil((16.0 if d <= 2 else 8.0) * lat.a / per).astype(int)
    hi = per * cells
    X = lat.sites_in_box(-1e-9 * hi, hi - 1e-6 * lat.a)
    region = AtomisticRegion(X, 1.0, potential, Box(np.zeros(d), hi, np.ones(d, bool)), skin=0.3 * lat.a)
    system = CoupledSystem(atoms=region)
    dt = 0.1 / np.sqrt(c["kmax"])
    thermo = Langevin(kT, 100.0 * dt, 1.0, seed=seed)
    thermo.dt = dt
    region.v[...] = maxwell_boltzmann(region.mass, d, kT, 1.0, seed=seed + 1)
    integ = VelocityVerlet(system, dt, force_hooks=[thermo])
    integ.step(n_eq)
    n = X.shape[0]
    samples = []
    for _ in range(n_avg // every):
        integ.step(every)
        region.compute(virial=True)
        samples.append(float(np.trace(region.virial)) / n)
    v = np.asarray(samples)
    blocks = np.array([b.mean() for b in np.array_split(v, n_blocks)])
    return float(v.mean()), float(blocks.std(ddof=1) / np.sqrt(n_blocks))


def crystal_anharmonic_factor(potential, lattice, strain: float, temperatures, **md) -> dict:  # noqa: ANN001
    """The crystal's anharmonic factor φ(T) = v(T) / v₀ of its thermal virial per atom per k_B T (v(T) =
    (⟨tr W⟩/n − static)/T from `crystal_virial_md` at each of ``temperatures`` [energy], v₀ the
    quasi-harmonic one), fitted as φ(T) = 1 + c₁T + c₂T² (exact harmonic limit φ(0) = 1; weighted least
    squares; one coefficient when one temperature). Returns {"c": (c₁, c₂), "T", "phi", "err"}. Cached per
    potential, lattice, strain and temperatures (one process)."""
    temps = tuple(float(t) for t in temperatures)
    if not temps or min(temps) <= 0.0:
        raise ValueError(f"the anharmonic factor needs temperatures > 0 (got {temps})")
    probe = np.linspace(0.8, 1.0, 5) * float(potential.cutoff)
    key = (type(potential).__name__, float(potential.cutoff), tuple(np.round(np.asarray(
        potential.pair(probe)[1], float), 12)), float(lattice.a), str(getattr(lattice, "kind", "")),
        float(strain), temps, tuple(sorted(md.items())))
    if key in _PHI_CACHE:
        return _PHI_CACHE[key]
    c = _crystal(potential, lattice, strain)
    phi, err = [], []
    for k, T in enumerate(temps):
        v, e = crystal_virial_md(potential, lattice, strain, T, seed=11 + 7 * k, **md)
        phi.append((v - c["static"]) / T / c["virial"])
        err.append(e / T / abs(c["virial"]))
    Tt, ph, er = np.array(temps), np.array(phi), np.maximum(np.array(err), 1e-12)
    A = np.stack([Tt, Tt**2], 1) if len(temps) > 1 else Tt[:, None]
    coef = np.linalg.lstsq(A / er[:, None], (ph - 1.0) / er, rcond=None)[0]
    out = {"c": (float(coef[0]), float(coef[1]) if coef.size > 1 else 0.0), "T": Tt, "phi": ph, "err": er}
    _PHI_CACHE[key] = out
    return out


def _phi(fit: dict, T: np.ndarray) -> np.ndarray:
    c1, c2 = fit["c"]
    return 1.0 + c1 * T + c2 * T * T


def _rel_cov_dense(C: np.ndarray, i: np.ndarray, j: np.ndarray, d: int) -> np.ndarray:
    a = np.arange(d)
    Ii, Jj = i[:, None] * d + a, j[:, None] * d + a
    Cii = C[Ii[:, :, None], Ii[:, None, :]]
    Cjj = C[Jj[:, :, None], Jj[:, None, :]]
    Cij = C[Ii[:, :, None], Jj[:, None, :]]
    return Cii + Cjj - Cij - np.transpose(Cij, (0, 2, 1))


def atom_thermal_shares(system, projector, strain: float, atoms_of_interest: np.ndarray,  # noqa: ANN001
                        chunk: int = 128, kT: float | None = None, t_max: float = 6.0,
                        info: dict | None = None, log=None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(s, ρ) for the atoms ``atoms_of_interest`` (k,) (indices into ``system.atoms``): static and thermal
    shares (module docstring) of the blended constrained model on its lattice expanded by ``strain``.
    With ``kT`` [energy] the anharmonic correction: each bond's thermal virial is weighted by φ(T_b), T_b =
    kT tr D_b / tr D_shell (its relative-displacement variance over the crystal's for the same shell,
    capped at ``t_max`` kT), the crystal's by φ(kT); φ from `crystal_anharmonic_factor` at T_hi/3, 2T_hi/3,
    T_hi (T_hi the largest T_b). ``info`` (optional dict) receives T_b and the fit. ``log``: a text stream
    for the set-up's progress lines (`output.progress.SetupLog`: the covariance columns), or None."""
    from ..integrate.precon import atoms_to_q
    s = system
    atoms, cont = s.atoms, s.continuum
    pot = atoms.potential
    if getattr(pot, "many_body", False):
        raise ValueError("quasi_harmonic needs a pair potential (the thermal virial of a many-body "
                         "potential's embedding is not implemented)")
    if projector is None or projector.n_rows == 0:
        raise ValueError("quasi_harmonic needs exact constraint rows (strong or projected coupling, or a "
                         "`constraint:` other than none): this coupling has none")
    lattice = getattr(s, "lattice", None)
    if lattice is None:
        raise ValueError("quasi_harmonic needs the deck's lattice (atoms from a lattice, not a file)")
    d, n = s.d, atoms.X.shape[0]
    scale = 1.0 + float(strain)
    i, j, dx, r, w = _bonds(atoms.X, atoms.box, pot.cutoff, scale, atoms.bond_weight_fn)
    d1, d2, g, gd = _radial(pot, r)
    T = atoms_to_q(s)
    K = (T.T @ _pair_hessian(n, d, i, j, dx, r, w, d1, d2) @ T).tocsr()
    if cont is not None and s.n_nodes:
        k0 = s.n_free * d
        # the thermal_strain continuum's tangent about its stress-free expanded state: C / (1 + ε_th)²
        Kc = cont.stiffness_matrix() / scale**2
        K = K + (sp.bmat([[sp.csr_matrix((k0, k0)), None], [None, Kc]], format="csr") if k0 else Kc)
    K = 0.5 * (K + K.T)
    inv = np.asarray(projector.inv_mass, float)
    act = np.flatnonzero(inv > 0.0)
    G = projector.G.tocsc()[:, act].tocsr()
    G = G[np.flatnonzero(np.diff(G.indptr) > 0)]
    Ka = K[act][:, act]
    shift = 1e-10 * float(np.mean(np.abs(Ka.diagonal())))
    na, m = len(act), G.shape[0]
    KKT = sp.bmat([[Ka + shift * sp.identity(na), G.T], [G, None]], format="csc")
    lu = spla.splu(KKT)
    # columns of C for every atom at either end of a bond that touches an atom of interest
    want = np.zeros(n, bool)
    want[atoms_of_interest] = True
    touch = want[i] | want[j]
    i, j, dx, r, w, g, gd = i[touch], j[touch], dx[touch], r[touch], w[touch], g[touch], gd[:, touch]
    need = np.unique(np.concatenate([i, j, atoms_of_interest]))
    ax = np.arange(d)
    Tn = T.tocsr()[(need[:, None] * d + ax).ravel()][:, act]   # the needed atoms' displacements (active dofs)
    pos = -np.ones(n, np.int64)
    pos[need] = np.arange(len(need))
    Cdiag = np.zeros((len(need), d, d))
    Cij = np.zeros((len(i), d, d))
    from ..output.progress import SetupLog
    prog = SetupLog(f"quasi_harmonic covariance ({len(atoms_of_interest)} handshake atoms)", len(need),
                    "atoms' columns", log)
    for c0 in range(0, len(need), chunk):
        nb = min(chunk, len(need) - c0)
        R = Tn[c0 * d:(c0 + nb) * d].toarray().T         # (na, nb·d)
        Y = lu.solve(np.vstack([R, np.zeros((m, R.shape[1]))]))[:na]
        TY = (Tn @ Y).reshape(len(need), d, nb, d)     # C between the needed atoms and this block
        Cdiag[c0:c0 + nb] = TY[c0 + np.arange(nb), :, np.arange(nb), :]
        inblk = np.flatnonzero((pos[j] >= c0) & (pos[j] < c0 + nb))
        Cij[inblk] = TY[pos[i[inblk]], :, pos[j[inblk]] - c0, :]
        prog.update(c0 + nb)
    prog.done()
    D = Cdiag[pos[i]] + Cdiag[pos[j]] - Cij - np.transpose(Cij, (0, 2, 1))
    th = _bond_thermal_virial(dx, r, gd, D)
    ref = _crystal(pot, lattice, strain)
    phi_ref = 1.0
    if kT is not None:
        # effective temperature of each bond: its variance over the crystal's bonds of the same shell
        sr = ref["shell_r"]
        k_sh = np.clip(np.searchsorted(sr, r), 1, len(sr) - 1)
        k_sh = np.where(np.abs(sr[k_sh - 1] - r) < np.abs(sr[k_sh] - r), k_sh - 1, k_sh)
        if np.any(np.abs(sr[k_sh] - r) > 1e-6 * lattice.a * scale):
            raise ValueError("anharmonic needs the atoms on the deck's lattice (a bond length is not one of "
                             "the reference crystal's)")
        var = np.einsum("mpp->m", D)
        Tb = float(kT) * np.minimum(var / ref["shell_var"][k_sh], float(t_max))
        t_hi = float(np.max(Tb)) if Tb.size else float(kT)
        t_hi = max(t_hi, float(kT))
        runs = SetupLog("quasi_harmonic anharmonic factor (MD of the crystal)", 3, "temperatures", log)
        fit = crystal_anharmonic_factor(pot, lattice, strain, (t_hi / 3, 2 * t_hi / 3, t_hi))
        runs.done()
        th = th * _phi(fit, Tb)
        phi_ref = float(_phi(fit, np.array(float(kT))))
        if info is not None:
            info.update(Tb=Tb, fit=fit, phi_ref=phi_ref, i=i, j=j, w=w, var=var,
                        shell_var=ref["shell_var"][k_sh],
                        virial=th / _phi(fit, Tb))
    Wth = np.zeros(n)
    W0 = np.zeros(n)
    np.add.at(Wth, i, 0.5 * w * th)
    np.add.at(Wth, j, 0.5 * w * th)
    np.add.at(W0, i, 0.5 * w * g)
    np.add.at(W0, j, 0.5 * w * g)
    # kinetic: k_B T Σ_k (1 − w_k (Gᵀ A⁻¹ G)_kk) over the atom's active dofs (pads: no kinetic term)
    Gf = projector.G.tocsr()
    Gf = Gf[np.flatnonzero(np.diff(Gf.indptr) > 0)]
    A = (Gf @ sp.diags(inv) @ Gf.T).tocsc()
    lua = spla.splu(A)
    kin = np.zeros(n)
    free_pos = -np.ones(n, np.int64)
    free_pos[s.free] = np.arange(s.n_free)
    qa = atoms_of_interest[free_pos[atoms_of_interest] >= 0]
    if qa.size:
        cols = (free_pos[qa][:, None] * d + ax).ravel()
        GfT = Gf.tocsc()
        P = np.zeros(cols.size)
        for c0 in range(0, cols.size, 256):
            cc = cols[c0:c0 + 256]
            Gi = GfT[:, cc].toarray()
            P[c0:c0 + 256] = inv[cc] * np.sum(Gi * lua.solve(Gi), axis=0)
        kin[qa] = np.where(inv[cols] > 0, 1.0 - P, 0.0).reshape(-1, d).sum(axis=1)
    static_ref, thermal_ref = ref["static"], phi_ref * ref["virial"] + ref["kinetic"]
    k = np.asarray(atoms_of_interest)
    return W0[k] / static_ref, (Wth[k] + kin[k]) / thermal_ref


def handshake_point_strains_qh(system, projector, strain: float,  # noqa: ANN001
                               kT: float | None = None,
                               log=None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """ε_q = ε_th (1 − θ_q) (nq,) and θ_q (nq,) at every quadrature point (module docstring); ``kT``
    [energy]: with the anharmonic correction (`atom_thermal_shares`); ``log``: stream of progress lines."""
    s = system
    cont = s.continuum
    X = s.atoms.X[s.free]
    in_h = s.handshake.distance(X) > 0.0
    idx = s.free[in_h]
    share_s, rho = atom_thermal_shares(s, projector, strain, idx, kT=kT, log=log)
    excess = rho - share_s
    alpha = 1.0 - s.atom_weight[idx]
    Na = cont.interpolation_matrix(s.atoms.X[idx]).tocsr()
    wsum = np.asarray(Na.sum(axis=0)).ravel()
    ok = wsum > 0
    e_n = np.where(ok, np.asarray(Na.T @ excess).ravel() / np.where(ok, wsum, 1.0), 0.0)
    a_n = np.where(ok, np.asarray(Na.T @ alpha).ravel() / np.where(ok, wsum, 1.0), 0.0)
    th_n = np.where(a_n > 1e-3, e_n / np.maximum(a_n, 1e-3), 0.0)
    Nq = cont.interpolation_matrix(cont.qp_positions).tocsr()
    th_q = np.clip(np.asarray(Nq @ np.clip(th_n, -1.0, 1.0)).ravel(), -1.0, 1.0)
    return float(strain) * (1.0 - th_q), th_q
