"""Mode-I crack-tip fields of linear anisotropic elasticity (Lekhnitskii / Stroh, plane problem).

Crack frame: tip at the origin, crack faces along the negative x axis (θ = ±π), propagation along +x.
With the reduced compliance b (3, 3) (2D Voigt xx, yy, xy, engineering shear: ε = b σ) and the roots
μ1, μ2 (Im μ > 0) of  b11 μ⁴ − 2 b16 μ³ + (2 b12 + b66) μ² − 2 b26 μ + b22 = 0,
(Sih, Paris & Irwin, Int. J. Fract. Mech. 1, 189 (1965)), with s_k = √(cos θ + μ_k sin θ),
p_k = b11 μ_k² + b12 − b16 μ_k, q_k = b12 μ_k + b22/μ_k − b26::

    u_x = K √(2r/π) Re[(μ1 p2 s2 − μ2 p1 s1)/(μ1 − μ2)]       u_y = same with q
    σ_xx = K/√(2πr) Re[(μ1 μ2²/s2 − μ2 μ1²/s1)/(μ1 − μ2)]     σ_yy = K/√(2πr) Re[(μ1/s2 − μ2/s1)/(μ1 − μ2)]
    σ_xy = −K/√(2πr) Re[(μ1 μ2/s2 − μ2 μ1/s1)/(μ1 − μ2)]

Every bracket is  D[T] = (μ1 T(μ2) − μ2 T(μ1))/(μ1 − μ2) = −μ1 μ2 · g[μ1, μ2], the divided difference of
g = T/μ, which stays finite as μ1 → μ2 (isotropic C: μ1 = μ2 = i). Near degeneracy it is evaluated by the
contour integral g[μ1, μ2] = (1/2πi) ∮ g(z)/((z − μ1)(z − μ2)) dz on a circle in the upper half plane
(trapezoidal rule, exponentially accurate), so the isotropic plane-strain field comes out exactly.
Units: K [energy/length^(3/2) in 2D], b [length^d/energy], r [length] → u [length], σ [energy/length^d].
"""

from __future__ import annotations

import numpy as np

from ..fem.materials.base import tensor_to_voigt, voigt_to_tensor

_N_CONTOUR = 96


def rotate_stiffness(C: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Voigt stiffness in the frame whose axes are the rows of Q: C'_ijkl = Q_ia Q_jb Q_kc Q_ld C_abcd."""
    T = voigt_to_tensor(C)
    return tensor_to_voigt(np.einsum("ia,jb,kc,ld,abcd->ijkl", Q, Q, Q, Q, T, optimize=True))


def reduced_compliance(C: np.ndarray) -> np.ndarray:
    """In-plane compliance b (3, 3) (xx, yy, xy) from a 2D (3, 3) or 3D (6, 6) Voigt stiffness.

    3D: plane strain ε_zz = 0, b_ij = s_ij − s_i3 s_j3 / s_33; requires in-plane stresses not to couple to
    the anti-plane strains (s_i4 = s_i5 = 0 for i = xx, yy, xy: x-y a symmetry plane), else ValueError."""
    C = np.asarray(C, float)
    if C.shape == (3, 3):
        return np.linalg.inv(C)
    if C.shape != (6, 6):
        raise ValueError(f"elastic constants must be (3, 3) or (6, 6) Voigt, got {C.shape}")
    S = np.linalg.inv(C)
    ip = [0, 1, 5]
    if np.max(np.abs(S[np.ix_(ip, [3, 4])])) > 1e-10 * np.max(np.abs(S)):
        raise ValueError("the crack plane is not a symmetry plane: in-plane and anti-plane modes couple")
    return S[np.ix_(ip, ip)] - np.outer(S[ip, 2], S[ip, 2]) / S[2, 2]


def lekhnitskii_roots(b: np.ndarray) -> tuple[complex, complex]:
    """The two roots with Im μ > 0 of the characteristic quartic (μ1 = μ2 = i for isotropic b)."""
    b11, b22, b12, b16, b26, b66 = b[0, 0], b[1, 1], b[0, 1], b[0, 2], b[1, 2], b[2, 2]
    r = np.roots([b11, -2 * b16, 2 * b12 + b66, -2 * b26, b22])
    up = np.sort_complex(r[r.imag > 0])
    if up.size != 2:
        raise ValueError("elastic constants are not positive definite (no complex root pair)")
    return complex(up[0]), complex(up[1])


def _divided(Tfun, mu1: complex, mu2: complex, theta: np.ndarray) -> np.ndarray:
    """D[T] = (μ1 T(μ2) − μ2 T(μ1))/(μ1 − μ2), T(μ, θ) vectorised over θ (m,)."""
    gap = abs(mu1 - mu2)
    m = 0.5 * (mu1 + mu2)
    rho = 0.5 * m.imag
    if gap > 0.5 * rho:
        return (mu1 * Tfun(mu2, theta) - mu2 * Tfun(mu1, theta)) / (mu1 - mu2)
    phi = 2 * np.pi * np.arange(_N_CONTOUR) / _N_CONTOUR
    z = m + rho * np.exp(1j * phi)                          # (nc,)
    g = Tfun(z[None, :], theta[:, None]) / z[None, :]       # (m, nc)
    kern = rho * np.exp(1j * phi) / ((z - mu1) * (z - mu2))  # dz/(2πi dφ)·2π = ρ e^{iφ}
    gdd = (g * kern[None, :]).mean(axis=1)
    return -mu1 * mu2 * gdd


def crack_angle(X: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
    """Polar angle θ (m,) ∈ [−π, π] of crack-frame points X (m, 2). Points ON the crack faces
    (X_x < 0, |X_y| ≤ 1e-9 max(|X_x|, 1)) are ambiguous: θ = +π (upper face) unless ``side`` (m,) < 0 there
    (lower face: θ = −π)."""
    X = np.asarray(X, float)
    th = np.arctan2(X[:, 1], X[:, 0])
    if side is not None:
        on_face = (np.abs(X[:, 1]) <= 1e-9 * np.maximum(np.abs(X[:, 0]), 1.0)) & (X[:, 0] < 0)
        th = np.where(on_face, np.where(np.asarray(side) < 0, -np.pi, np.pi), th)
    return th


def mode_I_displacement(X: np.ndarray, b: np.ndarray, K: float = 1.0,
                        side: np.ndarray | None = None) -> np.ndarray:
    """Displacements (m, 2) [length] at points X (m, 2) of the crack frame for stress intensity K.

    side : optional (m,) face of each point (< 0: lower crack face, θ = −π on the faces; see
    `crack_angle`), for the duplicated nodes of a slit mesh."""
    X = np.asarray(X, float)
    b11, b22, b12, b16, b26 = b[0, 0], b[1, 1], b[0, 1], b[0, 2], b[1, 2]
    mu1, mu2 = lekhnitskii_roots(b)
    r = np.hypot(X[:, 0], X[:, 1])
    th = crack_angle(X, side)

    def s(mu, t):  # noqa: ANN001, ANN202
        return np.sqrt(np.cos(t) + mu * np.sin(t) + 0j)

    def P(mu, t):  # noqa: ANN001, ANN202
        return (b11 * mu * mu + b12 - b16 * mu) * s(mu, t)

    def Qf(mu, t):  # noqa: ANN001, ANN202
        return (b12 * mu + b22 / mu - b26) * s(mu, t)

    amp = K * np.sqrt(2 * r / np.pi)
    return np.stack([amp * _divided(P, mu1, mu2, th).real, amp * _divided(Qf, mu1, mu2, th).real], axis=1)


def mode_I_stress(X: np.ndarray, b: np.ndarray, K: float = 1.0) -> np.ndarray:
    """Stresses (m, 3) (σ_xx, σ_yy, σ_xy) [energy/length^d] at points X (m, 2) ≠ 0 of the crack frame."""
    X = np.asarray(X, float)
    mu1, mu2 = lekhnitskii_roots(b)
    r = np.hypot(X[:, 0], X[:, 1])
    th = np.arctan2(X[:, 1], X[:, 0])

    def s(mu, t):  # noqa: ANN001, ANN202
        return np.sqrt(np.cos(t) + mu * np.sin(t) + 0j)

    amp = K / np.sqrt(2 * np.pi * r)
    sxx = _divided(lambda mu, t: mu * mu / s(mu, t), mu1, mu2, th).real
    syy = _divided(lambda mu, t: 1.0 / s(mu, t), mu1, mu2, th).real
    sxy = -_divided(lambda mu, t: mu / s(mu, t), mu1, mu2, th).real
    return amp[:, None] * np.stack([sxx, syy, sxy], axis=1)


def isotropic_mode_I_displacement(X: np.ndarray, shear_modulus: float, poisson: float,
                                  K: float = 1.0) -> np.ndarray:
    """Textbook plane-strain field: u = K/(2μ) √(r/2π) (cos θ/2 (κ−1+2 sin²θ/2), sin θ/2 (κ+1−2 cos²θ/2)),
    κ = 3 − 4ν."""
    r = np.hypot(X[:, 0], X[:, 1])
    th = np.arctan2(X[:, 1], X[:, 0])
    kap = 3 - 4 * poisson
    a = K / (2 * shear_modulus) * np.sqrt(r / (2 * np.pi))
    return np.stack([a * np.cos(th / 2) * (kap - 1 + 2 * np.sin(th / 2) ** 2),
                     a * np.sin(th / 2) * (kap + 1 - 2 * np.cos(th / 2) ** 2)], axis=1)
