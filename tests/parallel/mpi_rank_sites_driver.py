"""Run by tests/parallel/test_rank_sites.py under ``mpiexec -n P``: `parallel.rank_sites.rank_sites_from_deck`
and `handshake_band` on each rank for a list of decks; rank 0 writes every rank's arrays.

    python mpi_rank_sites_driver.py OUT.npz DECK[:plane] ...

``DECK:plane`` moves the inner slab faces onto planes of lattice sites (the x of the nearest site);
``DECK:cut=x1,x2,...`` puts them at x1, ... (the first P − 1 values).
``BREAK`` in the environment breaks the code on purpose (the test's negative controls): ``halo0`` (halo 0)
or ``nofreecounts`` (free ids numbered within each rank: no per-row pad counts of the other ranks).
OUT: ``c/r/<field>`` for deck c, rank r (X, sub, types, weight, pad, mass, mass_full, gid, free_id,
site_id),
``c/band/<field>`` rank 0's band, ``c/band_same`` every rank got the same band bit for bit,
``c/bounds`` the slab faces, ``c/n_atoms``, ``c/n_free``; ``size``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

FIELDS = ("X", "sub", "types", "weight", "pad", "mass", "mass_full", "gid", "free_id", "site_id")
BAND = ("X", "gid", "free_id", "weight", "pad", "mass", "mass_full")


def _on_planes(dec, lattice) -> None:  # noqa: ANN001
    """Inner slab faces moved to the x of a lattice site near each (a cut through a plane of sites)."""
    lo, hi = dec.box.lo, dec.box.hi
    for k in range(1, len(dec.bounds) - 1):
        c = float(dec.bounds[k])
        blo, bhi = lo.copy(), lo + 3.0 * lattice.a
        blo[0], bhi[0] = c - lattice.a, c + lattice.a
        X = lattice.sites_in_box(blo, bhi)
        dec.bounds[k] = float(X[np.argmin(np.abs(X[:, 0] - c)), 0])


def band_system(deck, band, rs, hs):  # noqa: ANN001, ANN201
    """`parallel.band_system.BandSystem` (step 4) from the replicated band, the deck's mesh and coupling: no
    serial model on any rank; None when it refuses the coupling (ghost_corrected, force_blend)."""
    from multiscale import build as B
    from multiscale.deck.section import plugin_of
    from multiscale.parallel.band_system import BandSystem, band_refusal
    cfg = deck.config
    method = plugin_of(cfg.handshake.coupling).from_params(cfg.handshake.coupling, deck.units, deck.directory)
    if band_refusal(method) is not None:
        return None
    pot = B._potential(deck, deck.units)
    lat = B._lattice(deck, pot)
    tm = B._type_masses(deck, B._type_order(B._sublattice_names(deck, pot), pot, cfg.potential))
    cont = B._continuum(deck, deck.units, pot, lat, lat.dim, float(tm[0]), 1)
    return BandSystem(cont, hs, method, lat.primitive_vectors, band.X, band.gid, band.free_id, band.weight,
                      band.pad, band.mass_full, rs.n_atoms, rs.n_free)


def main() -> None:
    from multiscale.deck import load_deck
    from multiscale.md.box import Box
    from multiscale.parallel import get_comm, run_guarded
    from multiscale.parallel import rank_sites as R
    from multiscale.parallel.engine import SlabDecomposition
    comm = get_comm()
    brk = os.environ.get("BREAK", "")

    def run() -> None:
        out: dict = {}
        if brk == "halo0":
            base = R.rank_sites
            R.rank_sites = lambda *a, **k: base(*a, **{**k, "halo": 0.0})
        if brk == "nofreecounts":
            import multiscale.parallel.rank_sites as mod
            base_ids = mod.serial_ids

            def local_free(X, c, subsets=()):  # noqa: ANN001, ANN202
                sid, rest = base_ids(X, c, subsets)
                m = np.asarray(subsets[-1], bool)       # the free ids' subset (the last)
                g = np.full(len(X), -1, np.int64)
                g[m] = np.arange(int(m.sum()))          # numbered within the rank only
                return sid, list(rest[:-1]) + [g]
            mod.serial_ids = local_free
        for c, spec in enumerate(sys.argv[2:]):
            path, _, opt = spec.partition(":")
            deck = load_deck(path)
            dec = None
            if opt == "plane" or opt.startswith("cut="):
                from multiscale import build as B
                pot = B._potential(deck, deck.units)
                lat = B._lattice(deck, pot)
                reach = float(pot.cutoff) + float(deck.config.atoms.skin)
                _, lo, hi, _ = B._region_and_bounds(deck, lat, [False] * lat.dim, [], 2 * reach)
                dec = SlabDecomposition(Box(lo, hi, [False] * lat.dim), comm.size, 0, reach)
                if opt == "plane":
                    _on_planes(dec, lat)
                else:
                    dec.bounds[1:-1] = [float(v) for v in opt[4:].split(",")][: comm.size - 1]
            rs, hs, dec = R.rank_sites_from_deck(deck, comm, dec)
            band = R.handshake_band(rs, hs, comm)
            bsys = None if brk else band_system(deck, band, rs, hs)     # (BandSystem refuses bad free ids)
            mine = {k: getattr(rs, k) for k in FIELDS}
            parts = comm.gather(mine, 0) if comm.size > 1 else [mine]
            bsum = [hashlib.sha256(np.ascontiguousarray(getattr(band, k)).tobytes()).hexdigest()
                    for k in BAND]
            bs = comm.gather(bsum, 0) if comm.size > 1 else [bsum]
            if comm.rank == 0:
                for r, p in enumerate(parts):
                    for k, v in p.items():
                        out[f"{c}/{r}/{k}"] = v
                for k in BAND:
                    out[f"{c}/band/{k}"] = getattr(band, k)
                out[f"{c}/band_same"] = np.bool_(all(b == bs[0] for b in bs))
                out[f"{c}/n_atoms"], out[f"{c}/n_free"] = np.int64(rs.n_atoms), np.int64(rs.n_free)
                out[f"{c}/bounds"] = np.asarray(dec.bounds)
            if bsys is not None and bsys.G is not None:
                G = bsys.G.tocsr()
                arrs = {"indptr": G.indptr, "indices": G.indices, "data": G.data, "shape": np.array(G.shape),
                        "pad_idx": bsys.pad_idx, "gid_constrained": bsys.gid_constrained,
                        "node_mass": bsys.node_mass, "atom_mass": bsys.atom_mass}
                sums = [hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for v in arrs.values()]
                ss = comm.gather(sums, 0) if comm.size > 1 else [sums]
                if comm.rank == 0:
                    out.update({f"{c}/bs/{k}": v for k, v in arrs.items()})
                    out[f"{c}/bs_same"] = np.bool_(all(x == ss[0] for x in ss))
        if comm.rank == 0:
            np.savez(sys.argv[1], size=comm.size, **out)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
