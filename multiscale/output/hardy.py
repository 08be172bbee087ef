"""Hardy (kernel-averaged) continuum fields of the atoms at arbitrary points (e.g. mesh nodes).

Kernel: the normalised quartic ``ψ(r) = c_d (1 − (r/R)²)²`` for r < R (∫ψ dV = 1; c₁ = 15/(16R),
c₂ = 3/(πR²), c₃ = 105/(32πR³)). With ψ_a(x) = ψ(|x − x_a|) and the bond function
``B_ab(x) = ∫₀¹ ψ(|x − x_a − λ(x_b − x_a)|) dλ`` (Gauss–Legendre, ``n_gauss`` points)::

    ρ(x)   = Σ_a m_a ψ_a(x)                                    mass density [mass/length^d]
    v(x)   = Σ_a m_a v_a ψ_a(x) / ρ(x)                         velocity
    u(x)   = Σ_a m_a (x_a − X_a) ψ_a(x) / ρ(x)                 displacement
    T(x)   = Σ_a m_a |v_a − v(x)|² ψ_a(x) / (d k_B Σ_a ψ_a(x)) kinetic temperature
    σ(x)   = −Σ_a m_a ṽ_a ⊗ ṽ_a ψ_a(x) − Σ_{a<b} r_ab ⊗ f_ab B_ab(x)        Cauchy stress [energy/length^d]

ṽ_a = v_a − v(x), r_ab = x_a − x_b, f_ab the force on a due to b (central: for EAM
f_ab = −[φ'(r) + (F'(ρ_a) + F'(ρ_b)) ρ'(r)] r_ab/r, single species). Same sign convention as
`multiscale.md.stress`: tension positive; σ integrated over all space = Σ_a S_a (the per-atom stresses).

Accuracy: exact for the bond sum (up to the Gauss rule on B_ab), the kernel average of a lattice
differs from the continuum average by the lattice discretisation of ∫ψ: for a homogeneously deformed
crystal at an interior point (kernel inside the crystal), σ(x) = Cauchy–Born σ to ~1e-3 relative for
R ≳ 4 nearest-neighbour distances (measured in tests/md/test_stress_atom.py::test_hardy_*).

Bond weights of a coupled run (handshake) are not applied here: the fields are those of the atoms'
unweighted forces. Points (P, d) any; cost O(P × (n + pairs)) in NumPy — output-time only.
"""

from __future__ import annotations

import math

import numpy as np


class QuarticKernel:
    """ψ(r) = c_d (1 − (r/R)²)², r < R; normalised to ∫ψ dV = 1 in d dimensions. R [length]."""

    def __init__(self, radius: float, dim: int) -> None:
        if not radius > 0:
            raise ValueError("kernel radius must be > 0")
        self.R, self.dim = float(radius), int(dim)
        self.c = {1: 15.0 / (16.0 * radius), 2: 3.0 / (math.pi * radius ** 2),
                  3: 105.0 / (32.0 * math.pi * radius ** 3)}[self.dim]

    def __call__(self, r: np.ndarray) -> np.ndarray:
        s2 = (np.asarray(r, float) / self.R) ** 2
        return np.where(s2 < 1.0, self.c * (1.0 - s2) ** 2, 0.0)


def bond_forces(region) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """(i (m,), j (m,), dx (m, d), f (m, d)) over the neighbour-list pairs of ``region.x``: dx = x_j − x_i
    (minimum image of the list), f = force on i due to j [energy/length], unweighted. Pair potentials and
    single-species EAM (uses ``potential.rho`` after a compute of the same positions)."""
    nl = region.nlist
    if nl.x_build is None:
        region.rebuild()
    i, j = nl.pairs()
    dx = nl.separations(region.x)
    r = np.sqrt(np.sum(dx * dx, axis=1))
    pot = region.potential
    _, dphi = pot.pair(r)
    c = np.asarray(dphi, float).copy()
    if getattr(pot, "many_body", False):
        if region.types is not None and np.any(region.types):
            raise ValueError("Hardy fields: multi-species EAM is not supported")
        f = np.zeros_like(region.x)
        e = np.zeros(region.n)
        pot.compute(nl.wrapped(region.x), nl, None, None, f, e, region.n_threads)
        _, dF = pot.embedding(pot.rho)
        _, drho = pot.density(r)
        c = c + (dF[i] + dF[j]) * drho
    # force on i due to j: +dphi/dr along (x_j - x_i)/r
    f_ij = (c / np.where(r > 0, r, 1.0))[:, None] * dx
    return i, j, dx, f_ij


def hardy_fields(region, points: np.ndarray, radius: float, boltz: float = 1.0, mass=None,  # noqa: ANN001
                 n_gauss: int = 8) -> dict[str, np.ndarray]:
    """Hardy fields at ``points`` (P, d): ``density`` (P,), ``velocity`` (P, d), ``displacement`` (P, d),
    ``temperature`` (P,), ``stress`` (P, d*d) (module docstring). Points with no atom in reach get 0.
    mass : (n,) internal masses (default ``region.mass``)."""
    P = np.atleast_2d(np.asarray(points, float))
    d = region.dim
    ker = QuarticKernel(radius, d)
    m = np.asarray(region.mass if mass is None else mass, float)
    x, v = region.x, region.v
    # wrap the separations point - atom by the box's periodicity (minimum image)
    box = region.box
    L = np.asarray(box.hi, float) - np.asarray(box.lo, float)
    per = np.asarray(box.periodic, bool)

    def mic(D: np.ndarray) -> np.ndarray:
        if per.any():
            D = D.copy()
            D[..., per] -= L[per] * np.round(D[..., per] / L[per])
        return D

    psi = ker(np.linalg.norm(mic(P[:, None, :] - x[None, :, :]), axis=2))         # (P, n)
    rho = psi @ m
    npsi = psi.sum(axis=1)
    safe = np.where(rho > 0, rho, 1.0)
    vel = (psi * m) @ v / safe[:, None]
    disp = (psi * m) @ (x - region.X) / safe[:, None]
    vt = v[None, :, :] - vel[:, None, :]                                            # (P, n, d)
    mv2 = np.einsum("pa,a,pai,pai->p", psi, m, vt, vt)
    temp = mv2 / (d * boltz * np.where(npsi > 0, npsi, 1.0))
    kin = -np.einsum("pa,a,pai,paj->pij", psi, m, vt, vt)
    i, j, dx, f = bond_forces(region)
    keep = np.any(f != 0.0, axis=1)
    i, dx, f = i[keep], dx[keep], f[keep]
    gx, gw = np.polynomial.legendre.leggauss(int(n_gauss))
    lam, wl = 0.5 * (gx + 1.0), 0.5 * gw
    B = np.zeros((len(P), len(i)))
    for lk, wk in zip(lam, wl):
        pts = x[i] + lk * dx                                                        # along the bond a -> b
        B += wk * ker(np.linalg.norm(mic(P[:, None, :] - pts[None, :, :]), axis=2))
    # r_ab = x_a - x_b = -dx, f_ab = f: -Σ r_ab ⊗ f_ab B = +Σ dx ⊗ f B
    pot_part = np.einsum("pb,bi,bj->pij", B, dx, f)
    stress = (kin + pot_part).reshape(len(P), d * d)
    return {"density": rho, "velocity": vel, "displacement": disp, "temperature": temp, "stress": stress}
