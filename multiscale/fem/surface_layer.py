"""Surface elasticity S of the continuum's free faces carried by a boundary LAYER of elements
(docs/physics.md, "Surface stress of the continuum"): the stable form of the second-order surface term.

The slab's surface elasticity S (`multiscale.md.surface_slab`, (d, d) per face orientation, in-plane normal
components) is an excess of the homogeneously strained slab: W_s = ½ e·S·e per reference area, e = the face's
in-plane normal Green strains. For Cu it has negative eigenvalues (Cu_u3 (100): −0.50 eV/Å², SNAP Cu: −1.32
and −0.95): the surface region is softer than the bulk. Put on the face alone (`SurfaceStress` with ``S``),
it acts on the strain of the face's nodes only, and an element row thinner than about |S|/C turns the
mesh's tangent indefinite (short-wavelength in-plane modes of the face nodes). Here S is spread over a
layer of depth ℓ below the face instead, as a volume energy density ½ e·(S/ℓ)·e with e the in-plane normal
Green strains E_jj of the element (lab frame):

    E_l = Σ_q α_q ½ diag(E)·Ŝ_q·diag(E) dV_q,      Ŝ_q = Σ_f χ_f(X_q) S_f / (ℓ c_f),

χ_f the indicator of face f's column to depth ℓ (the face's in-plane extent; a point on a shared edge
belongs to the first face) at the volume quadrature points X_q, c_f = Σ_q χ_f dV_q / (A_f ℓ) its sampled
volume over A_f ℓ (``coverage``): a homogeneous strain gives exactly ½ e·S·e per unit face area, on any
element type and size. Stability: at a quadrature point the material C + Ŝ_q (Voigt, Ŝ_q in the normal
block) is positive definite when ℓ c_f ≥ t_min = λ_max(C⁻¹(−S)) (the thinnest layer whose bulk stiffness
carries the negative S); then the layer adds nothing indefinite to the reference tangent, whatever the mesh.
The default ℓ = `LAYER_MARGIN` · t_min; `build` checks C + Ŝ_q at every point (columns of faces closer than
ℓ add up; coverage below 1 raises the modulus) and refuses otherwise.

Nodal forces: the exact gradient, f_a = −Σ_q α_q dV_q F Σ ∇N_a with Σ = diag(Ŝ_q diag(E)) (second
Piola–Kirchhoff), F = I + ∇U. Objective (E is). What it does not represent: the distribution of S over
depth (the atomistic excess sits in the first two or three planes; here it is uniform over ℓ), and S's
response to strain gradients shorter than ℓ. Units: S [energy/length^(d−1)], ℓ [length], forces
[energy/length].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: layer depth ℓ = LAYER_MARGIN · t_min (t_min: the thinnest layer that keeps C + S/ℓ positive definite)
LAYER_MARGIN = 1.5


def min_layer_thickness(C: np.ndarray, S: np.ndarray) -> float:
    """t_min [length]: the smallest ℓ with C + S/ℓ positive semi-definite (Voigt C (nv, nv), S (d, d) in
    the normal block); 0 when S is positive semi-definite."""
    C = np.asarray(C, float)
    S = np.asarray(S, float)
    d = S.shape[0]
    Se = np.zeros_like(C)
    Se[:d, :d] = S
    if np.min(np.linalg.eigvalsh(0.5 * (Se + Se.T))) >= 0.0:
        return 0.0
    w = np.linalg.eigvals(np.linalg.solve(C, -Se)).real
    return float(max(np.max(w), 0.0))


class SurfaceLayer:
    """S of ``faces`` (nf, nfn) (axis-aligned, outward ``normals`` (nf, d), ``S`` (nf, d, d)) on the
    volume quadrature points of ``blocks`` (list of (conn (ne, nen), element class)) within depth ``depth``
    [length] below them (module docstring). ``coverage`` (nf,): the sampled column volume / (A_f ℓ)."""

    def __init__(self, nodes: np.ndarray, blocks: list, faces: np.ndarray, normals: np.ndarray,
                 S: np.ndarray, depth: float) -> None:
        X = np.asarray(nodes, float)
        N, d = X.shape
        self.d, self.n_nodes, self._X, self.depth = d, N, X, float(depth)
        faces = np.atleast_2d(np.asarray(faces, np.int64))
        normals = np.asarray(normals, float).reshape(len(faces), d)
        S = np.asarray(S, float).reshape(len(faces), d, d)
        self.coverage = np.zeros(len(faces))
        # per block: (conn, dNdX (ne,nq,nen,d), weighted dV (ne,nq), Ŝ (ne,nq,d,d), X_q, dV)
        self._parts = []
        if len(faces) == 0:
            return
        fl, fh = X[faces].min(axis=1), X[faces].max(axis=1)
        axis = np.argmax(np.abs(normals), axis=1)
        sign = np.sign(normals[np.arange(len(faces)), axis])
        area = np.array([float(np.prod(np.delete(fh[f] - fl[f], axis[f]))) for f in range(len(faces))])
        geo = []
        for conn, el in blocks:
            conn = np.asarray(conn, np.int64)
            if len(conn) == 0:
                continue
            Xe = X[conn]
            xi, wq = el.quadrature()
            _, detJ, dNdX = el.jacobian(Xe, xi)
            X_q = np.einsum("qa,ead->eqd", np.asarray(el.shape(xi), float), Xe)
            geo.append((conn, dNdX, detJ * wq[None, :], X_q))
        # the quadrature points in each face's column [plane − ℓ, plane) (half-open in plane: the columns of
        # neighbouring faces do not share points), normalised so that the column integrates to A_f ℓ exactly
        # faces that are not axis-aligned rectangles (triangles, a file mesh's general quads): the true area
        # of the planar polygon and membership by its fan triangles (convex faces, nodes in cyclic order)
        poly = _non_rectangles(X, faces, axis, fl, fh) if d == 3 else np.zeros(len(faces), bool)
        for f in np.flatnonzero(poly):
            area[f] = _polygon_area(X[faces[f]][:, [j for j in range(d) if j != axis[f]]])
        # candidate points of each column from one Chebyshev-ball query on a KD-tree of all quadrature points
        # (cost ∝ the column's points, not faces × points), then the exact half-open box test as before
        from scipy.spatial import cKDTree
        sizes = [g[2].size for g in geo]
        offs = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        Xall = np.concatenate([g[3].reshape(-1, d) for g in geo]) if geo else np.zeros((0, d))
        tree = cKDTree(Xall) if len(Xall) else None
        idx_f, claimed = [], {}
        for f in range(len(faces)):
            k = axis[f]
            lo, hi = fl[f].copy(), fh[f].copy()
            plane = hi[k] if sign[f] > 0 else lo[k]
            lo[k], hi[k] = (plane - self.depth, plane) if sign[f] > 0 else (plane, plane + self.depth)
            ck = claimed.setdefault((int(k), float(sign[f]), round(float(plane), 9)),
                                    np.zeros(len(Xall), bool))
            if tree is None:
                idx_f.append(np.zeros(0, np.int64))
                continue
            r = 0.5 * float(np.max(hi - lo))
            cand = np.sort(np.asarray(tree.query_ball_point(0.5 * (lo + hi), r * (1.0 + 1e-9) + 1e-12,
                                                              p=np.inf), np.int64))
            idx = cand[np.all((Xall[cand] >= lo) & (Xall[cand] < hi), axis=1) & ~ck[cand]]
            if poly[f] and idx.size:     # in-plane point in one of the polygon's fan triangles
                pl = [j for j in range(d) if j != k]
                P = X[faces[f]][:, pl]
                inside = np.zeros(idx.size, bool)
                for t in range(1, len(P) - 1):      # barycentric; shared edges: the first face claims
                    T = np.array([P[t] - P[0], P[t + 1] - P[0]]).T
                    lam = np.linalg.solve(T, (Xall[idx][:, pl] - P[0]).T).T
                    inside |= (lam[:, 0] >= -1e-12) & (lam[:, 1] >= -1e-12) & (lam.sum(axis=1) <= 1 + 1e-12)
                idx = idx[inside]
            ck[idx] = True
            idx_f.append(idx)
            vol = 0.0
            for b, (_, _, dV, _) in enumerate(geo):      # per block, in the points' order (as a mask would)
                ib = idx[(idx >= offs[b]) & (idx < offs[b + 1])] - offs[b]
                vol += float(dV.reshape(-1)[ib].sum())
            self.coverage[f] = vol / (area[f] * self.depth)
        for b, (conn, dNdX, dV, X_q) in enumerate(geo):
            Sq = np.zeros(dV.shape + (d, d))
            Sf = Sq.reshape(-1, d, d)
            for f in range(len(faces)):
                idx = idx_f[f]
                ib = idx[(idx >= offs[b]) & (idx < offs[b + 1])] - offs[b]
                if self.coverage[f] > 0 and ib.size:
                    Sf[ib] += S[f] / (self.depth * self.coverage[f])
            hit = np.flatnonzero(np.any(Sq != 0.0, axis=(1, 2, 3)))
            if len(hit):
                self._parts.append((conn[hit], dNdX[hit], dV[hit].copy(), Sq[hit], X_q[hit], dV[hit].copy()))

    @property
    def n_elements(self) -> int:
        return int(sum(len(p[0]) for p in self._parts))

    def point_moduli(self) -> tuple[np.ndarray, np.ndarray]:
        """(Ŝ_q (n, d, d) [energy/length^d], positions (n, d) [length]) at every layer quadrature point
        with a nonzero modulus."""
        if not self._parts:
            return np.zeros((0, self.d, self.d)), np.zeros((0, self.d))
        S = np.concatenate([p[3].reshape(-1, self.d, self.d) for p in self._parts])
        Xq = np.concatenate([p[4].reshape(-1, self.d) for p in self._parts])
        on = np.any(S != 0.0, axis=(1, 2))
        return S[on], Xq[on]

    def set_blend(self, alpha_fn: Callable[[np.ndarray], np.ndarray] | None) -> None:
        """Weights α at the layer's volume quadrature points (None: 1)."""
        parts = []
        for conn, dNdX, _, Sh, X_q, dV0 in self._parts:
            w = (1.0 if alpha_fn is None
                 else np.asarray(alpha_fn(X_q.reshape(-1, self.d)), float).reshape(dV0.shape))
            parts.append((conn, dNdX, dV0 * w, Sh, X_q, dV0))
        self._parts = parts

    def add_forces(self, U: np.ndarray, forces: np.ndarray) -> float:
        """forces (N, d) += −∂E_l/∂U; returns E_l [energy] (α-weighted)."""
        E = 0.0
        d = self.d
        for conn, dNdX, dV, Sh, _, _ in self._parts:
            Ue = U[conn]                                                   # (ne, nen, d)
            H = np.einsum("ead,eqak->eqdk", Ue, dNdX)                      # ∇U (ne, nq, d, d)
            F = H + np.eye(d)[None, None]
            e = 0.5 * (np.einsum("eqki,eqki->eqi", F, F) - 1.0)           # diag E (ne, nq, d)
            s = np.einsum("eqij,eqj->eqi", Sh, e)                           # Σ_ii = (Ŝ e)_i
            E += float(np.sum(dV * 0.5 * np.einsum("eqi,eqi->eq", e, s)))
            P = F * s[:, :, None, :]                      # F Σ (Σ diagonal): P_ij = F_ij Σ_jj
            fa = -np.einsum("eq,eqij,eqaj->eai", dV, P, dNdX)             # (ne, nen, d)
            for k in range(d):
                forces[:, k] += np.bincount(conn.ravel(), weights=fa[:, :, k].ravel(), minlength=self.n_nodes)
        return E

    def weights(self, alpha_fn: Callable[[np.ndarray], np.ndarray] | None = None) -> list[np.ndarray]:
        """α_q dV_q per layer part (ne, nq) [length^d]: the current weights (copies), or those that
        ``alpha_fn`` would set."""
        if alpha_fn is None:
            return [p[2].copy() for p in self._parts]
        return [p[5] * np.asarray(alpha_fn(p[4].reshape(-1, self.d)), float).reshape(p[5].shape)
                for p in self._parts]

    def energy_densities(self, U: np.ndarray) -> list[np.ndarray]:
        """½ diag(E)·Ŝ_e·diag(E) per layer part (ne, nq) [energy/length^d] (unweighted)."""
        out = []
        d = self.d
        for conn, dNdX, _, Sh, _, _ in self._parts:
            F = np.einsum("ead,eqak->eqdk", U[conn], dNdX) + np.eye(d)[None, None]
            e = 0.5 * (np.einsum("eqki,eqki->eqi", F, F) - 1.0)
            out.append(0.5 * np.einsum("eqi,eqij,eqj->eq", e, Sh, e))
        return out


def _non_rectangles(X: np.ndarray, faces: np.ndarray, axis: np.ndarray, fl: np.ndarray,
                    fh: np.ndarray) -> np.ndarray:
    """(nf,) bool: the 3D faces that are not axis-aligned rectangles filling their bounding box (every node
    at a corner of the box, every corner taken) — triangles and a file mesh's general quads. Those take the
    true polygon area and fan-triangle membership; rectangles keep the box (review rev24: the box's area
    was 8 % off on a jittered tet4 box; the true area makes the homogeneous energy exact to 2e-15)."""
    d = X.shape[1]
    out = np.zeros(len(faces), bool)
    for f in range(len(faces)):
        pl = [j for j in range(d) if j != axis[f]]
        P = X[faces[f]][:, pl]
        lo, hi = fl[f][pl], fh[f][pl]
        tol = 1e-9 * max(1.0, float(np.max(np.abs(hi))))
        at = np.isclose(P, lo, rtol=0, atol=tol) | np.isclose(P, hi, rtol=0, atol=tol)
        corners = {tuple(np.isclose(p, hi, rtol=0, atol=tol)) for p in P}
        out[f] = not (bool(np.all(at)) and len(corners) == 2 ** len(pl) and len(P) == 2 ** len(pl))
    return out


def _polygon_area(P: np.ndarray) -> float:
    """Area of a planar polygon with vertices ``P`` (n, 2) in cyclic order (shoelace) [length²]."""
    x, y = P[:, 0], P[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))