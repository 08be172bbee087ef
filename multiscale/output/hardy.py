"""Hardy (kernel-averaged) continuum fields of the atoms at arbitrary points (e.g. mesh nodes).

Kernel: the normalised quartic ``ψ(r) = c_d (1 − (r/R)²)²`` for r < R (∫ψ dV = 1; c₁ = 15/(16R),
c₂ = 3/(πR²), c₃ = 105/(32πR³)). With ψ_a(x) = ψ(|x − x_a|) and the bond function
``B_ab(x) = ∫₀¹ ψ(|x − x_a − λ(x_b − x_a)|) dλ`` (Gauss–Legendre, ``n_gauss`` points)::

    ρ(x)   = Σ_a m_a ψ_a(x)                                    mass density [mass/length^d]
    v(x)   = Σ_a m_a v_a ψ_a(x) / ρ(x)                         velocity
    u(x)   = Σ_a m_a (x_a − X_a) ψ_a(x) / ρ(x)                 displacement
    T(x)   = Σ_a m_a |v_a − v(x)|² ψ_a(x) / (d k_B Σ_a ψ_a(x)) kinetic temperature
    σ(x)   = −Σ_a m_a ṽ_a ⊗ ṽ_a ψ_a(x) − Σ_{a<b} r_ab ⊗ f_ab B_ab(x)        Cauchy stress [energy/length^d]

ṽ_a = v_a − v(x), r_ab = x_a − x_b, f_ab the force on a due to b (central: for EAM
f_ab = −[φ'(r) + (F'(ρ_a) + F'(ρ_b)) ρ'(r)] r_ab/r, single species). Same sign convention as
`multiscale.md.stress`: tension positive; σ integrated over all space = Σ_a S_a (the per-atom stresses).

Accuracy: exact for the bond sum (up to the Gauss rule on B_ab), the kernel average of a lattice
differs from the continuum average by the lattice discretisation of ∫ψ: for a homogeneously deformed
crystal at an interior point (kernel inside the crystal), σ(x) = Cauchy–Born σ to ~1e-3 relative for
R ≳ 4 nearest-neighbour distances (measured in tests/md/test_stress_atom.py::test_hardy_*).

Bond weights of a coupled run (handshake) are not applied here: the fields are those of the atoms'
unweighted forces. Points (P, d) any; k-d tree searches (scipy), NumPy sums — output-time only.
"""

from __future__ import annotations

import math

import numpy as np


class QuarticKernel:
    """ψ(r) = c_d (1 − (r/R)²)², r < R; normalised to ∫ψ dV = 1 in d dimensions. R [length]."""

    def __init__(self, radius: float, dim: int) -> None:
        if not radius > 0:
            raise ValueError("kernel radius must be > 0")
        self.R, self.dim = float(radius), int(dim)
        self.c = {1: 15.0 / (16.0 * radius), 2: 3.0 / (math.pi * radius ** 2),
                  3: 105.0 / (32.0 * math.pi * radius ** 3)}[self.dim]

    def __call__(self, r: np.ndarray) -> np.ndarray:
        s2 = (np.asarray(r, float) / self.R) ** 2
        return np.where(s2 < 1.0, self.c * (1.0 - s2) ** 2, 0.0)


def bond_forces(region) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """(i (m,), j (m,), dx (m, d), f (m, d)) over the neighbour-list pairs of ``region.x``: dx = x_j − x_i
    (minimum image of the list), f = force on i due to j [energy/length], unweighted. Pair potentials and
    single-species EAM (uses ``potential.rho`` after a compute of the same positions)."""
    nl = region.nlist
    if nl.x_build is None:
        region.rebuild()
    i, j = nl.pairs()
    dx = nl.separations(region.x)
    r = np.sqrt(np.sum(dx * dx, axis=1))
    pot = region.potential
    _, dphi = pot.pair(r)
    c = np.asarray(dphi, float).copy()
    if getattr(pot, "many_body", False):
        if region.types is not None and np.any(region.types):
            raise ValueError("Hardy fields: multi-species EAM is not supported")
        f = np.zeros_like(region.x)
        e = np.zeros(region.n)
        pot.compute(nl.wrapped(region.x), nl, None, None, f, e, region.n_threads)
        _, dF = pot.embedding(pot.rho)
        _, drho = pot.density(r)
        c = c + (dF[i] + dF[j]) * drho
    # force on i due to j: +dphi/dr along (x_j - x_i)/r
    f_ij = (c / np.where(r > 0, r, 1.0))[:, None] * dx
    return i, j, dx, f_ij


def _near(P: np.ndarray, Y: np.ndarray, R: float, box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """Pairs (p, k, r) with the minimum-image distance r = |P_p − Y_k| < R (periodic axes of ``box``),
    through a k-d tree over Y and its periodic ghost copies."""
    from scipy.spatial import cKDTree
    lo, hi = np.asarray(box.lo, float), np.asarray(box.hi, float)
    L = hi - lo
    per = np.asarray(box.periodic, bool)
    if np.any(per & (2.0 * R >= L)):
        raise ValueError(f"Hardy kernel radius {R} must be below half the periodic box length")
    P = P.copy()
    Y = Y.copy()
    P[:, per] = lo[per] + np.mod(P[:, per] - lo[per], L[per])
    Y[:, per] = lo[per] + np.mod(Y[:, per] - lo[per], L[per])
    owner = np.arange(len(Y))
    for k in np.flatnonzero(per):
        low = Y[:, k] < lo[k] + R
        high = Y[:, k] >= hi[k] - R
        gl, gh = Y[low].copy(), Y[high].copy()
        gl[:, k] += L[k]
        gh[:, k] -= L[k]
        Y = np.vstack([Y, gl, gh])
        owner = np.concatenate([owner, owner[low], owner[high]])
    if len(Y) == 0 or len(P) == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    lists = cKDTree(P).query_ball_tree(cKDTree(Y), R)
    p = np.repeat(np.arange(len(P)), [len(q) for q in lists])
    kk = np.fromiter((k for q in lists for k in q), dtype=np.int64, count=len(p))
    r = np.linalg.norm(P[p] - Y[kk], axis=1)
    return p, owner[kk], r


def hardy_fields(region, points: np.ndarray, radius: float, boltz: float = 1.0, mass=None,  # noqa: ANN001
                 n_gauss: int = 8) -> dict[str, np.ndarray]:
    """Hardy fields at ``points`` (P, d): ``density`` (P,), ``velocity`` (P, d), ``displacement`` (P, d),
    ``temperature`` (P,), ``stress`` (P, d*d) (module docstring). Points with no atom in reach get 0.
    mass : (n,) internal masses (default ``region.mass``). Sparse: k-d tree searches, memory
    O(P × atoms per kernel)."""
    P = np.atleast_2d(np.asarray(points, float))
    nP, d = len(P), region.dim
    ker = QuarticKernel(radius, d)
    m = np.asarray(region.mass if mass is None else mass, float)
    x, v = region.x, region.v
    p, a, r = _near(P, x, radius, region.box)
    w = ker(r)                                                                      # ψ_a(x_p)
    rho = np.bincount(p, weights=w * m[a], minlength=nP)
    npsi = np.bincount(p, weights=w, minlength=nP)
    safe = np.where(rho > 0, rho, 1.0)
    vel = np.zeros((nP, d))
    disp = np.zeros((nP, d))
    u = x - region.X
    for k in range(d):
        vel[:, k] = np.bincount(p, weights=w * m[a] * v[a, k], minlength=nP) / safe
        disp[:, k] = np.bincount(p, weights=w * m[a] * u[a, k], minlength=nP) / safe
    vt = v[a] - vel[p]                                                              # ṽ per (point, atom)
    temp = np.bincount(p, weights=w * m[a] * np.sum(vt * vt, axis=1), minlength=nP) \
        / (d * boltz * np.where(npsi > 0, npsi, 1.0))
    stress = np.zeros((nP, d, d))
    for ii in range(d):
        for jj in range(d):
            stress[:, ii, jj] = -np.bincount(p, weights=w * m[a] * vt[:, ii] * vt[:, jj], minlength=nP)
    i, j, dx, f = bond_forces(region)
    keep = np.any(f != 0.0, axis=1)
    i, dx, f = i[keep], dx[keep], f[keep]
    gx, gw = np.polynomial.legendre.leggauss(int(n_gauss))
    # r_ab = x_a − x_b = −dx, f_ab = f:  −Σ r_ab ⊗ f_ab B_ab = +Σ dx ⊗ f B_ab
    for lk, wk in zip(0.5 * (gx + 1.0), 0.5 * gw):
        pb, b, rb = _near(P, x[i] + lk * dx, radius, region.box)                     # along the bond a -> b
        wb = wk * ker(rb)
        for ii in range(d):
            for jj in range(d):
                stress[:, ii, jj] += np.bincount(pb, weights=wb * dx[b, ii] * f[b, jj], minlength=nP)
    return {"density": rho, "velocity": vel, "displacement": disp, "temperature": temp,
            "stress": stress.reshape(nP, d * d)}


#: node fields ``output.fields`` may name (deck/schema.py OUTPUT_FIELDS): the Hardy fields at the mesh nodes
NODE_FIELDS = ("hardy_displacement", "hardy_velocity", "hardy_stress", "hardy_temperature")
#: kernel radius in nearest-neighbour distances of the deck's lattice
RADIUS_NN = 4.0
#: a node takes the Hardy value where a kernel of radius R + cut-off is this fully covered by atoms
#: (Σ_a ψ_a Ω_atom with the reference atomic volume, evaluated at the reference positions)
MIN_COVERAGE = 0.99


def _covered(model, Rc: float) -> np.ndarray:  # noqa: ANN001
    """(N,) bool: the nodes whose kernel of radius Rc (R + cut-off: the kernel's atoms AND their bond
    partners exist) is covered, Σ ψ Ω_atom ≥ MIN_COVERAGE. Decided in the reference configuration (nodes and
    atoms at X), where a full kernel gives 1 whatever the strain — in the current one a thermal expansion of
    ~1 % alone dropped every node below the threshold and the Hardy fields fell back to the mesh's values
    (temperature 0) without a word. Depends on reference data only: computed once per continuum region."""
    c, a = model.continuum, model.atoms
    cached = getattr(c, "_hardy_covered", None)
    if cached is not None and cached[0] == Rc:
        return cached[1]
    p, _, r = _near(c.nodes, a.X, Rc, a.box)
    cover = np.bincount(p, weights=QuarticKernel(Rc, a.dim)(r), minlength=len(c.nodes))
    ok = cover * model.lattice.volume_per_atom >= MIN_COVERAGE
    c._hardy_covered = (Rc, ok)
    return ok


def node_fields(model, fields, continuum_stress=None) -> dict[str, np.ndarray]:  # noqa: ANN001
    """The requested ``hardy_*`` fields at the mesh nodes (current positions) of a coupled model.

    Radius R = 4 nearest-neighbour distances of the lattice; all atoms (pads included, with their
    interpolated motion) and their unweighted forces. Where a kernel of radius R + cut-off is covered by
    atoms (Σ_a ψ_a(x) Ω_atom ≥ 0.99: the kernel's atoms and all their bond partners exist; the core, the
    handshake and the pad band minus R + cut-off) a node gets the Hardy
    value (coverage taken in the reference configuration, so strain and thermal expansion do not change
    which nodes are covered); elsewhere the continuum's own nodal value (U, V, the nodal ``stress``;
    temperature 0), so one
    field spans the whole model. Shapes: displacement/velocity (N, d), stress (N, d*d) [energy/length^d],
    temperature (N,) [temperature]. ``continuum_stress``: callable giving the nodal stress (N, d*d).
    """
    want = [f for f in fields if f in NODE_FIELDS]
    if not want or model.atoms is None or model.continuum is None:
        return {}
    c, a, lat = model.continuum, model.atoms, model.lattice
    nn = float(np.min(np.linalg.norm(lat.neighbor_vectors(1.5 * lat.a), axis=1)))
    pts = c.nodes + c.U
    h = hardy_fields(a, pts, RADIUS_NN * nn, boltz=model.units.boltz)
    ok = _covered(model, RADIUS_NN * nn + float(a.potential.cutoff))
    out: dict[str, np.ndarray] = {}
    for f in want:
        key = f[len("hardy_"):]
        if key == "temperature":
            base = np.zeros(len(pts))
        elif key == "stress":
            base = np.asarray(continuum_stress(), float)
        else:
            base = np.array(c.U if key == "displacement" else c.V, float)
        base[ok] = h[key][ok]
        out[f] = base
    return out
