"""Cauchy–Born lattice sums of a potential on a Bravais lattice (one atom per primitive cell).

Site energy under a homogeneous deformation F of the reference bond vectors R_b (nb, d)::

    E_site(F) = ½ Σ_b φ(|F R_b|) + 𝓕(Σ_b ρ(|F R_b|))

Energy density W = E_site/Ω₀ (Ω₀ = volume per atom), first Piola stress P = ∂W/∂F, and the Born elastic
constants C_IJKL = ∂²W/∂E_IJ∂E_KL at E = 0 (E = Green strain). Uses only the potential's vectorised radial
functions ``pair``, ``density``, ``embedding`` (`multiscale.md.potentials.base.Potential`); their second
derivatives are taken by Richardson-extrapolated central differences of the first derivatives
(relative error ≈ 1e-12).
"""

from __future__ import annotations

import numpy as np

from .base import tensor_to_voigt


def bond_vectors(lattice, rcut: float) -> np.ndarray:  # noqa: ANN001
    """Reference bond vectors R_b (nb, d) [length] of the lattice with |R| < rcut."""
    return np.ascontiguousarray(lattice.neighbor_vectors(rcut))


def _d2(fprime, x: np.ndarray, cutoff: float = np.inf) -> np.ndarray:  # noqa: ANN001
    """Second derivative from a first-derivative function: 4th-order central stencil, one-sided 2nd-order
    within two steps of the cut-off (where f' may jump)."""
    r = np.asarray(x, float)
    h = 2e-4 * np.maximum(np.abs(r), 1e-3)
    out = (-fprime(r + 2 * h) + 8 * fprime(r + h) - 8 * fprime(r - h) + fprime(r - 2 * h)) / (12 * h)
    near = r + 2.5 * h >= cutoff
    if np.any(near):
        rn = r[near]
        hn = 1e-6 * rn
        out[near] = (3 * fprime(rn) - 4 * fprime(rn - hn) + fprime(rn - 2 * hn)) / (2 * hn)
    return out


def site_energy_stress(potential, R: np.ndarray, F: np.ndarray, chunk: int = 2048  # noqa: ANN001
                       ) -> tuple[np.ndarray, np.ndarray]:
    """E_site (m,) [energy] and ∂E_site/∂F (m, d, d) [energy] for deformation gradients F (m, d, d)."""
    m, d = F.shape[0], R.shape[1]
    E = np.empty(m)
    dE = np.empty((m, d, d))
    for s in range(0, m, chunk):
        Fc = F[s:s + chunk]
        r_vec = np.einsum("mij,bj->mbi", Fc, R)  # (mc, nb, d)
        r = np.sqrt(np.einsum("mbi,mbi->mb", r_vec, r_vec))
        phi, dphi = potential.pair(r)
        coef = 0.5 * dphi
        e = 0.5 * phi.sum(axis=1)
        if getattr(potential, "many_body", False):
            rho, drho = potential.density(r)
            Femb, dF = potential.embedding(rho.sum(axis=1))
            e = e + Femb
            coef = coef + dF[:, None] * drho
        E[s:s + chunk] = e
        dE[s:s + chunk] = np.einsum("mb,mbi,bj->mij", coef / r, r_vec, R)
    return E, dE


def born_constants(potential, R: np.ndarray, omega: float) -> np.ndarray:  # noqa: ANN001
    """Born elastic constants ∂²W/∂E∂E at the reference lattice, Voigt (nv, nv) [energy/length^d]."""
    r = np.linalg.norm(R, axis=1)
    RR = np.einsum("bi,bj->bij", R, R) / r[:, None, None]  # R_I R_J / r  (= ∂r/∂E_IJ)
    _, dphi = potential.pair(r)
    d2phi = _d2(lambda x: potential.pair(x)[1], r, potential.cutoff)
    g = 0.5 * (d2phi - dphi / r)  # ∂²(½φ)/∂r² − (½φ)'/r
    T = np.einsum("b,bij,bkl->ijkl", g, RR, RR)
    if getattr(potential, "many_body", False):
        rho, drho = potential.density(r)
        d2rho = _d2(lambda x: potential.density(x)[1], r, potential.cutoff)
        rhobar = np.array([rho.sum()])
        _, dF = potential.embedding(rhobar)
        d2F = _d2(lambda x: potential.embedding(x)[1], rhobar)
        T = T + dF[0] * np.einsum("b,bij,bkl->ijkl", d2rho - drho / r, RR, RR)
        S = np.einsum("b,bij->ij", drho, RR)
        T = T + d2F[0] * np.einsum("ij,kl->ijkl", S, S)
    C = tensor_to_voigt(T / omega)
    return 0.5 * (C + C.T)


def reference_stress(potential, R: np.ndarray, omega: float) -> np.ndarray:  # noqa: ANN001
    """Cauchy (= first Piola) stress of the undeformed lattice, (d, d) [energy/length^d]; zero at the
    potential's equilibrium spacing."""
    d = R.shape[1]
    _, dE = site_energy_stress(potential, R, np.eye(d)[None])
    return dE[0] / omega
