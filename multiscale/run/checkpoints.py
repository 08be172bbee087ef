"""A run's record for its checkpoints: deck fingerprint, provenance, checkpoint metadata, the restart
check and the last-good file.

`RunRecord(deck)` is made once per run. ``meta(**extra)`` are the root attributes of every checkpoint the
run writes; ``restart_state(path, template)`` reads and checks a checkpoint for ``--restart`` (checksum,
same deck key by key and input files by content, a state that fits ``template``, the same reference sites:
`MODEL_ENTRY`) and raises `DeckError`
(exit 2) otherwise; ``save_lastgood`` writes ``OUT.lastgood.h5`` after a blow-up.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import BlowUpError, DeckError
from ..output.checkpoint import (
    RESTART_MAY_DIFFER,
    deck_fingerprint,
    fingerprint_differences,
    fingerprint_sha256,
    load_checkpoint,
    save_checkpoint,
)
from ..output.paths import lastgood_path


#: the entry of a checkpoint's state holding the model's reference sites (`RunRecord(model=...)`)
MODEL_ENTRY = "model"


class RunRecord:
    """Fingerprint and provenance of one run (module docstring).

    ``model``: ``{"reference_positions": X (n, d), "mesh_nodes": (N, d)}`` (either may be missing) of the
    run's model, stored in every checkpoint under `MODEL_ENTRY`: a continuation (`--from`) or a restart
    compares them with its own model's, as for a results file. Found off the gallery: the deck keys alone
    (`output.continuation.MODEL_KEYS`) let a changed site set through with the same atom count (a
    `lattice.a: relaxed` moved by a potential edit, a handshake shifted by one lattice period)."""

    def __init__(self, deck, model: dict | None = None) -> None:  # noqa: ANN001
        self.fingerprint = deck_fingerprint(deck)
        self.provenance: list = []
        self.model = {k: np.ascontiguousarray(v, float) for k, v in (model or {}).items() if v is not None}

    def meta(self, **extra: object) -> dict:
        """Root attributes of this run's checkpoints: version, the deck's fingerprint, provenance."""
        meta = {"msim_version": __version__, "deck": json.dumps(self.fingerprint, sort_keys=True),
                "deck_sha256": fingerprint_sha256(self.fingerprint)}
        if self.provenance:
            meta["provenance"] = json.dumps(self.provenance)
        meta.update(extra)
        return meta

    def restart_state(self, restart: str | Path, template: dict, total: int | None = None) -> dict:
        """Read and check a checkpoint for `--restart`: checksum (in `load_checkpoint`), same deck (key by
        key, input files by content), a state that fits ``template``, and (with ``total``, the run's length
        in steps or load stages) a state not beyond the run's end. `DeckError` (exit 2) otherwise.
        Takes over the checkpoint's provenance."""
        state, meta = self.check_restart_deck(restart, total)
        where = str(restart)
        problem = state_mismatch(template, state)
        if problem is None:
            problem = model_mismatch(state.get(MODEL_ENTRY), self.model)
        if problem is not None:
            raise DeckError(f"unusable checkpoint: {problem}", file=where)
        self.provenance = json.loads(meta.get("provenance", "[]"))
        return state

    def check_restart_deck(self, restart: str | Path, total: int | None = None) -> tuple[dict, dict]:
        """The checks of `restart_state` that need no prepared state: the checkpoint readable (checksum),
        written by this deck (key by key, input files by content) and (with ``total``) not beyond the
        run's end; `DeckError` otherwise. Returns ``(state, meta)``. `Simulation.check_restart` calls it
        in the set-up of a run on P ranks (rank 0 decides: the message once, `cli._run_mpi`)."""
        state, meta = load_checkpoint(restart, with_meta=True)
        where = str(restart)
        if "deck" not in meta:
            raise DeckError("the checkpoint does not record the deck it belongs to: cannot check that it "
                            "fits this deck", file=where)
        try:
            old = json.loads(meta["deck"])
        except (TypeError, ValueError):
            raise DeckError("damaged checkpoint: its deck record is not readable", file=where) from None
        diffs = fingerprint_differences(old, self.fingerprint)
        if diffs:
            raise DeckError(f"cannot restart: this deck differs from the one that wrote the checkpoint in "
                            f"{len(diffs)} key(s): " + "; ".join(diffs), file=where,
                            hint="on restart only " + ", ".join(RESTART_MAY_DIFFER) + " may change; to go "
                                 "on with a changed deck start a new run with --from " + where)
        if total is not None:
            _check_within_run(state, int(total), where)
        return state, meta

    def with_model(self, state: dict) -> dict:
        """``state`` plus the model's reference sites under `MODEL_ENTRY` (a shallow copy)."""
        return {**state, MODEL_ENTRY: self.model} if self.model else state

    def save_checkpoint(self, path: Path, state: dict, **extra: object) -> None:
        save_checkpoint(path, self.with_model(state), meta=self.meta(**extra))

    def save_lastgood(self, path: Path, state: dict, exc: BlowUpError, at: str) -> BlowUpError:
        """Write ``state`` to ``OUT.lastgood.h5`` (a checkpoint ``--restart`` accepts); returns the
        `BlowUpError` to raise, its message naming the file and ``at`` (which state it is)."""
        bad = lastgood_path(path)
        save_checkpoint(bad, self.with_model(state), meta=self.meta())
        return type(exc)(f"{exc}. The last good state ({at}) is saved in {bad}", step=exc.step,
                           region=exc.region, quantity=exc.quantity)


def _check_within_run(state: dict, total: int, where: str) -> None:
    """`DeckError` when a checkpoint's state lies beyond the run's end: a dynamics state at step k > total
    or a statics state whose next stage k > total (found off the gallery: a restart with a shortened
    ``integrator.steps`` went on "at step 40/20 (200.0%)", ran nothing and exited 0)."""
    if state.get("kind") == "statics":
        k, what, unit = int(state.get("next_stage", 0)), "load stages", "stage"
        done = k               # stages 0 … k−1 converged
    else:
        integ = state.get("integrator")
        if not isinstance(integ, dict) or "step" not in integ:
            return
        k = done = int(np.asarray(integ["step"]))
        what, unit = "steps", "step"
    if done > total:
        raise DeckError(f"cannot restart: the checkpoint holds the state after {done} {what}, beyond this "
                        f"run's length of {total} {what}: there is nothing to run (a restart goes on to the "
                        "same end)", file=where,
                        hint=f"to run further, give a length beyond {unit} {k} (`integrator.steps`, "
                             "`--steps`/`--stages`); to keep only the first part, use the results file "
                             "as it is")


def model_mismatch(recorded: object, model: dict) -> str | None:
    """Why the reference sites a checkpoint recorded (its `MODEL_ENTRY`; None for an earlier msim's) are
    not this model's (``RunRecord.model``): a count or a position more than 1e-9 of the model's size off
    (the results file's rule, `output.continuation.check_compatible`), or None."""
    if not isinstance(recorded, dict):
        return None
    what = {"reference_positions": ("atom", "atom reference positions"), "mesh_nodes": ("mesh node",
                                                                                       "mesh node positions")}
    for key, (one, many) in what.items():
        a, b = recorded.get(key), model.get(key)
        if a is None or b is None:
            continue
        a = np.asarray(a, float)
        if a.shape != b.shape:
            return (f"the checkpoint's model has {a.shape[0]} {one}s in {a.shape[-1]}D, this deck's "
                    f"{b.shape[0]}")
        if b.size:
            dev = float(np.max(np.abs(a - b)))
            if dev > 1e-9 * (1.0 + float(np.max(np.abs(b)))):
                i = int(np.argmax(np.max(np.abs(a - b), axis=1)))
                return (f"the {many} differ from this deck's by up to {dev:.3g} ({one} {i}: "
                        f"{np.round(a[i], 6).tolist()} there, {np.round(b[i], 6).tolist()} here)")
    return None


def state_mismatch(template: object, state: object, where: str = "state") -> str | None:
    """Why a checkpoint's state cannot be this model's (missing entries, arrays of other shapes), or None."""
    if isinstance(template, dict):
        if not isinstance(state, dict):
            return f"{where} is not a group"
        if template and not state:
            return f"{where} is empty"
        for k, v in template.items():
            if k not in state:
                if isinstance(v, dict) and not v:
                    continue
                if k.startswith("method."):
                    from ..integrate.verlet import MISSING_METHOD_STATE
                    return MISSING_METHOD_STATE
                return f"{where} has no entry '{k}'"
            problem = state_mismatch(v, state[k], f"{where}/{k}")
            if problem is not None:
                return problem
    elif isinstance(template, np.ndarray) and template.ndim:
        if not isinstance(state, np.ndarray):
            return f"{where} is not an array"
        if state.ndim != template.ndim or (state.shape != template.shape and template.shape[0]
                                            and state.shape[0]) or state.shape[1:] != template.shape[1:]:
            return f"{where} has shape {state.shape}, this model needs {template.shape}"
    return None
