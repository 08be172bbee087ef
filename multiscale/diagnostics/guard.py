"""Blow-up guard: stop a run that has become numerically unstable, saying where and in what.

Three checks, run by `BlowUpGuard.check` on the triggers the simulation chooses (every output or thermo
step, or every step: each check is O(n) NumPy):

1. every array given is finite (NaN / inf anywhere -> blow-up);
2. atoms stay in the box: on a non-periodic axis a position beyond `[lo - margin, hi + margin]` is an atom
   lost (periodic axes are not checked: positions there may be unwrapped);
3. the total energy does not jump: `|E - E_ref| > energy_jump * scale` where `E_ref` is the total at the
   previous check (a running reference, so slow legitimate changes pass) and
   `scale = max(|E_ref|, |E_first|, energy_floor)`; with `scale == 0` the check waits for a nonzero scale.
   The total meant is the conserved one (total + dissipated - external work in the ledger's terms).

A failed check raises `multiscale.errors.BlowUpError(message, step=, region=, quantity=)` whose message
names the step, the region and the quantity (and the offending atom/node index and value). The caller
(the simulation) then writes its last good state.

On a rank-split run each rank checks only the atoms it owns: the region dict then carries the global atom
ids (``ids_key``, "gid": int (n,)) so that a message names the atom as the serial run does, and
`lost_atoms` / `box_error` let `run.reduce.Reduction.guard_check` report the lost atom of smallest id
and the count over all ranks (the serial message, whichever rank holds the atom).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from multiscale.errors import BlowUpError

_ITEM = {"atoms": "atom", "continuum": "node", "nodes": "node"}


def _box_arrays(box: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo (d,), hi (d,), periodic (d,) bool) from a Box-like object or a (lo, hi, periodic) tuple."""
    if hasattr(box, "lo"):
        lo, hi, per = box.lo, box.hi, getattr(box, "periodic", None)
    else:
        lo, hi, per = box
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    per = np.zeros(lo.shape, bool) if per is None else np.asarray(per, dtype=bool)
    return lo, hi, per


class BlowUpGuard:
    """Checks a running simulation for NaN/inf, lost atoms and energy jumps.

    Parameters
    ----------
    margin: distance [length] an atom may go beyond a free (non-periodic) box face; None -> 10% of the
        box length along that axis.
    energy_jump: largest allowed relative change of the total energy between two checks (default 0.5).
    energy_floor: smallest energy scale [energy] the jump is measured against (use it when the total
        can be ~0, e.g. a body at rest before loading); 0 -> the scale is |E_ref| or |E_first| only.
    position_key: name of the positions array in the region dicts given to `check` ("x").
    ids_key: name of the optional global-id array (int (n,)) in a region dict ("gid"): messages name
        ``ids[i]`` instead of the local row ``i`` (rank-split runs; absent: the row is the id).
    """

    def __init__(self, *, margin: float | None = None, energy_jump: float = 0.5, energy_floor: float = 0.0,
                 position_key: str = "x", ids_key: str = "gid") -> None:
        if energy_jump <= 0:
            raise ValueError("energy_jump must be > 0")
        self.margin = margin
        self.energy_jump = float(energy_jump)
        self.energy_floor = float(energy_floor)
        self.position_key = position_key
        self.ids_key = ids_key
        self.lost: tuple | None = None   # (count, id, axis, position) of this rank's last in-box check
        self.e_ref: float | None = None
        self.e_first: float | None = None
        self.regions_ref: dict[str, float] = {}
        self.last_good_step: int | None = None

    # ------------------------------------------------------------------ checks
    def check(self, step: int, arrays: Mapping[str, Mapping[str, np.ndarray]],
              energy_total: float | None = None, box: Any = None,
              energies: Mapping[str, float] | None = None) -> None:
        """Raise `BlowUpError` if anything is wrong at `step`.

        arrays: {region: {quantity: ndarray}}, e.g. {"atoms": {"x": (n,d), "v": (n,d), "forces": (n,d)},
            "continuum": {"U": (N,d), "V": (N,d), "forces": (N,d)}}; all are checked for finiteness.
        energy_total: the conserved total energy [energy], or None to skip the jump check.
        box: Box-like (`.lo`, `.hi`, `.periodic`) or (lo, hi, periodic); positions
            `arrays["atoms"][position_key]` are checked against it.
        energies: optional {region: energy} used to name the region responsible for a jump.
        """
        self.lost = None
        for region, quantities in arrays.items():
            ids = quantities.get(self.ids_key)
            for quantity, arr in quantities.items():
                if quantity != self.ids_key:
                    self._finite(step, region, quantity, np.asarray(arr), ids)
        if box is not None and "atoms" in arrays and self.position_key in arrays["atoms"]:
            self._in_box(step, np.asarray(arrays["atoms"][self.position_key]), box,
                         arrays["atoms"].get(self.ids_key))
        if energy_total is not None:
            self._energy(step, float(energy_total), energies)
        self.last_good_step = int(step)

    def _finite(self, step: int, region: str, quantity: str, arr: np.ndarray,
                ids: np.ndarray | None = None) -> None:
        if arr.dtype.kind not in "fc":
            return
        bad = ~np.isfinite(arr)
        if not bad.any():
            return
        idx = np.unravel_index(int(np.argmax(bad)), arr.shape) if arr.ndim else ()
        where = ""
        if arr.ndim >= 1:
            i = int(idx[0]) if ids is None or len(ids) != len(arr) else int(ids[idx[0]])
            where = f" at {_ITEM.get(region, 'entry')} {i}"
            if arr.ndim >= 2:
                where += f", component {idx[1]}"
        raise BlowUpError(
            f"blow-up at step {step}: {quantity} of region '{region}' is not finite ({arr[idx]}{where}; "
            f"{int(bad.sum())} bad values); the time step is probably too large",
            step=int(step), region=region, quantity=quantity)

    def lost_atoms(self, x: np.ndarray, box: Any, ids: np.ndarray | None = None) -> tuple:
        """(count, id, axis, position) of the atoms of positions ``x`` (n, d) beyond a free box face
        (plus the margin): how many, and the lost atom of smallest id (``ids`` (n,) int, or the row) with
        its first such axis and its coordinate there; (0, -1, -1, nan) when none is lost."""
        lo, hi, per = _box_arrays(box)
        x = x.reshape(len(x), -1)
        margin = self._margin(lo, hi)
        out = ((x < lo - margin) | (x > hi + margin)) & ~per
        rows = np.flatnonzero(out.any(axis=1))
        if not len(rows):
            return 0, -1, -1, float("nan")
        if ids is not None and len(ids) == len(x):
            a = int(rows[np.argmin(np.asarray(ids)[rows])])
            gid = int(ids[a])
        else:
            a = gid = int(rows[0])
        ax = int(np.argmax(out[a]))
        return len(rows), gid, ax, float(x[a, ax])

    def _margin(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return 0.1 * (hi - lo) if self.margin is None else np.full(lo.shape, float(self.margin))

    def box_error(self, step: int, box: Any, lost: tuple) -> BlowUpError:
        """The `BlowUpError` naming the lost atom of ``lost = (count, id, axis, position)``
        (`lost_atoms`, or its reduction over ranks)."""
        lo, hi, _ = _box_arrays(box)
        margin = self._margin(lo, hi)
        n, a, ax, pos = lost
        name = "xyz"[ax] if len(lo) <= 3 else str(ax)
        return BlowUpError(
            f"blow-up at step {step}: atom {a} of region 'atoms' left the box along {name} "
            f"(position {pos:.6g}, box [{lo[ax]:.6g}, {hi[ax]:.6g}] with margin {margin[ax]:.6g}; "
            f"{n} atoms out)",
            step=int(step), region="atoms", quantity="position")

    def _in_box(self, step: int, x: np.ndarray, box: Any, ids: np.ndarray | None = None) -> None:
        self.lost = self.lost_atoms(x, box, ids)
        if self.lost[0]:
            raise self.box_error(step, box, self.lost)

    def _energy(self, step: int, e: float, energies: Mapping[str, float] | None) -> None:
        if not np.isfinite(e):
            raise BlowUpError(f"blow-up at step {step}: total energy of region 'all' is not finite ({e})",
                              step=int(step), region="all", quantity="energy_total")
        if self.e_first is None:
            self.e_first = e
        if self.e_ref is not None:
            scale = max(abs(self.e_ref), abs(self.e_first), self.energy_floor)
            change = abs(e - self.e_ref)
            if scale > 0 and change > self.energy_jump * scale:
                region = "all"
                if energies and self.regions_ref:
                    deltas = {r: abs(float(v) - self.regions_ref.get(r, float(v)))
                              for r, v in energies.items()}
                    region = max(deltas, key=deltas.get)
                raise BlowUpError(
                    f"blow-up at step {step}: total energy jumped from {self.e_ref:.6g} to {e:.6g} "
                    f"(change {change:.3g} > {self.energy_jump:g} x scale {scale:.3g}); largest change in "
                    f"region '{region}'; the time step is probably too large",
                    step=int(step), region=region, quantity="energy_total")
        self.e_ref = e
        if energies:
            self.regions_ref = {r: float(v) for r, v in energies.items()}

    # ------------------------------------------------------------------ restart
    def state(self) -> dict:
        """Running references, for a checkpoint (so a restarted run checks exactly as an unbroken one)."""
        return {"e_ref": self.e_ref, "e_first": self.e_first, "regions_ref": dict(self.regions_ref),
                "last_good_step": self.last_good_step}

    def set_state(self, state: Mapping) -> None:
        self.e_ref = state["e_ref"]
        self.e_first = state["e_first"]
        self.regions_ref = dict(state["regions_ref"])
        self.last_good_step = state["last_good_step"]
