"""Site and bond weights of the handshake on the spatial engine (`parallel.engine.DistributedMD`).

The weighted energy of the atoms (docs/physics.md §2) is ``E = Σ_a w_a F(ρ_a) + Σ_{a<b} w_ab φ(r_ab)``,
the serial `md.system.AtomisticRegion` with ``set_weights(site_w, bond_weight_fn)``. On the engine:

* **site weights** w_a (β̄_a) are a per-atom column like the mass: migrated with their atom at a rebuild
  and sent with the ghosts (`DistributedMD` keeps ``site_w`` (n_loc,), owned rows first). EAM reads
  them in its embedding pass (w F(ρ), w F'(ρ)); w F'(ρ) of a ghost comes from its owner with the
  per-step F'(ρ) exchange. Pair potentials have no site term.
* **bond weights** w_ab are computed by every rank for the entries of ITS filtered local list at each
  rebuild (`entry_weights`), from the REFERENCE positions X_ref (n_loc, d) that travel with the atoms
  like the site weights, with the function the serial region uses — e.g.
  ``coupling.handshake.Handshake.bond_weight_fn`` (its compiled ``symmetric`` kernel,
  kernels/handshake_geom.pyx) — built on the local reference positions. The reference bond vector is
  formed with the serial arithmetic, ``dX = (X_j − X_i) + s`` with the serial list's shift vector s
  (``s = k L − (I_j L − I_i L)`` in the serial list's unwrapped frame: k the image shift between the
  positions wrapped at the build, I the atoms' image counts), and the symmetric weight
  ½[fn(i, j, dX) + fn(j, i, −dX)] is unchanged by swapping the pair (dX → −dX exactly), so a pair across
  a slab face gets bitwise the same weight on both ranks and in the serial run (tests/parallel/
  test_mpi_spatial.py checks a weighted force evaluation of coupled decks' atoms on 2 ranks against the
  serial one).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def local_bond_fn(factory: Callable, X_ref: np.ndarray) -> Callable:
    """``factory(X_ref (k, d)) -> fn(i, j, dX)`` (e.g. ``Handshake.bond_weight_fn``) applied to this
    rank's local reference positions (owned + ghost rows, NOT shifted by the periodic seam)."""
    return factory(np.ascontiguousarray(X_ref, dtype=float))


def entry_weights(fn: Callable, lst, X_ref: np.ndarray, image: np.ndarray, gshift: np.ndarray,  # noqa: ANN001
                  period: np.ndarray, local_period: np.ndarray, n_threads: int = 1) -> np.ndarray:
    """(m,) bond weights of the m entries of a local half list (`engine._LocalList`).

    fn : ``fn(i, j, dX) -> (m,)`` over local indices (`local_bond_fn`), optionally with ``fn.symmetric``
    X_ref : (n_loc, d) reference positions [length] of the local atoms (ghosts unshifted)
    image : (n_loc, d) int64 image counts of the local atoms at the build (unwrapped x = wrapped x + I L)
    gshift : (n_loc, d) int64 periodic-seam shift of each local row in periods (0 for owned atoms, ±1 along
        the cut axis for a ghost sent across the seam)
    period : (d,) box periods (0 on free axes); local_period : (d,) the periods of the local list's box
    """
    m = int(lst.neighbors.size)
    if m == 0:
        return np.zeros(0)
    n_loc, d = X_ref.shape
    i = np.repeat(np.arange(n_loc, dtype=np.int64), np.diff(lst.offsets))
    j = lst.neighbors.astype(np.int64)
    # the image shift of each entry between positions wrapped at the build, in whole periods
    sv_loc = lst.shift_table[lst.shift_code, :d]
    k = np.zeros((m, d), np.int64)
    per = local_period > 0
    if np.any(per):
        k[:, per] = np.rint(sv_loc[:, per] / local_period[per]).astype(np.int64)
    k += gshift[j] - gshift[i]
    # the serial list's shift vector in its frame (AtomisticRegion lists unwrapped x): k L − (I_j L − I_i L)
    shift_img = image * period
    sv = k * period - (shift_img[j] - shift_img[i])
    dX = np.take(X_ref, j, axis=0) - np.take(X_ref, i, axis=0)
    dX += sv
    sym = getattr(fn, "symmetric", None)
    if sym is not None:
        w = np.asarray(sym(i, j, dX), float)
    else:
        w = 0.5 * (np.asarray(fn(i, j, dX), float) + np.asarray(fn(j, i, -dX), float))
    if w.shape != (m,):
        raise ValueError("the bond weight function must return one weight per bond")
    return np.ascontiguousarray(w)
