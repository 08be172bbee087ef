"""What `msim validate` prints, and the time-step check of `msim run`.

`stable_dt(model)`, `check_time_step(model, deck, statics)`, `summary(model, deck, statics, n_steps)`;
`memory_estimate(model)` [bytes] and `time_estimate(model, statics, n_steps)` [s] are rough figures.
"""

from __future__ import annotations

import math

import numpy as np


def fmt_seconds(t: float) -> str:
    if t < 60:
        return f"{t:.2g} s"
    if t < 3600:
        return f"{t / 60:.2g} min"
    if t < 86400 * 2:
        return f"{t / 3600:.2g} h"
    return f"{t / 86400:.3g} days"


def stable_dt(model) -> dict[str, float]:  # noqa: ANN001
    """Stable time step estimates [time]: atoms 2/ω_max (Verlet), continuum h_min/c_max (lumped), and
    for coupled models the handshake's weighted atoms (`diagnostics.stability`: light edge atoms) and, for
    a coupling with springs (penalty), the springs' dofs (`PenaltyCoupling.stable_dt`: light edge nodes)."""
    from ..build import _max_lattice_frequency
    out = {}
    m = model
    if m.atoms is not None:
        out["atoms"] = 2.0 / _max_lattice_frequency(m)
    if m.continuum is not None:
        out["continuum"] = float(m.continuum.stable_dt())
    if m.atoms is not None and m.continuum is not None and m.handshake is not None:
        from ..diagnostics.stability import _dt_of_omega2, weighted_atoms_omega2
        idx, om2 = weighted_atoms_omega2(m.system, m.potential, _max_lattice_frequency(m))
        out["weighted atoms"], _ = _dt_of_omega2(idx, om2)
        springs = getattr(m.system.method, "stable_dt", None)   # penalty springs (coupling/methods/penalty.py)
        if springs is not None and m.system.coupled:
            own = np.zeros(m.atoms.n)
            own[idx] = om2
            dtc = out["continuum"]
            out["penalty springs"] = springs(m.system, own, 0.0 if dtc == float("inf") else
                                             (float("inf") if dtc <= 0.0 else 4.0 / dtc**2))
    return out


def check_time_step(model, deck, statics: bool) -> None:  # noqa: ANN001
    """Raise a `DeckError` at ``integrator.dt`` when dt is not below the smallest stable estimate of
    `stable_dt` (dynamics only), unless the deck sets ``integrator.allow_unstable_dt: true``; before
    that, `check_weighted_energy` (a weighted EAM energy unstable at the reference); after it,
    `check_langevin_damp` (a Langevin damp below the scheme's stability bound)."""
    if statics:
        check_spring_hold(model, deck)
        return
    integ = deck.config.integrator
    if getattr(integ, "allow_unstable_dt", False):
        return
    check_weighted_energy(model, deck)
    check_spring_hold(model, deck)
    dts = stable_dt(model)
    if not dts:
        return
    check_dt_against(deck, dts, model.units.time)
    check_langevin_damp(model, deck, min(v for k, v in dts.items() if k in ATOM_ESTIMATES)
                        if any(k in dts for k in ATOM_ESTIMATES) else float("inf"))


def check_dt_against(deck, dts: dict, unit: str) -> None:  # noqa: ANN001
    """A `DeckError` at ``integrator.dt`` when the deck's dt is not below the smallest of the stable
    estimates ``dts`` ({name: dt} [time]; ``unit`` the time unit's name), naming every estimate."""
    dt = deck.config.integrator.dt
    which, worst = min(dts.items(), key=lambda kv: kv[1])
    if dt >= worst:
        parts = ", ".join(f"{k} {v:.4g}" for k, v in dts.items())
        raise deck.error(
            "integrator.dt",
            f"time step {dt:g} {unit} is not below the stable estimate {worst:.4g} {unit} "
            f"({which}; estimates: {parts}): the run would be unstable",
            hint=f"use dt < {worst:.4g} (e.g. {0.5 * worst:.3g}), or set `allow_unstable_dt: true` in "
                 "`integrator` to run anyway")


#: the `stable_dt` estimates of the atoms' own vibrations (2/ω): those a thermostat's friction adds to
ATOM_ESTIMATES = ("atoms", "weighted atoms")


def langevin_damp_bound(dt: float, dt_atoms: float) -> float:
    """The smallest stable ``damp`` [time] of the force-style Langevin thermostat (`md.thermostats.langevin`)
    in the velocity Verlet step, for time step dt and the atoms' stable estimate dt_atoms = 2/ω_max [time].

    The thermostat's force −(m/damp) v reads the half-step velocity u (the hooks run after the drift), so a
    mode of frequency ω steps as x' = x + dt u, u' = u + dt(−ω² x' − u/damp): a linear map with determinant
    1 − dt/damp and trace 2 − dt/damp − (ω dt)². Both eigenvalues lie inside the unit circle iff
    dt/damp + (ω dt)²/2 < 2 (and damp > 0): damp > dt / (2 − (ω dt)²/2); without forces (ω = 0) damp > dt/2,
    at ω = 2/dt (the Verlet limit) no damp. inf when dt ≥ dt_atoms."""
    h2 = (2.0 * dt / dt_atoms) ** 2 if dt_atoms > 0 else float("inf")
    room = 2.0 - 0.5 * h2
    return dt / room if room > 0 else float("inf")


def check_langevin_damp(model, deck, dt_atoms: float) -> None:  # noqa: ANN001
    """Raise a `DeckError` at ``integrator.thermostat.damp`` when the Langevin thermostat's relaxation time
    is at or below `langevin_damp_bound` (the friction alone would make the step unstable; rev32 F8: damp
    1e-6 ps at dt 0.002 ps blew up at step 7). ``dt_atoms``: the smallest of the atoms' stable estimates
    (`stable_dt`, 2/ω_max)."""
    th = getattr(model, "thermostat", None)
    damp = getattr(th, "damp", None)
    if th is None or damp is None or model.atoms is None:
        return
    dt = float(deck.config.integrator.dt)
    bound = langevin_damp_bound(dt, dt_atoms)
    if damp > bound:
        return
    unit = model.units.time
    raise deck.error(
        "integrator.thermostat.damp",
        f"Langevin damp {damp:g} {unit} is not above {bound:.4g} {unit}, the stability bound of the "
        f"thermostat in the velocity Verlet step at dt {dt:g} {unit}: the friction −(m/damp)v acts on the "
        "half-step velocity, and a vibration of frequency ω stays bounded only if dt/damp + (ω dt)²/2 < 2 "
        f"(ω = 2/{dt_atoms:.4g} {unit}, the atoms' stable time step estimate); the run would blow up",
        hint=f"use damp > {bound:.4g} {unit} (usually 100 dt or more: {100 * dt:g} {unit}), or a smaller dt")


def _above(v: float) -> float:
    """The smallest number of two significant digits strictly above v > 0."""
    e = math.floor(math.log10(v)) - 1
    return (math.floor(v / 10.0**e) + 1) * 10.0**e


def check_weighted_energy(model, deck) -> None:  # noqa: ANN001
    """Raise a `DeckError` at ``handshake.coupling.slave_below`` (couplings without projected rows:
    ``handshake.coupling[.constraint]``, the key whose change can tie them) when free handshake atoms of a coupled
    model with a tabulated EAM are not stable at the reference (`diagnostics.stability.
    unstable_weighted_atoms`: an on-site stiffness with a negative eigenvalue; such atoms fall onto
    their neighbours whatever dt). Called by `check_time_step` (dynamics; ``allow_unstable_dt`` skips it)."""
    m = model
    if m.atoms is None or m.continuum is None or m.handshake is None:
        return
    from ..diagnostics.stability import unstable_weighted_atoms
    bad, lam = unstable_weighted_atoms(m.system, m.potential)
    if bad.size == 0:
        return
    beta = float(np.max(m.system.atom_weight[bad]))
    # the remedy is a key this coupling has: `slave_below` acts only with projected rows (rev30 F1: a penalty
    # deck was sent to a key it does not take, ghost_corrected with `constraint: none` round in a loop)
    params = getattr(m.system.method, "params", None)
    if hasattr(params, "slave_below") and getattr(params, "constraint", "projected") == "projected":
        key = "handshake.coupling.slave_below"
        hint = (f"tie them to the mesh: `slave_below` above {beta:.4g} (e.g. {_above(beta):.2g}) in "
                "`handshake.coupling` removes this instability of the reference state (with thermal motion a "
                "larger value can be needed: check the energy of a short run)")
    else:
        key = ("handshake.coupling.constraint" if hasattr(params, "constraint") and hasattr(params, "slave_below")
               else "handshake.coupling")
        hint = ("tie them to the mesh: projected rows with `slave_below` above "
                f"{beta:.4g} (e.g. {_above(beta):.2g}) — `type: projected`, or `constraint: projected` where the "
                "coupling takes one — or `type: strong`")
    raise deck.error(
        key,
        f"the blended EAM energy is not stable at the reference: {bad.size} free handshake atoms "
        f"(β̄ up to {beta:.4g}) have an on-site stiffness with a negative eigenvalue (down to "
        f"{float(np.min(lam)):.3g} {m.units.energy}/{m.units.length}²): their embedding terms (weight β̄) "
        "pull them onto neighbours whose bonds (weight: the bond's average of β, 0 at the continuum edge) "
        "do not hold them; the run would be unstable at any time step",
        hint=f"{hint}, or set `allow_unstable_dt: true` in `integrator` to run anyway")


def check_spring_hold(model, deck) -> None:  # noqa: ANN001
    """Raise a `DeckError` at ``handshake.coupling.slave_below`` when a penalty coupling's springs do not hold
    its atoms against the blended energy's ghost forces (`diagnostics.stability.spring_held_offsets`: the
    linearised static offset of an atom on a spring above `HOLD_FRACTION` of the nearest-neighbour distance;
    in dynamics such atoms leave their sites at any dt, in statics the minimum puts them there). Called by
    `check_time_step` (dynamics: skipped with ``allow_unstable_dt``; statics: always)."""
    m = model
    if m.atoms is None or m.continuum is None or m.handshake is None:
        return
    from ..diagnostics.stability import HOLD_FRACTION, spring_held_offsets
    hold = spring_held_offsets(m.system, m.potential)
    if hold is None:
        return
    lim = HOLD_FRACTION * hold.r_nn
    bad = ~(hold.offset <= lim)
    if not np.any(bad):
        return
    k = int(np.argmax(np.where(bad, hold.offset, -1.0)))
    beta = float(np.max(hold.weight[bad]))
    sb = float(getattr(m.system.method.params, "slave_below", 0.0))
    L = m.units.length
    raise deck.error(
        "handshake.coupling.slave_below",
        f"the penalty springs do not hold {int(bad.sum())} handshake atoms against the blended energy's "
        f"ghost forces: their linearised static offsets exceed {HOLD_FRACTION:g} of the nearest-neighbour "
        f"distance ({lim:.3g} {L}), up to {float(hold.offset[k]):.3g} {L} (atom {int(hold.atom[k])}, β̄ "
        f"{float(hold.weight[k]):.3g}); atoms of tiny β̄ feel ghost forces of the size of their bonds' "
        "weights but a spring κ·β̄: the run would move them off their sites at any time step",
        hint=f"tie them to the mesh: `slave_below` above {beta:.4g} (e.g. {_above(beta):.2g}"
             + (f"; it is {sb:g} now" if sb > 0.0 else "") + ") in `handshake.coupling` (default 1e-3), or "
             "set `allow_unstable_dt: true` in `integrator` to run anyway")


#: |σ|/C11 of the deck's lattice above which a coupled deck is warned that it starts moving by itself. rev32's
#: d17r (2D hex LJ, circular core r 10, projected, at rest, 400 steps) with a = a₀(1 + ε): the atoms' largest
#: displacement is 0.0043 σ at a₀ (the coupling's own motion), 0.0045 at |σ|/C11 = 1.3e-4, 0.0062 at 4.0e-4,
#: 0.012 at 1.35e-3, 0.36 at 1.5e-2 (tests/offpath/test_lattice_prestress_warning.py): above 1e-4 the
#: prestress adds more than the coupling's own motion at rest does, growing with it.
PRESTRESS_WARN = 1e-4


def lattice_prestress(model) -> tuple[float, np.ndarray, float] | None:  # noqa: ANN001
    """(|σ|/C11, σ (d, d) [energy/length^d], C11 [energy/length^d]) of the deck's lattice at its own spacing,
    with the model's potential (the atoms' prestress: a perfect crystal at that spacing). A Bravais lattice
    and radial functions: the lattice sums of `md.properties`. A lattice with a basis (one species), or an
    external engine's potential: the stress of the lattice's periodic cell (`_cell_stress_fn`: the sites
    at their lattice positions, no inner relaxation), C11 the unrelaxed dσ_xx/dε_xx of the same cell
    (central difference). None where neither applies (no lattice, several species, no period along a lab
    axis, an engine without a periodic cell)."""
    lat, pot = model.lattice, model.potential
    if model.atoms is None or lat is None or len(model.type_names) > 1:
        return None
    if lat.is_bravais and hasattr(pot, "pair") and not hasattr(pot, "max_frequency"):
        from ..md import properties
        sig = properties.stress(pot, lat)
        c11 = float(properties.elastic_constants(pot, lat)[0, 0])
    else:
        got = _cell_stress_fn(model)
        if got is None:
            return None
        stress, close, h = got
        try:
            d = lat.dim
            sig = stress(np.eye(d))
            e = np.zeros((d, d))
            e[0, 0] = h
            c11 = float(stress(np.eye(d) + e)[0, 0] - stress(np.eye(d) - e)[0, 0]) / (2 * h)
        finally:
            close()
    if not c11 > 0:
        return None
    return float(np.max(np.abs(sig))) / c11, sig, c11


def _cell_stress_fn(model):  # noqa: ANN001, ANN202
    """(σ(F) -> (d, d) [energy/length^d], close(), h the strain step of a central difference) of the deck's
    lattice as a periodic cell with the model's potential: an external engine's own cell
    (`periodic_cell(lattice, basis=True)`, h = 1e-4), else the sums over the sites of the cell
    (`md.properties.cell_stress`, h = 1e-5); None when there is none (an axis without a period, an engine
    without a periodic cell, a potential without radial functions)."""
    lat, pot = model.lattice, model.potential
    if hasattr(pot, "max_frequency"):
        if not hasattr(pot, "periodic_cell"):
            return None
        try:
            cell = pot.periodic_cell(lat, basis=True)
        except ValueError:                      # no period along a lab axis; a 2D ASE cell
            return None
        return (lambda F: cell.energy_stress(F)[1]), cell.close, 1e-4
    if not hasattr(pot, "pair"):
        return None
    per = lat.periods()
    if any(q is None for q in per):
        return None
    L = np.array(per, float)
    X = lat.sites_in_box(np.zeros(lat.dim), L)
    n = float(np.prod(L)) / float(lat.volume_per_atom)
    if abs(len(X) - n) > 1e-6 * n:
        return None
    from ..md.properties import cell_stress
    return (lambda F: cell_stress(pot, L, X, F)), (lambda: None), 1e-5


def _cell_zero_stress_a(model) -> float | None:  # noqa: ANN001
    """The spacing a [length] at which the deck's lattice cell (`_cell_stress_fn`), scaled uniformly, has
    zero mean normal stress (Brent's root in the scale s over ±10 % of the deck's a), when its stress there
    vanishes in every component (≤ 1e-8 of the largest at the deck's a; cubic lattices); else None."""
    from scipy.optimize import brentq

    got = _cell_stress_fn(model)
    if got is None:
        return None
    stress, close, _ = got
    d = model.lattice.dim
    try:
        def p(s: float) -> float:
            return float(np.trace(stress(s * np.eye(d)))) / d

        grid = np.linspace(0.9, 1.1, 21)
        g = np.array([p(float(s)) for s in grid])
        up = np.flatnonzero(np.sign(g[:-1]) != np.sign(g[1:]))
        if up.size == 0:
            return None
        k = int(up[np.argmin(np.abs(grid[up] - 1.0))])
        s0 = brentq(p, float(grid[k]), float(grid[k + 1]), xtol=1e-13, rtol=8.9e-16)
        scale = float(np.max(np.abs(stress(np.eye(d)))))
        if float(np.max(np.abs(stress(s0 * np.eye(d))))) > 1e-8 * scale:
            return None
    finally:
        close()
    return float(s0 * model.lattice.a)


def prestress_warning(model, cfg) -> str | None:  # noqa: ANN001
    """The text of the warning for a coupled model whose lattice is not at zero stress at the deck's ``a``
    (rev32 F4: the atoms carry the lattice's prestress; a `linear` continuum, C from the lattice, is
    stress-free at its reference, so the handshake is out of balance and the model at rest starts moving; a
    Cauchy–Born one carries the prestress too and its free faces are out of balance), or None. The one
    source of the warning: `msim validate` prints it (`prestress_lines`), `msim run` warns with it once, on
    rank 0 (`Simulation.run`: a `DeckWarning`, printed as ``warning: ...``)."""
    if model.continuum is None or model.handshake is None:
        return None
    got = lattice_prestress(model)
    if got is None or got[0] <= PRESTRESS_WARN:
        return None
    rel, sig, _ = got
    u = model.units
    p = float(np.trace(sig)) / sig.shape[0]
    lat = cfg.atoms.lattice
    a0 = ""
    engine = hasattr(model.potential, "max_frequency")
    if model.lattice.is_bravais and not engine:
        try:
            from ..md.properties import zero_stress_lattice_constant
            a0 = (f" (zero stress at a = "
                  f"{zero_stress_lattice_constant(model.potential, lat.type, model.lattice.a):.10g} {u.length})")
        except (ValueError, RuntimeError):
            pass
        fix = "use `a: relaxed` in atoms.lattice"
    else:
        a_zero = _cell_zero_stress_a(model)
        if a_zero is not None:
            a0 = f" (zero stress at a = {a_zero:.10g} {u.length}, the {model.lattice.describe()} cell scaled uniformly)"
        why = "needs a potential's radial functions" if engine else "takes Bravais lattices only"
        fix = (f"give atoms.lattice.a the zero-stress spacing (`a: relaxed` {why})" if a_zero is not None
               else f"give atoms.lattice.a the potential's zero-stress spacing (`a: relaxed` {why})")
    return (f"the lattice is not at zero stress at a = {model.lattice.a:.10g} {u.length}{a0}: "
            f"the atoms' stress is {p:.3g} {u.energy}/{u.length}^{sig.shape[0]} (mean normal; "
            f"max |σ_ij|/C11 = {rel:.2g} > {PRESTRESS_WARN:g}): the coupled model is not in equilibrium at its "
            f"reference (the atoms' prestress against the continuum's reference state) and starts moving by "
            f"itself; {fix}")


def prestress_lines(model, cfg) -> list[str]:  # noqa: ANN001
    """`msim validate`'s line of `prestress_warning` (none when it does not warn)."""
    w = prestress_warning(model, cfg)
    return [] if w is None else [f"warning       {w}"]


#: a node whose blended lumped mass M^α is below this fraction of the median of the nonzero ones is "light".
#: Measured on rev32's d17r (2D hex LJ, circular core r 10 in a quad4 mesh with a square hole ±6.5, relaxed,
#: at rest, 400 steps; tests/offpath/test_light_nodes_note.py): the atoms move ≤ 0.0042 σ, the median node
#: 8e-7 σ; the 6 nodes below 1e-4 move 0.019 … 0.44 σ (≥ 4.6 × the atoms), those at 1e-4 … 1e-3 ≤ 0.0125 σ.
#: The ratios fall continuously from 1e-3 to 1e-12 (no gap); the gallery's indent2d has 101 nodes at
#: 1.9e-4 … 1e-3 (a row along the handshake's inner edge) and no node below 1e-4.
LIGHT_NODE_FRACTION = 1e-4


def light_node_lines(system) -> list[str]:  # noqa: ANN001
    """A note counting the nodes of near-zero blended mass (0 < M^α < `LIGHT_NODE_FRACTION` × the median of
    the nonzero M^α): nodes of elements that a curved core edge cuts so that they keep only a sliver of α
    (rev32 F3). They carry almost no mass, so their displacements in the frames are arbitrary: not a physics
    error as long as no pad atom lies in their elements, but not a displacement of the material either. (Another
    square `hole` does not remove them around a circular core: ±5, ±7 and ±7.5 leave such nodes too.)"""
    M = np.asarray(getattr(system, "node_mass", np.zeros(0)), float)
    pos = M[M > 0.0]
    if pos.size == 0:
        return []
    med = float(np.median(pos))
    light = np.flatnonzero((M > 0.0) & (M < LIGHT_NODE_FRACTION * med))
    if light.size == 0:
        return []
    return [f"note          {light.size} nodes carry almost no mass (blended lumped mass {float(M[light].min()):.2g}"
            f" … {float(M[light].max()):.2g}, below {LIGHT_NODE_FRACTION:g} of the median {med:.3g}): their "
            "elements keep only a sliver of the continuum's share α; their displacements and velocities in the "
            "frames are arbitrary (not the material's): leave them out of plots and max |U| figures"]


def summary(model, deck, statics: bool, n_steps: int) -> str:  # noqa: ANN001
    """What `msim validate` prints: sizes, handshake checks, time steps, memory."""
    m, s, cfg = model, model.system, deck.config
    lines = [f"deck          {deck.path or deck.name}", f"units         {m.units.name}",
             f"dimension     {m.dim}"]
    if m.atoms is not None:
        n_pad = int(len(s.pad_idx))
        lines.append(f"atoms         {m.atoms.n} ({m.atoms.n - n_pad} integrated, {n_pad} pad, "
                     f"{m.n_dropped} lattice sites left to the continuum)")
        if m.lattice is not None:
            lines.append(f"lattice       {m.lattice.describe()}, a = {m.lattice.a:.10g} {m.units.length}")
        else:
            lines.append(f"structure     {m.structure_file}")
        if len(m.type_names) > 1:
            counts = np.bincount(m.atom_types, minlength=len(m.type_names))
            parts = zip(m.type_names, counts, m.type_masses, strict=True)
            lines.append("types         " + ", ".join(f"{n} ({c}, mass {w:g})" for n, c, w in parts))
        lines += [f"note          {note}" for note in m.notes]
        lines.append(f"potential     {cfg.potential.type}, cut-off {m.potential.cutoff:g}, "
                     f"skin {cfg.atoms.skin:g} {m.units.length}")
        jump = _cut_jump(m.potential)
        if jump is not None:
            lines.append(f"              truncation cut: phi(cut-off) = {jump[0]:.3g} {m.units.energy}, "
                         f"{100 * jump[1]:.2g} % of the well depth: the energy jumps by that whenever a pair "
                         "crosses the cut-off (dynamics: energy drift); `truncation: shift` removes the jump")
    if m.continuum is not None:
        mesh = m.continuum.mesh
        blocks = ", ".join(f"{len(b.conn)} {b.type}" for b in mesh.blocks)
        lines.append(f"continuum     {len(mesh.nodes)} nodes, elements: {blocks}; "
                     f"material {cfg.continuum.material.type}")
        surf = getattr(m.continuum, "surface", None)
        props = getattr(m, "surface_properties", None) or {}
        if surf is not None:
            lines.append(_surface_line(m, surf, props, cfg.continuum.surface_stress))
    if m.handshake is not None:
        from ..build import _element_size_across
        need = m.potential.cutoff + cfg.atoms.skin
        h = _element_size_across(m.continuum, m.handshake)
        lines.append(f"handshake     width {m.handshake.width:g} {m.units.length} >= cut-off+skin "
                     f"{need:g} "
                     f"and >= element size {h:g}: ok; blend {cfg.handshake.blend.type}, "
                     f"coupling {cfg.handshake.coupling.type}")
        rep = s.partition_report()
        from ..diagnostics.stability import slaved_atoms
        lines.append(f"              {len(s.constrained)} atoms in the handshake, "
                     f"{0 if s.G is None else s.G.shape[0]} constraint rows "
                     f"({len(slaved_atoms(s.G, s.n_free, s.d))} atoms tied one by one to the mesh), "
                     f"partition of unity error {rep['max_pou_error']:.1e}")
        if "volume_error" in rep:
            lines.append("              integral partition of unity: "
                         "(sum beta_a V_a + int alpha dV - V)/V "
                         f"{rep['volume_error']:.1e}, mass (sum beta_a m_a + sum M_I - rho V)/(rho V) "
                         f"{rep['mass_error']:.1e} (V: bounding box of mesh and atom cells)")
            if abs(rep["volume_error"]) > _POU_WARN:
                lines.append(f"warning       the atoms' cells and the mesh do not tile the model: "
                             f"{rep['volume_error']:.1e} of V is missing or counted twice (quadrature "
                             f"alone gives below {_POU_WARN:.0e}): atoms or elements are missing inside the "
                             "handshake (e.g. atoms.region ending inside it, or atoms beyond the mesh's "
                             "free surface)")
        if len(s.floored):
            lines.append(f"              {len(s.floored)} light handshake atoms given the floor mass")
        lines += gram_lines(s)
        lines += prestress_lines(m, cfg)
        lines += light_node_lines(s)
        if not statics:
            from ..diagnostics.stability import collective_check_applies
            why = collective_check_applies(s, m.potential)
            lines.append("stability     collective modes of the constrained blended energy: "
                         + ("not run here: `msim verify DECK --stability` computes them (the smallest "
                            "eigenvalues of the handshake's constrained Hessian)" if not why
                            else f"not checked ({why})"))
    if statics:
        lines.append(f"integrator    {cfg.integrator.type} (statics), {n_steps} load stages")
    else:
        dts = stable_dt(model)
        dt = cfg.integrator.dt
        parts = ", ".join(f"{k} {v:.4g}" for k, v in dts.items())
        worst = min(dts.values()) if dts else math.inf
        verdict = "ok" if dt < worst else "TOO LARGE: the run will be unstable"
        lines.append(f"time step     deck {dt:g} {m.units.time}; stable estimates: {parts} -> {verdict}")
        from .prepare import time_rounding
        why = time_rounding(deck)
        lines.append(f"steps         {n_steps}" + (f" ({why})" if why else ""))
    from ..resources import fmt_bytes, memory_limit
    limit, src = memory_limit()
    lines.append(f"memory        ~{fmt_bytes(memory_estimate(model))} (this machine: "
                 f"{fmt_bytes(limit)}, {src})")
    t = time_estimate(model, statics, n_steps)
    if t is not None:
        lines.append(f"run time      ~{fmt_seconds(t)} on {m.threads} thread(s) (rough: "
                     f"{'minimisations' if statics else 'steps'} x model size)")
        mat = m.continuum.material if m.continuum is not None else None
        if getattr(mat, "handshake", "uniform") == "quasi_harmonic" and m.handshake is not None:
            # not in the estimate: measured 1.4 s CPU for 404 handshake atoms (2D thermal2d), 173 s CPU and
            # 1.07 GB for 896 (3D Morse Cu, 3 374 hex8 nodes)
            n_h = len(getattr(m.system, "constrained", ()))
            lines.append("              + quasi_harmonic set-up before the first step (not in this "
                         "estimate): "
                         f"covariance of {n_h} handshake atoms by sparse solves of the whole constrained "
                         "model (2D: seconds; 3D: minutes, about 3 min CPU and 1 GB for 900 atoms)"
                         + ("; anharmonic adds three short MD runs of the crystal"
                            if getattr(mat, "anharmonic", False) else ""))
    lines.append(f"threads       {m.threads}")
    return "\n".join(lines)


#: `msim validate` names the energy jump of a ``truncation: cut`` pair potential above this share of the
#: well depth (LJ cut at 2.5σ: 1.6 %; found off the gallery: a Morse deck, α = 3, cut at 2.2, jumped by
#: 0.076 D per pair and drifted 0.057 in 50 steps of a 600-atom model, 1.5e-3 with `shift`)
_CUT_JUMP_NOTE = 0.01


def _cut_jump(potential) -> tuple[float, float] | None:  # noqa: ANN001
    """(φ(r_c), |φ(r_c)| / well depth) of a pair potential truncated without a shift when that share is
    above `_CUT_JUMP_NOTE`, else None."""
    if getattr(potential, "truncation", None) != "cut" or not hasattr(potential, "pair"):
        return None
    rc = float(potential.cutoff)
    r = np.linspace(0.3 * rc, rc * (1.0 - 1e-12), 4000)
    phi = np.asarray(potential.pair(r)[0], float)
    well = -float(np.min(phi))
    if not well > 0.0:
        return None
    share = abs(float(phi[-1])) / well
    return (float(phi[-1]), share) if share > _CUT_JUMP_NOTE else None


def gram_lines(system) -> list[str]:  # noqa: ANN001
    """The summary's lines on the conditioning of the constraints' Gram matrix
    (`diagnostics.stability.gram_condition`, the coupled masses' metric, before the loads fix dofs), and a
    warning when its smallest eigenvalue is below `diagnostics.stability.GRAM_WARN`."""
    from ..diagnostics.stability import GRAM_WARN, gram_condition
    g = gram_condition(system.G, system.inv_mass_dof)
    if not g:
        return []
    dep = g["dependent"]
    if dep < 0:
        return [f"              constraint Gram matrix: {g['rows']} rows, some dependent: condition not estimated"]
    out = [f"              constraint Gram matrix (Jacobi-scaled G W G^T, {g['rows'] - dep} independent rows"
           + (f", {dep} dependent dropped" if dep else "")
           + f"): smallest eigenvalue {g['lambda_min']:.2g}, condition {g['cond']:.2g}"]
    if g["lambda_min"] < GRAM_WARN:
        out.append(f"warning       the constraint rows are nearly dependent (smallest eigenvalue of the scaled "
                   f"Gram matrix {g['lambda_min']:.2g} < {GRAM_WARN:g}, condition {g['cond']:.2g}): every "
                   "round-off re-projection of the constraints then moves dofs far above round-off (measured "
                   "on a deck at 8.8e-10: a 4e-14 residual moved an atom 3.8e-10 A, x9 000), so runs that "
                   "should agree to round-off (threads, ranks, restarts) differ more; typically the rows of "
                   "mesh nodes whose support holds few handshake atoms")
    return out


#: `msim validate` warns above this integral partition-of-unity error (gallery decks: ≤ 4.2e-5, quadrature
#: at β's kinks; a 3D core whose atoms end 2.2 Å inside the handshake: −2.3e-2)
_POU_WARN = 1e-3


def _surface_line(m, surf, props: dict, cfg) -> str:  # noqa: ANN001
    """``continuum.surface_stress`` in the summary: faces carrying the term per outward normal, and the
    slab's γ and diagonal in-plane τ (S on or off) per normal axis [energy/length^(d−1)]."""
    from ..fem.surface_stress import outward_normals
    axes = "xyz"
    if len(surf.faces) == 0:
        return "surface       no faces selected: the surface stress acts nowhere"
    n = outward_normals(m.continuum.mesh.nodes, surf.faces)
    k = np.argmax(np.abs(n), axis=1)
    sign = np.where(n[np.arange(len(n)), k] > 0, "+", "-")
    count = {}
    for s_, k_ in zip(sign.tolist(), k.tolist(), strict=True):
        count[f"{s_}{axes[k_]}"] = count.get(f"{s_}{axes[k_]}", 0) + 1
    faces = ", ".join(f"{c} {key}" for key, c in sorted(count.items(), key=lambda t: (t[0][1], t[0][0])))
    per = []
    for ax, p in sorted(props.items()):
        tau = ", ".join(f"{axes[j]}{axes[j]} {p.tau[j, j]:.4g}" for j in range(len(p.tau)) if j != ax)
        per.append(f"{axes[ax]}-normal: gamma {p.gamma:.4g}, tau {tau}")
    s_on = "S on" if getattr(cfg, "elasticity", False) else "S off"
    return (f"surface       {len(surf.faces)} faces ({faces}); " + "; ".join(per) + f" ({s_on})")


def memory_estimate(model) -> float:  # noqa: ANN001
    """Bytes the run holds: atoms (`build.atom_bytes` with the built neighbour list), nodes and
    quadrature points (`fem.generators._structured.mesh_bytes`), the constraint matrices."""
    from ..build import atom_bytes
    from ..fem.generators._structured import mesh_bytes
    m, s = model, model.system
    b = 0.0
    if m.atoms is not None:
        n, d = m.atoms.n, m.dim
        ent = getattr(m.atoms.nlist, "n_entries", None) or n * 60
        b += atom_bytes(d, ent / max(n, 1)) * n
    if m.continuum is not None:
        mesh = m.continuum.mesh
        for blk in mesh.blocks:
            b += mesh_bytes(m.dim, blk.type)[1] / 2 * len(blk.conn)
        b += mesh_bytes(m.dim, "")[0] / 2 * len(mesh.nodes)
    if s.G is not None:
        b += s.G.nnz * 16 * 4
    return b


def time_estimate(model, statics: bool, n_steps: int) -> float | None:  # noqa: ANN001
    """Rough wall time [s] of the whole run: per step ~25 ns per neighbour pair and ~0.06 µs per
    quadrature point (1 thread, measured on the gallery decks); a minimisation ~600 force calls."""
    m = model
    work = 0.0
    if m.atoms is not None:
        ent = getattr(m.atoms.nlist, "n_entries", None) or m.atoms.n * 60
        work += 25e-9 * ent + 0.1e-6 * m.atoms.n
    if m.continuum is not None:
        work += 0.06e-6 * len(m.continuum.qp_positions)
    calls = n_steps * (600 if statics else 1)
    return work * calls / max(1, m.threads) if calls else None
