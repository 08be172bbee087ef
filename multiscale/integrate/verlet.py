"""One velocity-Verlet for atoms and finite-element nodes together, with exact linear constraints.

docs/physics.md §4. Lumped masses M (atoms β̄_a m_a, nodes M^α; zero inverse mass per component for fixed dofs
and inactive nodes), linear constraints ``G q = 0`` from the coupling method, forces ``f = −∂Π/∂q``::

    a_free = M⁻¹ f;   λ = (G M⁻¹ Gᵀ)⁻¹ G a_free;   a = a_free − M⁻¹ Gᵀ λ        (G a = 0)

``G M⁻¹ Gᵀ`` is factorised ONCE (sparse LU, `multiscale.coupling.projector.ConstraintProjector`); each
step costs two sparse mat-vecs and one pair of triangular solves. If ``G q⁰ = 0`` and ``G v⁰ = 0`` the
constraints hold at every step to round-off. Pure MD / pure FE systems use the same class with G = None.

Cost follows the handshake: the state stays in the regions' own (n, d) / (N, d) arrays; accelerations are
``a = f · M⁻¹`` in place (inverse masses per region, taken at construction: fix dofs before), and the
projection and the round-off re-projection gather and correct only the dofs the constraint rows touch
(``projector.touched`` / ``active``), in persistent buffers. The bulk of the atoms and nodes only see
the kick/drift kernels. The same sums in the same order as with stacked vectors: trajectories are
bitwise those of the stacked formulation; ``external_work`` is summed per region (round-off change).

Step order (one call of `step`; ARCHITECTURE.md "Step order"):

1. half-kick ``v += ½Δt a`` and drift ``x += Δt v``, atoms and nodes alike (kernel ``verlet.kick_drift``,
   one pass; a continuum alone without loads/constraints/imposed motion does steps 1-7 in
   `ContinuumRegion.verlet_step`, one pass over its arrays on structured meshes, bitwise the same);
   then the round-off drift of G q is projected out (M-orthogonal, one more triangular solve), and the
   kinematic hooks impose their displacements/velocities on fixed dofs (``impose(time, system)``); when
   nothing but the drift moves the constrained dofs (no imposed motion, no velocity operators) the check
   of G q is made in step 6's pass over G instead, and a due correction is applied there, after the forces
   (`VelocityVerlet.check_after_forces`);
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

from .._kernels import load as _load_kernel
from ..coupling.methods.base import CouplingMethod
from ..coupling.projector import ConstraintProjector

__all__ = ["ConstraintProjector", "VelocityVerlet"]

_EMPTY = np.zeros(0)

#: why a checkpoint without the coupling method's state cannot be restarted (`VelocityVerlet.set_method_state`,
#: `run.checkpoints.state_mismatch`)
MISSING_METHOD_STATE = ("the checkpoint holds no state of the coupling method (ghost_corrected, correction: "
                        "homogeneous: the correction g in use, its reference state and the booked work; "
                        "checkpoints written before msim stored it): restarting would continue with the "
                        "set-up correction and differ from the unbroken run. Rerun from the start, or "
                        "start a new run from it with --from")

#: max |G q| allowed before the round-off re-projection, in units of eps · max |coordinate|
REPROJECT_EPS = 8.0


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
        #: the round-off check of G q done in the acceleration residual's pass, after the forces (see
        #: `_reproject_q`); None = automatic (when nothing but the drift moves the constrained dofs: no
        #: imposed motion, no velocity operators)
        self.check_after_forces: bool | None = None
        self._k = _load_kernel("verlet")
        self._ck = _load_kernel("coupler")
        s = system
        unheld = getattr(s, "inv_mass_unheld", None)      # the held-row test (`ConstraintProjector`)
        self.projector = ConstraintProjector(s.G, s.inv_mass_dof, unheld=unheld) if s.G is not None else None
        self.acc_atoms = np.zeros((s.n_atoms, s.d))
        self.acc_nodes = np.zeros((s.n_nodes, s.d))
        self.fext_atoms = np.zeros((s.n_atoms, s.d))
        self.fext_nodes = np.zeros((s.n_nodes, s.d))
        self._setup_local()
        self.time = 0.0
        self.step_count = 0
        self.external_work = 0.0
        self.dissipated = 0.0
        self.potential = 0.0
        self._initialized = False

    # ------------------------------------------------------------------ per-region bookkeeping
    def _flat(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.system.dof_flat(idx)

    def _setup_local(self) -> None:
        """Inverse masses per region, the constrained dofs' flat indices and buffers, the fixed dofs."""
        s = self.system
        inv = s.inv_mass_dof.reshape(-1, s.d)
        self._inv_atoms = np.zeros((s.n_atoms, s.d))
        if s.n_free:
            self._inv_atoms[s.free] = inv[: s.n_free]
        self._inv_nodes = np.ascontiguousarray(inv[s.n_free:])
        p = self.projector
        self._local = p is not None and p._lu is not None
        if self._local:
            self._t_atom, self._t_node = self._flat(p.touched)
            self._a_atom, self._a_node = self._flat(p.active)
            self._buf_t = np.empty(p.touched.size)
            self._r = np.empty(p.n_rows)
            self._corr = np.empty(p.active.size)
            # inverse masses at the touched dofs (atoms', then nodes'): the projection gathers f · M⁻¹ there
            self._inv_t = np.concatenate([self._inv_atoms.reshape(-1)[self._t_atom],
                                          self._inv_nodes.reshape(-1)[self._t_node]])
            # round-off scale of G q: the constrained positions are X + u with |X| up to this [length]
            ext = [float(np.max(np.abs(s.atoms.X.reshape(-1)[self._t_atom]), initial=0.0)),
                   float(np.max(np.abs(s.continuum.nodes.reshape(-1)[self._t_node]), initial=0.0))
                   if s.n_nodes else 0.0]
            self.reproject_tol = REPROJECT_EPS * np.finfo(float).eps * max(ext)
            self.n_reprojections = 0
            self._buf_q = np.empty(p.touched.size)
            self._rq = np.empty(p.n_rows)
            self._pads_stale = False
            # dofs whose accelerations come from their own constraint row (`projector._slaved_rows`)
            self._slaved = p.slaved
            if self._slaved is not None:
                self._vsave = np.empty(self._slaved[0].size)
        self._fixed = self._fixed_dofs()
        self._f_atom, self._f_node = self._flat(self._fixed)
        free = np.zeros((s.n_atoms, s.d))     # 1 on the stacked dofs that are not fixed
        if s.n_free:
            free[s.free] = 1.0
        free.reshape(-1)[self._f_atom] = 0.0
        free_n = np.ones((s.n_nodes, s.d))
        free_n.reshape(-1)[self._f_node] = 0.0
        self._free_atoms, self._free_nodes = free, free_n
        self._x0 = self._U0 = None

    def _gather_touched(self, atoms: np.ndarray | None, ref: np.ndarray | None,
                        nodes: np.ndarray | None) -> np.ndarray:
        """Values at ``projector.touched`` of the stacked vector whose atom part is atoms − ref (ref None:
        atoms) and node part nodes, into the persistent buffer."""
        buf, ta, tn = self._buf_t, self._t_atom, self._t_node
        k = ta.size
        if k:
            np.take(atoms.reshape(-1), ta, out=buf[:k])
            if ref is not None:
                buf[:k] -= ref.reshape(-1)[ta]
        if tn.size:
            np.take(nodes.reshape(-1), tn, out=buf[k:])
        return buf

    def _subtract_active(self, corr: np.ndarray, atoms: np.ndarray | None, nodes: np.ndarray | None) -> None:
        k = self._a_atom.size
        if k:
            atoms.reshape(-1)[self._a_atom] -= corr[:k]
        if self._a_node.size:
            nodes.reshape(-1)[self._a_node] -= corr[k:]

    # ------------------------------------------------------------------ pieces
    def project_state(self) -> None:
        """Make the current displacements and velocities satisfy G q = 0 and G v = 0 (M-orthogonal
        projections; only dofs with mass move). Call after setting initial conditions."""
        s = self.system
        if self.projector is None:
            return
        if self._local and not self.projector.zero_fixed and s.n_atoms:
            self._project_state_local()
            return
        q = self.projector.project(s.gather_q())
        qa, qn = s.split(q)
        if s.n_free:
            s.atoms.x[s.free] = s.atoms.X[s.free] + qa
        if s.n_nodes:
            s.continuum.U[...] = qn
        s.set_velocities_from_q(self.projector.project(s.gather_v()))
        self._initialized = False

    def _project_state_local(self) -> None:
        """`project_state` through the touched and active dofs only (bitwise the stacked path: the same
        residual and correction, positions X + ((x − X) − c) at the active dofs and X + (x − X) elsewhere,
        velocities and nodes corrected in place; the pads follow the mesh after), without stacking every
        atom and node: its cost follows the handshake plus two passes over the atom arrays."""
        s, p = self.system, self.projector
        x, X = s.atoms.x.reshape(-1), s.atoms.X.reshape(-1)
        U = s.continuum.U.reshape(-1) if s.n_nodes else _EMPTY
        ka = self._a_atom.size
        corr = p.correction(p.residual_of(self._gather_touched(s.atoms.x, s.atoms.X, U)))
        q_act = x[self._a_atom] - X[self._a_atom]
        q_act -= corr[:ka]
        u = np.subtract(s.atoms.x, s.atoms.X)          # pads too: `update_pads` below sets theirs
        np.add(s.atoms.X, u, out=s.atoms.x)
        x[self._a_atom] = X[self._a_atom] + q_act
        if self._a_node.size:
            U[self._a_node] -= corr[ka:]
        v = s.atoms.v.reshape(-1)
        V = s.continuum.V.reshape(-1) if s.n_nodes else _EMPTY
        corr = p.correction(p.residual_of(self._gather_touched(s.atoms.v, None, V)))
        v[self._a_atom] -= corr[:ka]
        if self._a_node.size:
            V[self._a_node] -= corr[ka:]
        s.update_pads()
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

    def _forces(self) -> None:
        """Step 4-5: the system's forces plus the hooks' external forces (into f_atoms / f_nodes)."""
        s = self.system
        self.potential = s.compute_forces()
        if self.force_hooks:
            self._external()
            s.f_atoms += self.fext_atoms
            s.f_nodes += self.fext_nodes

    def _flat_regions(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.system
        return (s.atoms.x.reshape(-1) if s.n_atoms else _EMPTY, s.continuum.U.reshape(-1) if s.n_nodes
                else _EMPTY)

    def _acc_correction(self) -> np.ndarray:
        """The projection's correction at the ``active`` dofs of the accelerations f · M⁻¹ (gathered at the
        touched dofs straight from the forces: the accelerations need not exist yet), (len(active),)."""
        s, p = self.system, self.projector
        p.residual_into(s.f_atoms.reshape(-1), self._inv_t, s.f_nodes.reshape(-1), 2, self._t_atom,
                        self._t_node, self._buf_t, self._r)
        return p.correction_into(self._r, self._corr)

    def _forces_and_acc(self) -> None:
        s = self.system
        self._forces()
        if s.n_atoms:
            np.multiply(s.f_atoms, self._inv_atoms, out=self.acc_atoms)
        if s.n_nodes:
            np.multiply(s.f_nodes, self._inv_nodes, out=self.acc_nodes)
        if self._local:
            self._subtract_active(self._acc_correction(), self.acc_atoms, self.acc_nodes)
            self._slave_acc(1, 0.0)

    def _slave_acc(self, mode: int, half: float) -> None:
        """The slaved dofs' accelerations from their rows (`kernels/coupler.pyx` ``slave_acc``; mode 0 saves
        their velocities before the kick pass, 1 sets the accelerations, 2 also kicks from the saved
        velocities)."""
        if self._slaved is None:
            return
        s = self.system
        sdof, sg, (Sp, Si, Sx) = self._slaved
        empty = _EMPTY
        self._ck.slave_acc(self.acc_atoms.reshape(-1) if s.n_atoms else empty,
                           self.acc_nodes.reshape(-1) if s.n_nodes else empty,
                           s.atoms.v.reshape(-1) if s.n_atoms else empty,
                           s.continuum.V.reshape(-1) if s.n_nodes else empty,
                           self._t_atom, self._t_node, sdof, sg, Sp, Si, Sx, self._vsave, half, mode)

    def _acc_kick(self, half: float, deferred: bool = False) -> None:
        """Steps 6-7 after `_forces`: accelerations a = f · M⁻¹ with the constraint correction at the active
        dofs, and the half-kick v += ½Δt a, in one pass per region (`kernels/coupler.pyx` ``acc_kick``,
        `verlet.acc_kick` without constraints), then the slaved dofs' accelerations from their rows and their
        kick from the velocities saved before the pass (`_slave_acc`): bitwise `_forces_and_acc`'s
        accelerations then ``kick_acc``. ``deferred``: the round-off check of G q is done here
        (`_acc_correction_and_check`)."""
        s, nt = self.system, self.n_threads
        if self._local:
            corr = self._acc_correction_and_check() if deferred else self._acc_correction()
            ck, ka = self._ck, self._a_atom.size
            self._slave_acc(0, half)
            if s.n_atoms:
                ck.acc_kick(s.atoms.v.reshape(-1), self.acc_atoms.reshape(-1), s.f_atoms.reshape(-1),
                            self._inv_atoms.reshape(-1), half, self._a_atom, corr, 0, nt)
            if s.n_nodes:
                ck.acc_kick(s.continuum.V.reshape(-1), self.acc_nodes.reshape(-1), s.f_nodes.reshape(-1),
                            self._inv_nodes.reshape(-1), half, self._a_node, corr, ka, nt)
            self._slave_acc(2, half)
            return
        if s.n_atoms:
            self._k.acc_kick(s.atoms.v, self.acc_atoms, s.f_atoms, self._inv_atoms, half, nt)
        if s.n_nodes:
            self._k.acc_kick(s.continuum.V, self.acc_nodes, s.f_nodes, self._inv_nodes, half, nt)

    def _acc_correction_and_check(self) -> np.ndarray:
        """`_acc_correction` with the round-off check of G q (`_reproject_q`) in the same pass over G
        (``residuals_acc_q``: both residuals bitwise the separate calls'): when max |G q| exceeds the
        tolerance, q and v are corrected here, after the forces, instead of before them."""
        s, p = self.system, self.projector
        x, U = self._flat_regions()
        X = s.atoms.X.reshape(-1) if s.n_atoms else _EMPTY
        _, mq = p.residuals_acc_q(s.f_atoms.reshape(-1), self._inv_t, s.f_nodes.reshape(-1), x, X, U,
                                  self._t_atom, self._t_node, self._buf_t, self._buf_q, self._r, self._rq)
        if mq > self.reproject_tol:
            self._correct_q_v(self._rq, x, U, X, self._buf_q)
            self._pads_stale = True
        return p.correction_into(self._r, self._corr)

    def _correct_q_v(self, rq: np.ndarray, x: np.ndarray, U: np.ndarray, X: np.ndarray,
                     buf: np.ndarray) -> None:
        """The re-projection of `_reproject_q`: q −= correction(G q) (rq = G q), then the same for G v
        (rq and buf are overwritten: scratch)."""
        s, p = self.system, self.projector
        self.n_reprojections += 1
        self._ck.subtract_at(x, U, self._a_atom, self._a_node, p.correction_into(rq, self._corr))
        v = s.atoms.v.reshape(-1) if s.n_atoms else _EMPTY
        V = s.continuum.V.reshape(-1) if s.n_nodes else _EMPTY
        p.residual_into(v, X, V, 0, self._t_atom, self._t_node, buf, rq)
        self._ck.subtract_at(v, V, self._a_atom, self._a_node, p.correction_into(rq, self._corr))

    def _check_after_forces(self) -> bool:
        """Whether the round-off check of G q is done after the forces (`check_after_forces`)."""
        if not self._local:
            return False
        if self.check_after_forces is not None:
            return bool(self.check_after_forces)
        return not self.moves_constrained_dofs()

    def moves_constrained_dofs(self) -> bool:
        """Whether anything but the drift moves dofs within a step: velocity operators, fixed or prescribed
        dofs, or an impose hook with its own ``impose`` (loads that only set the initial state, e.g.
        ``radial_pulse``, inherit `Load.impose`, which does nothing, and do not count — review rev27: wave2d
        kept the check before the forces because its pulse counted as imposed motion)."""
        from ..loads.base import Load

        return bool(self.velocity_ops) or self._fixed.size > 0 or any(
            not (isinstance(h, Load) and type(h).impose is Load.impose) for h in self.impose_hooks)

    def _reproject_q(self) -> None:
        """Remove the drift of G q (an M-orthogonal correction) once max |G q| exceeds ``reproject_tol``
        (`REPROJECT_EPS` round-off units of the largest coordinate): the drift is round-off of the
        drift kernel and of the multiplier solves, so the correction (one triangular solve pair, the
        dominant cost of the projection) is needed only every few steps; any larger violation (velocity
        operators, imposed motion) is corrected in the same step. The velocities' G v is corrected with
        it (one more solve): left alone, its round-off (that of the solves in the kicks) accumulates and
        G q drifts at its rate — the small 2D deck of tests/coupling/test_coupler_cost.py re-projected
        at 195 of 200 steps, bench_coupled's 3D deck (L = 12) at 369 of 400; with G v corrected too,
        at 45 and 44 (two solves each).

        With `check_after_forces` (automatic without imposed motion and velocity operators) this check
        is made in the acceleration residual's pass over G instead (`_acc_correction_and_check`: both
        residuals in one pass, bitwise), i.e. after the step's forces, and a due correction of q and v is
        applied there, before the second half-kick. What it guarantees is unchanged: max |G q| ≤ the
        tolerance after every step (the corrected q is the step's final one; the pads follow the corrected
        U). The forces of that step see the q before the correction, whose max |G q| exceeds the
        tolerance by at most one step's round-off drift (a correction moves dofs by ~1e-13 of their
        size): trajectories are bitwise those of the check before the forces at steps without a
        correction and differ at round-off after one (tests/coupling/test_coupler_cost.py). Imposed
        motion and velocity operators can change G q by more than round-off, so with them the check
        stays before the forces."""
        if not self._local:
            return
        s, p = self.system, self.projector
        x, U = self._flat_regions()
        X = s.atoms.X.reshape(-1) if s.n_atoms else _EMPTY
        m = p.residual_into(x, X, U, 1, self._t_atom, self._t_node, self._buf_t, self._r)
        if not m > self.reproject_tol:
            return
        # the velocities' drift of G v (the round-off of the multiplier solves in the kicks) is what makes
        # G q drift: it is removed with the positions' (one more solve), so re-projections stay rare
        self._correct_q_v(self._r, x, U, X, self._buf_t)

    def _book_start(self) -> None:
        """Keep q⁰ (per region), f_ext⁰ and, on fixed dofs, f_int⁰ for the external-work booking."""
        s = self.system
        if self._x0 is None:
            self._x0 = np.empty_like(s.atoms.x) if s.n_atoms else None
            self._U0 = np.empty_like(s.continuum.U) if s.n_nodes else None
            self._fe0 = (np.empty_like(self.fext_atoms), np.empty_like(self.fext_nodes))
            self._tmp = (np.empty_like(self.fext_atoms), np.empty_like(self.fext_nodes))
        if s.n_atoms:
            np.copyto(self._x0, s.atoms.x)
        if s.n_nodes:
            np.copyto(self._U0, s.continuum.U)
        np.copyto(self._fe0[0], self.fext_atoms)
        np.copyto(self._fe0[1], self.fext_nodes)
        self._fint0 = self._fixed_values(s.f_atoms, s.f_nodes) - self._fixed_values(self.fext_atoms,
                                                                                      self.fext_nodes)

    def _fixed_values(self, atoms: np.ndarray | None, nodes: np.ndarray | None) -> np.ndarray:
        """(n_fixed,) values of a per-region pair of arrays on the fixed dofs (stacked order)."""
        a = atoms.reshape(-1)[self._f_atom] if self._f_atom.size else np.zeros(0)
        b = nodes.reshape(-1)[self._f_node] if self._f_node.size else np.zeros(0)
        return np.concatenate([a, b])

    def _book_end(self) -> float:
        """½(f_ext⁰ + f_ext¹)·Δq over the dofs that are not fixed, −½(f_int⁰ + f_int¹)·Δq over fixed ones
        (f_int = f − f_ext: the agent moving them does minus its work)."""
        s = self.system
        w = 0.0
        regions = ((s.atoms.x if s.n_atoms else None, self._x0, self.fext_atoms, self._free_atoms),
                   (s.continuum.U if s.n_nodes else None, self._U0, self.fext_nodes, self._free_nodes))
        for (x, x0, fe1, free), fe0, tmp in zip(regions, self._fe0, self._tmp, strict=True):
            if x is None or not x.size:
                continue
            np.add(fe0, fe1, out=tmp)
            tmp *= free
            w += 0.5 * float(np.einsum("ij,ij->", tmp, x - x0))
        if self._fixed.size:
            dq = self._fixed_values(s.atoms.x if s.n_atoms else None, s.continuum.U if s.n_nodes else None) \
                - self._fixed_values(self._x0, self._U0)
            fint1 = (self._fixed_values(s.f_atoms, s.f_nodes)
                     - self._fixed_values(self.fext_atoms, self.fext_nodes))
            w -= 0.5 * float(np.sum((self._fint0 + fint1) * dq))
        return w

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
        book = bool(self.force_hooks) or self._fixed.size > 0
        # a continuum alone without loads, constraints or imposed motion: the region's fused step
        fe_only = (s.atoms is None and hasattr(s.continuum, "verlet_step") and not s.coupled
                   and self.projector is None and not self.force_hooks and not self.impose_hooks)
        pad_v = self._pad_velocities_read()
        late = self.projector is not None and self._check_after_forces()
        for _ in range(int(n)):
            if book:
                self._book_start()
            if fe_only:
                self._fe_step(half, dt)
                if book:
                    self.external_work += self._book_end()
                for op in self.velocity_ops:
                    self.dissipated += float(op.apply(s, self, dt))
                self.step_count += 1
                continue
            if s.atoms is not None:
                k.kick_drift(s.atoms.v, s.atoms.x, self.acc_atoms, half, dt, nt)
            if s.continuum is not None:
                k.kick_drift(s.continuum.V, s.continuum.U, self.acc_nodes, half, dt, nt)
            if self.projector is not None and not late:
                self._reproject_q()
            self.time = (self.step_count + 1) * dt
            for hk in self.impose_hooks:
                hk.impose(self.time, s)
            s.update_pads(velocities=pad_v)     # (pads' velocities: only if read before the second call)
            self._forces()
            if book:
                # free dofs: work of the external forces; fixed dofs: work of the agent (−f_internal)
                self.external_work += self._book_end()
            self._acc_kick(half, late)          # accelerations, constraint projection, half-kick
            for op in self.velocity_ops:
                self.dissipated += float(op.apply(s, self, dt))
            # U is that of the mid-step update (velocities only) unless a late re-projection corrected it
            s.update_pads(positions=late and self._pads_stale)
            if late:
                self._pads_stale = False
            self.step_count += 1

    def _pad_velocities_read(self) -> bool:
        """Whether anything between the mid-step pad update and the velocity-only one at the end of a step may
        read the pads' velocities: force hooks, velocity operators, a coupling method with its own
        ``before_forces`` / ``add_forces``. If not, the mid-step update sets positions only (the pads'
        velocities are overwritten at the end of the step before anyone reads them: the same bits)."""
        s = self.system
        if self.force_hooks or self.velocity_ops or not s.coupled:
            return True
        m = s.method
        return hasattr(m, "before_forces") or type(m).add_forces is not CouplingMethod.add_forces

    def _fe_step(self, half: float, dt: float) -> None:
        """Steps 1-7 for a continuum alone (no loads, constraints, imposed motion or pads):
        `ContinuumRegion.verlet_step` (kick, drift, forces, accelerations, kick; one pass over the arrays
        on structured meshes), bitwise the general path (same operations per component in the same order)."""
        s = self.system
        E = float(s.continuum.verlet_step(self.acc_nodes, self._inv_nodes, half, dt))
        self.time = (self.step_count + 1) * dt
        s.f_nodes[...] = s.continuum.forces
        s.energy = {"potential_atoms": 0.0, "potential_continuum": E, "coupling": 0.0}
        self.potential = 0.0 + E + 0.0

    def _fixed_dofs(self) -> np.ndarray:
        """Stacked indices of the dofs with zero inverse mass on active entities (fixed / prescribed)."""
        s = self.system
        inv = s.inv_mass_dof.reshape(-1, s.d)
        active = np.ones(len(inv), bool)
        if s.n_nodes:
            active[s.n_free:] = s.active_nodes
        return np.flatnonzero(((inv == 0.0) & active[:, None]).ravel())

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
        method = getattr(s, "method", None)
        if hasattr(method, "get_state"):    # ghost_corrected: the correction g, its state, the booked work
            for key, val in method.get_state().items():
                st[f"method.{key}"] = np.array(val, copy=True)
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
        self.set_ops_state(st)
        self.set_method_state(st)

    def set_method_state(self, st: dict) -> None:
        """The coupling method's part of a `get_state` dict (``method.<key>``: ghost_corrected's correction)
        into the method (also used by `run.spatial.SpatialIntegrator.set_state`). ValueError if the method
        keeps a state and the dict holds none (a checkpoint of an older msim: continuing with the set-up
        correction would differ from the unbroken run)."""
        method = getattr(self.system, "method", None)
        if not hasattr(method, "set_state"):
            return
        sub = {k[len("method."):]: v for k, v in st.items() if k.startswith("method.")}
        need = method.get_state()
        if need and set(sub) != set(need):
            raise ValueError(MISSING_METHOD_STATE)
        method.set_state(sub)

    def set_ops_state(self, st: dict) -> None:
        """The velocity operators' part of a `get_state` dict (``op<i>.<key>``: e.g. the damping band's
        noise step) into the operators (also used by `run.spatial.SpatialIntegrator.set_state`)."""
        for i, op in enumerate(self.velocity_ops):
            sub = {k[len(f"op{i}."):]: v for k, v in st.items() if k.startswith(f"op{i}.")}
            if sub and hasattr(op, "set_state"):
                op.set_state(sub)
