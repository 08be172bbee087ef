"""A self-contained reference Lennard-Jones pair function (radial part only) for the statics tests.

Independent of `multiscale.md.potentials` so the property functions can be checked against it before
and after the engine's own potential exists. ``truncation``: "shift" (energy shifted to 0 at r_c,
forces unchanged) or "cut".
"""

from __future__ import annotations

import numpy as np


class RefLJ:
    many_body = False

    def __init__(self, epsilon: float = 1.0, sigma: float = 1.0, cutoff: float = 2.5,
                 truncation: str = "shift") -> None:
        self.epsilon, self.sigma, self.cutoff = epsilon, sigma, cutoff
        sr6 = (sigma / cutoff) ** 6
        self.shift = 4 * epsilon * (sr6 * sr6 - sr6) if truncation == "shift" else 0.0

    def pair(self, r):  # noqa: ANN001, ANN201
        r = np.asarray(r, float)
        inside = r < self.cutoff
        rs = np.where(inside, r, 1.0)
        sr6 = (self.sigma / rs) ** 6
        e = 4 * self.epsilon * (sr6 * sr6 - sr6) - self.shift
        de = -24 * self.epsilon * (2 * sr6 * sr6 - sr6) / rs
        return np.where(inside, e, 0.0), np.where(inside, de, 0.0)

    def density(self, r):  # noqa: ANN001, ANN201
        z = np.zeros_like(np.asarray(r, float))
        return z, z

    def embedding(self, rho):  # noqa: ANN001, ANN201
        z = np.zeros_like(np.asarray(rho, float))
        return z, z
