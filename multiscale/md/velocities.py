"""Initial velocities: Maxwell–Boltzmann at a temperature, zero total momentum, reproducible from a seed."""

from __future__ import annotations

import numpy as np


def maxwell_boltzmann(mass: np.ndarray, dim: int, temperature: float, boltz: float,
                      seed: int | np.random.Generator = 0, exact: bool = True) -> np.ndarray:
    """Velocities (n, dim) [length/time] for internal masses (n,) at ``temperature``.

    Each component is drawn from N(0, k_B T / m) with a numpy Generator (PCG64 seeded by ``seed``);
    atoms with mass 0 (pads, fixed) get 0. The mass-weighted mean velocity is removed (zero total
    momentum); with ``exact`` the result is scaled so that the kinetic temperature
    ``2 K / (k_B (d N - d))`` equals ``temperature`` exactly (LAMMPS ``velocity create`` convention).
    boltz : k_B in energy/temperature (``units.boltz``).
    """
    m = np.asarray(mass, float)
    n = m.size
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    v = np.zeros((n, dim))
    live = m > 0
    nl = int(live.sum())
    if nl == 0 or temperature <= 0:
        return v
    v[live] = rng.standard_normal((nl, dim)) * np.sqrt(boltz * temperature / m[live])[:, None]
    if nl > 1:
        v[live] -= (m[live] @ v[live]) / m[live].sum()
    if exact and nl > 1:
        dof = dim * nl - dim
        K = 0.5 * float(np.sum(m[live] * np.sum(v[live] ** 2, axis=1)))
        T_now = 2.0 * K / (dof * boltz)
        if T_now > 0:
            v *= np.sqrt(temperature / T_now)
    return v


def kinetic_temperature(v: np.ndarray, mass: np.ndarray, boltz: float, remove_com: bool = True) -> float:
    """2K / (dof k_B) of the atoms with mass > 0; dof = d N - d when the momentum is removed."""
    m = np.asarray(mass, float)
    live = m > 0
    n, d = int(live.sum()), v.shape[1]
    if n == 0:
        return 0.0
    K = 0.5 * float(np.sum(m[live] * np.sum(v[live] ** 2, axis=1)))
    dof = d * n - (d if (remove_com and n > 1) else 0)
    return 2.0 * K / (dof * boltz)
