"""`msim verify DECK`: the seed's consistency checklist (docs/physics.md §6) for the deck's own model.

For the deck's geometry, blend and coupling method it measures and prints, each next to its threshold:

- partition of unity ``max|α + β − 1|`` (pointwise, 0 by definition) and in the integral sense:
  ``(Σ β̄_a V_a + ∫ α dV − V)/V`` and ``(Σ β̄_a m_a + Σ M^α_I − ρV)/(ρV)``, V the bounding box of the
  mesh and the atoms' cells (`CoupledSystem.partition_report`);
- the patch test: every atom and node at ``x = F X`` for a small uniform strain F; largest residual force
  on a free atom/node relative to a typical bond force (consistent methods: force_blend and
  ghost_corrected with ``correction: homogeneous, every: 1`` must be at round-off; energy blending and the
  other ghost-correction schedules are reported, ghost_corrected also without its correction), and after
  the constraint forces;
- statics decks: no dynamics rows (skipped with the reason); the constraint residual of the initial state.
  Decks without a handshake: the coupling rows are skipped with the reason.
- energy and momentum: the deck run for ``--steps`` steps from a seeded random thermal state (small
  amplitude) with no loads; net relative change of the conserved energy (Verlet's modified total for the
  linear check), its peak-to-peak, momentum change, largest constraint residual;
- reflection R(k) (1D chain decks with a harmonic potential): a one-directional wave packet sent from the
  atoms through the deck's handshake at several wavelengths (in element sizes h), and from the continuum
  side at 16 h and 8 h, R against k·a; written
  with `output.reflection.write_reflection` so that `msim plot FILE reflection` draws it.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

#: thresholds: figure -> (bound, meaning)
_F_PATCH = np.array([[1.002, 0.001, 0.0], [0.0005, 0.999, 0.0], [0.0, 0.0, 1.001]])


def _row(name: str, value: float, bound: str, ok: bool | None) -> tuple[str, str, str, str]:
    status = "-" if ok is None else ("pass" if ok else "FAIL")
    return name, f"{value:.3e}", bound, status


def _partition_rows(s, units=None) -> list:  # noqa: ANN001
    """Pointwise and integral partition of unity (see `CoupledSystem.partition_report`); the total mass in
    the deck's mass unit (``units``: its `units.UnitSystem`; None: internal force-mass units)."""
    rep = s.partition_report()
    rows = [_row("partition of unity: max |alpha + beta - 1| (pointwise)", rep["max_pou_error"], "<= 1e-15",
                 rep["max_pou_error"] <= 1e-15)]
    if "volume_error" in rep:
        rows += [_row("partition of unity: (sum beta_a V_a + int alpha dV - V) / V", abs(rep["volume_error"]),
                      "reported (V: bounding box)", None),
                 _row("mass: (sum beta_a m_a + sum M^alpha_I - rho V) / (rho V)", abs(rep["mass_error"]),
                      "reported (V: bounding box)", None)]
    total = float(np.sum(s.atom_mass) + np.sum(s.node_mass))
    if units is not None:   # rev32 F5: the metal deck d05 printed 3.185 (eV·ps²/Å², not g/mol)
        total = float(units.mass_from_internal(total))
    name = "mass: atoms + nodes (coupled weights)" + (f" [{units.mass}]" if units is not None else "")
    rows.append(_row(name, total, "reported", None))
    return rows


def _constraint_row(s) -> tuple:  # noqa: ANN001
    """max |G q| of the deck's initial state (statics decks)."""
    q = s.gather_q()
    res = float(np.max(np.abs(s.G @ q))) if s.G is not None and s.G.shape[0] else 0.0
    return _row("constraints: max |G q| (initial state)", res, "<= 1e-10", res <= 1e-10)


def _patch_rows(sim) -> list:  # noqa: ANN001
    from .diagnostics.patch_test import patch_test, typical_bond_force

    m, s = sim.model, sim.model.system
    F = _F_PATCH[: m.dim, : m.dim]
    bond = typical_bond_force(m.potential, m.lattice, F)
    interior = _interior_atoms(m)
    coup = m.deck.config.handshake.coupling
    name = coup.type
    label = name
    strict = name == "force_blend"
    if name == "ghost_corrected":
        mode = s.method.params.correction
        # exact for a homogeneous state when the correction is recomputed at the evaluation
        strict = mode == "homogeneous" and s.method.params.every == 1
        label = f"{name}, correction {mode}" + (f" every {s.method.params.every}" if mode == "homogeneous"
                                                else "")
    res = patch_test(s, F, bond)
    fa = np.linalg.norm(s.f_atoms[s.free][interior[s.free]], axis=1)
    worst = max(float(fa.max()) if fa.size else 0.0, res.max_force_nodes) / bond
    con = _constrained_residual(s, interior) / bond
    rows = [_row(f"patch test ({label}): max residual force / bond force", worst,
                 "<= 1e-10" if strict else "reported (energy blending)",
                 (worst <= 1e-10) if strict else None),
            _row("  ... after the constraint forces", con, "<= 1e-10" if strict else "reported",
                 (con <= 1e-10) if strict else None)]
    if res.uncorrected_relative is not None:
        rows.append(_row("  ... same state without the correction (all free atoms)", res.uncorrected_relative,
                         "reported", None))
    return rows


def _constrained_residual(s, interior: np.ndarray) -> float:  # noqa: ANN001
    """Largest |M P M⁻¹ f| over interior free atoms and interior active nodes (mesh boundary fixed)."""
    from .diagnostics.patch_test import boundary_nodes
    from .integrate.verlet import ConstraintProjector

    bnd = boundary_nodes(s.continuum.mesh)
    inv = s.inv_mass_dof.copy().reshape(-1, s.d)
    inv[s.n_free:][bnd] = 0.0
    inv = inv.ravel()
    a = inv * s.forces_q()
    if s.G is not None:
        a = ConstraintProjector(s.G, inv).project(a)
    r = (np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), 0.0) * a).reshape(-1, s.d)
    keep = np.concatenate([interior[s.free], np.ones(s.n_nodes, bool)])
    return float(np.max(np.linalg.norm(r[keep], axis=1))) if keep.any() else 0.0


def _interior_atoms(m) -> np.ndarray:  # noqa: ANN001
    """(n,) bool: atoms whose full reference neighbour shell is present (free surfaces excluded)."""
    from scipy.spatial import cKDTree

    X = m.atoms.X
    n_full = len(m.lattice.neighbor_vectors(m.potential.cutoff))
    counts = np.array([len(c) - 1 for c in cKDTree(X).query_ball_point(X, m.potential.cutoff * (1 - 1e-9))])
    return counts >= n_full


def _dynamics_rows(sim, steps: int, seed: int) -> list:  # noqa: ANN001
    from .diagnostics.energy import EnergyLedger
    from .integrate.verlet import VelocityVerlet

    m, s = sim.model, sim.model.system
    rng = np.random.default_rng(seed)
    dt = sim.deck.config.integrator.dt
    # small random velocities on the integrated dofs (projected onto the constraints below)
    if s.atoms is not None:
        s.atoms.v[s.free] = 1e-3 * rng.standard_normal((len(s.free), m.dim))
        s.atoms.x[...] = s.atoms.X
    if s.continuum is not None:
        s.continuum.V[...] = 1e-3 * rng.standard_normal(s.continuum.V.shape) * (s.node_mass > 0)[:, None]
        s.continuum.U[...] = 0.0
    integ = VelocityVerlet(s, dt, n_threads=m.threads)
    integ.project_state()
    led = EnergyLedger()
    led.record(integ)
    chunk = max(1, steps // 50)
    for _ in range(0, steps, chunk):
        integ.step(chunk)
        led.record(integ)
    e = led.series("modified_plus_dissipated")
    K = led.series("kinetic_atoms") + led.series("kinetic_continuum")
    scale = max(float(np.max(np.abs(K))), 1e-300)
    p = np.array([r["momentum"] for r in led.records])
    pscale = max(float(np.max(np.abs(p))), float(np.sum(s.atom_mass) + np.sum(s.node_mass)) * 1e-3)
    # every row of G: the kept ones and those dropped as dependent (`ConstraintProjector.residual`); rows
    # dropped as held (none without loads, but for rows on massless dofs only) on their own row below
    res = float(np.max(led.series("constraint_residual")))
    proj = integ.projector
    held = proj.residual_held(s.gather_q()) if proj is not None and proj.held_rows.size else None
    drift = abs(e[-1] - e[0]) / scale
    ptp = (np.max(e) - np.min(e)) / scale
    dmom = float(np.max(np.abs(p - p[0]))) / pscale
    return [_row(f"energy: net relative change over {steps} steps (vs kinetic scale)", drift, "<= 1e-4",
                 drift <= 1e-4),
            _row("energy: peak-to-peak, relative", ptp, "reported", None),
            _row("momentum: largest change, relative", dmom, "<= 1e-9", dmom <= 1e-9),
            _row("constraints: max |G q| (every row)", res, "<= 1e-10", res <= 1e-10)] + \
        ([_row(f"  ... rows dropped as held ({proj.held_rows.size}), at the end", held, "reported", None)]
         if held is not None else [])


def _reflection_rows(sim, out: Path | None) -> list:  # noqa: ANN001
    from .diagnostics.reflection import reflection_1d

    m = sim.model
    hs = m.deck.config.handshake
    pot = m.potential
    if m.dim != 1 or type(pot).__name__ != "HarmonicSprings":
        return [("reflection R(k)", "n/a", "1D harmonic chain decks only", "-")]
    a = m.lattice.a
    h = float(np.max(np.diff(np.sort(m.continuum.nodes[:, 0]))))
    damping = hs.damping
    kw = dict(h=h, width=hs.width, blend=hs.blend.type, method=hs.coupling.type, a=a, k=pot.k,
              m=m.units.mass_to_internal(m.mass_user), gamma0=None if damping is None else damping.gamma0)
    if damping is not None:
        kw["damping_fine_scale"] = damping.fine_scale
    rows, kas, Rs = [], [], []
    for lam_h in (16.0, 8.0, 4.0):
        lam = lam_h * h
        r = reflection_1d(lam, **kw)
        kas.append(2 * np.pi * a / lam)
        Rs.append(r.R)
        bound = {16.0: 1e-4, 8.0: 1e-4, 4.0: 1e-3}[lam_h]
        rows.append(_row(f"reflection R at wavelength {lam_h:g} h (k a = {kas[-1]:.3f})", r.R,
                         f"<= {bound:g}", r.R <= bound))
    if damping is not None:  # waves the mesh cannot carry: absorbed in the band (docs/physics.md §5)
        for lam_h, bound in ((1.9, 0.05), (1.0, 1e-4)):
            lam = lam_h * h
            r = reflection_1d(lam, **kw)
            kas.append(2 * np.pi * a / lam)
            Rs.append(r.R)
            rows.append(_row(f"reflection R at wavelength {lam_h:g} h, damped (k a = {kas[-1]:.3f})", r.R,
                             f"<= {bound:g}", r.R <= bound))
    from .diagnostics.reflection_continuum import reflection_1d_from_continuum
    kwc = {k: v for k, v in kw.items() if k not in ("gamma0", "damping_fine_scale")}
    for lam_h in (16.0, 8.0):
        r = reflection_1d_from_continuum(lam_h * h, **kwc)
        rows.append(_row(f"reflection R from the continuum side at {lam_h:g} h", r.R, "<= 0.0001",
                         r.R <= 1e-4))
    if out is not None:
        from .output.reflection import write_reflection
        write_reflection(out, np.array(kas), np.array(Rs), labels=[f"{hs.coupling.type}, {hs.blend.type}, "
                                                                   f"width {hs.width:g}"])
    return rows


def _stability_rows(sim) -> list:  # noqa: ANN001
    """``--stability``: the blended energy's stability at the reference and the constraints' conditioning
    (`diagnostics.stability`): negative collective modes of the constrained handshake Hessian (pair
    potentials), EAM edge atoms with an indefinite on-site block, the scaled Gram matrix's smallest
    eigenvalue. Printed with what to change (``handshake.coupling.slave_below``)."""
    from .diagnostics.stability import (GRAM_WARN, collective_unstable_modes, coupled_stable_dt, gram_condition,
                                        unstable_weighted_atoms)

    m, s = sim.model, sim.model.system
    if m.handshake is None:
        return [("stability of the blended energy", "n/a", "no handshake in the deck", "-")]
    rows = []
    r = collective_unstable_modes(s, m.potential)
    if r.reason:
        rows.append(("stability: negative collective modes (constrained handshake Hessian)", "n/a",
                     r.reason[:60], "-"))
    else:
        rows.append(_row(f"stability: negative collective modes ({r.n_dof} handshake dofs"
                         + (f", {r.n_rigid_removed} rigid motions removed)" if r.n_rigid_removed else ")"),
                         float(r.lam.size), "= 0", r.lam.size == 0))
        if r.rigid.size:
            rows.append(_row("  ... rigid rotations of the free body (not counted), lambda min", float(r.rigid.min()),
                             f"reported [1/{m.units.time}^2]", None))
        if r.lam.size:
            w = s.atom_weight[r.atoms]
            click.echo(f"stability: the blended energy is not stable at the reference: {r.lam.size} collective "
                       f"mode(s) of the constrained handshake with lambda down to {r.lam.min():.4g} "
                       f"1/{m.units.time}^2 (growth rate {np.sqrt(-r.lam.min()):.3g}/{m.units.time}); largest "
                       f"motion on atom(s) {', '.join(map(str, r.atoms.tolist()))} (beta "
                       f"{', '.join(f'{x:.3g}' for x in w.tolist())}): atoms fall onto each other at any time "
                       f"step. Tie them to the mesh: handshake.coupling.slave_below above {float(w.max()):.3g}, "
                       "and check again", err=True)
    bad, lam = unstable_weighted_atoms(s, m.potential)
    if getattr(m.potential, "many_body", False):
        rows.append(_row("stability: EAM edge atoms with an indefinite on-site block", float(bad.size), "= 0",
                         bad.size == 0))
    rows += _stable_dt_rows(sim, coupled_stable_dt(s, m.potential))
    g = gram_condition(s.G, s.inv_mass_dof)
    if g and g["dependent"] >= 0:
        rows.append(_row(f"constraints: smallest eigenvalue of the scaled Gram matrix ({g['rows'] - g['dependent']} "
                         "rows)", g["lambda_min"], f">= {GRAM_WARN:g} (else warned)", None))
    return rows


def _stable_dt_rows(sim, r) -> list:  # noqa: ANN001
    """The measured largest stable dt (`diagnostics.stability.coupled_stable_dt`: 2/√λ_max of the whole
    coupled model's constrained, mass-weighted Hessian, a penalty coupling's springs included) against the
    deck's dt (dynamics: FAIL when dt is not below it), and `msim validate`'s smallest estimate beside it."""
    m = sim.model
    unit = m.units.time
    name = "stability: largest stable dt 2/sqrt(lambda_max) (constrained Hessian"
    if r.reason:
        return [(name, "n/a", r.reason[:60], "-")]
    name += f", {r.n_dof} dofs" + (", springs)" if getattr(m.system.method, "springs", False) else ")")
    if sim.statics:
        rows = [_row(name, r.dt, f"reported [{unit}] (statics)", None)]
    else:
        dt = float(sim.deck.config.integrator.dt)
        rows = [_row(name, r.dt, f"> dt {dt:g} {unit}", dt < r.dt)]
        if not dt < r.dt:
            click.echo(f"stability: the deck's time step {dt:g} {unit} is not below the measured largest stable "
                       f"step {r.dt:.4g} {unit} of the coupled model at its reference (lambda_max "
                       f"{r.lam_max:.4g} 1/{unit}^2): the run would blow up; use dt < {r.dt:.4g} {unit}",
                       err=True)
    est = sim.stable_dt()
    if est:
        which, worst = min(est.items(), key=lambda kv: kv[1])
        rows.append(_row(f"  ... msim validate's estimate ({which})", worst,
                         f"reported [{unit}]", None))
    return rows


@click.command("verify")
@click.argument("deck_path", metavar="DECK", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--steps", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Steps of the energy/momentum check.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the random initial state.")
@click.option("--no-reflection", is_flag=True, help="Skip the reflection sweep (1D decks).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write R(k) here (HDF5) for `msim plot FILE reflection`.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="OpenMP threads (default: the deck's integrator.threads, else 1).")
@click.option("--stability", is_flag=True,
              help="Only the stability of the blended energy at the reference: the negative modes of the "
                   "handshake's constrained, mass-weighted Hessian (pair potentials; rigid motions "
                   "excluded), the largest stable dt of the whole coupled model (Lanczos on its "
                   "constrained Hessian, penalty springs included), EAM edge atoms, the constraint Gram "
                   "matrix's conditioning. Not run by "
                   "`msim validate`/`run` (0.1 s in 2D, up to ~1 s in 3D).")
def verify(deck_path: Path, steps: int, seed: int, no_reflection: bool, output: Path | None,
           threads: int | None, stability: bool) -> None:
    """Measure the consistency checklist for DECK's own model; exit 1 if a figure misses its threshold."""
    from .deck import load_deck
    from .simulation import Simulation

    deck = load_deck(deck_path)
    sim = Simulation.from_deck(deck, threads=threads)
    m = sim.model
    if stability:
        rows = _stability_rows(sim)
    elif m.handshake is not None:
        rows = _partition_rows(sim.model.system, sim.model.units) + _patch_rows(sim)
    else:
        rows = [("partition of unity, patch test", "n/a", "no handshake in the deck", "-")]
    if stability:
        pass
    elif sim.statics:
        rows.append(("energy, momentum, constraint drift", "n/a",
                     f"statics deck ({deck.config.integrator.type}): no time step", "-"))
        if m.handshake is not None:
            rows.append(_constraint_row(sim.model.system))
    else:
        sim2 = Simulation.from_deck(deck, threads=threads)   # fresh state for the dynamics check
        rows += _dynamics_rows(sim2, steps, seed)
    if not no_reflection and not stability:
        rows += _reflection_rows(sim, output) if m.handshake is not None else [
            ("reflection R(k)", "n/a", "no handshake in the deck", "-")]
    w = max(len(r[0]) for r in rows)
    click.echo(f"{'check':{w}s}  {'value':>10s}  {'threshold':24s} result")
    failed = 0
    for name, val, bound, status in rows:
        failed += status == "FAIL"
        click.echo(f"{name:{w}s}  {val:>10s}  {bound:24s} {status}")
    if failed:
        click.echo(f"{failed} check(s) failed", err=True)
        click.get_current_context().exit(1)
