"""Exactly one-directional wave packets on a 1D lattice (docs/physics.md §6).

The packet is the real part of the complex envelope ``A exp(−(X−X0)²/2σ²) exp(i k (X−X0))`` sampled on the
lattice sites. Its discrete Fourier components ``ẑ_q`` each get their own frequency from the lattice
dispersion ``ω(q)`` and, for the initial velocity, the discrete-time frequency of velocity Verlet
``Ω = (2/Δt) asin(ωΔt/2)`` with the sign of q (so every component moves in the chosen direction)::

    u⁰ = Re Σ ẑ_q e^{iqX},     v^{1/2} = Re Σ ẑ_q e^{iqX} (e^{−iΩΔt} − 1)/Δt,     v⁰ = v^{1/2} + ½Δt ω² u⁰_q

so that the integrator's first half-kick reproduces ``v^{1/2}`` exactly and the discrete trajectory is
``u^n = Re Σ ẑ_q e^{i(qX − Ω n Δt)}``: no spurious backward packet.

Units: positions [length], k [1/length], σ [length], Δt [time], frequencies [1/time].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import Field

from ..registry import LOADS, PluginParams


def chain_dispersion(a: float, mass: float, springs: list[float] | np.ndarray) -> Callable:
    """ω(q) [1/time] of a monatomic chain with spacing a and shell stiffnesses ``springs[n-1] = φ''(n a)``.

    ``ω² = (2/m) Σ_n k_n (1 − cos(q n a))``; for nearest-neighbour springs ``ω = 2√(k/m)|sin(qa/2)|``.
    """
    ks = np.asarray(springs, float)

    def omega(q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, float)
        n = np.arange(1, len(ks) + 1)
        w2 = (2.0 / mass) * np.sum(ks[:, None] * (1.0 - np.cos(np.outer(n * a, q.ravel()))), axis=0)
        return np.sqrt(np.maximum(w2, 0.0)).reshape(q.shape)

    return omega


def verlet_frequency(omega: np.ndarray, dt: float) -> np.ndarray:
    """Ω = (2/Δt) asin(ωΔt/2): the frequency velocity Verlet actually produces (needs ωΔt < 2)."""
    arg = 0.5 * np.asarray(omega, float) * dt
    if np.any(arg >= 1.0):
        raise ValueError(f"time step {dt:g} does not resolve ω = {np.max(omega):g} (needs ωΔt < 2)")
    return (2.0 / dt) * np.arcsin(arg)


def lattice_packet(X: np.ndarray, a: float, wavenumber: float, sigma: float, center: float,
                   amplitude: float, dt: float, omega: Callable, direction: int = +1,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Displacements and velocities of a one-directional packet on equally spaced sites.

    X : (n,) site positions [length], spacing a (the packet must vanish near both ends)
    wavenumber : carrier k [1/length];  sigma : envelope width [length];  center : X0 [length]
    omega : dispersion ω(q) of the lattice (e.g. `chain_dispersion`)
    direction : +1 (towards +X) or −1
    Returns u0 (n,), v0 (n,) (the velocity at t = 0 consistent with the discrete trajectory) and
    v_half (n,) (= u¹ − u⁰ over Δt).
    """
    X = np.asarray(X, float).reshape(-1)
    n = len(X)
    if n > 1 and np.max(np.abs(np.diff(X) - a)) > 1e-9 * a:
        raise ValueError("lattice_packet needs equally spaced sites")
    xi = X - center
    z = amplitude * np.exp(-0.5 * (xi / sigma) ** 2) * np.exp(1j * wavenumber * xi)
    zh = np.fft.fft(z)
    q = 2.0 * np.pi * np.fft.fftfreq(n, d=a)
    w = omega(q)
    Om = np.sign(q) * direction * verlet_frequency(w, dt)
    u0 = z.real.copy()
    vh = np.fft.ifft(zh * (np.exp(-1j * Om * dt) - 1.0) / dt).real
    v0 = np.fft.ifft(zh * ((np.exp(-1j * Om * dt) - 1.0) / dt + 0.5 * dt * w**2)).real
    return u0, v0, vh


@LOADS.register("wave_packet")
class WavePacket:
    """Initial condition: a one-directional packet on the atoms of a 1D chain (docs/physics.md §6).

    ``apply(system, dt)`` sets x = X + u⁰ and v = v⁰ on the free atoms of a `CoupledSystem` (the packet must
    vanish in the handshake). The dispersion uses the potential's shell stiffnesses φ''(n a).
    """

    class Params(PluginParams):
        wavelength: float = Field(gt=0, description="carrier wavelength λ = 2π/k [length]")
        sigma: float = Field(gt=0, description="Gaussian envelope width σ [length] (≥ 8λ/6 and ≥ 60a)")
        center: float = Field(description="packet centre X0 [length] (≥ 7σ from the handshake)")
        amplitude: float = Field(1e-3, description="amplitude A [length]")
        direction: int = Field(1, description="+1 towards +x, −1 towards −x")

    def __init__(self, params: Params) -> None:
        self.params = params

    @classmethod
    def from_params(cls, params, units=None, deck_dir=None):  # noqa: ANN001, ANN206
        return cls(params)

    def apply(self, system, dt: float, a: float, omega: Callable) -> None:  # noqa: ANN001
        """Set the packet on the free atoms of ``system`` (sites spaced a, sorted along x)."""
        p = self.params
        idx = system.free
        X = system.atoms.X[idx, 0]
        order = np.argsort(X)
        u0, v0, _ = lattice_packet(X[order], a, 2 * np.pi / p.wavelength, p.sigma, p.center, p.amplitude,
                                   dt, omega, p.direction)
        system.atoms.x[idx[order], 0] = X[order] + u0
        system.atoms.v[idx[order], 0] = v0
