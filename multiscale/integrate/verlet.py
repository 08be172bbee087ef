"""One velocity-Verlet for atoms and finite-element nodes together, with exact linear constraints.

docs/physics.md §4. Lumped masses M (atoms β̄_a m_a, nodes M^α; zero inverse mass per component for fixed dofs
and inactive nodes), linear constraints ``G q = 0`` from the coupling method, forces ``f = −∂Π/∂q``::

    a_free = M⁻¹ f;   λ = (G M⁻¹ Gᵀ)⁻¹ G a_free;   a = a_free − M⁻¹ Gᵀ λ        (G a = 0)

``G M⁻¹ Gᵀ`` is factorised ONCE (sparse LU, `scipy.sparse.linalg.splu`); each step costs two sparse
mat-vecs and one pair of triangular solves. If ``G q⁰ = 0`` and ``G v⁰ = 0`` the constraints hold at every
step to round-off. Pure MD / pure FE systems use the same class with G = None.

Step order (one call of `step`; ARCHITECTURE.md "Step order"):

1. half-kick ``v += ½Δt a`` and drift ``x += Δt v``, atoms and nodes alike (kernels ``verlet.kick_acc``,
   ``verlet.drift``);
   then the round-off drift of G q is projected out (M-orthogonal, one more triangular solve), and the
   kinematic hooks impose their displacements/velocities on fixed dofs (``impose(time, system)``);
2. pad atoms follow the mesh (``x_pad = X_pad + N U``, ``v_pad = N V``);
3. neighbour rebuild when an atom moved more than skin/2 (inside ``AtomisticRegion.compute``);
4. weighted forces of each region (atoms Σ β̄ E_a, continuum Σ α W), pad forces → nodes, coupling forces;
5. loads: every force hook adds its forces (external work booked by the trapezoidal rule in q, exact for
   dead loads; the work done on fixed dofs that move — prescribed motion — is booked the same way with
   the reaction −f);
6. constraint projection of the accelerations;
7. half-kick;
8. velocity operators (damping band / Langevin): an exact velocity map after the step, their energy change
   booked as ``dissipated`` so that total + dissipated is conserved like the undamped energy.

Units: dt [time]; masses internal force-mass units (multiscale.units) so a = f/m.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._kernels import load as _load_kernel


class ConstraintProjector:
    """Projection of accelerations onto ``G a = 0`` in the M⁻¹ metric, factorised once.

    G : scipy.sparse (r, n_dof);  inv_mass : (n_dof,) inverse masses (0 = fixed dof).
    Rows whose dofs are all fixed are dropped; linearly dependent rows are detected (pivots of the LU
    factor; then a pivoted Cholesky, LAPACK dpstrf, of the dense r × r G M⁻¹ Gᵀ picks an independent
    set) and dropped, and reported in ``dropped_rows``.
    """

    def __init__(self, G: sp.spmatrix, inv_mass: np.ndarray, rtol: float = 1e-10) -> None:
        G = sp.csr_matrix(G)
        inv_mass = np.asarray(inv_mass, float)
        W = G @ sp.diags(inv_mass)
        rownorm = np.sqrt(np.asarray(W.multiply(G).sum(axis=1)).ravel())
        keep = np.flatnonzero(rownorm > 0)
        self.dropped_rows = np.setdiff1d(np.arange(G.shape[0]), keep)
        G = G[keep]
        A = (G @ sp.diags(inv_mass) @ G.T).tocsc()
        lu = None
        if A.shape[0]:
            try:
                lu = spla.splu(A)
                piv = np.abs(lu.U.diagonal())
                if piv.min() <= rtol * piv.max():
                    lu = None
            except RuntimeError:
                lu = None
            if lu is None:  # rank deficient: keep an independent set of rows (pivoted Cholesky of
                # the PSD Gram matrix A = S Sᵀ, S = G M^-1/2: a principal block of A is non-singular iff
                # the corresponding rows of S are independent)
                Ad = A.toarray()
                scale = float(np.max(np.diag(Ad)))
                _, piv, rank, info = sla.lapack.dpstrf(Ad, lower=1, tol=rtol**2 * scale)
                if info < 0:
                    raise RuntimeError("pivoted Cholesky of G M⁻¹ Gᵀ failed")
                ind = np.sort(piv[:rank] - 1)
                self.dropped_rows = np.sort(np.concatenate([self.dropped_rows, keep[np.setdiff1d(
                    np.arange(len(keep)), ind)]]))
                keep = keep[ind]
                G = G[ind]
                A = (G @ sp.diags(inv_mass) @ G.T).tocsc()
                lu = spla.splu(A)
        self.G = G.tocsr()
        self.GT = self.G.T.tocsr()
        self.inv_mass = inv_mass
        self.rows = keep
        self._lu = lu

    @property
    def n_rows(self) -> int:
        return self.G.shape[0]

    def project(self, a: np.ndarray) -> np.ndarray:
        """Return a − M⁻¹ Gᵀ (G M⁻¹ Gᵀ)⁻¹ G a  for a stacked acceleration or velocity a (n_dof,)."""
        if self._lu is None:
            return a
        lam = self._lu.solve(self.G @ a)
        return a - self.inv_mass * (self.GT @ lam)

    def residual(self, q: np.ndarray) -> float:
        """max |G q| (0 with no rows)."""
        return float(np.max(np.abs(self.G @ q))) if self.n_rows else 0.0


class VelocityVerlet:
    """The integrator. ``system`` is a `multiscale.coupling.coupled.CoupledSystem`.

    Parameters
    ----------
    system : CoupledSystem (pure MD, pure FE or coupled)
    dt : time step [time]
    force_hooks : objects with ``forces(system, t, f_atoms (n, d), f_nodes (N, d)) -> None`` adding
                  external forces in place (loads, indenters, tractions; `multiscale.loads.ForceHook`
                  adapts a Load); their work Σ ½(f⁰ + f¹)·Δq goes to ``external_work`` — do NOT add the
                  loads' own energies to the ledger as well
    impose_hooks : objects with ``impose(time, system) -> None`` setting x/v (U/V) of fixed dofs
                   (prescribed motion), called after the drift
    velocity_ops : objects with ``apply(system, integrator, dt) -> float`` modifying velocities and returning
                   the energy they removed (damping band, Langevin); booked in ``dissipated``; optional
                   ``get_state() / set_state(dict)``
    n_threads : threads for the kick/drift kernels
    """

    def __init__(self, system, dt: float, *, force_hooks=(), velocity_ops=(), impose_hooks=(),  # noqa: ANN001
                 n_threads: int = 1) -> None:
        if not dt > 0:
            raise ValueError(f"time step must be > 0, got {dt}")
        self.system = system
        self.dt = float(dt)
        self.force_hooks = list(force_hooks)
        self.velocity_ops = list(velocity_ops)
        self.impose_hooks = list(impose_hooks)
        self.n_threads = int(n_threads)
        self._k = _load_kernel("verlet")
        s = system
        self.projector = ConstraintProjector(s.G, s.inv_mass_dof) if s.G is not None else None
        self.acc_atoms = np.zeros((s.n_atoms, s.d))
        self.acc_nodes = np.zeros((s.n_nodes, s.d))
        self.fext_atoms = np.zeros((s.n_atoms, s.d))
        self.fext_nodes = np.zeros((s.n_nodes, s.d))
        self.time = 0.0
        self.step_count = 0
        self.external_work = 0.0
        self.dissipated = 0.0
        self.potential = 0.0
        self._initialized = False

    # ------------------------------------------------------------------ pieces
    def project_state(self) -> None:
        """Make the current displacements and velocities satisfy G q = 0 and G v = 0 (M-orthogonal
        projections; only dofs with mass move). Call after setting initial conditions."""
        s = self.system
        if self.projector is None:
            return
        q = self.projector.project(s.gather_q())
        qa, qn = s.split(q)
        if s.n_free:
            s.atoms.x[s.free] = s.atoms.X[s.free] + qa
        if s.n_nodes:
            s.continuum.U[...] = qn
        s.set_velocities_from_q(self.projector.project(s.gather_v()))
        self._initialized = False

    def _external(self) -> None:
        s = self.system
        self.fext_atoms.fill(0.0)
        self.fext_nodes.fill(0.0)
        for h in self.force_hooks:
            h.forces(s, self.time, self.fext_atoms, self.fext_nodes)
        if s.coupled and len(s.pad_idx):
            self.fext_nodes += s.N_pad.T @ self.fext_atoms[s.pad_idx]
            self.fext_atoms[s.pad_idx] = 0.0

    def _forces_and_acc(self) -> None:
        s = self.system
        self.potential = s.compute_forces()
        if self.force_hooks:
            self._external()
            s.f_atoms += self.fext_atoms
            s.f_nodes += self.fext_nodes
        a = s.inv_mass_dof * s.forces_q()
        if self.projector is not None:
            a = self.projector.project(a)
        aa, an = s.split(a)
        if s.n_free:
            self.acc_atoms[s.free] = aa
        if s.n_nodes:
            self.acc_nodes[...] = an

    def _reproject_q(self) -> None:
        """Remove the round-off drift of G q (an M-orthogonal correction of order 1e-16 per step)."""
        s = self.system
        q = s.gather_q()
        r = self.projector.G @ q
        if not np.any(r):
            return
        dq = -self.projector.inv_mass * (self.projector.GT @ self.projector._lu.solve(r))
        da, dn = s.split(dq)
        if s.n_free:
            s.atoms.x[s.free] += da
        if s.n_nodes:
            s.continuum.U[...] += dn

    def initialize(self) -> None:
        """Compute forces and accelerations of the initial state (called by `step` when needed)."""
        self.system.update_pads()
        self._forces_and_acc()
        self._initialized = True

    # ------------------------------------------------------------------ stepping
    def step(self, n: int = 1) -> None:
        """Advance n steps (see the module docstring for the order)."""
        if not self._initialized:
            self.initialize()
        s, k, dt, nt = self.system, self._k, self.dt, self.n_threads
        half = 0.5 * dt
        fixed = self._fixed_dofs()
        book = bool(self.force_hooks) or fixed.size > 0
        for _ in range(int(n)):
            if book:
                q0, fe0, f0 = s.gather_q(), self._fext_q(), s.forces_q()
            if s.atoms is not None:
                k.kick_acc(s.atoms.v, self.acc_atoms, half, nt)
                k.drift(s.atoms.x, s.atoms.v, dt, nt)
            if s.continuum is not None:
                k.kick_acc(s.continuum.V, self.acc_nodes, half, nt)
                k.drift(s.continuum.U, s.continuum.V, dt, nt)
            if self.projector is not None:
                self._reproject_q()
            self.time = (self.step_count + 1) * dt
            for hk in self.impose_hooks:
                hk.impose(self.time, s)
            s.update_pads()
            self._forces_and_acc()
            if book:
                dq = s.gather_q() - q0
                fe1, f1 = self._fext_q(), s.forces_q()
                free = np.ones(len(dq), bool)
                free[fixed] = False
                # free dofs: work of the external forces; fixed dofs: work of the agent (−f_internal)
                w = 0.5 * float(((fe0 + fe1) * dq)[free].sum())
                if fixed.size:
                    w -= 0.5 * float((((f0 - fe0) + (f1 - fe1)) * dq)[fixed].sum())
                self.external_work += w
            if s.atoms is not None:
                k.kick_acc(s.atoms.v, self.acc_atoms, half, nt)
            if s.continuum is not None:
                k.kick_acc(s.continuum.V, self.acc_nodes, half, nt)
            for op in self.velocity_ops:
                self.dissipated += float(op.apply(s, self, dt))
            s.update_pads()
            self.step_count += 1

    def _fixed_dofs(self) -> np.ndarray:
        """Stacked indices of the dofs with zero inverse mass on active entities (fixed / prescribed)."""
        s = self.system
        inv = s.inv_mass_dof.reshape(-1, s.d)
        active = np.ones(len(inv), bool)
        if s.n_nodes:
            active[s.n_free:] = s.active_nodes
        return np.flatnonzero(((inv == 0.0) & active[:, None]).ravel())

    def _fext_q(self) -> np.ndarray:
        """(n_dof,) stacked external (hook) forces of the last evaluation."""
        s = self.system
        parts = []
        if s.n_free:
            parts.append(self.fext_atoms[s.free].ravel())
        if s.n_nodes:
            parts.append(self.fext_nodes.ravel())
        return np.concatenate(parts) if parts else np.zeros(0)

    def max_frequency(self, n_iter: int = 60, eps: float = 1e-6, seed: int = 0) -> float:
        """Largest angular frequency ω_max [1/time] of the constrained, mass-weighted dynamics about the
        current configuration (power iteration on finite-difference force changes; hooks excluded).

        Velocity Verlet is stable for ω_max Δt < 2. The state of the regions is restored afterwards.
        eps : probe amplitude [length]."""
        s = self.system
        saved = self.get_state()
        try:
            s.update_pads()
            s.compute_forces()
            f0 = s.forces_q()
            q0 = s.gather_q()
            inv = s.inv_mass_dof
            rng = np.random.default_rng(seed)
            dq = rng.standard_normal(len(q0)) * (inv > 0)
            if self.projector is not None:
                dq = self.projector.project(dq)
            lam = 0.0
            m = np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), 0.0)
            for _ in range(int(n_iter)):
                nrm = np.sqrt(float(np.sum(m * dq * dq)))
                if nrm == 0.0:
                    return 0.0
                dq = dq / nrm
                qa, qn = s.split(q0 + eps * dq)
                if s.n_free:
                    s.atoms.x[s.free] = s.atoms.X[s.free] + qa
                if s.n_nodes:
                    s.continuum.U[...] = qn
                s.update_pads()
                s.compute_forces()
                a = inv * (s.forces_q() - f0) / eps
                if self.projector is not None:
                    a = self.projector.project(a)
                lam = float(np.sum(m * dq * -a))
                dq = -a
            return float(np.sqrt(max(lam, 0.0)))
        finally:
            self.set_state(saved)
            s.update_pads()

    def verlet_correction(self) -> float:
        """−(Δt²/8) Σ_dof M a² [energy] of the current (projected) accelerations.

        For linear forces ``K + Π − (Δt²/8) aᵀ M a`` is EXACTLY conserved by velocity Verlet (its discrete
        energy; K + Π itself oscillates by O((ωΔt)²)); for nonlinear forces it is the leading correction.
        Velocity operators change v only, so this term is untouched by them and the modified total plus
        the dissipated energy is conserved to round-off in the linear case.
        """
        s = self.system
        m = np.where(s.inv_mass_dof > 0, 1.0 / np.where(s.inv_mass_dof > 0, s.inv_mass_dof, 1.0), 0.0)
        parts = []
        if s.n_free:
            parts.append(self.acc_atoms[s.free].ravel())
        if s.n_nodes:
            parts.append(self.acc_nodes.ravel())
        a = np.concatenate(parts) if parts else np.zeros(0)
        return -0.125 * self.dt**2 * float(np.sum(m * a * a))

    def constraint_residual(self) -> float:
        """max |G q| [length] of the current state (0 without constraints)."""
        return self.projector.residual(self.system.gather_q()) if self.projector is not None else 0.0

    # ------------------------------------------------------------------ checkpoints
    def get_state(self) -> dict:
        """Everything needed to continue bitwise: dict of numpy arrays (copies)."""
        s = self.system
        st = {"time": np.array(self.time), "step": np.array(self.step_count, dtype=np.int64),
              "external_work": np.array(self.external_work), "dissipated": np.array(self.dissipated),
              "potential": np.array(self.potential), "initialized": np.array(self._initialized),
              "acc_atoms": self.acc_atoms.copy(), "acc_nodes": self.acc_nodes.copy(),
              "fext_atoms": self.fext_atoms.copy(), "fext_nodes": self.fext_nodes.copy(),
              "f_atoms": s.f_atoms.copy(), "f_nodes": s.f_nodes.copy()}
        if s.atoms is not None:
            st["x"], st["v"] = s.atoms.x.copy(), s.atoms.v.copy()
            if hasattr(s.atoms, "get_state"):
                for key, val in s.atoms.get_state().items():
                    st[f"atoms.{key}"] = np.array(val, copy=True)
        if s.continuum is not None:
            st["U"], st["V"] = s.continuum.U.copy(), s.continuum.V.copy()
        for i, op in enumerate(self.velocity_ops):
            if hasattr(op, "get_state"):
                for key, val in op.get_state().items():
                    st[f"op{i}.{key}"] = np.array(val, copy=True)
        return st

    def set_state(self, st: dict) -> None:
        """Restore a state from `get_state` (arrays are copied in place into the regions)."""
        s = self.system
        self.time = float(st["time"])
        self.step_count = int(st["step"])
        self.external_work = float(st["external_work"])
        self.dissipated = float(st["dissipated"])
        self.potential = float(st["potential"])
        self._initialized = bool(st["initialized"])
        for name in ("acc_atoms", "acc_nodes", "fext_atoms", "fext_nodes"):
            getattr(self, name)[...] = st[name]
        s.f_atoms[...] = st["f_atoms"]
        s.f_nodes[...] = st["f_nodes"]
        if s.atoms is not None:
            s.atoms.x[...] = st["x"]
            s.atoms.v[...] = st["v"]
            sub = {k[6:]: v for k, v in st.items() if k.startswith("atoms.")}
            if sub and hasattr(s.atoms, "set_state"):
                s.atoms.set_state(sub)
        if s.continuum is not None:
            s.continuum.U[...] = st["U"]
            s.continuum.V[...] = st["V"]
        for i, op in enumerate(self.velocity_ops):
            sub = {k[len(f"op{i}."):]: v for k, v in st.items() if k.startswith(f"op{i}.")}
            if sub and hasattr(op, "set_state"):
                op.set_state(sub)
