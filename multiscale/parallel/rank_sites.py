"""One rank's own atoms of a coupled model, classified without the serial model (steps 2–3 of the per-rank
build, docs/parallel.md "Per-rank memory of the spatial path").

The serial build (`build.build_model`) makes every lattice site of ``atoms.region``
(`Lattice.sites_in_box` over the region's bounds, then ``region.contains``), classifies them with
`Handshake.classify` (β̄ the cell average of β; pads: β̄ = 0 sites within reach = r_cut + skin of a
weighted site; the rest dropped), keeps the weighted and pad sites (an atom's global id = its index among
them), and `CoupledSystem` gives the atoms' masses β̄·m (0 for pads) and numbers the non-pad atoms
(``system.free``: the free id, the column block of an atom in G). `rank_sites` gives one rank the same
values for the kept sites it owns — slabs along axis 0, the engine's `SlabDecomposition` ownership
(``dec.owner``) — from the deck-level pieces only (lattice, region, handshake, reach, type masses):

* the sites of the rank's slab plus a halo of reach + the cell's circumradius along axis 0 (the box
  of `sites_in_box` cut along axis 0 only: a site's coordinates and the box filter are pointwise, so these
  are the serial sites there, bitwise, in the serial order restricted to the box);
* `Handshake.classify` on those sites: β̄ is pointwise (`Handshake.atom_weights` sums each cell in a fixed
  order), and a site of the slab has every site within reach in the halo, so its pad verdict (any weighted
  site within reach) is the serial one; the halo's own verdicts are not used;
* global and free ids from ONE allgather of per-row counts (kept sites, non-pad sites) of every rank
  (`parallel.slab_sites.serial_ids`): O(rows) = O(n^((d−1)/d)) per rank, no array over all sites.

`handshake_band` then gives every rank the replicated band — the kept sites in the handshake
(`Handshake.in_handshake` on non-pad atoms: the serial ``system.constrained``) and the pads — in one
allgather of the ranks' band rows, O(band) memory and communication.

What it does not cover is refused by `rank_sites_refusal` (deck key, reason): structure files, periodic
axes, 1D, ``relax_atoms`` (the relaxed surface shift moves sites after the classification), region or
handshake shapes with cylinders or half-spaces (their NumPy signed distances are BLAS dot products, whose
rounding depends on a point's place in the array), decks without a handshake. ``CoupledSystem(mass_floor=)``
(not a deck option) is not reproduced. The deck checks of `build_model` that read all sites are made by
`parallel.rank_build.build_rank_model` on these pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .slab_sites import serial_ids

__all__ = ["Band", "RankSites", "handshake_band", "rank_sites", "rank_sites_from_deck", "rank_sites_refusal"]

#: shapes whose NumPy signed distance / contains are pointwise bitwise (no BLAS): box, sphere and their
#: unions / differences (cylinder and halfspace take ``X @ axis``, a dgemv)
_POINTWISE_SHAPES = {"box", "sphere", "union", "difference"}


@dataclass
class RankSites:
    """This rank's own kept sites, in global-id order (m = number of them). Every per-site array is bitwise
    the serial model's at ``gid``.

    X : (m, d) reference positions [length] (``model.atoms.X[gid]``)
    sub : (m,) int64 sublattice; types : (m,) int64 results type (``model.atom_types[gid]``)
    weight : (m,) β̄ (``system.atom_weight[gid]``); pad : (m,) bool (``system.pad[gid]``)
    mass : (m,) coupled mass β̄·m, 0 for pads [internal mass] (``system.atom_mass[gid]``)
    mass_full : (m,) the atom's own mass m [internal mass] (``model.atoms.mass[gid]``)
    gid : (m,) int64 global id = index among the serial model's atoms
    free_id : (m,) int64 index among the non-pad atoms (the serial ``system.free`` numbering: free_id[k] = f
        ⇔ system.free[f] = gid[k]); −1 for pads
    n_atoms, n_free : the model's numbers of atoms and of non-pad atoms (all ranks)
    site_id : (m,) int64 index among ALL the lattice sites of the atoms' region, before the handshake dropped
        the far ones (``model.site_ids[gid]``: the results file's ``atoms/ids``, the thermostat's key)
    """

    X: np.ndarray
    sub: np.ndarray
    types: np.ndarray
    weight: np.ndarray
    pad: np.ndarray
    mass: np.ndarray
    mass_full: np.ndarray
    gid: np.ndarray
    free_id: np.ndarray
    n_atoms: int
    n_free: int
    site_id: np.ndarray | None = None


@dataclass
class Band:
    """The handshake band, replicated on every rank, sorted by global id (k rows): the atoms that are pads
    or non-pad atoms in the handshake (serial: ``system.pad_idx`` ∪ ``system.free[system.constrained]``).

    X (k, d) [length], gid (k,) int64, free_id (k,) int64 (−1 for pads), weight (k,) β̄, pad (k,) bool,
    mass (k,) β̄·m (0 for pads), mass_full (k,) the atom's own mass m (`parallel.band_system.BandSystem`'s
    ``mass``) [internal mass]: bitwise the serial model's values at gid.
    """

    X: np.ndarray
    gid: np.ndarray
    free_id: np.ndarray
    weight: np.ndarray
    pad: np.ndarray
    mass: np.ndarray
    mass_full: np.ndarray


def _circumradius(cell: np.ndarray) -> float:
    """Half the sum of the primitive vectors' lengths [length]: a bound on the radius of the primitive cell
    centred on a site (`Handshake.classify` uses the same bound)."""
    cell = np.atleast_2d(np.asarray(cell, float))
    return 0.5 * float(np.sum(np.sqrt(np.sum(cell * cell, axis=1))))


def rank_sites(lattice, region, lo: np.ndarray, hi: np.ndarray, handshake, reach: float,  # noqa: ANN001
               sub_type: np.ndarray, type_mass: np.ndarray, dec, comm, halo: float | None = None,
               ) -> RankSites:
    """This rank's own kept sites of the coupled model (collective: one allgather).

    lattice : `md.lattice.Lattice`; region : the atoms' region shape (``contains``); lo, hi (d,) : its
        bounds [length] (`build._region_and_bounds`; free axes: the sites fill [lo, hi] as `build._atom_sites`
        does); handshake : `coupling.handshake.Handshake`; reach : cut-off + skin [length];
    sub_type : (n_sublattices,) int64 results type of each sublattice; type_mass : (ntypes,) mass per
        type [internal mass] (``units.mass_to_internal(type_masses)``);
    dec : the engine's `parallel.engine.SlabDecomposition` along axis 0 (``dec.bounds`` (P+1,),
        ``dec.owner(x0)``); comm : `parallel.comm` communicator (rank = slab);
    halo : the halo's width along axis 0 [length], default reach + the cell's circumradius (at least reach
        is needed: narrower halos give wrong pads at the slab's faces).
    """
    lo = np.asarray(lo, float)
    hi_fill = np.asarray(hi, float) + 1e-9 * lattice.a       # `build._atom_sites`: free axes closed [lo, hi]
    d = lo.size
    cell = lattice.primitive_vectors
    if halo is None:
        halo = float(reach) * (1.0 + 1e-9) + _circumradius(cell)
    me = comm.rank if comm.size > 1 else 0
    b0, b1 = float(dec.bounds[me]), float(dec.bounds[me + 1])
    glo, ghi = lo.copy(), hi_fill.copy()
    if me > 0:
        glo[0] = max(lo[0], b0 - halo)
    if me < len(dec.bounds) - 2:
        ghi[0] = min(hi_fill[0], b1 + halo)
    if glo[0] < ghi[0]:
        X, sub = lattice.sites_in_box(glo, ghi, sublattice=True)
    else:
        X, sub = np.zeros((0, d)), np.zeros(0, np.int64)
    if len(X):
        inside = region.contains(X)
        X, sub = X[inside], sub[inside]
    if len(X):
        cls = handshake.classify(X, cell, float(reach))
        own = np.asarray(dec.owner(X[:, 0])) == me      # every site of the region this rank owns
        X, sub, w, pad, keep = X[own], sub[own], cls.weights[own], cls.pad[own], cls.keep[own]
        del cls
    else:
        w, pad, keep = np.zeros(0), np.zeros(0, bool), np.zeros(0, bool)
    # site ids (among all the region's sites: `build.Model.site_ids`), global ids (among the kept sites)
    # and free ids (among the kept non-pad sites) from the same one allgather of per-row counts
    site_id, (gid, free_id) = serial_ids(np.ascontiguousarray(X), comm, (keep, keep & ~pad))
    X, sub, w, pad = np.ascontiguousarray(X[keep]), sub[keep], w[keep], pad[keep]
    site_id, gid, free_id = site_id[keep], gid[keep], free_id[keep]
    types = np.asarray(sub_type, np.int64)[sub]
    mass_full = np.asarray(type_mass, float)[types]
    mass = np.where(pad, 0.0, w * mass_full)                 # `CoupledSystem.atom_mass`
    counts = np.array([len(X), int(np.count_nonzero(~pad))], np.int64)
    n_atoms, n_free = (comm.allreduce_array(counts) if comm.size > 1 else counts).tolist()
    return RankSites(X=X, sub=sub, types=types, weight=np.ascontiguousarray(w), pad=pad, mass=mass,
                     mass_full=mass_full, gid=gid, free_id=free_id, n_atoms=int(n_atoms), n_free=int(n_free),
                     site_id=site_id)


def handshake_band(sites: RankSites, handshake, comm) -> Band:  # noqa: ANN001
    """Every rank gets the whole handshake band (see `Band`) from the ranks' own ``sites``: each rank
    selects its pads and its non-pad sites with ``handshake.in_handshake``, one allgather of the packed rows
    (O(band) per rank), sorted by global id. Collective. The band with ``sites.n_atoms``, ``sites.n_free``
    is the input of `parallel.band_system.BandSystem` (X, gid, free_id, weight as beta, pad, mass_full)."""
    from .engine import _pack_rows, _unpack_rows
    sel = sites.pad.copy()
    free = np.flatnonzero(~sites.pad)
    if free.size:
        sel[free[np.asarray(handshake.in_handshake(sites.X[free]), bool)]] = True
    cols = [sites.X[sel], sites.gid[sel], sites.free_id[sel], sites.weight[sel],
            sites.pad[sel].astype(np.int64), sites.mass[sel], sites.mass_full[sel]]
    rows = _pack_rows(cols)
    parts = comm.allgather(rows) if comm.size > 1 else [rows]
    rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
    del parts
    X, gid, fid, w, pad, mass, mfull = _unpack_rows(rows, cols)
    o = np.argsort(gid, kind="stable")
    return Band(X=np.ascontiguousarray(X[o]), gid=gid[o], free_id=fid[o], weight=w[o],
                pad=pad[o].astype(bool), mass=mass[o], mass_full=mfull[o])


# ----------------------------------------------------------------------------- from a deck
def _shape_types(section: Any) -> set[str]:
    """The registered shape names a deck shape section uses (unions / differences recursed)."""
    get = section.get if isinstance(section, dict) else lambda k, v=None: getattr(section, k, v)
    names = {str(get("type", ""))}
    for s in get("shapes", None) or []:
        names |= _shape_types(s)
    return names


def rank_sites_refusal(deck) -> tuple[str, str] | None:  # noqa: ANN001
    """(deck key, reason) when `rank_sites` cannot build ``deck``'s atoms bitwise as the serial build does;
    None when it can (the deck's own errors are `build_model`'s to report)."""
    cfg = deck.config
    if cfg.atoms is None or cfg.handshake is None or cfg.continuum is None:
        return ("handshake", "the per-rank build classifies the atoms of a coupled deck (atoms, continuum "
                "and handshake)")
    a = cfg.atoms
    if a.file is not None:
        return ("atoms.file", "atoms from a structure file: the per-rank build generates lattice sites")
    if deck.dim is None or deck.dim < 2:
        return ("atoms.lattice", "a 1D chain: its atom weights are hat-function averages and its slabs "
                "would cut the only axis; the per-rank build covers 2D and 3D")
    if any(b == "p" for b in (a.boundary or [])):
        return ("atoms.boundary", "periodic atoms: the per-rank build covers free boxes (coupled decks are "
                "free)")
    ss = getattr(cfg.continuum, "surface_stress", None)
    if ss is not None and getattr(ss, "relax_atoms", False):
        return ("continuum.surface_stress.relax_atoms", "relax_atoms moves the sites under the free faces "
                "after the classification; the per-rank build does not apply the relaxed surface shift")
    if a.region is not None:
        bad = _shape_types(a.region) - _POINTWISE_SHAPES
        if bad:
            return ("atoms.region", f"region shape(s) {', '.join(sorted(bad))}: their `contains` takes BLAS "
                    "dot products, whose rounding depends on a site's place in the array, so a rank's sites "
                    "cannot reproduce the serial selection bit for bit")
    bad = _shape_types(cfg.handshake.shape) - _POINTWISE_SHAPES
    if bad:
        return ("handshake.shape", f"handshake shape(s) {', '.join(sorted(bad))}: `Handshake.in_handshake` "
                "takes their NumPy signed distance (BLAS dot products, rounding by a site's place in the "
                "array)")
    return None


def rank_sites_from_deck(deck, comm, dec=None) -> tuple[RankSites, Any, Any]:  # noqa: ANN001
    """(`RankSites`, handshake, dec) of this rank for a coupled ``deck`` (`multiscale.deck.Deck`), from the
    deck-level pieces only (potential for cut-off and ``a: relaxed``, lattice, region bounds, handshake,
    type masses; no serial model). ``dec``: the engine's `SlabDecomposition` (default: the one
    `parallel.coupled_spatial.SpatialCoupled` makes, P slabs of the atoms' box along axis 0). Raises
    ValueError with the refusal when `rank_sites_refusal` refuses; deck mistakes raise `DeckError`."""
    from .. import build as B
    from ..coupling.handshake import Handshake
    from ..geometry import make_shape
    from ..md.box import Box
    from .engine import SlabDecomposition

    refused = rank_sites_refusal(deck)
    if refused is not None:
        raise ValueError(f"{refused[0]}: {refused[1]}")
    cfg = deck.config
    with B.located(deck, "potential", "the potential"):
        potential = B._potential(deck, deck.units)
    with B.located(deck, "atoms.lattice", "the lattice"):
        lattice = B._lattice(deck, potential)
    reach = float(potential.cutoff) + float(cfg.atoms.skin)
    periodic = [b == "p" for b in (cfg.atoms.boundary or ["f"] * lattice.dim)]
    with B.located(deck, "atoms.region", "the atomistic region"):
        region, lo, hi, _ = B._region_and_bounds(deck, lattice, periodic, [], 2.0 * reach)
    sub_names = B._sublattice_names(deck, potential)
    type_names = B._type_order(sub_names, potential, cfg.potential)
    sub_type = np.array([type_names.index(n) for n in sub_names], np.int64)
    type_mass = deck.units.mass_to_internal(np.asarray(B._type_masses(deck, type_names), float))
    hs = cfg.handshake
    with B.located(deck, "handshake.shape", "the handshake"):
        handshake = Handshake(make_shape(hs.shape, lattice.dim), hs.width, hs.blend.type)
    if dec is None:
        dec = SlabDecomposition(Box(lo, hi, periodic), comm.size, 0, reach)
    sites = rank_sites(lattice, region, lo, hi, handshake, reach, sub_type, type_mass, dec, comm)
    return sites, handshake, dec
