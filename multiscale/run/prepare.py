"""Preparation of a built model for its run: loads, fixed dofs, the integrator, initial fields.

`prepare(model, deck, statics) -> Prepared`:

1. wave packets are initial conditions, not loads: taken out of ``model.loads``;
2. every load selects its atoms/nodes (`load.prepare`, errors located at ``loads[i]``) and names its fixed
   dofs;
3. dynamics: fixed dofs get zero inverse mass and start at rest; the load hooks, the thermostat (its dt
   set) and the damping band go to one `VelocityVerlet` (which factorises ``G M⁻¹ Gᵀ`` once); the loads
   set their initial fields (`load.initialize`), the wave packets start, the initial state is projected
   onto the constraints.

Statics leaves the rest to `integrate.quasistatic.run_quasistatic`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import DeckError
from ..integrate.verlet import VelocityVerlet


class LoadHook:
    """Adapter of a load to `VelocityVerlet.force_hooks`: adds its forces and keeps its energy [energy].

    The integrator books the work of hook forces and of imposed motion (the loads are also its
    ``impose_hooks``) as ``external_work``; the loads' own energies are reported separately
    (``external_energy``), not added to the total.
    """

    def __init__(self, load) -> None:  # noqa: ANN001
        self.load = load
        self.energy = 0.0

    def forces(self, system, t: float, f_atoms: np.ndarray, f_nodes: np.ndarray) -> None:  # noqa: ANN001
        self.energy = float(self.load.apply(t, system, f_atoms, f_nodes)[0])

    def get_state(self) -> dict:
        st = {"energy": self.energy}
        if hasattr(self.load, "get_state"):
            st["load"] = self.load.get_state()
        return st

    def set_state(self, st: dict) -> None:
        self.energy = float(st["energy"])
        if "load" in st and hasattr(self.load, "set_state"):
            self.load.set_state(st["load"])


@dataclass
class Prepared:
    """What `prepare` made: the integrator (None in statics), the load hooks, the wave packets, and the
    deck index of each remaining load (for error locations)."""

    integrator: VelocityVerlet | None = None
    hooks: list = field(default_factory=list)
    initial_conditions: list = field(default_factory=list)
    load_index: list = field(default_factory=list)


def prepare(model, deck, statics: bool, log=None) -> Prepared:  # noqa: ANN001
    """Prepare ``model`` (a `build.Model`) for its run (module docstring). Errors are `DeckError`s located
    at the deck key responsible. ``log``: a text stream for the progress lines of long set-up stages
    (`output.progress.SetupLog`), or None."""
    from ..build import located
    from ..loads.wave_packet import WavePacket
    m, s = model, model.system
    out = Prepared()
    out.initial_conditions = [ld for ld in m.loads if isinstance(ld, WavePacket)]
    out.load_index = [i for i, ld in enumerate(m.loads) if not isinstance(ld, WavePacket)]
    m.loads = [ld for ld in m.loads if not isinstance(ld, WavePacket)]
    atom_mask = np.zeros((s.n_atoms, s.d), bool)
    node_mask = np.zeros((s.n_nodes, s.d), bool)
    for i, ld in enumerate(m.loads):
        prepare_load(deck, ld, s, out.load_index[i])
        a, n = ld.fixed_dofs()
        if a is not None:
            atom_mask |= a
        if n is not None:
            node_mask |= n
    if statics:
        return out
    s.fix_dofs(atom_mask if s.n_atoms else None, node_mask if s.n_nodes else None)
    if s.n_atoms and atom_mask.any():
        # fixed dofs keep their velocity: the Maxwell-Boltzmann start (`atoms.velocity`, drawn by the
        # builder before the loads named their fixed dofs) must not set fixed atoms drifting
        s.atoms.v[atom_mask] = 0.0
    out.hooks = [LoadHook(ld) for ld in m.loads]
    if m.thermostat is not None:
        m.thermostat.dt = float(deck.config.integrator.dt)
    hooks = list(out.hooks) + ([m.thermostat] if m.thermostat is not None else [])
    ops = [m.damping] if m.damping is not None else []
    from ..coupling.projector import DependentConstraintsError
    try:
        with located(deck, "integrator", "the integrator"):
            out.integrator = VelocityVerlet(s, deck.config.integrator.dt, force_hooks=hooks,
                                            impose_hooks=list(m.loads), velocity_ops=ops, n_threads=m.threads)
    except DependentConstraintsError as exc:
        raise dependent_constraints(deck, exc) from None
    warn_held_rows(out.integrator.projector)
    _set_thermal_share(model, deck, out.integrator, log)
    for i, ld in enumerate(m.loads):
        with located(deck, f"loads[{out.load_index[i]}]", "the initial state of the load"):
            ld.initialize(s)
    wave = [i for i, ld in enumerate(deck.config.loads) if ld.type == "wave_packet"]
    for i, ic in enumerate(out.initial_conditions):
        with located(deck, f"loads[{wave[i]}]" if i < len(wave) else "loads", "the wave packet"):
            start_wave_packet(model, deck, ic)
    with located(deck, "integrator", "the initial state"):
        out.integrator.project_state()
    return out


def warn_held_rows(projector) -> None:  # noqa: ANN001
    """The `DeckWarning` naming the constraint rows the projector dropped as effectively held
    (`ConstraintProjector.held_note`; rev32 F14): they are not enforced, their residual is the loads' held
    motion's (`ConstraintProjector.residual_held`), apart from the thermo's ``constraint_residual``."""
    note = projector.held_note() if projector is not None else None
    if note:
        import warnings

        from ..errors import DeckWarning
        warnings.warn(f"{note}: not enforced (the loads' held dofs decide them); thermo constraint_residual "
                      "covers the other rows", DeckWarning, stacklevel=2)


def prepare_load(deck, load, system, index: int) -> None:  # noqa: ANN001
    """``load.prepare(system)`` (it selects its atoms/nodes and checks its vectors against the dimension)
    with its mistakes as deck errors: a `loads.base.LoadError` at ``loads[index].<its key>``, another
    ValueError at ``loads[index]``."""
    from ..build import located
    from ..loads.base import LoadError
    key = f"loads[{index}]"
    with located(deck, key, "the load"):  # e.g. an unknown shape name inside a load
        try:
            load.prepare(system)
        except LoadError as exc:
            raise deck.error(f"{key}.{exc.key}" if exc.key else key, str(exc)) from exc
        except ValueError as exc:
            raise deck.error(key, str(exc)) from exc


def check_loads(model, deck) -> None:  # noqa: ANN001
    """`msim validate`: every load (wave packets aside: initial conditions, started by `prepare`) selects
    its atoms/nodes as `prepare` will, so its mistakes (an empty region, a vector of the wrong length, a zero
    indenting direction) are found before the run (rev32 F7). The loads are prepared again by `prepare`
    (`Load.prepare` recomputes its selection from the parameters)."""
    from ..loads.wave_packet import WavePacket
    for i, ld in enumerate(model.loads):
        if not isinstance(ld, WavePacket):
            prepare_load(deck, ld, model.system, i)


def held_row_note(model) -> str | None:  # noqa: ANN001
    """`msim validate` (dynamics decks, after `check_loads`): `ConstraintProjector.held_note` of the
    projector the run will build — the inverse masses with the loads' fixed dofs held — or None (no
    constraint rows, no held dof, no row dropped as held). Factorises the constraints once (as the run)."""
    from ..coupling.projector import ConstraintProjector
    from ..loads.wave_packet import WavePacket
    s = model.system
    if getattr(s, "G", None) is None or s.G.shape[0] == 0:
        return None
    atom_mask = np.zeros((s.n_atoms, s.d), bool)
    node_mask = np.zeros((s.n_nodes, s.d), bool)
    for ld in model.loads:
        if isinstance(ld, WavePacket):
            continue
        a, n = ld.fixed_dofs()
        if a is not None:
            atom_mask |= a
        if n is not None:
            node_mask |= n
    if not (atom_mask.any() or node_mask.any()):
        return None
    inv = s.inv_mass_unheld.copy().reshape(-1, s.d)
    if s.n_free:
        inv[: s.n_free][atom_mask[s.free]] = 0.0
    if s.n_nodes:
        inv[s.n_free:][node_mask] = 0.0
    return ConstraintProjector(s.G, inv.ravel(), unheld=s.inv_mass_unheld).held_note()


def dependent_constraints(deck, exc: Exception):  # noqa: ANN001, ANN201
    """The `DeckError` at ``continuum.mesh`` for a `coupling.projector.DependentConstraintsError` (the
    constraint rows of the deck's mesh and handshake have no independent subset the projector can find)."""
    return deck.error("continuum.mesh", f"cannot build the coupling constraints: {exc}",
                      "coarsen the mesh in the handshake (elements at least as large as the lattice period) or "
                      "widen the handshake, or tie the atoms one by one (`handshake.coupling.type: strong`)")


def _wants_thermal_share(model) -> bool:  # noqa: ANN001
    c = model.continuum
    return c is not None and getattr(c.material, "handshake", "uniform") in ("free_share", "quasi_harmonic")


def _set_thermal_share(model, deck, integrator, log=None) -> None:  # noqa: ANN001
    """Per-quadrature-point thermal strains ε_th (1 − θ_q) of a ``free_share`` continuum
    (`multiscale.coupling.thermal_share`) or a ``quasi_harmonic`` one (`multiscale.coupling.thermal_qh`),
    from the integrator's constraints; ``log``: stream of the quasi_harmonic set-up's progress lines."""
    if not _wants_thermal_share(model):
        return
    from ..coupling.thermal_qh import handshake_point_strains_qh
    from ..coupling.thermal_share import handshake_point_strains
    mat = model.continuum.material
    fn = handshake_point_strains_qh if mat.handshake == "quasi_harmonic" else handshake_point_strains
    kw = {"log": log} if mat.handshake == "quasi_harmonic" else {}
    if getattr(mat, "anharmonic", False):
        th = model.thermostat
        if mat.handshake != "quasi_harmonic" or th is None or not hasattr(th, "temperature"):
            raise deck.error("continuum.material.anharmonic", "anharmonic needs handshake: "
                             "quasi_harmonic and a thermostat with a temperature (the bonds' effective "
                             "temperatures scale it)")
        kw["kT"] = float(th.temperature) * float(getattr(th, "boltz", 1.0))
        if not kw["kT"] > 0.0:
            raise deck.error("continuum.material.anharmonic", "anharmonic needs a thermostat temperature "
                             "> 0 (at T = 0 there is no thermal pressure to correct)")
    try:
        eps_q, _ = fn(model.system, getattr(integrator, "projector", None), mat.strain, **kw)
    except ValueError as exc:
        raise deck.error("continuum.material.handshake", str(exc)) from exc
    mat.set_point_strains(eps_q)


def start_wave_packet(model, deck, packet) -> None:  # noqa: ANN001
    """Start a one-directional wave packet on a 1D chain (docs/physics.md §6)."""
    from ..loads.wave_packet import chain_dispersion
    m = model
    if m.atoms is None or m.dim != 1:
        raise deck.error("loads", "wave_packet needs a 1D atomistic chain")
    a = m.lattice.a
    shells = np.arange(1, int(m.potential.cutoff / a) + 1) * a
    h = 1e-4 * a
    springs = (m.potential.pair(shells + h)[1] - m.potential.pair(shells - h)[1]) / (2 * h)
    omega = chain_dispersion(a, m.units.mass_to_internal(m.mass_user), springs)
    packet.apply(m.system, deck.config.integrator.dt, a, omega)


def n_steps(model, deck, statics: bool) -> int:  # noqa: ANN001
    """The deck's run length: steps (dynamics: ``integrator.steps``, or ``time / dt`` rounded up) or load
    stages (statics: the largest ``n_stages`` of the loads, at least 1)."""
    integ = deck.config.integrator
    if statics:
        return max([ld.n_stages for ld in model.loads] + [1])
    if integ.steps is not None:
        return int(integ.steps)
    if integ.time is not None:
        return _time_steps(integ.time, integ.dt)
    return 0


def _time_steps(time: float, dt: float) -> int:
    """Steps of ``dt`` that cover ``time``: round(q) when q = time/dt is whole within 1e-9·max(1, q) (the
    test `time_rounding` uses, so a step is never added without its warning), else ceil(q)."""
    q = time / dt
    return int(round(q)) if abs(q - round(q)) <= 1e-9 * max(1.0, q) else int(math.ceil(q))


def time_rounding(deck) -> str | None:  # noqa: ANN001
    """Why the run's end differs from ``integrator.time`` (not a whole number of steps of ``dt``: the step
    count is rounded up, `n_steps`), or None (steps given, or a whole number within 1e-9)."""
    integ = deck.config.integrator
    if getattr(integ, "steps", None) is not None or getattr(integ, "time", None) is None:
        return None
    q = integ.time / integ.dt
    n = _time_steps(integ.time, integ.dt)
    if n == round(q) and abs(q - round(q)) <= 1e-9 * max(1.0, q):
        return None
    return (f"integrator.time {integ.time:g} is not a whole number of steps of dt {integ.dt:g} ({q:.6g}): "
            f"the run takes {n} steps and ends at t = {n * integ.dt:.6g}")


def run_length(deck_n: int, statics: bool, steps: int | None, stages: int | None) -> int:
    """Steps (dynamics) or load stages (statics) to run given ``--steps`` / ``--stages``; `DeckError`
    for a value that does not fit. ``deck_n``: the deck's own length (`n_steps`)."""
    if not statics:
        if stages is not None:
            raise DeckError("--stages limits the load stages of a quasi-static deck; this deck runs "
                            "dynamics (integrator.type: verlet): use --steps")
        return int(steps) if steps is not None else deck_n
    if steps is not None and stages is not None and int(steps) != int(stages):
        raise DeckError(f"--steps {steps} and --stages {stages} disagree (for a quasi-static deck both "
                        "count load stages): give one")
    n = stages if stages is not None else steps
    if n is None:
        return deck_n
    if int(n) > deck_n:
        given = "--stages" if stages is not None else "--steps"     # the option the user gave
        raise DeckError(f"{given} {n}: the deck has {deck_n} load stages", hint="to load further, "
                        "write more stages in a new deck and continue with --from")
    return int(n)
