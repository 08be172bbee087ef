"""Material interface and Voigt helpers.

A material gives the strain-energy density ``W(F)`` [energy/length^d] and the first Piola–Kirchhoff
stress ``P = ∂W/∂F`` [energy/length^d] for deformation gradients ``F (m, d, d)``, and its reference
tangent ``C`` in Voigt form (``(nv, nv)``; nv = 1, 3, 6 for d = 1, 2, 3; order xx | xx yy xy |
xx yy zz yz xz xy; engineering shear strains). Linear materials (``is_linear``) use the small-strain
law ``σ = C : sym(F − I)`` and the compiled fast path of `ContinuumRegion`.
"""

from __future__ import annotations

import numpy as np

VOIGT_PAIRS = {1: [(0, 0)], 2: [(0, 0), (1, 1), (0, 1)],
               3: [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]}


def voigt_to_tensor(C: np.ndarray) -> np.ndarray:
    """(nv, nv) Voigt stiffness -> (d, d, d, d) tensor with minor and major symmetries."""
    C = np.asarray(C, float)
    d = {1: 1, 3: 2, 6: 3}[C.shape[0]]
    pairs = VOIGT_PAIRS[d]
    T = np.zeros((d, d, d, d))
    for a, (i, j) in enumerate(pairs):
        for b, (k, m) in enumerate(pairs):
            for ii, jj in {(i, j), (j, i)}:
                for kk, mm in {(k, m), (m, k)}:
                    T[ii, jj, kk, mm] = C[a, b]
    return T


def tensor_to_voigt(T: np.ndarray) -> np.ndarray:
    """(d, d, d, d) tensor -> (nv, nv) Voigt matrix."""
    d = T.shape[0]
    pairs = VOIGT_PAIRS[d]
    return np.array([[T[i, j, k, m] for (k, m) in pairs] for (i, j) in pairs])


def strain_voigt(H: np.ndarray) -> np.ndarray:
    """Small strain of displacement gradients H (m, d, d) in Voigt form (m, nv), engineering shears."""
    d = H.shape[-1]
    return np.stack([H[:, i, j] if i == j else H[:, i, j] + H[:, j, i] for i, j in VOIGT_PAIRS[d]], axis=1)


def stress_tensor(sig: np.ndarray, d: int) -> np.ndarray:
    """Voigt stresses (m, nv) -> symmetric tensors (m, d, d)."""
    S = np.empty((sig.shape[0], d, d))
    for a, (i, j) in enumerate(VOIGT_PAIRS[d]):
        S[:, i, j] = sig[:, a]
        S[:, j, i] = sig[:, a]
    return S


class Material:
    """Base class: ``dim``, ``C`` (nv, nv) reference tangent, ``is_linear``, ``evaluate(F)``."""

    dim: int
    C: np.ndarray
    is_linear: bool = False

    def evaluate(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        """First Piola stress P (m, d, d) and energy density W (m,) for F (m, d, d)."""
        raise NotImplementedError

    def acoustic_speeds(self, density: float, n: np.ndarray) -> np.ndarray:
        """Plane-wave speeds (sorted ascending, (d,)) along unit direction n (d,) of the reference tangent,
        from the acoustic tensor Q_ik = C_ijkm n_j n_m / ρ [length/time]."""
        T = voigt_to_tensor(self.C)
        Q = np.einsum("ijkm,j,m->ik", T, n, n) / density
        return np.sqrt(np.clip(np.linalg.eigvalsh(Q), 0.0, None))


class LinearMaterial(Material):
    """Small-strain linear elasticity ``W = ½ ε:C:ε``, ``P = σ = C:ε``, ε = sym(F − I)."""

    is_linear = True

    def __init__(self, C: np.ndarray) -> None:
        C = np.ascontiguousarray(np.asarray(C, float))
        if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] not in (1, 3, 6):
            raise ValueError(f"Voigt stiffness must be 1x1, 3x3 or 6x6, got {C.shape}")
        if np.max(np.abs(C - C.T)) > 1e-10 * np.max(np.abs(C)):
            raise ValueError("stiffness matrix C is not symmetric")
        self.C = 0.5 * (C + C.T)
        self.dim = {1: 1, 3: 2, 6: 3}[C.shape[0]]

    def evaluate(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        eps = strain_voigt(F - np.eye(self.dim))
        sig = eps @ self.C
        return stress_tensor(sig, self.dim), 0.5 * np.einsum("ma,ma->m", eps, sig)
