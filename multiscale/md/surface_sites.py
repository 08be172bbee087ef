"""Atom sites of a coupled model placed at the RELAXED free surface
(``continuum.surface_stress.relax_atoms``).

The continuum's surface term (`multiscale.fem.surface_stress`) carries γ and τ of the relaxed surface of a
periodic slab (`multiscale.md.surface_slab`); the atoms under the same free faces start on the bulk lattice.
With a strong constraint the handshake atoms and pads there follow the trilinear field of elements larger
than a plane spacing, which cannot represent the surface's multilayer relaxation (SNAP Cu (001): plane 0
−0.030 Å, plane 1 +0.0165 Å outward; EAM Cu_u3: −0.030, −0.006 Å): they stay near the bulk planes, and their
unrelaxed-surface forces (and the core's relaxed planes against them), blended by β and α, leave a net
vertical force on the model (the SNAP indentation deck `indent3d_ml_small.yaml` relaxed at d = 0, no
contact: −0.483 eV/Å on its held planes, the fully atomistic twin 0.010) that lifts the column under the
tip by about 0.015 Å (its contact atoms 0.009 Å above the twin's: +4.9 % load at d = 0.5 Å). With the
relaxed surface: +0.116 eV/Å, +1.44 % (`multiscale.applications.indent3d_ml`). `relaxed_surface_shift` moves every
atom under a selected free face by the slab's relaxation of its plane (plane k counted from the outermost
atomic plane under that face), so the atomistic reference of the surface is the relaxed surface whose τ the
continuum carries: the handshake and pad atoms there then feel no surface-relaxation force at U = 0.
"""

from __future__ import annotations

import numpy as np


def relaxed_surface_shift(X: np.ndarray, nodes: np.ndarray, faces: np.ndarray, normals: np.ndarray,
                          profiles: dict[int, tuple[np.ndarray, float]], held: np.ndarray) -> np.ndarray:
    """Displacements (n, d) [length] that put the atoms X (n, d) under the free faces at the relaxed surface.

    faces (nf, m) node indices into nodes (N, d), normals (nf, d) their outward unit normals (along a lab
    axis); profiles: lab axis → (relaxation (K,) outward displacement of plane k [length], plane spacing
    [length]) (`SurfaceProperties.relaxation`, ``plane_spacing``); held (n,) bool: atoms in a ``fixed`` load's
    region (left on the lattice; atoms of prescribed or kfield regions are moved). Faces are grouped by orientation (axis, sign) and by the
    position of their plane; the atoms of a group are those whose in-plane coordinates lie within the
    bounding box of one of its faces and that lie at most K plane spacings inside its outermost atomic
    plane, which must lie within one spacing inside the faces' plane (else the faces are not a surface of
    these atoms and nothing moves). Atoms under faces of two orientations (edges) get both shifts."""
    X = np.asarray(X, float)
    n_atoms, d = X.shape
    out = np.zeros((n_atoms, d))
    if len(faces) == 0 or n_atoms == 0:
        return out
    P = np.asarray(nodes, float)[np.asarray(faces)]               # (nf, m, d)
    axis = np.argmax(np.abs(normals), axis=1)
    sign = np.sign(normals[np.arange(len(normals)), axis])
    level = np.array([P[f, :, axis[f]].mean() * sign[f] for f in range(len(faces))])   # outward coordinate
    free = ~np.asarray(held, bool)
    groups: dict[tuple, list[int]] = {}
    for f in range(len(faces)):
        groups.setdefault((int(axis[f]), float(sign[f]), round(float(level[f]), 6)), []).append(f)
    for (k, sg, lev), fs in groups.items():
        rel, spacing = profiles[k]
        K = len(rel)
        s = sg * X[:, k]                                          # outward coordinate of every atom
        cand = (s <= lev + 1e-9) & (s >= lev - (K + 1) * spacing)
        inside = np.zeros(n_atoms, bool)
        other = [j for j in range(d) if j != k]
        tol = 1e-9 * max(1.0, float(np.max(np.abs(P))))
        for f in fs:
            lo, hi = P[f][:, other].min(axis=0) - tol, P[f][:, other].max(axis=0) + tol
            inside |= cand & np.all((X[:, other] >= lo) & (X[:, other] <= hi), axis=1)
        if not inside.any():
            continue
        top = float(s[inside].max())
        if lev - top > spacing * (1.0 + 1e-6):
            continue
        plane = np.rint((top - s) / spacing).astype(np.int64)
        sel = inside & free & (plane >= 0) & (plane < K)
        out[sel, k] += sg * rel[plane[sel]]
    return out
