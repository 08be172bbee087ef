"""Energy blending with ghost-force correction (docs/physics.md §2, §6).

Energy blending (β̄-weighted atoms, α-weighted continuum) has spurious "ghost" forces in and near H even
for a homogeneous deformation. This method subtracts a correction ``g`` (stacked, (n_dof,)) from the forces
of the dofs of the *band* around H (free atoms within the potential's reach of H — twice the reach for
many-body potentials — nodes within one element diameter of H and every node that interpolates a pad
or an atom of H), minus the free surfaces (atoms missing reference neighbours, for many-body
potentials also their neighbours, and the nodes on the mesh's bounding box with α > 0), whose
homogeneous-state forces are physical (where H meets a free surface the ghost forces of the surface
atoms stay uncorrected); elsewhere a homogeneous state has no ghost force, and surface or boundary
forces there are physical. Two choices of ``g`` (deck key ``correction``):

``homogeneous`` (default) — the ghost force of the CURRENT state's homogeneous part: an affine map
    ``x = F X + c`` is fitted (least squares) to the band's nodes, every atom and node is put on that map,
    the blended forces there are ``g`` (restricted to the band), and the state is restored. For a
    homogeneous state (any F: strain, rotation) the fit is exact and the corrected forces vanish to
    round-off; for an inhomogeneous state ``g`` is the ghost force of the best-fit homogeneous
    deformation of H (exact only where H deforms homogeneously). When it is recomputed:
      - dynamics: every ``every`` force evaluations (velocity Verlet: one per step; ``every: 1`` = at
        every evaluation, one extra force evaluation each); between updates ``g`` is a dead load;
      - statics (`run_quasistatic` calls `statics_stage`): ``g`` is held fixed during a minimisation (so
        the minimised energy is consistent), recomputed from the converged state, and the stage is
        minimised again until ``g`` changes by less than ``stage_tol`` × max|g| or the minimiser's
        ``ftol`` (at most ``max_stage_updates`` times): at convergence the forces are those of the
        corrected model at the final state.
``reference`` — ``g`` = the blended forces of the reference (assembled, undeformed) state, a dead load
    that is never updated (the quasicontinuum literature's dead-load correction). Exact only at that state:
    strain brings the ghost forces back (∝ σ ∇β; at 1 % strain about as large as without correction).

Momentum: the net force of ``g`` over the band is removed (mass-weighted uniform acceleration), so the
correction exerts no net force; at a homogeneous state it is already ~0 (the surfaces left out of the
band and the mesh's bounding box close the boundary).

Energy: a dead load ``−g`` has the potential ``g · (q − q_g)``; the ``coupling`` term books it plus the
work done against the earlier dead loads (the step in which the load changes by the trapezoid
½(g_old + g_new)·Δq, as velocity Verlet applies it); measured on the 1D chain of
tests/coupling/test_integrator.py (10⁴ steps, ``every: 1``), the ledger's modified total is constant to
2e-12 relative, as for the conservative methods. Between updates
the corrected forces are exactly conservative (and the statics stage energy is exact); with updates
(``homogeneous``, dynamics) they are NOT the gradient of any energy (the correction depends on the state
through the fitted F with a non-symmetric Jacobian): the booked ``coupling`` is the path-dependent work
of the correction, which keeps the ledger's total balanced to the integrator's accuracy but is not a
potential. Kinematic constraints: strong, projected or none (``constraint``).

Checkpoints (dynamics): ``homogeneous`` keeps a state that a restart needs (g, q_g, the last evaluated q,
the booked work, the evaluation counter that schedules the updates): `get_state` / `set_state`, stored by
`VelocityVerlet.get_state` as ``integrator/method.<key>`` (serial, replicated and spatial paths; one
replicated copy, so a checkpoint of any rank count restarts on any other). A checkpoint without it (written
before msim stored it) is refused (exit 2). ``reference`` has none. Quasi-static checkpoints hold it too
(`integrate.quasistatic.static_state`, top-level ``method.<key>``; each stage recomputes g, but the booked
work and the last evaluated state enter the stage energies), and a quasi-static run freezes the scheduled
updates from its start (`statics_begin`), so a restarted run is bitwise the unbroken one
(tests/output/test_restart_ghost_corrected.py).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ...registry import COUPLINGS
from .base import ConstraintParams, CouplingMethod, element_diameter


def _near_surface(s, pot) -> np.ndarray:  # noqa: ANN001
    """(n_free,) bool: free atoms whose force at a homogeneous state is a surface force — atoms missing
    reference neighbours within the cut-off (free surfaces; pads complete the shells towards the mesh),
    and for many-body potentials also the atoms within one cut-off of those."""
    from scipy.spatial import cKDTree

    X = s.atoms.X
    rc = float(pot.cutoff) * (1 - 1e-9)
    tree = cKDTree(X)
    counts = np.array([len(c) - 1 for c in tree.query_ball_point(X, rc)])
    full = np.max(counts) if len(counts) else 0
    surf = counts < full
    if getattr(pot, "many_body", False) and np.any(surf):
        near = tree.query_ball_point(X[surf], rc)
        idx = np.unique(np.concatenate([np.asarray(c, np.int64) for c in near]))
        surf[idx] = True
    return surf[s.free]


def _signed(hs, X: np.ndarray) -> np.ndarray:  # noqa: ANN001
    sd = getattr(hs.shape, "signed_distance", None)
    return np.asarray(sd(X), float) if sd is not None else hs.distance(X)


@COUPLINGS.register("ghost_corrected")
class GhostCorrectedCoupling(CouplingMethod):
    """Energy blending + ghost-force correction (see the module docstring)."""

    class Params(ConstraintParams):
        """constraint / slave_below: see `projected`; correction, every, stage_tol, max_stage_updates:
        see the module docstring."""

        correction: Literal["homogeneous", "reference"] = Field(
            "homogeneous", description="homogeneous: ghost force of the best-fit homogeneous deformation of "
            "H, recomputed from the state; reference: dead load of the undeformed state, never updated")
        every: int = Field(1, ge=1, description="homogeneous, dynamics: recompute every N force evaluations "
                                                "(velocity Verlet: steps)")
        stage_tol: float = Field(1e-12, ge=0.0, description="homogeneous, statics: re-minimise the stage "
                                 "until the correction changes by less than this × its largest component "
                                 "or than the minimiser's ftol")
        max_stage_updates: int = Field(20, ge=0, description="homogeneous, statics: at most this many "
                                       "re-minimisations per load stage")

    #: False switches the correction off (diagnostics: the uncorrected residual of the same system)
    enabled: bool = True

    # ------------------------------------------------------------------ set-up
    def prepare(self, system) -> None:  # noqa: ANN001
        s = system
        hs, pot = s.handshake, getattr(s.atoms, "potential", None)
        mesh = getattr(s.continuum, "mesh", None)
        # regions without a potential / mesh object (duck-typed test models): the band is everything
        reach = np.inf if pot is None else (float(pot.cutoff)
                                            + float(getattr(getattr(s.atoms, "nlist", None), "skin", 0.0)))
        if getattr(pot, "many_body", False):
            reach *= 2.0
        diam = np.inf if mesh is None else 1.001 * element_diameter(mesh)
        sa = _signed(hs, s.atoms.X[s.free])
        sn = _signed(hs, s.continuum.nodes)
        self.band_atoms = sa > -reach                                    # (n_free,)
        touched = np.asarray(abs(s.N_pad).sum(axis=0)).ravel() + np.asarray(abs(s.N_c).sum(axis=0)).ravel()
        self.band_nodes = ((sn > -diam) & (sn < hs.width + diam)) | (touched > 0)   # (N,)
        # free surfaces: their homogeneous-state forces are physical, not ghost forces
        if pot is not None:
            self.band_atoms &= ~_near_surface(s, pot)
        X = s.continuum.nodes
        lo, hi = X.min(axis=0), X.max(axis=0)
        tol = 1e-9 * float(np.max(hi - lo))
        on_box = np.any((np.abs(X - lo) < tol) | (np.abs(X - hi) < tol), axis=1)
        self.band_nodes &= ~(on_box & (hs.alpha(X) > 0.0))   # α = 0: the mesh's edge against the atoms
        self.band = np.concatenate([np.repeat(self.band_atoms, s.d), np.repeat(self.band_nodes, s.d)])
        self.fit_nodes = np.flatnonzero(self.band_nodes)
        Xf = s.continuum.nodes[self.fit_nodes]
        A = np.hstack([Xf, np.ones((len(Xf), 1))])
        if np.linalg.matrix_rank(A) < s.d + 1:
            raise ValueError("ghost_corrected: the nodes around the handshake do not span the dimension")
        self._pinvA = np.linalg.pinv(A)                                   # (d+1, n_fit)
        self._g = np.zeros(s.n_dof)
        self._q_g = np.zeros(s.n_dof)
        self._work = 0.0
        self._q_eval = None
        self._busy = False
        self._frozen = False
        self._calls = 0
        self.updates = 0
        self._set(s, self.current_correction(s) if self.params.correction == "homogeneous"
                  else self._forces_at(s, None))

    # ------------------------------------------------------------------ the correction
    def fit(self, system) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
        """(F (d, d), c (d,)) of the least-squares affine map x = F X + c of the band's nodes."""
        s = system
        x = s.continuum.nodes[self.fit_nodes] + s.continuum.U[self.fit_nodes]
        sol = self._pinvA @ x                                             # (d+1, d)
        return sol[: s.d].T.copy(), sol[s.d].copy()

    def _forces_at(self, system, Fc) -> np.ndarray:  # noqa: ANN001
        """Blended forces (n_dof,) restricted to the band, at x = F X + c (Fc = (F, c)) or at the current
        state (Fc None); the state, pads and force arrays are restored."""
        s = system
        save = (s.atoms.x.copy(), s.continuum.U.copy(), s.f_atoms.copy(), s.f_nodes.copy(), dict(s.energy))
        try:
            if Fc is not None:
                F, c = Fc
                s.atoms.x[...] = s.atoms.X @ F.T + c
                s.continuum.U[...] = s.continuum.nodes @ (F - np.eye(s.d)).T + c
            s.update_pads()
            self._busy = True
            s.compute_forces()
            g = self.band_correction(s, s.forces_q())
        finally:
            self._busy = False
            s.atoms.x[...], s.continuum.U[...] = save[0], save[1]
            s.update_pads()
            s.f_atoms[...], s.f_nodes[...], s.energy = save[2], save[3], save[4]
        return g

    def band_correction(self, system, fq: np.ndarray) -> np.ndarray:  # noqa: ANN001
        """g (n_dof,) from the blended stacked forces fq (n_dof,) of a state: fq restricted to the band, its
        net force removed (also the spatial path's, `parallel.spatial_coupling`, on the gathered forces)."""
        s = system
        g = fq * self.band
        # no net force (momentum conservation): remove Σg as a uniform acceleration of the band
        # (mass-weighted); at a homogeneous state Σg over the band is already ~0 when every
        # surface the band leaves out is free or on the mesh's bounding box
        m = np.where(self.band & (s.inv_mass_dof > 0), 1.0 / np.where(s.inv_mass_dof > 0,
                                                                     s.inv_mass_dof, 1.0), 0.0)
        mk = m.reshape(-1, s.d).sum(axis=0)
        net = g.reshape(-1, s.d).sum(axis=0)
        if np.all(mk > 0):
            g = g - (m.reshape(-1, s.d) * (net / mk)).ravel()
        return g

    def current_correction(self, system) -> np.ndarray:  # noqa: ANN001
        """g (n_dof,) of the current state: band forces of its best-fit homogeneous deformation."""
        return self._forces_at(system, self.fit(system))

    def _set(self, system, g: np.ndarray, q: np.ndarray | None = None) -> None:  # noqa: ANN001
        """Switch the dead load to g at the current state q (default: the system's, `gather_q`). Work
        booked against the correction: the old dead load up to the last force evaluation q_e, then the
        trapezoid ½(g_old + g)·(q − q_e) for the step in which the load changed (velocity Verlet applies
        ½(f^n + f^{n+1}) over a step)."""
        if q is None:
            q = system.gather_q()
        q_e = self._q_eval if self._q_eval is not None else q
        self._work += float(self._g @ (q_e - self._q_g)) + 0.5 * float((self._g + g) @ (q - q_e))
        self._g, self._q_g = g, q
        self._q_eval = q
        self.updates += 1

    @property
    def correction(self) -> np.ndarray:
        """The dead load g (n_dof,) in use (the force applied is −g)."""
        return self._g

    # ------------------------------------------------------------------ hooks of CoupledSystem
    def before_forces(self, system) -> None:  # noqa: ANN001
        """Called by `CoupledSystem.compute_forces` before the forces: the scheduled update (dynamics)."""
        if self._busy or self._frozen or not self.enabled or self.params.correction != "homogeneous":
            return
        if self._calls % self.params.every == 0:
            self._set(system, self.current_correction(system))
        self._calls += 1

    def add_forces(self, system, f_atoms: np.ndarray, f_nodes: np.ndarray) -> float:  # noqa: ANN001
        if self._busy or not self.enabled:
            return 0.0
        system.scatter_add(-self._g, f_atoms, f_nodes)
        return self.coupling_energy(system.gather_q())

    def coupling_energy(self, q: np.ndarray) -> float:
        """The ``coupling`` term at the evaluated state q (n_dof,) (recorded as the last evaluation's):
        the booked work plus the dead load's potential g · (q − q_g) [energy]."""
        self._q_eval = q
        return self._work + float(self._g @ (q - self._q_g))

    # ------------------------------------------------------------------ checkpoints
    def get_state(self) -> dict:
        """The evolving state a restart needs (copies; `VelocityVerlet.get_state` stores it as
        ``method.<key>``): ``homogeneous`` — the dead load ``g`` and its state ``q_g`` (n_dof,), the last
        evaluated state ``q_eval`` (n_dof,), the booked ``work`` [energy], the evaluation counter
        ``calls`` (it schedules the updates) and ``updates``; ``reference`` — nothing (g, q_g and the work
        stay those of the set-up in dynamics)."""
        if self.params.correction != "homogeneous":
            return {}
        q_eval = self._q_eval if self._q_eval is not None else self._q_g
        return {"g": self._g.copy(), "q_g": self._q_g.copy(), "q_eval": np.array(q_eval, copy=True),
                "work": np.array(self._work), "calls": np.array(self._calls, dtype=np.int64),
                "updates": np.array(self.updates, dtype=np.int64)}

    def set_state(self, st: dict) -> None:
        """Restore `get_state`'s dict (every rank of a spatial run reads the same one)."""
        if self.params.correction != "homogeneous":
            return
        self._g = np.array(st["g"], float)
        self._q_g = np.array(st["q_g"], float)
        self._q_eval = np.array(st["q_eval"], float)
        self._work = float(st["work"])
        self._calls = int(st["calls"])
        self.updates = int(st["updates"])

    # ------------------------------------------------------------------ statics
    def statics_begin(self) -> None:
        """A quasi-static run starts (`integrate.quasistatic.run_quasistatic`, fresh or restarted): the
        correction changes only in `statics_stage`, never at the scheduled dynamics updates of
        `before_forces` (the predictor's trial evaluations before a restarted run's first stage booked two
        updates the unbroken run never made: the ledger's coupling term 1.5 % off)."""
        self._frozen = True

    def statics_stage(self, system, solve, ftol: float = 0.0):  # noqa: ANN001, ANN201
        """One load stage of `run_quasistatic`: ``solve()`` minimises from the current state with ``g``
        fixed; ``g`` is recomputed from the result until it changes by less than
        max(``stage_tol``·max|g|, ``ftol``) (ftol: the minimiser's force tolerance — a smaller change
        cannot be resolved by re-minimising). Returns the last ``solve()`` result;
        ``self.stage_updates`` the number of re-minimisations."""
        self._frozen = True
        self.stage_updates = 0
        if not self.enabled or self.params.correction != "homogeneous":
            return solve()
        self._set(system, self.current_correction(system))
        res = solve()
        for _ in range(self.params.max_stage_updates):
            g = self.current_correction(system)
            change = float(np.max(np.abs(g - self._g))) if g.size else 0.0
            scale = max(float(np.max(np.abs(g))) if g.size else 0.0, 1e-300)
            self._set(system, g)
            if change <= max(self.params.stage_tol * scale, ftol):
                break
            self.stage_updates += 1
            res = solve()
        return res

    def update_reference(self, system) -> None:  # noqa: ANN001
        """Record the blended forces of the CURRENT configuration as the dead load (any mode)."""
        self._set(system, self._forces_at(system, None))
