"""Slow O(n^2) NumPy reference of the weighted energy model, from the potentials' radial functions.

E = sum_a w_a F(rho_a) + 1/2 sum_a sum_{b != a} W_ab phi(r_ab), minimum image on periodic axes.
"""

from __future__ import annotations

import numpy as np


def reference(pot, x: np.ndarray, box, site_w=None, W=None):  # noqa: ANN001, ANN201
    """(E, forces (n, d), energies (n,)); W: (n, n) symmetric bond weights (None = 1)."""
    n, d = x.shape
    dx = box.minimum_image(x[None, :, :] - x[:, None, :])   # dx[i, j] = x_j - x_i
    r = np.linalg.norm(dx, axis=2)
    np.fill_diagonal(r, np.inf)
    inside = r < pot.cutoff
    rr = np.where(inside, r, 1.0)
    phi, dphi = pot.pair(rr)
    phi = np.where(inside, phi, 0.0)
    dphi = np.where(inside, dphi, 0.0)
    Wm = np.ones((n, n)) if W is None else W
    sw = np.ones(n) if site_w is None else site_w
    e = 0.5 * np.sum(Wm * phi, axis=1)
    coef = Wm * dphi
    if getattr(pot, "many_body", False):
        rho_r, drho = pot.density(rr)
        rho_r = np.where(inside, rho_r, 0.0)
        drho = np.where(inside, drho, 0.0)
        rho = rho_r.sum(axis=1)
        F, Fp = pot.embedding(rho)
        e = e + sw * F
        fp = sw * Fp
        coef = coef + fp[:, None] * drho + fp[None, :] * drho
    f = np.sum((coef / rr)[:, :, None] * dx, axis=1)
    return float(e.sum()), f, e
