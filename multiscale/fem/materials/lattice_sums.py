"""Cauchy–Born lattice sums of a potential on a Bravais lattice (one atom per primitive cell).

Site energy under a homogeneous deformation F of the reference bond vectors R_b (nb, d)::

    E_site(F) = ½ Σ_b φ(|F R_b|) + 𝓕(Σ_b ρ(|F R_b|))

Energy density W = E_site/Ω₀ (Ω₀ = volume per atom), first Piola stress P = ∂W/∂F, and the Born elastic
constants C_IJKL = ∂²W/∂E_IJ∂E_KL at E = 0 (E = Green strain). Uses only the potential's vectorised radial
functions ``pair``, ``density``, ``embedding`` (`multiscale.md.potentials.base.Potential`); their second
derivatives are the potential's own exact ones when it has them (``pair_d2``, ``density_d2``,
``embedding_d2``: the tabulated EAMs, from the cubic spline of the interval holding the argument — a
finite difference there spans several knots of a fine table and errs by ~1e-5), else 4th-order central
differences of the first derivatives (analytic potentials, relative error ≈ 1e-12).

Two paths for E_site and ∂E_site/∂F, equal to round-off: the compiled kernel
``multiscale._kernels.cauchy_born`` for the potentials whose radial functions it reproduces (`kernel_spec`:
``lj`` all truncations, ``morse``, ``harmonic``, the tabulated EAMs ``eam`` / ``eam_zhou``, element 0), and
the vectorised NumPy sum over the potential's own callables for any other potential
(`site_energy_stress_numpy`). The kernel sums over one bond of each ±R_b pair and doubles (`half_bonds`).
"""

from __future__ import annotations

import numpy as np

from ..._kernels import load
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


def _second(potential, name: str, fprime, x: np.ndarray, cutoff: float = np.inf) -> np.ndarray:  # noqa: ANN001
    """The potential's own exact second derivative ``name`` (tabulated EAM: the splines' own) when it
    has one, else `_d2` of the first derivative."""
    exact = getattr(potential, name, None)
    return np.asarray(exact(x), float) if exact is not None else _d2(fprime, x, cutoff)


def _same_radial(potential, cls, names: tuple[str, ...]) -> bool:  # noqa: ANN001
    """True when ``potential`` is a ``cls`` whose radial functions ``names`` are ``cls``'s own (not
    overridden by a subclass, which the kernel would not know)."""
    return isinstance(potential, cls) and all(getattr(type(potential), n) is getattr(cls, n) for n in names)


def kernel_spec(potential) -> tuple | None:  # noqa: ANN001
    """What the compiled kernel needs to evaluate ``potential``'s radial functions, or None (NumPy path).

    ``("pair", kind, par (np,), rc)`` for lj / morse / harmonic (kind and ``par`` layout in
    kernels/cauchy_born.pyx, constants computed exactly as the potential computes them), or
    ``("eam", rhor (nr, 7), z2r (nr, 7), frho (nrho, 7), 1/dr, 1/drho, rc, rhomax)`` for a tabulated EAM
    (element 0, as its ``pair``/``density``/``embedding``). Read once: the potential must not be changed
    afterwards."""
    from ...md.potentials.eam import TabulatedEAM
    from ...md.potentials.harmonic import HarmonicSprings
    from ...md.potentials.lj import LennardJones
    from ...md.potentials.morse import Morse

    if _same_radial(potential, LennardJones, ("pair",)):
        eps, sig, rc = float(potential.epsilon), float(potential.sigma), float(potential.cutoff)
        mode = {"cut": 0, "shift": 1, "smooth": 2}[potential.truncation]
        s6 = (sig / rc) ** 6
        phi_c = 4 * eps * (s6 * s6 - s6) if mode >= 1 else 0.0
        dphi_c = -eps * (48 * s6 * s6 - 24 * s6) / rc if mode == 2 else 0.0
        return ("pair", 0, np.array([eps, sig * sig, phi_c, mode, dphi_c, rc]), rc)
    if _same_radial(potential, Morse, ("pair",)):
        D, alpha, r0, rc = (float(potential.D), float(potential.alpha), float(potential.r0),
                            float(potential.cutoff))
        e = np.exp(-alpha * (rc - r0))
        shift = D * (e * e - 2 * e) if potential.truncation == "shift" else 0.0
        return ("pair", 1, np.array([D, alpha, r0, shift]), rc)
    if _same_radial(potential, HarmonicSprings, ("pair",)):
        return ("pair", 2, np.array([float(potential.k), float(potential.r0)]), float(potential.cutoff))
    if _same_radial(potential, TabulatedEAM, ("pair", "density", "embedding")):
        t = potential.tables
        c = np.ascontiguousarray
        return ("eam", c(t.rhor[0], float), c(t.z2r[0, 0], float), c(t.frho[0], float), 1.0 / t.dr,
                1.0 / t.drho, float(t.cutoff), float(t.rhomax))
    return None


def half_bonds(R: np.ndarray) -> tuple[np.ndarray, float]:
    """(one of each ±R_b pair (nb/2, d), 2.0) when the bond list R (nb, d) is exactly centrosymmetric
    (−R_b in the list bitwise, as for every Bravais lattice), else (R, 1.0). Both bonds of a pair give the
    same φ, ρ and r⊗R, so the lattice sums over the half list times 2 equal the full sums to round-off."""
    R = np.ascontiguousarray(R, dtype=float)
    index = {(row + 0.0).tobytes(): i for i, row in enumerate(R)}
    keep, paired = [], set()
    for i, row in enumerate(R):
        if i in paired:
            continue
        j = index.get((-row + 0.0).tobytes())
        if j is None or j == i:
            return R, 1.0
        keep.append(i)
        paired.add(j)
    return np.ascontiguousarray(R[keep]), 2.0


def kernel_energy_stress(spec: tuple, R: np.ndarray, F: np.ndarray, n_threads: int = 1, mult: float = 1.0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """E_site (m,) and ∂E_site/∂F (m, d, d) [energy] by the compiled kernel for a `kernel_spec` ``spec``;
    R (nb ≥ 1, d), F (m, d, d), every bond counted ``mult`` times (see `half_bonds`). Bitwise identical
    for any ``n_threads``."""
    k = load("cauchy_born")
    F = np.ascontiguousarray(F, dtype=float)
    R = np.ascontiguousarray(R, dtype=float)
    E = np.empty(F.shape[0])
    dE = np.empty(F.shape)
    if spec[0] == "pair":
        k.pair_energy_stress(F, R, spec[1], spec[2], spec[3], float(mult), E, dE, int(n_threads))
    else:
        k.eam_energy_stress(F, R, *spec[1:], float(mult), E, dE, int(n_threads))
    return E, dE


def site_energy_stress(potential, R: np.ndarray, F: np.ndarray, chunk: int = 2048,  # noqa: ANN001
                       *, n_threads: int = 1, compiled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """E_site (m,) [energy] and ∂E_site/∂F (m, d, d) [energy] for deformation gradients F (m, d, d):
    the compiled kernel when `kernel_spec` knows the potential (and ``compiled``), else the NumPy sum
    (``chunk`` points at a time)."""
    spec = kernel_spec(potential) if compiled else None
    if spec is None or R.shape[0] == 0:
        return site_energy_stress_numpy(potential, R, F, chunk)
    Rh, mult = half_bonds(R)
    return kernel_energy_stress(spec, Rh, F, n_threads, mult)


def site_energy_stress_numpy(potential, R: np.ndarray, F: np.ndarray, chunk: int = 2048  # noqa: ANN001
                             ) -> tuple[np.ndarray, np.ndarray]:
    """NumPy path of `site_energy_stress`, any potential (uses its vectorised radial functions)."""
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
    d2phi = _second(potential, "pair_d2", lambda x: potential.pair(x)[1], r, potential.cutoff)
    g = 0.5 * (d2phi - dphi / r)  # ∂²(½φ)/∂r² − (½φ)'/r
    T = np.einsum("b,bij,bkl->ijkl", g, RR, RR)
    if getattr(potential, "many_body", False):
        rho, drho = potential.density(r)
        d2rho = _second(potential, "density_d2", lambda x: potential.density(x)[1], r, potential.cutoff)
        rhobar = np.array([rho.sum()])
        _, dF = potential.embedding(rhobar)
        d2F = _second(potential, "embedding_d2", lambda x: potential.embedding(x)[1], rhobar)
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
