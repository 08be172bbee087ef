"""Damping band on the fine-scale velocity in the handshake (docs/physics.md §5), optionally a Langevin bath.

Fine-scale velocity of an atom a of H: ``w_a = v_a − Σ_I N_I(X_a) (S V)_I`` (zero for motion the mesh can
represent). ``fine_scale="smoothed"`` (default) takes S = one Jacobi sweep of the mesh Laplacian
(`multiscale.coupling.smoothing`), which removes the mesh's own near-Nyquist patterns from the reference so
that waves just above the mesh cut-off are damped too; ``fine_scale="mesh"`` takes S = I
(docs/physics.md §5). Rayleigh function ``R = ½ Σ_a g_a |w_a|²``: the atom gets ``−g_a w_a``, node I gets
``+Σ_a g_a (N S)_{aI} w_a``; with ``B = [Sel | −N S]`` (w = B v, Sel selects the atoms of H) the damping
force is ``−D v``, ``D = Bᵀ g B``, which annihilates rigid translations, so momentum is conserved.
Profile (relaxation rate):

    g_a / M_a = γ0 ω0 α(X_a)^p          (p = ``power``, default 1)

zero at the atomistic edge, largest where the continuum dominates; M_a is the atom's coupled mass β̄_a m_a
(``mass="coupled"``) or its full mass m_a (``mass="full"``).

Time integration: after each Verlet step (step 8 of the integrator) the velocities are mapped by the
Cayley (Crank–Nicolson) update restricted to the constraint space::

    (M + ½Δt D) v' + Gᵀ μ = (M − ½Δt D) v + η,     G v' = 0,      η = Bᵀ √(2 g k_B T Δt) ξ

factorised once (sparse LU). It is unconditionally stable, never adds energy without a bath, and keeps
``k_B T`` per dof exactly in the stationary state with one. The kinetic-energy change is booked as
``dissipated`` by the integrator, so total + dissipated is conserved like the undamped energy. ξ (one per
component of each atom of H; the band puts no noise on node dofs directly, only through Bᵀ): ξ of atom a at
step s is `multiscale.parallel.streams.keyed_normal` of (seed, s, gid_a) on stream 2 (the thermostat uses
stream 1), so the noise does not depend on the order of the atoms or of H (issues 14 and 16). gid: the
model's ``site_ids`` (``ids``, set by the builder; default the atom's index). Checkpoint state: the step.

Units: γ0 dimensionless, ω0 [1/time], temperature [energy] (k_B T, i.e. already multiplied by k_B).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from .._lazy import lazy_module
from ..registry import PluginParams
from .smoothing import jacobi_smoother

sp = lazy_module("scipy.sparse")
spla = lazy_module("scipy.sparse.linalg")


class DampingBand:
    """Velocity operator for `VelocityVerlet(velocity_ops=[...])`.

    Parameters
    ----------
    gamma0 : dimensionless strength (0.3–1 works)
    omega0 : reference frequency [1/time], e.g. the lattice's largest frequency 2√(k/m)
    kT : bath temperature as energy k_B T (0 = pure damping)
    seed : seed of the random numbers (Langevin)
    mass : "coupled" (g_a = γ0 ω0 α^p β̄_a m_a) or "full" (g_a = γ0 ω0 α^p m_a)
    power : exponent p of the ramp α^p
    fine_scale : "smoothed" (reference velocity S V, S = Jacobi sweep of the mesh Laplacian) or "mesh" (V)
    ids : (n_atoms,) int global ids of the region's atoms keying the noise (None = the atom index)
    """

    class Params(PluginParams):
        gamma0: float = Field(0.5, ge=0, description="damping strength γ0 (dimensionless)")
        omega0: float | None = Field(None, gt=0, description="reference frequency ω0 [1/time]; default: "
                                                             "the lattice's largest frequency")
        temperature: float = Field(0.0, ge=0, description="bath temperature [temperature]; 0 = damping only")
        seed: int = Field(1, description="random seed of the Langevin bath")
        mass: str = Field("coupled", pattern="^(coupled|full)$",
                          description="mass in g_a = γ0 ω0 α^p m: the atom's coupled or full mass")
        power: float = Field(1.0, gt=0, description="exponent p of the damping ramp α^p")
        fine_scale: str = Field("smoothed", pattern="^(smoothed|mesh)$",
                                description="reference of the fine-scale velocity: the smoothed mesh "
                                            "velocity (also damps waves just above the mesh cut-off) or the "
                                            "mesh velocity itself")

    def __init__(self, gamma0: float, omega0: float, *, kT: float = 0.0, seed: int = 1,
                 mass: str = "coupled", power: float = 1.0, fine_scale: str = "smoothed",
                 ids: np.ndarray | None = None) -> None:
        if fine_scale not in ("smoothed", "mesh"):
            raise ValueError(f"fine_scale must be 'smoothed' or 'mesh', not {fine_scale!r}")
        self.gamma0, self.omega0, self.kT = float(gamma0), float(omega0), float(kT)
        self.fine_scale = fine_scale
        self.mass = mass
        self.power = float(power)
        self.seed = int(seed)
        self.ids = None if ids is None else np.asarray(ids, dtype=np.int64)
        self.step = 0
        self._ready = False

    def coefficients(self, system) -> np.ndarray:  # noqa: ANN001
        """g_a (n_c,) [mass/time] for the atoms of H (system.constrained order)."""
        idx = system.free[system.constrained]
        m = system.atom_mass[idx] if self.mass == "coupled" else np.asarray(system.atoms.mass, float)[idx]
        return self.gamma0 * self.omega0 * system.alpha_atoms[idx] ** self.power * m

    def _setup(self, system, integrator, dt: float) -> None:  # noqa: ANN001
        d = system.d
        g = self.coefficients(system)
        n_c = len(g)
        S = sp.csr_matrix((np.ones(n_c), (np.arange(n_c), system.constrained)), shape=(n_c, system.n_free))
        Nref = system.N_c
        if self.fine_scale == "smoothed" and system.n_nodes:
            Nref = (system.N_c @ jacobi_smoother(system.continuum.laplacian_matrix())).tocsr()
        B = sp.kron(sp.hstack([S, -Nref], format="csr"), sp.identity(d), format="csr")
        gd = np.repeat(g, d)
        self.B, self.gd = B, gd
        idx = system.free[system.constrained]  # region indices of the atoms of H, B's row order
        self.gids = idx.astype(np.int64) if self.ids is None else self.ids[idx]
        D = (B.T @ sp.diags(gd) @ B).tocsr()
        inv = system.inv_mass_dof
        free = np.flatnonzero(inv > 0)
        self.free_dofs, self.fixed_dofs = free, np.flatnonzero(inv == 0)
        Mf = sp.diags(1.0 / inv[free])
        C = 0.5 * dt * D
        self.C_full = C
        Cff = C[free][:, free]
        G = integrator.projector.G if integrator.projector is not None else sp.csr_matrix((0, len(inv)))
        self.G = G
        Gf = G[:, free]
        r = G.shape[0]
        K = sp.bmat([[Mf + Cff, Gf.T], [Gf, None]], format="csc") if r else (Mf + Cff).tocsc()
        self._lu = spla.splu(K)
        self._Mf = Mf
        self._r = r
        self._dt = dt
        self._ready = True

    def apply(self, system, integrator, dt: float) -> float:  # noqa: ANN001
        """Map the velocities; return the kinetic energy removed (negative when the bath heats)."""
        if not self._ready or dt != self._dt:
            self._setup(system, integrator, dt)
        inv = system.inv_mass_dof
        v = system.gather_v()
        free = self.free_dofs
        m = np.zeros_like(inv)
        m[free] = 1.0 / inv[free]
        K0 = 0.5 * float(np.sum(m * v * v))
        Cv = self.C_full @ v
        rhs = m[free] * v[free] - Cv[free]
        if self.kT > 0.0:
            from ..parallel.streams import keyed_normal
            xi = keyed_normal(self.seed, self.step, self.gids, system.d, stream=2).ravel()
            eta = self.B.T @ (np.sqrt(2.0 * self.gd * self.kT * dt) * xi)
            rhs = rhs + eta[free]
        self.step += 1
        if len(self.fixed_dofs):
            # fixed dofs keep their velocity: move their coupling to the right-hand side
            vfix = np.zeros_like(v)
            vfix[self.fixed_dofs] = v[self.fixed_dofs]
            rhs = rhs - (self.C_full @ vfix)[free]
            cr = -(self.G @ vfix) if self._r else np.zeros(0)
        else:
            cr = np.zeros(self._r)
        sol = self._lu.solve(np.concatenate([rhs, cr]))
        vn = v.copy()
        vn[free] = sol[: len(free)]
        system.set_velocities_from_q(vn)
        K1 = 0.5 * float(np.sum(m * vn * vn))
        return K0 - K1

    def get_state(self) -> dict:
        return {"step": np.array(self.step, dtype=np.int64)}

    def set_state(self, d: dict) -> None:
        if "step" not in d:
            raise ValueError("this checkpoint holds the damping band's old PCG64 stream state; the band's "
                             "noise is now keyed by (seed, step, atom id): restart from a checkpoint "
                             "written by this version")
        self.step = int(d["step"])
