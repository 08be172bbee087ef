"""The continuum's thermal strain across the handshake from the atoms' free fine-scale share.

Blended model at temperature T, the whole body on its thermally expanded lattice (x = (1 + ε_th) X): a
full crystal there is stress-free, its static tension σ_s balanced by the thermal pressure of its
vibrations. In the handshake H the static part of the atoms is β̄-weighted (β̄ σ_s per unit volume), but
their thermal pressure is not: in the quasi-harmonic picture each vibration mode contributes k_B T γ_k / V
(γ_k = −∂ ln ω_k/∂ε), independent of a common scale of its stiffness. A mode that only the atoms carry (a
fine-scale mode the constraints leave free) has stiffness β̄ K and mass β̄ m: its ω and γ are those of the
unweighted crystal, so it carries the full thermal pressure whatever β̄ (its amplitude grows as 1/β̄, its
virial is scaled by β̄). A coarse-scale mode (the motion the constraints tie to the mesh) has stiffness
β̄ K_atoms + α K_continuum; a harmonic continuum (``base: linear``) has no γ of its own, so the mode
carries the atoms' share β̄ of the full pressure. With θ the atoms' free share (the fraction of their
degrees of freedom the constraints leave free), the atoms' thermal pressure per unit volume is

    p_atoms = p_th [θ + β̄ (1 − θ)],       p_th = σ_s (the full crystal's),

so the blended atoms hold σ_atoms = β̄ σ_s − p_atoms = −θ α σ_s (α = 1 − β̄): too much pressure where
they are free (the projected coupling's compression in H), none missing where they are tied (θ = 0).
The continuum point q at the same expanded F with thermal strain ε_q holds α C:(ε_th − ε_q) I ≈
α σ_s (1 − ε_q/ε_th); the blended stress vanishes when

    ε_q = ε_th (1 − θ_q):

the mesh's thermal strain falls to (1 − θ) ε_th where the atoms carry their own thermal pressure, and is
ε_th where there are no free atoms (far field, atoms tied by strong rows). Derivation and measured
accuracy: docs/physics.md §10.

θ of an atom: one minus the mean over its d dofs of the diagonal of the atom-space projector
P_a = W_a G_aᵀ (G_a W_a G_aᵀ)⁻¹ G_a (G_a: the atom columns of the coupling's constraint rows, W_a the
atoms' inverse dynamical masses; Σ_k P_kk = the number of constraint rows on atoms, so 1 − P_kk counts the
free fine-scale modes per dof). θ at a quadrature point: the atoms' θ averaged onto the mesh nodes with
the shape functions over the atoms of H (θ_I = Σ_a N_I(X_a) θ_a / Σ_a N_I(X_a); 0 at nodes without such
atoms) and interpolated.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def atom_free_share(system, projector, chunk: int = 256) -> np.ndarray:  # noqa: ANN001
    """(n_free,) free fine-scale share θ ∈ [0, 1] of every non-pad atom (module docstring): 1 for atoms
    the constraints do not touch, 0 for atoms tied one by one (strong rows) and for atoms whose every dof is
    fixed. Raises ValueError for a coupling without constraint rows (penalty, ``constraint: none``)."""
    d, n = system.d, system.n_free
    na = n * d
    out = np.ones(n)
    if na == 0:
        return out
    if projector is None or projector.n_rows == 0:
        raise ValueError("free_share needs exact constraint rows on the handshake atoms (strong or projected "
                         "coupling, or a `constraint:` other than none): this coupling has none, so every "
                         "atom's share would be 1 and the handshake would get no thermal strain")
    G = projector.G[:, :na].tocsr()
    rows = np.flatnonzero(np.diff(G.indptr) > 0)
    if rows.size == 0:
        return out
    Ga = G[rows]
    w = np.asarray(projector.inv_mass[:na], float)
    # rows that act only on held dofs (zero inverse mass: fixed atoms) constrain no motion of the atoms
    Ga = Ga[np.asarray(Ga.multiply(Ga) @ w).ravel() > 0.0]
    if Ga.shape[0] == 0:
        return _held_zero(out, w, n, d)
    A = (Ga @ sp.diags(w) @ Ga.T).tocsc()
    try:
        lu = spla.splu(A)
    except RuntimeError as exc:    # dependent atom rows (never for strong / projected rows)
        raise ValueError("the constraint rows are dependent on the atoms' degrees of freedom: the atoms' "
                         "free share is undefined") from exc
    cols = np.unique(Ga.indices)
    P = np.zeros(na)
    GaT = Ga.tocsc()
    for s0 in range(0, cols.size, chunk):
        idx = cols[s0:s0 + chunk]
        Gi = GaT[:, idx].toarray()
        P[idx] = w[idx] * np.sum(Gi * lu.solve(Gi), axis=0)
    return _held_zero(1.0 - np.clip(P, 0.0, 1.0).reshape(n, d).mean(axis=1), w, n, d)


def _held_zero(theta: np.ndarray, w: np.ndarray, n: int, d: int) -> np.ndarray:
    """θ = 0 for atoms whose every dof is held (fixed loads: zero inverse mass): they do not vibrate and
    carry no thermal pressure, so, like atoms tied one by one, they leave the whole thermal strain to the
    continuum."""
    theta[np.all(w.reshape(n, d) == 0.0, axis=1)] = 0.0
    return theta


def handshake_point_strains(system, projector, strain: float) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """ε_q = ε_th (1 − θ_q) at every quadrature point of the continuum (nq,), and θ_q (nq,) (module
    docstring). ``strain``: ε_th [dimensionless]."""
    cont = system.continuum
    X = system.atoms.X[system.free]
    theta = atom_free_share(system, projector)
    in_h = system.handshake.distance(X) > 0.0                 # the handshake's atoms (inside the mesh)
    X, theta = X[in_h], theta[in_h]
    Na = cont.interpolation_matrix(X).tocsr()                 # (n_h, N)
    wsum = np.asarray(Na.sum(axis=0)).ravel()
    th_nodes = np.where(wsum > 0, np.asarray(Na.T @ theta).ravel() / np.where(wsum > 0, wsum, 1.0), 0.0)
    Nq = cont.interpolation_matrix(cont.qp_positions).tocsr()
    th_q = np.clip(np.asarray(Nq @ th_nodes).ravel(), 0.0, 1.0)
    return float(strain) * (1.0 - th_q), th_q
