"""Random streams keyed by (seed, step, global atom id, component): the same numbers for any rank count.

A counter-based generator: each normal deviate is a pure function of its key, computed with the
SplitMix64 finaliser (Steele, Lea & Flood 2014; the mixing function of Java's SplittableRandom and of
numpy's ``SeedSequence``-free seeding of xoshiro) applied to a 64-bit counter built from the key, followed
by the Box–Muller transform of two 53-bit uniforms. Nothing depends on which rank holds an atom, in
which order atoms are stored or how many there are, so a Langevin thermostat driven by `keyed_normal` gives
the same trajectory on 1 or P ranks (and after restarts on a different P).

The serial thermostat `multiscale.md.thermostats.langevin.Langevin` (stream 1) and the damping band's bath
(stream 2) draw from this generator too, keyed by the atoms' global ids.
"""

from __future__ import annotations

import numpy as np

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, elementwise on uint64 (wrap-around arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _C1
    z = (z ^ (z >> np.uint64(27))) * _C2
    return z ^ (z >> np.uint64(31))


def keyed_uniform(seed: int, step: int, gids: np.ndarray, n_per_atom: int, stream: int = 0) -> np.ndarray:
    """(m, n_per_atom) uniforms in (0, 1), a pure function of (seed, stream, step, gid, column).

    gids : (m,) int global atom ids (≥ 0, < 2^40); step ≥ 0 (< 2^40); n_per_atom ≤ 2^16."""
    gids = np.asarray(gids, dtype=np.int64)
    if gids.size and (gids.min() < 0 or gids.max() >= 2**40):
        raise ValueError("global ids must be in [0, 2^40)")
    if not 0 <= int(step) < 2**40:
        raise ValueError("step must be in [0, 2^40)")
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF) * _GOLD + np.uint64(int(stream) & 0xFFFF))
        key = _mix(key ^ (np.uint64(int(step)) * _GOLD))
        col = np.arange(n_per_atom, dtype=np.uint64)[None, :]
        ctr = (gids.astype(np.uint64)[:, None] << np.uint64(16)) + col
        z = _mix(_mix(ctr * _GOLD + key) ^ key)
    # 53 high bits -> (0, 1): (k + 0.5) / 2^53 never 0 or 1
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def keyed_normal(seed: int, step: int, gids: np.ndarray, d: int, stream: int = 0) -> np.ndarray:
    """(m, d) standard normal deviates for atoms ``gids`` at ``step`` (Box–Muller of keyed uniforms).

    The row of an atom depends only on (seed, stream, step, its gid): identical for any partition of the
    atoms over ranks and any storage order."""
    u = keyed_uniform(seed, step, gids, 2 * d, stream)
    r = np.sqrt(-2.0 * np.log(u[:, :d]))
    return r * np.cos(2.0 * np.pi * u[:, d:])


def langevin_forces(v: np.ndarray, mass: np.ndarray, gids: np.ndarray, step: int, *, temperature: float,
                    damp: float, dt: float, boltz: float, seed: int) -> np.ndarray:
    """Force-style Langevin forces (as LAMMPS ``fix langevin``, Gaussian noise) (m, d) [force]:
    ``-(m/damp) v + sqrt(2 m k_B T / (damp dt)) ξ`` with ξ = `keyed_normal` (seed, step, gid).

    v (m, d) [length/time]; mass (m,) internal force-mass units; damp, dt [time]; boltz [energy/temp]."""
    m = np.asarray(mass, float)[:, None]
    xi = keyed_normal(seed, step, gids, v.shape[1], stream=1)
    return -(m / damp) * v + np.sqrt(2.0 * m * boltz * temperature / (damp * dt)) * xi
