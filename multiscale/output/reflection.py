"""Reflection sweeps R(k·a) (written by `msim verify`, drawn by `msim plot FILE reflection`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np

from .._lazy import lazy_module

h5py = lazy_module("h5py")


def write_reflection(path: str | os.PathLike, ka: np.ndarray, R: np.ndarray, *,
                     labels: list[str] | None = None, attrs: Mapping[str, object] | None = None) -> None:
    """Store a reflection sweep (for `msim plot FILE reflection`): `/reflection/ka` (m,) [dimensionless
    k·a], `/reflection/R` (m, k) reflected energy fractions of k series, attr `labels` (JSON list).

    Adds the group to an existing (closed) msim HDF5 file, replacing a previous sweep, or creates a
    file with `msim_format="msim-verify"`.
    """
    ka = np.asarray(ka, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64).reshape(len(ka), -1)
    labels = list(labels) if labels is not None else [f"series {j}" for j in range(R.shape[1])]
    if len(labels) != R.shape[1]:
        raise ValueError(f"{len(labels)} labels for {R.shape[1]} series of R")
    with h5py.File(path, "a") as f:
        f.attrs.setdefault("msim_format", "msim-verify")
        if "reflection" in f:
            del f["reflection"]
        g = f.create_group("reflection")
        g["ka"], g["R"] = ka, R
        g.attrs["labels"] = json.dumps(labels)
        for k, v in (attrs or {}).items():
            g.attrs[k] = v


def read_reflection(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(ka (m,), R (m, k), labels) stored by `write_reflection`; DeckError if the file has none."""
    from multiscale.errors import DeckError
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DeckError("not an HDF5 file", file=str(path)) from None
    with f:
        if "reflection" not in f:
            raise DeckError("no reflection sweep in this file", file=str(path),
                            hint="`msim verify DECK` writes one (R against k·a)")
        g = f["reflection"]
        return g["ka"][()], g["R"][()], json.loads(g.attrs["labels"])
