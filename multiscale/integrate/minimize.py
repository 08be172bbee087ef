"""Energy minimisation under fixed dofs and linear constraints (`MINIMIZERS`): ``fire`` (FIRE 2.0),
``lbfgs`` (scipy L-BFGS-B) and ``precon_lbfgs`` (own L-BFGS with a sparse preconditioner, the fastest
for large crystals: 11× fewer wall-seconds than FIRE on the 3200-atom indentation).

Problem (docs/physics.md §8)::

    minimise Π(q)   over the stacked dof vector q (n,)   subject to   q_i = q0_i (fixed dofs),   G q = c

``fun(q) -> (Π [energy], ∂Π/∂q (n,) [energy/length])`` is the caller's energy/gradient callback (the
gradient is minus the stacked forces). ``G`` is an (m, n) scipy.sparse (or dense) matrix, ``c`` (m,)
(default 0). Constraints are handled exactly by orthogonal projection onto the null space of the
constraint rows restricted to the free dofs, G_f (factorised once: sparse LU of G_f G_fᵀ)::

    P v = v − G_fᵀ (G_f G_fᵀ)⁻¹ G_f v

The start is first corrected to satisfy the constraints (least-norm correction of the free dofs), every
trial point is re-projected onto G q = c, and the search uses projected gradients, so the iterates stay
feasible to round-off. Convergence: the largest component of the projected force −P ∇Π (max-norm)
below ``ftol`` [energy/length]. Redundant constraint rows are tolerated (they are detected by the
factorisation and removed).

Usage::

    res = MINIMIZERS.get("fire")(ftol=1e-6).minimize(fun, q0, fixed=mask, G=G)
    res.q, res.energy, res.iterations, res.max_force, res.constraint_residual, res.converged
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from .._lazy import lazy_module
from ..coupling.projector import ConstraintProjector
from ..registry import MINIMIZERS, PluginParams

so = lazy_module("scipy.optimize")
sp = lazy_module("scipy.sparse")

EnergyFn = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass
class MinimizeResult:
    """Outcome of a minimisation. ``q`` (n,) final dofs; ``energy`` Π [energy]; ``max_force`` the largest
    projected free force component [energy/length]; ``constraint_residual`` max |G q − c|."""

    q: np.ndarray
    energy: float
    iterations: int
    evaluations: int
    max_force: float
    constraint_residual: float
    converged: bool
    message: str = ""


class _Minimizer:
    """Shared driver: wraps ``fun`` with projection, counts evaluations, builds the result."""

    def __init__(self, params=None, **kwargs) -> None:  # noqa: ANN001
        self.params = params if params is not None else self.Params(**kwargs)

    @classmethod
    def from_params(cls, params, units=None) -> _Minimizer:  # noqa: ANN001
        return cls(params)

    def minimize(self, fun: EnergyFn, q0: np.ndarray, fixed: np.ndarray | None = None, G=None,  # noqa: ANN001
                 c: np.ndarray | None = None,
                 callback: Callable[[int, np.ndarray, float, float], None] | None = None) -> MinimizeResult:
        """Minimise ``fun`` from ``q0`` (n,). ``callback(iteration, q, energy, max_force)`` per iteration."""
        q0 = np.asarray(q0, float).ravel()
        self._constraints = (None if fixed is None else np.asarray(fixed, bool).reshape(q0.size), G)
        proj = ConstraintProjector.euclidean(q0.size, fixed, G, c)
        q = proj.restore(q0)
        return self._run(fun, q, proj, callback)

    def _run(self, fun, q, proj, callback) -> MinimizeResult:  # noqa: ANN001
        raise NotImplementedError


@MINIMIZERS.register("fire")
class FIRE(_Minimizer):
    """FIRE 2.0 (Guénolé et al., Comput. Mater. Sci. 175, 109584 (2020)) on the constrained space, unit
    masses, semi-implicit Euler, with a cap ``max_step`` on the per-iteration displacement.

    Non-conservative forces (a ``force_blend`` coupling): FIRE needs an equilibrium that is stable for
    damped dynamics, i.e. a force Jacobian −∂f/∂q (projected) whose eigenvalues have positive real parts.
    With the continuum node forces weighted by the point value α(X_I) it can fail to be (measured: a real
    negative eigenvalue, −3.2e-3 on the 2D force-blend indentation at d = 0.5σ, five down to −5.9e-3 on
    the 3D EAM indentation at d = 0, on α = 0 nodes at the free top face): FIRE wanders (no damped
    dynamics can converge to such a point); ``node_weight: lumped`` of `coupling.methods.force_blend`
    gives a stable equilibrium. A stage that ends above ftol warns (``on_unconverged``)."""

    class Params(PluginParams):
        ftol: float = Field(1e-6, gt=0, description="convergence: largest free force [energy/length]")
        max_iter: int = Field(100000, gt=0, description="iteration limit")
        on_unconverged: Literal["warn", "error"] = Field(
            "warn", description="quasi-statics: a load stage that ends above ftol (iteration limit or stall) "
            "gives a warning and converged = 0 in its record (warn), or stops the run with exit status 3 "
            "and the last converged stage saved (error)")
        dt: float = Field(0.01, gt=0, description="initial pseudo time step [time, unit masses]")
        dt_max: float = Field(0.1, gt=0, description="largest pseudo time step")
        dt_min: float = Field(1e-5, gt=0, description="smallest pseudo time step")
        max_step: float = Field(0.1, gt=0, description="largest displacement of a dof per iteration [length]")
        n_delay: int = Field(5, ge=0, description="steps before dt may grow after a restart")
        alpha0: float = Field(0.1, gt=0, lt=1, description="initial velocity-mixing parameter")

    def _run(self, fun, q, proj, callback) -> MinimizeResult:  # noqa: ANN001
        p = self.params
        E, g = fun(q)
        f = -proj.project(g)
        v = np.zeros_like(q)
        dt, alpha, n_pos, n_neg = p.dt, p.alpha0, 0, 0
        it, nev = 0, 1
        fmax = float(np.max(np.abs(f))) if f.size else 0.0
        while fmax > p.ftol and it < p.max_iter:
            it += 1
            P = float(f @ v)
            if P > 0:
                n_pos += 1
                n_neg = 0
                if n_pos > p.n_delay:
                    dt = min(dt * 1.1, p.dt_max)
                    alpha *= 0.99
            else:
                n_pos = 0
                n_neg += 1
                if n_neg > 2000:
                    break
                if it > p.n_delay:
                    dt = max(dt * 0.5, p.dt_min)
                    alpha = p.alpha0
                q = q - 0.5 * dt * v          # correct the overshoot (FIRE 2.0)
                v[:] = 0.0
            v = v + dt * f
            if P > 0:
                vn, fn = np.linalg.norm(v), np.linalg.norm(f)
                if fn > 0:
                    v = (1 - alpha) * v + alpha * vn * f / fn
            step = dt * v
            smax = float(np.max(np.abs(step)))
            if smax > p.max_step:
                step *= p.max_step / smax
            q = proj.restore(q + step)
            E, g = fun(q)
            nev += 1
            f = -proj.project(g)
            v = proj.project(v)
            fmax = float(np.max(np.abs(f)))
            if callback is not None:
                callback(it, q, E, fmax)
        ok = fmax <= p.ftol
        return MinimizeResult(q, float(E), it, nev, fmax, proj.residual(q), ok,
                              "converged" if ok else "iteration limit or stalled")


@MINIMIZERS.register("lbfgs")
class LBFGS(_Minimizer):
    """scipy's L-BFGS-B on the null-space parametrisation q = q* + P y (P the orthogonal projector), whose
    gradient P ∇Π is exactly the projected gradient; stops when max |P ∇Π| < ftol. Restarted (fresh
    memory) when the line search fails before convergence; when restarts stop gaining (the energy has
    reached round-off: large systems at small ftol), FIRE finishes the job on forces alone."""

    class Params(PluginParams):
        ftol: float = Field(1e-6, gt=0, description="convergence: largest free force [energy/length]")
        max_iter: int = Field(100000, gt=0, description="iteration limit (over all restarts)")
        on_unconverged: Literal["warn", "error"] = Field(
            "warn", description="quasi-statics: a load stage that ends above ftol (iteration limit or stall) "
            "gives a warning and converged = 0 in its record (warn), or stops the run with exit status 3 "
            "and the last converged stage saved (error)")
        memory: int = Field(20, gt=0, description="number of stored correction pairs")
        max_restarts: int = Field(20, ge=0, description="restarts after line-search failures")
        fire_polish: bool = Field(True, description="finish with FIRE (forces only) when the energy line "
                                  "search stalls at round-off before ftol is reached")

    def _run(self, fun, q, proj, callback) -> MinimizeResult:  # noqa: ANN001
        p = self.params
        state = {"nev": 0, "it": 0, "E": None, "fmax": np.inf, "q": q}

        def wrapped(y: np.ndarray, base: np.ndarray) -> tuple[float, np.ndarray]:
            qq = proj.restore(base + proj.project(y))
            E, g = fun(qq)
            state["nev"] += 1
            pg = proj.project(g)
            fm = float(np.max(np.abs(pg))) if pg.size else 0.0
            state.update(E=float(E), fmax=fm, q=qq)
            return float(E), pg

        message = ""
        last = np.inf
        for _ in range(p.max_restarts + 1):
            base = state["q"]
            remaining = p.max_iter - state["it"]
            if remaining <= 0:
                break

            def cb(y, base=base):  # noqa: ANN001, ANN202
                state["it"] += 1
                if callback is not None:
                    callback(state["it"], state["q"], state["E"], state["fmax"])

            res = so.minimize(wrapped, np.zeros_like(base), args=(base,), jac=True, method="L-BFGS-B",
                              callback=cb, options={"maxcor": p.memory, "gtol": p.ftol, "ftol": 0.0,
                                                    "maxiter": remaining, "maxfun": 10 * remaining + 100,
                                                    "maxls": 40})
            message = str(res.message)
            q_end = proj.restore(base + proj.project(res.x))
            E, g = fun(q_end)
            state["nev"] += 1
            fm = float(np.max(np.abs(proj.project(g))))
            state.update(q=q_end, E=float(E), fmax=fm)
            if fm <= p.ftol:
                break
            if fm > 0.5 * last:      # the energy line search is at round-off: finish on forces only
                break
            last = fm
        q = state["q"]
        if state["fmax"] > p.ftol and p.fire_polish and state["it"] < p.max_iter:
            fire = FIRE(ftol=p.ftol, max_iter=p.max_iter - state["it"])
            r = fire._run(fun, q, proj, callback)
            return MinimizeResult(r.q, r.energy, state["it"] + r.iterations, state["nev"] + r.evaluations,
                                  r.max_force, r.constraint_residual, r.converged,
                                  f"{message}; FIRE polish: {r.message}")
        ok = state["fmax"] <= p.ftol
        return MinimizeResult(q, float(state["E"]), state["it"], state["nev"], float(state["fmax"]),
                              proj.residual(q), ok, message)


@MINIMIZERS.register("precon_lbfgs")
class PreconLBFGS(_Minimizer):
    """L-BFGS (two-loop recursion) with a sparse preconditioner P as initial inverse Hessian, H₀ = γ P⁻¹
    (Packwood et al., J. Chem. Phys. 144, 164109 (2016)), on the constrained space, backtracking Armijo
    line search from the full step with a round-off acceptance (energy change below 1e-13·|Π| and a
    smaller largest force).

    ``preconditioner``:
    - ``stiffness`` (default): the stiffness of the whole system at the reference state — bond-stiffness
      network of the atoms, assembled linear-elastic K of the mesh (C of the material, Cauchy–Born: the
      same potential), pads through the interpolation — with the fixed dofs and the coupling constraints
      eliminated (fixed dofs dropped, strong rows substituted; `integrate/precon.py`), from
      ``fun.stiffness_preconditioner(fixed, G)``
      (`StaticProblem`: built and factorised once per run, reused by every load stage). γ starts at 1
      (P has the units of a Hessian), then γ = sᵀy / yᵀP⁻¹y.
    - ``neighbour_graph``: ``fun.preconditioner(q)`` (the Laplacian of the atoms' nearest-neighbour graph
      at the current positions, identity on the nodes), built and factorised at every call.
    - ``none`` (or a ``fun`` without the method): P = I (plain L-BFGS).

    ``predictor`` is read by `run_quasistatic`: ``linear`` starts each load stage from the linear
    extrapolation of the last two converged stages (when that start has the lower energy), ``none``
    from the last converged state."""

    class Params(PluginParams):
        ftol: float = Field(1e-6, gt=0, description="convergence: largest free force [energy/length]")
        max_iter: int = Field(100000, gt=0, description="iteration limit")
        on_unconverged: Literal["warn", "error"] = Field(
            "warn", description="quasi-statics: a load stage that ends above ftol (iteration limit or stall) "
            "gives a warning and converged = 0 in its record (warn), or stops the run with exit status 3 "
            "and the last converged stage saved (error)")
        memory: int = Field(20, gt=0, description="number of stored correction pairs")
        max_step: float = Field(0.2, gt=0, description="largest displacement of a dof per iteration [length]")
        preconditioner: Literal["stiffness", "neighbour_graph", "none"] = Field(
            "stiffness", description="initial inverse Hessian: reference stiffness of the whole system "
            "(factorised once per run), the atoms' neighbour-graph Laplacian (per stage), or identity")
        predictor: Literal["linear", "none"] = Field(
            "linear", description="quasi-statics: start a load stage from the linear extrapolation of the "
            "last two stages (kept only when its energy is lower)")

    def _H0(self, fun, q, proj):  # noqa: ANN001, ANN202
        """(apply r -> H₀ r without γ, initial γ or None)."""
        p = self.params
        free = proj.free
        if p.preconditioner == "stiffness" and hasattr(fun, "stiffness_preconditioner"):
            fixed, G = getattr(self, "_constraints", (None, None))
            solver = fun.stiffness_preconditioner(fixed, G)

            def H0(r: np.ndarray) -> np.ndarray:
                return proj.project(solver.solve(proj.project(r)))
            return H0, 1.0
        lu = None
        if p.preconditioner == "neighbour_graph" and hasattr(fun, "preconditioner"):
            Pm = fun.preconditioner(q)
            idx = np.flatnonzero(free)
            from .precon import splu_or_memory_error
            lu = splu_or_memory_error(sp.csc_matrix(Pm)[idx][:, idx].tocsc())

        def H0(r: np.ndarray) -> np.ndarray:  # noqa: F811
            r = proj.project(r)
            if lu is not None:
                z = np.zeros_like(r)
                z[free] = lu.solve(r[free])
                r = proj.project(z)
            return r
        return H0, None

    def _run(self, fun, q, proj, callback) -> MinimizeResult:  # noqa: ANN001
        p = self.params
        H0, gamma = self._H0(fun, q, proj)
        E, g = fun(q)
        g = proj.project(g)
        nev, it = 1, 0
        S: list[np.ndarray] = []
        Y: list[np.ndarray] = []
        fmax = float(np.max(np.abs(g))) if g.size else 0.0
        while fmax > p.ftol and it < p.max_iter:
            it += 1
            # two-loop recursion
            r = g.copy()
            al = []
            for s_, y_ in zip(reversed(S), reversed(Y), strict=True):
                a = (s_ @ r) / (y_ @ s_)
                al.append(a)
                r -= a * y_
            z = H0(r)
            if gamma is None:
                zmax = float(np.max(np.abs(z)))
                gamma = 0.1 * p.max_step / zmax if zmax > 0 else 1.0
            z *= gamma
            for (s_, y_), a in zip(zip(S, Y, strict=True), reversed(al), strict=True):
                b = (y_ @ z) / (y_ @ s_)
                z += (a - b) * s_
            d = -proj.project(z)
            slope = float(g @ d)
            if slope >= 0:                      # not a descent direction: restart from H0
                S.clear()
                Y.clear()
                d = -gamma * H0(g)
                slope = float(g @ d)
            dmax = float(np.max(np.abs(d)))
            alpha = min(1.0, p.max_step / dmax) if dmax > 0 else 1.0
            for _ in range(30):
                qn = proj.restore(q + alpha * d)
                En, gn = fun(qn)
                nev += 1
                gn = proj.project(gn)
                fn = float(np.max(np.abs(gn)))
                if En <= E + 1e-4 * alpha * slope or (abs(En - E) <= 1e-13 * max(abs(E), 1.0) and fn < fmax):
                    break
                alpha *= 0.5
            else:
                break
            s_, y_ = qn - q, gn - g
            sy = float(s_ @ y_)
            if sy > 1e-300:
                S.append(s_)
                Y.append(y_)
                if len(S) > p.memory:
                    S.pop(0)
                    Y.pop(0)
                Hy = H0(y_)
                gamma = sy / float(y_ @ Hy) if float(y_ @ Hy) > 0 else gamma
            q, E, g, fmax = qn, float(En), gn, fn
            if callback is not None:
                callback(it, q, E, fmax)
        ok = fmax <= p.ftol
        return MinimizeResult(q, float(E), it, nev, fmax, proj.residual(q), ok,
                              "converged" if ok else "iteration limit or line search failed")


def minimize_energy(fun: EnergyFn, q0: np.ndarray, method: str = "fire", fixed: np.ndarray | None = None,
                    G=None, c: np.ndarray | None = None, **params) -> MinimizeResult:  # noqa: ANN001
    """Convenience: ``MINIMIZERS.get(method)(**params).minimize(fun, q0, fixed, G, c)``."""
    return MINIMIZERS.get(method)(**params).minimize(fun, q0, fixed=fixed, G=G, c=c)
