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

factorised once (sparse LU) over the local dofs only — those D, Bᵀ or G touch (the atoms of H, the nodes
their smoothed interpolation reaches, the constraint rows' dofs); elsewhere the map is the identity, so the
band reads and writes only those entries of the regions' velocity arrays and its cost follows the handshake.
It is unconditionally stable, never adds energy without a bath, and keeps
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
        self.C_full = 0.5 * dt * D
        G = integrator.projector.G if integrator.projector is not None else sp.csr_matrix((0, len(inv)))
        self.G = G
        # the map moves only the dofs that D, Bᵀ or G touch (elsewhere M v' = M v): the local set L
        Bc = B.tocsc()
        local = np.zeros(len(inv), bool)
        local[np.flatnonzero(np.diff(Bc.indptr))] = True
        local[np.unique(G.indices)] = True
        L = np.flatnonzero(local)
        self.local = L
        self.local_atoms, self.local_nodes = system.dof_flat(L)     # flat indices into the region arrays
        self._n_la = len(self.local_atoms)
        inv_L = inv[L]
        lf = np.flatnonzero(inv_L > 0)                              # positions in L of the free dofs
        lx = np.flatnonzero(inv_L == 0)
        self._lf, self._lx = lf, lx
        self.free_dofs, self.fixed_dofs = np.flatnonzero(inv > 0), np.flatnonzero(inv == 0)
        self._m_L = np.where(inv_L > 0, 1.0 / np.where(inv_L > 0, inv_L, 1.0), 0.0)
        C_L = self.C_full[L][:, L].tocsr()
        self._C_ff = C_L[lf][:, lf].tocsr()
        self._C_fx = C_L[lf][:, lx].tocsr() if len(lx) else None
        G_L = G[:, L].tocsr()
        self._G_x = G_L[:, lx].tocsr() if len(lx) else None
        Gf = G_L[:, lf]
        r = G.shape[0]
        Mf = sp.diags(self._m_L[lf])
        K = sp.bmat([[Mf + self._C_ff, Gf.T], [Gf, None]], format="csc") if r else (Mf + self._C_ff).tocsc()
        self._lu = spla.splu(K)
        self._BT_f = (B.T.tocsr()[L][lf]).tocsr()                    # noise rows of the free local dofs
        self._noise_scale = np.sqrt(2.0 * gd * dt)                   # × √(k_B T) at each step
        self._r = r
        self._dt = dt
        self._ready = True

    def apply(self, system, integrator, dt: float) -> float:  # noqa: ANN001
        """Map the velocities; return the kinetic energy removed (negative when the bath heats).

        Only the local dofs L (those D, Bᵀ or G touch) are read and written, in the regions' own arrays;
        the pads' velocities follow the mesh afterwards."""
        if not self._ready or dt != self._dt:
            self._setup(system, integrator, dt)
        va = system.atoms.v.reshape(-1) if self._n_la else None
        vn = system.continuum.V.reshape(-1) if len(self.local_nodes) else None
        v = np.empty(len(self.local))
        if va is not None:
            v[: self._n_la] = va[self.local_atoms]
        if vn is not None:
            v[self._n_la:] = vn[self.local_nodes]
        removed = self.map_local(v, system.d)
        if va is not None:
            va[self.local_atoms] = v[: self._n_la]
        if vn is not None:
            vn[self.local_nodes] = v[self._n_la:]
        system.update_pads(positions=False)
        return removed

    def map_local(self, v: np.ndarray, d: int) -> float:
        """The map itself on the local dofs' velocities ``v`` (len(local),) [length/time] in the order of
        ``local`` (atoms' flat dofs ``local_atoms``, then nodes' ``local_nodes``), in place; advances the
        noise step; returns the kinetic energy removed [energy]. `apply` gathers v from the regions' arrays;
        the spatially decomposed run (`parallel.spatial_operators`) from its replicated touched-atom copy
        (the same values, the same bits). d: the dimension (noise components per atom of H)."""
        m, lf = self._m_L, self._lf
        K0 = 0.5 * float(np.dot(m * v, v))
        vf = v[lf]
        rhs = m[lf] * vf - self._C_ff @ vf
        if self.kT > 0.0:
            from ..parallel.streams import keyed_normal
            xi = keyed_normal(self.seed, self.step, self.gids, d, stream=2).ravel()
            rhs += self._BT_f @ ((np.sqrt(self.kT) * self._noise_scale) * xi)
        self.step += 1
        if len(self._lx):
            # fixed dofs keep their velocity (v'_x = v_x): (M + C)v' = (M − C)v gives for the free rows
            # (M + C_ff) v'_f = M v_f − C_ff v_f − C_fx v_x − C_fx v'_x, i.e. C_fx v_x twice
            vx = v[self._lx]
            rhs -= 2.0 * (self._C_fx @ vx)
            cr = -(self._G_x @ vx) if self._r else np.zeros(0)
        else:
            cr = np.zeros(self._r)
        sol = self._lu.solve(np.concatenate([rhs, cr]) if self._r else rhs)
        v[lf] = sol[: len(lf)]
        K1 = 0.5 * float(np.dot(m * v, v))
        return K0 - K1

    def get_state(self) -> dict:
        return {"step": np.array(self.step, dtype=np.int64)}

    def set_state(self, d: dict) -> None:
        if "step" not in d:
            raise ValueError("this checkpoint holds the damping band's old PCG64 stream state; the band's "
                             "noise is now keyed by (seed, step, atom id): restart from a checkpoint "
                             "written by this version")
        self.step = int(d["step"])
