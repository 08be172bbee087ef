"""The quasi-static run (``integrator.type: fire | lbfgs | precon_lbfgs``): one minimisation per load stage
(`integrate.quasistatic.run_quasistatic`), and after each converged stage the operations
``[StageThermo, FrameWriter, StageLastGood, StageCheckpoint, ProgressReport]`` (the same loop interface
as dynamics, one event per stage; time = the stage index). Checkpoints every ``output.checkpoint_every``
stages (default every stage) and after the last, holding the state to go on at the next stage
(``--restart`` continues there bitwise). Non-finite energies, forces, positions or loads stop the run with
`BlowUpError`; the state after the last good stage is saved as OUT.lastgood.h5.

A load with a ``clearance(x)`` (the indenter) that exerted no force at any converged stage of the run
gets one `errors.DeckWarning` at the end: "the indenter never touched the atoms (closest approach X)"
(a deck whose indenter misses the body otherwise runs every stage at zero load without a word).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..deck.section import plugin_of
from ..errors import BlowUpError, DeckWarning
from ..output.checkpoint import checkpoint_path
from ..output.progress import Progress
from . import blowup
from .operations import Event, FrameWriter, ProgressReport, StageCheckpoint, StageLastGood, StageThermo


def run_statics(sim, writer, path: Path, n: int, ck_state: dict | None, origin,  # noqa: ANN001
                progress: str, after_stage=None) -> None:  # noqa: ANN001
    """Run ``n`` load stages of ``sim`` (a prepared `Simulation`), writing to ``writer``.
    ``after_stage(i)``: called after each converged stage, before its operations (a P-rank run checks
    there that its replicas are still equal)."""
    from ..integrate.quasistatic import run_quasistatic
    integ_cfg = sim.deck.config.integrator
    minimizer = plugin_of(integ_cfg).from_params(integ_cfg, sim.model.units)
    s, loads, record = sim.model.system, sim.model.loads, sim.record
    every = sim.deck.config.output.checkpoint_every or 1
    start, state = 0, None
    if ck_state is not None:
        start, state = int(ck_state["next_stage"]), ck_state
        writer.truncate_after(start - 1)
    elif origin is not None:
        state = {"x": origin.x, "U": origin.U}
    last_good = StageLastGood(s, loads)

    with Progress(n, mode=progress, start_step=start) as bar:
        ops = [StageThermo(writer), FrameWriter(writer, sim.fields, None, always=True), last_good,
               StageCheckpoint(checkpoint_path(path), last_good, record, every, n), ProgressReport(bar)]

        contact = _Contact(loads, sim.model.atoms, sim.model.units.length)
        if start > 0:
            contact.seed(writer.columns("observables"))

        def callback(i: int, rec: dict) -> bool:
            if after_stage is not None:
                after_stage(i)
            contact.stage()
            ev = Event(i, i, lambda: float(i), n, done=i + 1, record=rec)
            for op in ops:
                if op.due(i, n):
                    op(ev)
            return False

        try:
            try:
                run_quasistatic(s, loads, minimizer, stages=n, callback=callback,
                                start=start, state=state, after_start=lambda: last_good.take(start))
            except blowup.NUMERIC as exc:
                from ..coupling.projector import DependentConstraintsError
                if isinstance(exc, DependentConstraintsError):      # the deck's mesh, not a divergence
                    from .prepare import dependent_constraints
                    raise dependent_constraints(sim.deck, exc) from None
                if isinstance(exc, MemoryError) and not sim.state.exploded():
                    # a sane state that does not fit (the preconditioner's factor of a huge model): say so
                    # at the integrator, exit 2 (a divergence would blame the loads)
                    raise sim.deck.error("integrator", f"not enough memory for the minimisation: {exc}",
                                         "make the region or mesh smaller, or use integrator.preconditioner: "
                                         "none or integrator.type: fire (no factorised preconditioner)"
                                         ) from None
                blowup.minimisation_diverged(exc, sim.state)
            if sim.reduce.rank == 0:     # replicated on P ranks: every rank sees the same; say it once
                contact.warn()
        except BlowUpError as exc:
            snap = last_good.snapshot
            at = (f"after load stage {snap['next_stage'] - 1}" if snap.get("next_stage")
                  else "the initial state, before load stage 0")
            raise record.save_lastgood(path, snap, exc, at) from None


def check_indenter_start(sim, origin=None) -> None:  # noqa: ANN001
    """Refuse a fresh quasi-static run whose indenter starts buried in the atoms (`DeckError`, exit 2, at
    ``loads[i].center``, or at its ``depth_steps`` / ``depths`` when the centre alone is clear).

    At the first load stage's depth, with the atoms at their starting positions (the reference, or the
    ``--from`` state ``origin``), no atom may lie inside the indenter by more than the nearest-neighbour
    spacing a_nn of the atoms it overlaps (median distance to the nearest other atom). A deeper start is
    not a quasi-static load path: the first minimisation has to push the buried atoms out through the
    crystal at once (forces K g² of hundreds of ε/σ), the minimum it finds depends on the minimiser's
    path, and it takes hundreds of iterations per stage — the deck fuzz's ``indent2d_full`` with the centre
    at y = 0 (R = 10 σ, 157 atoms up to 9.7 σ inside, 5 stages) spent 300 s CPU in L-BFGS iterations, over
    900 in stage 0 alone, each with two triangular solves of the stiffness preconditioner's (unchanged,
    26 M-entry) SuperLU factor. Restarts (``--restart``) are not checked: they go on from a converged
    stage."""
    m = sim.model
    atoms = m.atoms
    if atoms is None or not atoms.n:
        return
    x = atoms.X if origin is None or origin.x is None else np.asarray(origin.x, float)
    deck_index = [i for i, c in enumerate(sim.deck.config.loads) if c.type != "wave_packet"]
    held = np.zeros(atoms.n, bool)
    for ld in m.loads:
        a, _ = ld.fixed_dofs()
        if a is not None:
            held |= np.asarray(a, bool).reshape(atoms.n, -1).any(axis=1)
    unit = m.units.length
    for k, ld in enumerate(m.loads):
        if not hasattr(ld, "inside"):
            continue
        ld.set_stage(0)
        depth = ld.depth(0.0)
        idx, gap = ld.inside(x, ld.center_at(depth))[:2]
        if not idx.size:
            continue
        from scipy.spatial import cKDTree
        dist, _ = cKDTree(x).query(x[idx], k=2)
        a_nn = float(np.median(dist[:, 1]))
        worst = float(gap.max())
        if not worst > a_nn:
            continue
        key = f"loads[{deck_index[k]}]"
        at_zero = ld.inside(x, ld.center_at(0.0))[1]
        p = ld.params
        if depth != 0.0 and (not at_zero.size or float(at_zero.max()) <= a_nn):
            key += ".depth_steps" if p.depth_steps is not None else ".depths"
        else:
            key += ".center"
        n_held = int(np.count_nonzero(held[idx]))
        raise sim.deck.error(
            key, f"the indenter '{ld.name}' starts {worst:.4g} {unit} deep inside the atoms at its first "
            f"depth ({depth:g} {unit}): {idx.size} atoms lie inside it"
            + (f" ({n_held} of them fixed)" if n_held else "")
            + f", deeper than their nearest-neighbour spacing {a_nn:.4g} {unit}; the first minimisation "
            "would have to push them out through the crystal at once (not a quasi-static load path: slow, "
            "and the result depends on the minimiser)",
            hint="place the indenter at the surface (its centre, or the first of depth_steps / depths) and "
                 "step it in; to go on from an earlier indentation use `msim run --from` with its state")


class _Contact:
    """Per load with a ``clearance`` (the indenter): did it push on any atom at a converged stage, and its
    closest approach to the atoms [length] over the stages."""

    def __init__(self, loads, atoms, length_unit: str) -> None:  # noqa: ANN001
        self.atoms, self.unit = atoms, length_unit
        self.loads = [] if atoms is None else [ld for ld in loads if hasattr(ld, "clearance")]
        self.touched = [False] * len(self.loads)
        self.closest = [float("inf")] * len(self.loads)
        self.stages = 0

    def seed(self, columns: dict) -> None:
        """A restart: the stages before it count (``columns``: the results file's observables rows, as
        `HDF5Writer.columns` reads them) — a force on a load's atoms at any of them is a touch (rev30 F7:
        the warning said "never touched" after a restart past the stages that pushed)."""
        for k, ld in enumerate(self.loads):
            for key, rows in columns.items():
                load, _, q = key.rpartition(".")
                if load == ld.name and q.startswith("force_") and np.any(np.asarray(rows) != 0.0):
                    self.touched[k] = True

    def stage(self) -> None:
        self.stages += 1
        for k, ld in enumerate(self.loads):
            self.touched[k] |= any(v != 0.0 for key, v in ld.observables().items()
                                   if key.rsplit(".", 1)[-1].startswith("force_"))
            if not self.touched[k]:
                self.closest[k] = min(self.closest[k], ld.clearance(self.atoms.x))

    def warn_rows(self, rows: int, every: int) -> None:
        """Dynamics: the `DeckWarning` for each load whose force was zero at every one of ``rows`` thermo
        rows (written every ``every`` steps; a contact only between rows is not seen)."""
        for ld, touched in zip(self.loads, self.touched, strict=True):
            if not touched:
                warnings.warn(f"the indenter '{ld.name}' pushed on no atom at any of the {rows} thermo rows "
                              f"(every {every} steps): the run was unloaded; check its direction, depths "
                              "and velocity", DeckWarning, stacklevel=2)

    def warn(self) -> None:
        for ld, touched, closest in zip(self.loads, self.touched, self.closest, strict=True):
            if self.stages and not touched:
                warnings.warn(f"the indenter '{ld.name}' never touched the atoms (closest approach "
                              f"{closest:.4g} {self.unit} over {self.stages} stage{'s' * (self.stages != 1)}): "
                              f"every stage ran at zero load", DeckWarning, stacklevel=2)
