"""A run's record for its checkpoints: deck fingerprint, provenance, checkpoint metadata, the restart
check and the last-good file.

`RunRecord(deck)` is made once per run. ``meta(**extra)`` are the root attributes of every checkpoint the
run writes; ``restart_state(path, template)`` reads and checks a checkpoint for ``--restart`` (checksum,
same deck key by key and input files by content, a state that fits ``template``) and raises `DeckError`
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


class RunRecord:
    """Fingerprint and provenance of one run (module docstring)."""

    def __init__(self, deck) -> None:  # noqa: ANN001
        self.fingerprint = deck_fingerprint(deck)
        self.provenance: list = []

    def meta(self, **extra: object) -> dict:
        """Root attributes of this run's checkpoints: version, the deck's fingerprint, provenance."""
        meta = {"msim_version": __version__, "deck": json.dumps(self.fingerprint, sort_keys=True),
                "deck_sha256": fingerprint_sha256(self.fingerprint)}
        if self.provenance:
            meta["provenance"] = json.dumps(self.provenance)
        meta.update(extra)
        return meta

    def restart_state(self, restart: str | Path, template: dict) -> dict:
        """Read and check a checkpoint for `--restart`: checksum (in `load_checkpoint`), same deck (key by
        key, input files by content), a state that fits ``template``. `DeckError` (exit 2) otherwise.
        Takes over the checkpoint's provenance."""
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
        problem = state_mismatch(template, state)
        if problem is not None:
            raise DeckError(f"unusable checkpoint: {problem}", file=where)
        self.provenance = json.loads(meta.get("provenance", "[]"))
        return state

    def save_checkpoint(self, path: Path, state: dict, **extra: object) -> None:
        save_checkpoint(path, state, meta=self.meta(**extra))

    def save_lastgood(self, path: Path, state: dict, exc: BlowUpError, at: str) -> BlowUpError:
        """Write ``state`` to ``OUT.lastgood.h5`` (a checkpoint ``--restart`` accepts); returns the
        `BlowUpError` to raise, its message naming the file and ``at`` (which state it is)."""
        bad = lastgood_path(path)
        save_checkpoint(bad, state, meta=self.meta())
        return type(exc)(f"{exc}. The last good state ({at}) is saved in {bad}", step=exc.step,
                           region=exc.region, quantity=exc.quantity)


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
