"""Surface energy γ and surface stress τ of a crystal face from a periodic slab of the SAME potential the
atoms use (native potentials and external engines alike: the slab is an `AtomisticRegion`, i.e. the
potential's own force routine), for the Gurtin–Murdoch surface term of the continuum
(`multiscale.fem.surface_stress`).

The face: normal along lab axis k of the lattice (as oriented in the deck). The slab: ``n_z`` lattice
periods along k (free: two faces), periodic along the other axes with enough periods that the box is at
least 2 × (cut-off + skin) long (the minimum-image neighbour list). Its atoms are relaxed NORMAL to the
surface only (their k coordinates, L-BFGS to a max force of `GTOL`); the in-plane positions stay
homogeneously strained (the lattice is Bravais and every plane keeps its in-plane symmetry). That is
checked: an in-plane force above `INPLANE_FTOL` on the relaxed unstrained slab is refused; on the strained
slabs S is taken from it is reported (`SurfaceProperties.S_inplane_force`; the build then refuses the surface
elasticity, e.g. fcc (111) faces, whose 3-fold axis holds the planes in place only at zero strain).

Excess energy: E_s(E) = E_slab(E) − E_bulk(E), E_bulk = the same atoms with the box periodic along k as
well (no relaxation), both homogeneously deformed in plane by F = √(I + 2E) (E the in-plane Green strain,
diagonal). Then (two faces of reference area A₀ each)

    γ = E_s(0) / (2 A₀),     τ_jj = ∂E_s/∂E_jj / (2 A₀)   [energy/length^(d−1)],

the derivative by central differences with steps h and h/2 and Richardson extrapolation
(τ = (4 τ(h/2) − τ(h)) / 3); the accuracy estimate ``err`` = |τ(h/2) − τ(h)| / 3 bounds the remaining
O(h⁴) term (the O(h²) bulk curvature is removed by E_bulk; the relaxation error is O(GTOL²)). The step is
halved (from `H0`) until ``err`` ≤ ``tol`` or ``h`` < `H_MIN` (then ValueError). τ about the lattice's
reference state: with a zero-stress lattice constant (``a: relaxed`` or the engine's), ∂E_bulk/∂E = 0.

Off-diagonal in-plane components (τ_xy) are NOT computed (an orthogonal periodic box cannot be sheared):
they are zero where the face has a mirror plane containing the normal and a lab axis — {100} and {110}
faces of cubic crystals in cube-axis orientations; an orientation without such a mirror is refused
(`has_in_plane_mirror`, ValueError; a deck error at ``continuum.surface_stress``). Cached per
(potential, lattice, axis) for the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: relaxation tolerance: max |force| along the normal [energy/length] (energy error ~ n GTOL² / k ≈ 1e-10 eV)
GTOL = 1e-6
#: first finite-difference step (Green strain) and the smallest allowed
H0, H_MIN = 2e-3, 1e-6
SKIN = 0.3
#: largest in-plane force [energy/length] allowed on the normally relaxed slab (10 GTOL)
INPLANE_FTOL = 10 * GTOL

_CACHE: dict = {}


@dataclass(frozen=True)
class SurfaceProperties:
    """One face orientation: ``axis`` (lab axis of the normal), ``gamma`` γ [energy/length^(d−1)],
    ``tau`` (d, d) surface stress tensor in the lab frame (zero row/column ``axis``) [energy/length^(d−1)],
    ``err`` (d,) the finite-difference accuracy estimate of each diagonal component, ``h`` the step used,
    ``n_atoms`` of the slab, ``n_z`` its periods along the normal."""

    axis: int
    gamma: float
    tau: np.ndarray
    err: np.ndarray
    h: float
    n_atoms: int
    n_z: int
    #: surface elasticity (d, d) [energy/length^(d−1)]: S_jk = ∂²(E_s/2A₀)/∂E_jj∂E_kk of the diagonal in-plane
    #: Green strains (zero row/column ``axis``), central second differences at the step ``h``
    S: np.ndarray | None = None
    #: largest in-plane force [energy/length] on the normally relaxed slabs at the strains S is taken from:
    #: above `INPLANE_FTOL` the strained surface planes would relax in plane (e.g. fcc (111) with
    #: [11-2]/[1-10] in plane, whose 3-fold axis holds them only at zero strain), and S from the normal-only
    #: relaxation is not the surface's (Cu_u3 (111): S_xx −0.026 normal-only vs +0.065 eV/Å² fully relaxed)
    S_inplane_force: float = 0.0
    #: the relaxed unstrained surface's atomic planes: ``relaxation`` (k,) the OUTWARD normal displacement
    #: [length] of the k-th plane from the surface (k = 0 the outermost) from its bulk-lattice position, the
    #: mean over both faces of the slab (equal by symmetry), the half of the slab's planes nearest each face;
    #: ``plane_spacing`` [length] the bulk spacing of the planes (`relaxation_profile`)
    relaxation: np.ndarray | None = None
    plane_spacing: float = 0.0


class _Slab:
    """The slab and its bulk twin at in-plane Green strain E (see the module docstring)."""

    def __init__(self, potential, lattice, axis: int, n_z: int) -> None:  # noqa: ANN001
        from .engines.cell import reference_cell

        L, _ = reference_cell(lattice)
        d = lattice.dim
        rc = float(potential.cutoff)
        reps = np.array([max(1, int(np.ceil(2.0 * (rc + SKIN) / L[j] + 1e-9))) for j in range(d)])
        reps[axis] = n_z
        self.size = reps * L
        self.X = lattice.sites_in_box(np.zeros(d), self.size)
        self.axis, self.d, self.potential = axis, d, potential
        self.area = float(np.prod(np.delete(self.size, axis)))

    def _region(self, F: np.ndarray, periodic_normal: bool):  # noqa: ANN202
        from .box import Box
        from .system import AtomisticRegion

        periodic = np.ones(self.d, bool)
        periodic[self.axis] = periodic_normal
        hi = np.diag(F) * self.size
        if not periodic_normal:
            hi[self.axis] = self.size[self.axis]
        box = Box(np.zeros(self.d), hi, periodic)
        return AtomisticRegion(self.X * np.diag(F)[None, :], 1.0, self.potential, box, SKIN)

    def in_plane_force(self, z: np.ndarray, E: np.ndarray | None = None) -> float:
        """Largest in-plane force component [energy/length] on the slab at diagonal in-plane Green strain
        ``E`` (d,; default unstrained) with normal coordinates ``z`` (n,): zero by symmetry where every plane
        keeps its in-plane symmetry."""
        F = np.eye(self.d) if E is None else np.diag(np.sqrt(1.0 + 2.0 * np.asarray(E, float)))
        slab = self._region(F, False)
        slab.x[:, self.axis] = z
        slab.compute()
        return float(np.max(np.abs(np.delete(slab.forces, self.axis, axis=1)))) if len(slab.x) else 0.0

    def bulk(self, E: np.ndarray) -> float:
        """Energy [energy] of the bulk twin (periodic along every axis) at diagonal Green strain E (d,)."""
        return float(self._region(np.diag(np.sqrt(1.0 + 2.0 * np.asarray(E, float))), True).compute())

    def excess(self, E: np.ndarray, z0: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(E_slab − E_bulk [energy], relaxed normal coordinates (n,)) at diagonal Green strain E (d,)."""
        from scipy.optimize import minimize

        F = np.diag(np.sqrt(1.0 + 2.0 * np.asarray(E, float)))
        bulk = self._region(F, True)
        e_bulk = float(bulk.compute())
        slab = self._region(F, False)
        k = self.axis

        def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
            slab.x[:, k] = z
            e = float(slab.compute())
            return e, -slab.forces[:, k].copy()

        z = slab.x[:, k].copy() if z0 is None else z0.copy()
        res = minimize(fun, z, jac=True, method="L-BFGS-B",
                       options={"gtol": GTOL, "ftol": 0.0, "maxiter": 20000, "maxcor": 30})
        e, g = fun(res.x)
        if np.max(np.abs(g)) > 10 * GTOL:
            raise RuntimeError(f"surface slab relaxation did not converge (max |force| {np.max(np.abs(g)):.2e})")
        self.last = (e, e_bulk)          # the slab's and the bulk twin's energies [energy]
        return e - e_bulk, res.x


def has_in_plane_mirror(lattice, axis: int) -> bool:  # noqa: ANN001
    """True when the lattice (Bravais, as oriented) is mapped onto itself by the reflection x_j → −x_j of an
    in-plane lab axis j of the face normal to ``axis``: a mirror plane that contains the normal, so the
    off-diagonal in-plane surface stress τ_jl (and S's shear couplings), which it reverses, vanish. Checked
    on the lattice vectors shorter than 1.5 a (they generate the lattice). Always true in 2D (one in-plane
    axis)."""
    d = lattice.dim
    if d < 3:
        return True
    V = lattice.neighbor_vectors(1.5 * float(lattice.a))
    scale = float(lattice.a)
    from scipy.spatial import cKDTree
    tree = cKDTree(V / scale)
    for j in range(d):
        if j == axis:
            continue
        R = V.copy()
        R[:, j] *= -1.0
        dist, _ = tree.query(R / scale)
        if np.all(dist < 1e-8):
            return True
    return False


def surface_properties(potential, lattice, axis: int, tol: float = 1e-5, n_z: int | None = None  # noqa: ANN001
                       ) -> SurfaceProperties:
    """γ and τ of the face with its normal along lab ``axis`` (module docstring), cached per run.
    ``tol`` [energy/length^(d−1)]: required accuracy of each τ component; ``n_z``: slab periods along the
    normal (default: at least 4 cut-offs thick)."""
    from .engines.cell import reference_cell

    L, _ = reference_cell(lattice)
    if n_z is None:
        n_z = max(4, int(np.ceil(4.0 * float(potential.cutoff) / L[axis])))
    key = (id(potential), _lattice_key(lattice), int(axis), float(tol), int(n_z))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is potential:
        return hit[1]
    if not has_in_plane_mirror(lattice, axis):
        raise ValueError("the face has no mirror plane containing its normal and a lab axis in this lattice "
                         "orientation: its off-diagonal surface stress τ_xy, which the orthogonal periodic "
                         "slab cannot compute, need not vanish (use an orientation with such a mirror, e.g. "
                         "cube axes or [111]/[11-2]/[1-10] for cubic crystals)")
    slab = _Slab(potential, lattice, axis, n_z)
    d = lattice.dim
    _check_zero_stress(slab, lattice, tol)
    e0, z0 = slab.excess(np.zeros(d))
    f_in = slab.in_plane_force(z0)
    if f_in > INPLANE_FTOL:
        raise ValueError(f"the slab normal to axis {axis} relaxes in plane too (largest in-plane force "
                         f"{f_in:.2e} > {INPLANE_FTOL:g} after the normal relaxation): this orientation's "
                         "surface planes are not held in place by symmetry, and its γ, τ from a normal-only "
                         "relaxation would be those of an unrelaxed surface")
    gamma = e0 / (2.0 * slab.area)
    tau, err = np.zeros((d, d)), np.zeros(d)

    vals: dict = {}
    zs: dict = {}

    def excess_at(E: tuple) -> float:
        if E not in vals:
            vals[E], zs[E] = slab.excess(np.array(E, float), z0)
        return vals[E]

    def deriv(j: int, h: float) -> float:
        E = [0.0] * d
        E[j] = h
        ep = excess_at(tuple(E))
        E[j] = -h
        em = excess_at(tuple(E))
        return (ep - em) / (2.0 * h) / (2.0 * slab.area)

    h_used = H0
    for j in range(d):
        if j == axis:
            continue
        h = H0
        t_h = deriv(j, h)
        while True:
            t_h2 = deriv(j, h / 2)
            e = abs(t_h2 - t_h) / 3.0
            if e <= tol:
                tau[j, j], err[j] = (4.0 * t_h2 - t_h) / 3.0, e
                h_used = min(h_used, h)
                break
            h /= 2
            if h < H_MIN:
                raise ValueError(f"surface stress along axis {j} not resolved to {tol:g} "
                                 f"(estimate {e:.2e} at step {h:.1e})")
            t_h = t_h2
    # surface elasticity: second differences at the step h_used (the O(N) bulk curvature is removed by
    # E_bulk; what remains is the surfaces' own stiffness and the interior's normal relaxation)
    vals[(0.0,) * d] = e0
    S = np.zeros((d, d))
    plane = [j for j in range(d) if j != axis]
    h = h_used
    for j in plane:
        for k in plane:
            def at(sj: float, sk: float, j: int = j, k: int = k) -> float:
                E = [0.0] * d
                E[j] += sj * h
                E[k] += sk * h
                return excess_at(tuple(E))
            if j == k:
                S[j, j] = (at(0.5, 0.5) - 2.0 * e0 + at(-0.5, -0.5)) / h ** 2 / (2.0 * slab.area)
            elif j < k:
                S[j, k] = S[k, j] = ((at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4.0 * h ** 2)
                                     / (2.0 * slab.area))
    # the slab's interior relaxes normally under in-plane strain (σ_nn = 0), the bulk twin does not: add
    # back the difference of their curvatures, H_jn H_nk / H_nn (H the bulk twin's Hessian in Green strain)
    def hess(j: int, k: int) -> float:
        def b(sj: float, sk: float) -> float:
            E = np.zeros(d)
            E[j] += sj * h
            E[k] += sk * h
            return slab.bulk(E)
        if j == k:
            return (b(0.5, 0.5) - 2.0 * b(0.0, 0.0) + b(-0.5, -0.5)) / h ** 2
        return (b(1, 1) - b(1, -1) - b(-1, 1) + b(-1, -1)) / (4.0 * h ** 2)
    H_nn = hess(axis, axis)
    H_n = {j: hess(j, axis) for j in plane}
    for j in plane:
        for k in plane:
            S[j, k] += H_n[j] * H_n[k] / H_nn / (2.0 * slab.area)
    # S is a second derivative: it is the surface's only if the strained planes stay in place in plane
    # (review rev24: fcc (111) passes the zero-strain check by its 3-fold axis but not under strain)
    f_S = max((slab.in_plane_force(zs[E], np.array(E, float)) for E in zs if any(E)), default=0.0)
    rel, spacing = relaxation_profile(slab.X[:, axis], z0)
    out = SurfaceProperties(int(axis), float(gamma), tau, err, float(h_used), int(len(slab.X)), int(n_z), S,
                            float(f_S), rel, spacing)
    _CACHE[key] = (potential, out)
    return out


def relaxation_profile(X: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, float]:
    """(relaxation (k,) [length], plane spacing [length]) of a relaxed slab: bulk normal coordinates X (n,)
    and relaxed ones z (n,) of its atoms; planes are the distinct X (within 1e-6 of the spacing). Plane k
    from the top face moves outward by z − X, plane k from the bottom face by X − z; the two are averaged
    (the slab is symmetric: they agree to the relaxation's tolerance). k runs over half the planes."""
    order = np.sort(np.unique(np.round(X, 9)))
    spacing = float(np.min(np.diff(order)))
    k = np.rint((X - order[0]) / spacing).astype(np.int64)
    n = int(k.max()) + 1
    u = np.asarray(z, float) - np.asarray(X, float)
    per = np.array([u[k == i].mean() for i in range(n)])
    half = n // 2
    return 0.5 * (per[::-1][:half] - per[:half]), spacing


def _check_zero_stress(slab: _Slab, lattice, tol: float) -> None:  # noqa: ANN001
    """Refuse a lattice parameter that is not the potential's zero-stress one: the bulk twin's virial W
    (d, d) [energy] at zero strain, per unit of the slab's two faces, |W_kk| / (2 A₀) = |bulk stress| ×
    half the slab's thickness [energy/length^(d−1)], must be ≤ ``tol``. Otherwise the slab's interior relaxes
    along the normal and γ, τ and S pick up a bulk term that grows with the slab's thickness (and can change
    sign): silently wrong surface properties."""
    bulk = slab._region(np.eye(slab.d), True)
    bulk.compute(virial=True)
    w = np.abs(np.diag(bulk.virial)) / (2.0 * slab.area)
    if float(w.max()) > tol:
        raise ValueError(f"the lattice parameter a = {float(getattr(lattice, 'a', np.nan)):.10g} is not the "
                         f"potential's zero-stress one (bulk stress × half the slab thickness "
                         f"{float(w.max()):.3g} > tol {tol:g}): γ, τ and S would depend on the slab's "
                         "thickness; use `atoms.lattice.a: relaxed` (or the potential's zero-stress value)")


def _lattice_key(lattice) -> tuple:  # noqa: ANN001
    return (lattice.kind, float(lattice.a), lattice.dim, np.asarray(lattice.rotation).tobytes(),
            None if lattice.basis is None else np.asarray(lattice.basis).tobytes())
