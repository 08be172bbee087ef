"""Gurtin–Murdoch surface stress on the continuum's free boundary faces (docs/physics.md, "Surface stress
of the continuum").

A Cauchy–Born continuum has no surface: its free faces carry neither the surface energy γ nor the
surface stress τ of the crystal, so a small free-standing coupled block is not contracted as the atoms'
block is. This term adds, on the selected boundary faces Γ₀ (hex8 → quad4, tet4 → tri3, quad4 / tri3 →
bar2), the energy

    E_s = ∫_Γ₀ w(X) [γ + τ : E_s] dA₀,     E_s = ½ (F_sᵀ F_s − Π)   (surface Green strain),

F_s = g G⁺ the surface deformation gradient (G = ∂X/∂ξ, g = ∂x/∂ξ the reference and current tangents of
the face, (d, d−1); G⁺ = (GᵀG)⁻¹Gᵀ; Π = G G⁺ the tangent projector), τ (d, d) the surface stress of the
face's orientation from a slab of the same potential (`multiscale.md.surface_slab`), w the continuum
weight of the region's blend (α of `ContinuumRegion.set_blend`: the atoms' own surface there is not
counted twice; in force-blended couplings the nodal forces are scaled by α like the bulk's). With
K = G⁺ τ G⁺ᵀ ((d−1, d−1), reference only) the energy density is ½ tr(K (gᵀg − GᵀG)) and the nodal force
is its exact gradient f_a = −Σ_q w_q dA₀_q g K ∂N_a/∂ξ.

Surface elasticity on a boundary layer (``layer``, `multiscale.fem.surface_layer.SurfaceLayer`: S spread
over a layer of elements below the faces, stable on any mesh; what `build` uses): its energy and forces are
added by `add_forces`, its weights set by `set_blend`.

Surface elasticity on the face (optional ``S`` (nf, d, d), from the same slab; indefinite on fine meshes
for a negative S, see `multiscale.fem.surface_layer`): W = γ + τ : E_s + ½ e·S·e with
e = diag(E_s) the normal strains of the in-plane lab axes (shear stiffness not included); then T = τ +
diag(S e) replaces τ in K. Without S the term is first order in the strain. Exact in rotations: E_s is invariant under any rigid rotation of the face
(gᵀg is), so large rotations give no spurious energy or force. For an isotropic τ (a {100} face of a
cubic crystal) τ : E_s = τ (tr C_s − 2)/2 agrees with the area form τ (J_s − 1) to first order; they
differ at second order (½ τ (λ₁ − 1)² per stretch λ₁ against none), below the elastic energy.

Units: γ, τ [energy/length^(d−1)]; forces [energy/length]. Arrays: faces (nf, nfn) node indices.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..registry import ELEMENTS

_FACE_TYPE = {(2, 2): "bar2", (3, 3): "tri3", (3, 4): "quad4"}


class SurfaceStress:
    """The surface term on ``faces`` (nf, nfn) of ``nodes`` (N, d), with ``tau`` (nf, d, d) and ``gamma``
    (nf,) per face (lab frame). `set_blend` sets the weights w at the face quadrature points;
    `add_forces` adds −∂E_s/∂U to ``forces`` and returns E_s."""

    def __init__(self, nodes: np.ndarray, faces: np.ndarray, tau: np.ndarray, gamma: np.ndarray,
                 S: np.ndarray | None = None, layer=None) -> None:  # noqa: ANN001
        nodes = np.asarray(nodes, float)
        self.layer = layer      # `multiscale.fem.surface_layer.SurfaceLayer` (S on a boundary layer), or None
        faces = np.ascontiguousarray(np.atleast_2d(np.asarray(faces, np.int64)))
        N, d = nodes.shape
        self.faces, self.d, self.n_nodes, self._X = faces, d, N, nodes
        self.tau = np.asarray(tau, float).reshape(len(faces), d, d)
        self.gamma = np.asarray(gamma, float).reshape(len(faces))
        self.S = None if S is None else np.asarray(S, float).reshape(len(faces), d, d)
        if faces.size == 0:
            self.dN = np.zeros((0, faces.shape[1], max(d - 1, 1)))
            self.K = np.zeros((0, 0, max(d - 1, 1), max(d - 1, 1)))
            self.dA = np.zeros((0, 0))
            self.X_q = np.zeros((0, d))
            self.w = np.zeros((0, 0))
            self.GtG = self.K.copy()
            return
        kind = _FACE_TYPE.get((d, faces.shape[1]))
        if kind is None:
            raise ValueError(f"faces of {faces.shape[1]} nodes are not faces of a {d}D mesh")
        el = ELEMENTS.get(kind)
        xi, wq = el.quadrature()
        self.dN = np.asarray(el.dshape(xi), float)               # (nq, nfn, d-1)
        Ns = np.asarray(el.shape(xi), float)                       # (nq, nfn)
        Xf = nodes[faces]                                          # (nf, nfn, d)
        G = np.einsum("fad,qak->fqdk", Xf, self.dN)                # (nf, nq, d, d-1)
        self.GtG = np.einsum("fqdk,fqdl->fqkl", G, G)
        Gp = np.linalg.solve(self.GtG, np.swapaxes(G, -1, -2))    # G⁺ (nf, nq, d-1, d)
        self.K = np.einsum("fqkd,fde,fqle->fqkl", Gp, self.tau, Gp)
        self.Gp = Gp
        self.dA = np.sqrt(np.linalg.det(self.GtG)) * wq[None, :]  # (nf, nq)
        self.X_q = np.einsum("qa,fad->fqd", Ns, Xf).reshape(-1, d)
        self.w = np.ones(self.dA.shape)
        self._c = self.dA.copy()

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    def set_blend(self, alpha_fn: Callable[[np.ndarray], np.ndarray] | None) -> None:
        """Weights w = α(X_q) at the face quadrature points (None: 1); the layer's likewise."""
        if self.layer is not None:
            self.layer.set_blend(alpha_fn)
        if self.faces.size == 0:
            return
        if alpha_fn is None:
            self.w = np.ones(self.dA.shape)
        else:
            self.w = np.asarray(alpha_fn(self.X_q), float).reshape(self.dA.shape)
        self._c = self.w * self.dA

    def energy_densities(self, U: np.ndarray) -> np.ndarray:
        """γ + τ : E_s (+ ½ e·S·e) at every face quadrature point (nf, nq) [energy/length^(d−1)]
        (unweighted)."""
        return self._evaluate(self._tangents(U))[0]

    def _evaluate(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(energy densities (nf, nq), K = G⁺ T G⁺ᵀ (nf, nq, d−1, d−1), T = ∂W/∂E_s the surface stress
        at the current strain) for the current tangents g."""
        dlt = 0.5 * (np.einsum("fqdk,fqdl->fqkl", g, g) - self.GtG)       # ½ (gᵀg − GᵀG)
        e = self.gamma[:, None] + np.einsum("fqkl,fqkl->fq", self.K, dlt)
        if self.S is None:
            return e, self.K
        El = np.einsum("fqki,fqkl,fqlj->fqij", self.Gp, dlt, self.Gp)    # E_s in the lab frame (d, d)
        diag = np.einsum("fqii->fqi", El)
        Sd = np.einsum("fij,fqj->fqi", self.S, diag)                       # S · diag(E_s)
        e = e + 0.5 * np.einsum("fqi,fqi->fq", diag, Sd)
        K = self.K + np.einsum("fqki,fqi,fqli->fqkl", self.Gp, Sd, self.Gp)
        return e, K

    def _tangents(self, U: np.ndarray) -> np.ndarray:
        return np.einsum("fad,qak->fqdk", self._x(U), self.dN)

    def _x(self, U: np.ndarray) -> np.ndarray:
        return self._X[self.faces] + U[self.faces]

    def add_forces(self, U: np.ndarray, forces: np.ndarray) -> float:
        """forces (N, d) += −∂E_s/∂U; returns E_s [energy] (weighted)."""
        if self.faces.size == 0:
            return 0.0
        g = self._tangents(U)                                                 # (nf, nq, d, d-1)
        e, K = self._evaluate(g)
        gK = np.einsum("fqdk,fqkl->fqdl", g, K) * self._c[:, :, None, None]
        fa = -np.einsum("fqdl,qal->fad", gK, self.dN)                         # (nf, nfn, d)
        for k in range(self.d):
            forces[:, k] += np.bincount(self.faces.ravel(), weights=fa[:, :, k].ravel(), minlength=self.n_nodes)
        E = float(np.sum(self._c * e))
        if self.layer is not None:
            E += self.layer.add_forces(U, forces)
        return E


def outward_normals(nodes: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit outward normals (nf, d) of boundary faces in outward node order (`Mesh.boundary_faces`), from
    the face centroid's tangents."""
    X = np.asarray(nodes, float)[faces]
    d = X.shape[2]
    if d == 2:
        t = X[:, 1] - X[:, 0]
        n = np.stack([t[:, 1], -t[:, 0]], axis=1)
    else:
        n = np.cross(X[:, 1] - X[:, 0], X[:, -1] - X[:, 0])
    return n / np.linalg.norm(n, axis=1)[:, None]


def interface_faces(nodes: np.ndarray, faces: np.ndarray, atoms_X: np.ndarray | None,
                    spacing: float, reach: float | None = None) -> np.ndarray:
    """(nf,) bool: faces with atoms beyond them: the mesh's inner boundary against the atomistic core
    (e.g. a mesh hole), not a free surface. An atom counts when it lies on the outer side within
    ``reach`` (default: ``spacing``; pass the potential's cut-off) of the face's plane,
    0 < n·(x − c) ≤ reach, and within the face radius + ``spacing`` (the lattice's nearest-neighbour
    distance [length]) of the centroid c in the plane. The search is sized by the lattice, not by the
    face: faces about one spacing long still see the atoms beyond them."""
    out = np.zeros(len(faces), bool)
    if atoms_X is None or len(atoms_X) == 0 or len(faces) == 0:
        return out
    from scipy.spatial import cKDTree

    atoms_X = np.asarray(atoms_X, float)
    reach = float(spacing if reach is None else max(reach, spacing))
    X = np.asarray(nodes, float)[faces]
    c = X.mean(axis=1)
    rad = np.max(np.linalg.norm(X - c[:, None, :], axis=2), axis=1)
    n = outward_normals(nodes, faces)
    lat = rad + spacing
    tree = cKDTree(atoms_X)
    for f, near in enumerate(tree.query_ball_point(c, np.sqrt(lat ** 2 + reach ** 2))):
        if near:
            r = atoms_X[near] - c[f]
            h = r @ n[f]
            inplane = np.linalg.norm(r - h[:, None] * n[f], axis=1)
            out[f] = bool(np.any((h > 1e-6 * spacing) & (h <= reach) & (inplane <= lat[f])))
    return out
