"""Quasi-static load stepping: at each load step, minimise the total energy Π under the loads and the
coupling constraints (docs/physics.md §8).

``model`` is a `multiscale.coupling.coupled.CoupledSystem` (pure MD, pure FE or coupled): the stacked dofs
are its q = (u_free_atoms, U_nodes); pads follow the mesh; the constraints are its ``G q = 0``. For each
stage i (pseudo-time t = i)::

    load.set_stage(min(i, load.n_stages − 1)); load.impose(t, model)     (kinematic loads move their dofs)
    minimise Π(q) = E_atoms + E_continuum + E_coupling + Σ_loads E_load    over the free dofs, G q = 0
    record: energy terms, max free force, constraint residual, iterations, every load's observables

Fixed dofs are the union of the loads' ``fixed_dofs()``. The minimiser is a `MINIMIZERS` instance
(``fire`` / ``lbfgs``) or a name. ``callback(stage, record) -> bool | None``: return True to stop.

Restart and continuation: `static_state(model, loads, next_stage)` is everything a later run needs to go
on at ``next_stage`` bitwise as if never stopped (positions of every atom, mesh displacements, the
neighbour list's build positions and age, the loads' own states); `run_quasistatic(..., start=i,
state=st)` restores it instead of the loads' ``initialize`` and begins at stage i.

Blow-up: a NaN energy or gradient met inside the minimiser, or a non-finite energy, force, position,
displacement or load observable at the end of a stage raises `multiscale.errors.BlowUpError` (naming the
stage, region and quantity); the state after the last good stage is the caller's to save.
"""

from __future__ import annotations

import time as _time
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from .._lazy import lazy_module
from ..errors import BlowUpError, NotConvergedError, NotConvergedWarning
from ..registry import MINIMIZERS
from . import minimize as _minimize  # noqa: F401  (registers fire / lbfgs)

sp = lazy_module("scipy.sparse")


class StaticProblem:
    """Π(q) and ∂Π/∂q of a CoupledSystem with loads, on the stacked dofs q (n_dof,) [length]."""

    def __init__(self, system, loads: Sequence) -> None:  # noqa: ANN001
        self.s = system
        self.loads = list(loads)
        self.time = 0.0
        s = system
        self._fa = np.zeros((s.n_atoms, s.d))
        self._fn = np.zeros((s.n_nodes, s.d))
        self.terms: dict[str, float] = {}
        self.stage = 0
        self._precon: tuple | None = None

    def stiffness_preconditioner(self, fixed: np.ndarray | None, G):  # noqa: ANN001, ANN201
        """The `precon.StiffnessPreconditioner` of this system for these fixed dofs (n_dof,) bool and
        constraints G, built from the reference state and factorised on first use, then reused (every
        load stage of a run has the same fixed dofs and G)."""
        from .precon import StiffnessPreconditioner
        key = (None if fixed is None else np.asarray(fixed, bool).tobytes(), id(G))
        if self._precon is None or self._precon[0] != key:
            self._precon = (key, StiffnessPreconditioner(self.s, fixed, G))
        return self._precon[1]

    def fixed_mask(self) -> np.ndarray:
        """(n_dof,) bool: union of the loads' fixed dofs in the stacked numbering."""
        s = self.s
        am = np.zeros((s.n_atoms, s.d), bool)
        nm = np.zeros((s.n_nodes, s.d), bool)
        for ld in self.loads:
            a, n = ld.fixed_dofs()
            if a is not None:
                am |= a
            if n is not None:
                nm |= n
        return np.concatenate([am[s.free].ravel(), nm.ravel()])

    def set_q(self, q: np.ndarray) -> None:
        s = self.s
        qa, qn = s.split(q)
        if s.n_free == s.n_atoms and s.n_free:
            np.add(s.atoms.X, qa, out=s.atoms.x)
        elif s.n_free:
            s.atoms.x[s.free] = s.atoms.X[s.free] + qa
        if s.n_nodes:
            s.continuum.U[...] = qn
        s.update_pads()

    def preconditioner(self, q: np.ndarray) -> sp.csr_matrix:
        """(n_dof, n_dof) SPD preconditioner: on the free atoms the Laplacian of the nearest-neighbour graph
        at the current positions (weights exp(−3 (r/r_nn − 1)), r < 1.5 r_nn, plus 0.1·mean degree on
        the diagonal), ⊗ I_d; on the nodes the diagonal of that block's mean (identity-like)."""
        from scipy.spatial import cKDTree
        s = self.s
        self.set_q(q)
        blocks = []
        diag_scale = 1.0
        if s.n_free:
            x = s.atoms.x[s.free]
            tree = cKDTree(x)
            dist, _ = tree.query(x, k=2)
            r_nn = float(np.median(dist[:, 1]))
            pairs = tree.query_pairs(1.5 * r_nn, output_type="ndarray")
            r = np.linalg.norm(x[pairs[:, 0]] - x[pairs[:, 1]], axis=1)
            w = np.exp(-3.0 * (r / r_nn - 1.0))
            n = len(x)
            A = sp.coo_matrix((np.concatenate([w, w]), (np.concatenate([pairs[:, 0], pairs[:, 1]]),
                                                         np.concatenate([pairs[:, 1], pairs[:, 0]]))),
                              shape=(n, n)).tocsr()
            deg = np.asarray(A.sum(axis=1)).ravel()
            L = sp.diags(deg + 0.1 * max(float(deg.mean()), 1e-12)) - A
            blocks.append(sp.kron(L, sp.eye(s.d), format="csr"))
            diag_scale = float(deg.mean()) if deg.size else 1.0
        if s.n_nodes:
            blocks.append(sp.eye(s.n_nodes * s.d, format="csr") * diag_scale)
        return sp.block_diag(blocks, format="csr")

    def __call__(self, q: np.ndarray) -> tuple[float, np.ndarray]:
        s = self.s
        self.set_q(q)
        E = float(s.compute_forces())
        self._fa.fill(0.0)
        self._fn.fill(0.0)
        E_loads = 0.0
        for ld in self.loads:
            E_loads += float(ld.apply(self.time, s, self._fa, self._fn)[0])
        if getattr(s, "coupled", False) and len(s.pad_idx):
            self._fn += s.N_pad.T @ self._fa[s.pad_idx]
            self._fa[s.pad_idx] = 0.0
        s.f_atoms += self._fa
        s.f_nodes += self._fn
        self.terms = dict(s.energy, loads=E_loads)
        g = -s.forces_q()
        total = E + E_loads
        # NaN is never a valid trial value (an infinite energy may be: a line search steps back from it)
        if np.isnan(total) or not np.all(np.isfinite(g)):
            bad = [k for k, v in self.terms.items() if not np.isfinite(v)]
            what = ("energy terms " + ", ".join(f"{k} = {self.terms[k]}" for k in bad) if bad
                    else "the gradient (forces)")
            region = _nonfinite_region(s, self.terms) or "all"
            raise BlowUpError(f"blow-up in load stage {self.stage}: {what} became non-finite inside the "
                              f"minimiser (first non-finite region: '{region}')", step=self.stage,
                              region=region, quantity="energy" if bad else "gradient")
        return total, g


def _nonfinite_region(s, terms: dict | None = None) -> str | None:  # noqa: ANN001
    """The first region whose energy term, positions, displacements or forces are not finite (or None)."""
    for k, v in (terms or {}).items():
        if not np.isfinite(v):
            return {"potential_atoms": "atoms", "potential_continuum": "continuum"}.get(k, k)
    checks = []
    if s.atoms is not None:
        checks += [("atoms", s.atoms.x), ("atoms", s.f_atoms)]
    if s.continuum is not None:
        checks += [("continuum", s.continuum.U), ("continuum", s.f_nodes)]
    for region, arr in checks:
        if not np.all(np.isfinite(arr)):
            return region
    return None


def static_state(model, loads: Sequence, next_stage: int) -> dict:  # noqa: ANN001
    """Everything needed to go on at ``next_stage`` (a checkpoint of a quasi-static run)."""
    s = model
    st: dict = {"kind": "statics", "next_stage": int(next_stage)}
    if s.atoms is not None:
        st["x"] = s.atoms.x.copy()
        if hasattr(s.atoms, "get_state"):
            st["atoms"] = {k: np.array(v, copy=True) for k, v in s.atoms.get_state().items()}
    if s.continuum is not None:
        st["U"] = s.continuum.U.copy()
    st["loads"] = {f"load{i}": ld.get_state() for i, ld in enumerate(loads) if hasattr(ld, "get_state")}
    hist = getattr(s, "statics_history", None)
    st["predictor"] = {k: np.array(v, copy=True) for k, v in hist.items()} if hist else {}
    # the coupling method's evolving state (ghost_corrected, homogeneous: g, its reference state and the
    # booked work — the ledger's coupling term; without it a restart books from the set-up correction),
    # as `VelocityVerlet.get_state` stores it (``method.<key>``; older checkpoints: `state_mismatch` refuses)
    method = getattr(s, "method", None)
    if hasattr(method, "get_state"):
        for k, v in method.get_state().items():
            st[f"method.{k}"] = np.array(v, copy=True)
    return st


def set_static_state(model, loads: Sequence, st: dict) -> None:  # noqa: ANN001
    """Restore a `static_state` (positions, mesh displacements, neighbour list, loads, the coupling
    method's state)."""
    s = model
    if s.atoms is not None:
        s.atoms.x[...] = st["x"]
        if "atoms" in st and hasattr(s.atoms, "set_state"):
            s.atoms.set_state(st["atoms"])
    if s.continuum is not None:
        s.continuum.U[...] = st["U"]
    for i, ld in enumerate(loads):
        if f"load{i}" in st.get("loads", {}) and hasattr(ld, "set_state"):
            ld.set_state(st["loads"][f"load{i}"])
    method = getattr(s, "method", None)
    sub = {k[len("method."):]: v for k, v in st.items() if k.startswith("method.")}
    if sub and hasattr(method, "set_state"):     # a checkpoint (a `--from` start carries x and U only)
        method.set_state(sub)
    s.update_pads()


def run_quasistatic(model, loads: Sequence, minimizer="fire", stages: int | None = None,  # noqa: ANN001
                    callback: Callable[[int, dict], bool | None] | None = None,
                    prepare: bool = True, start: int = 0, state: dict | None = None,
                    after_start: Callable[[], None] | None = None) -> list[dict]:
    """Run the load steps; returns one record (dict) per stage.

    model : CoupledSystem; loads : `LOADS` instances (prepared here unless ``prepare`` is False, then
    ``initialize`` is called here too); minimizer : name or instance; stages : number of load steps
    (default: the largest ``n_stages`` of the loads); start : first stage to run (a restart);
    state : a `static_state` (or any dict with ``x`` / ``U``) restored after the loads' ``initialize``
    (it replaces the initial fields); after_start : called once the starting state is set.

    Record keys: ``stage``, ``energy`` (Π incl. load energies) and its terms ``potential_atoms``,
    ``potential_continuum``, ``coupling``, ``loads``; ``max_force``, ``constraint_residual``,
    ``iterations``, ``evaluations``, ``converged``, ``wall`` [s]; plus every load's observables.
    """
    s = model
    if prepare:
        for ld in loads:
            ld.prepare(s)
    for ld in loads:
        ld.initialize(s)
    if state is not None:
        set_static_state(s, loads, state)
    begin = getattr(getattr(s, "method", None), "statics_begin", None)   # e.g. ghost_corrected: no updates
    if begin is not None:                                                # outside its `statics_stage`
        begin()
    if after_start is not None:
        after_start()
    if isinstance(minimizer, str):
        minimizer = MINIMIZERS.get(minimizer)()
    n_st = stages if stages is not None else max([ld.n_stages for ld in loads] + [1])
    prob = StaticProblem(s, loads)
    fixed = prob.fixed_mask()
    G = getattr(s, "G", None)
    predict = getattr(getattr(minimizer, "params", None), "predictor", "none") == "linear"
    # the predictor's history (q of the stage before the current state) travels with checkpoints
    hist = (state or {}).get("predictor") or {}
    s.statics_history = {k: np.array(v, dtype=float, copy=True) for k, v in hist.items()}
    records = []
    for i in range(start, n_st):
        t0 = _time.perf_counter()
        prob.time = float(i)
        prob.stage = i
        q_last = s.gather_q() if predict else None
        for ld in loads:
            ld.set_stage(min(i, ld.n_stages - 1))
            ld.impose(float(i), s)
        s.update_pads()
        if predict:
            _predict(prob, s, fixed, q_last)
        stage = getattr(getattr(s, "method", None), "statics_stage", None)  # e.g. ghost_corrected
        if stage is not None:
            def solve():  # noqa: ANN202 - minimise from the current state, leave the state at the result
                r = minimizer.minimize(prob, s.gather_q(), fixed=fixed, G=G)
                prob.set_q(r.q)
                return r
            res = stage(s, solve, float(getattr(getattr(minimizer, "params", None), "ftol", 0.0)))
        else:
            res = minimizer.minimize(prob, s.gather_q(), fixed=fixed, G=G)
        E, _ = prob(res.q)                    # state, forces and observables at the result
        rec = {"stage": i, "energy": E, **prob.terms, "max_force": res.max_force,
               "constraint_residual": res.constraint_residual, "iterations": res.iterations,
               "evaluations": res.evaluations, "converged": res.converged,
               "wall": _time.perf_counter() - t0}
        for ld in loads:
            rec.update(ld.observables())
        _check_stage(s, i, rec)
        if not res.converged:
            _unconverged(minimizer, i, res)
        if predict:
            s.statics_history = {"q_prev": q_last}
        records.append(rec)
        if callback is not None and callback(i, rec):
            break
    return records


def _unconverged(minimizer, i: int, res) -> None:  # noqa: ANN001
    """A stage whose minimiser stopped above ftol: `NotConvergedWarning` (``on_unconverged: warn``, the
    default) or `NotConvergedError` (a `BlowUpError`; ``error``: exit 3, the state after the last converged
    stage saved)."""
    p = getattr(minimizer, "params", None)
    msg = (f"load stage {i}: the minimiser did not converge: largest free force {res.max_force:.4g} > ftol "
           f"{getattr(p, 'ftol', float('nan')):g} after {res.iterations} iterations ({res.message})")
    if getattr(p, "on_unconverged", "warn") == "error":
        raise NotConvergedError(f"{msg} (integrator.on_unconverged: error; the results hold the converged "
                                "stages before it)", step=i, region="all", quantity="max_force")
    warnings.warn(f"{msg}; the stage's record has converged = 0", NotConvergedWarning, stacklevel=3)


def _predict(prob: StaticProblem, s, fixed: np.ndarray, q_last: np.ndarray) -> None:  # noqa: ANN001
    """Start the stage from q_last + (q_last − q_prev) on the free dofs (linear extrapolation of the last two
    converged stages, ``s.statics_history['q_prev']``; the kinematic loads' dofs keep their imposed values)
    when that start has a lower energy than the unextrapolated one; else leave the state alone."""
    q_prev = s.statics_history.get("q_prev")
    if q_prev is None or q_prev.shape != q_last.shape:
        return
    q0 = s.gather_q()
    step = np.where(fixed, 0.0, q_last - q_prev)
    if not np.any(step):
        return
    e0, _ = prob(q0)
    q1 = q0 + step
    e1, _ = prob(q1)
    prob.set_q(q1 if e1 < e0 else q0)


def _check_stage(s, i: int, rec: dict) -> None:  # noqa: ANN001
    """A converged stage must be finite: energy terms, forces, positions, displacements, observables."""
    region = _nonfinite_region(s)
    if region is not None:
        raise BlowUpError(f"blow-up in load stage {i}: positions, displacements or forces of region "
                          f"'{region}' are no longer finite", step=i, region=region, quantity="state")
    for k, v in rec.items():
        if isinstance(v, float | int | np.floating | np.integer) and not np.isfinite(v):
            region = k.split(".")[0] if "." in k else {"potential_atoms": "atoms",
                                                        "potential_continuum": "continuum"}.get(k, "all")
            raise BlowUpError(f"blow-up in load stage {i}: {k} = {v} is not finite", step=i,
                              region=region, quantity=k)


def indent2d_atomistic(nx: int = 80, ny: int = 40, radius: float = 10.0, stiffness: float = 10.0,
                       depths: Sequence[float] | None = None, minimizer="fire", ftol: float = 1e-6,  # noqa: ANN001
                       n_threads: int = 1, callback: Callable[[int, dict], bool | None] | None = None
                       ) -> list[dict]:
    """The benchmark of ``docs/problems/indent2d.md`` fully atomistic, at any size (the problem: nx = 400,
    ny = 200). LJ ε = σ = m = 1, r_c = 2.5 shifted, hex film with a₀ the zero-stress spacing, 3 bottom
    rows fixed, cylinder of radius R and stiffness K centred at the mid-width, depths d (default 0, 0.1,
    …, 6.0). Returns one record per depth (see `run_quasistatic`; ``indenter.load`` = P_y(d)).
    """
    from ..coupling.coupled import CoupledSystem
    from ..loads.fixed import Fixed
    from ..loads.indenter import Indenter
    from ..md.box import Box
    from ..md.potentials.lj import LennardJones
    from ..md.properties import zero_stress_lattice_constant
    from ..md.system import AtomisticRegion

    pot = LennardJones(1.0, 1.0, 2.5, "shift")
    a0 = zero_stress_lattice_constant(pot, "hex")
    h = a0 * np.sqrt(3.0) / 2
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    X = np.stack([(i + (j % 2) / 2) * a0, j * h], axis=-1).reshape(-1, 2)
    box = Box(X.min(axis=0) - 5.0, X.max(axis=0) + 5.0, [False, False])
    atoms = AtomisticRegion(X, 1.0, pot, box, skin=0.3, n_threads=n_threads)
    system = CoupledSystem(atoms=atoms)
    if depths is None:
        depths = np.round(np.arange(61) * 0.1, 12)
    y_top = (ny - 1) * h
    loads = [Fixed(region={"type": "box", "lo": [-1e9, -1e9], "hi": [1e9, 2.5 * h]}),
             Indenter(shape="cylinder", radius=radius, stiffness=stiffness,
                      center=[(nx - 0.5) / 2 * a0, y_top + radius], depths=list(depths))]
    if isinstance(minimizer, str):
        minimizer = MINIMIZERS.get(minimizer)(ftol=ftol)
    return run_quasistatic(system, loads, minimizer, callback=callback)
