"""Validated deck → model objects (the ``build`` layer of ARCHITECTURE.md).

`build_model(deck, threads)` turns a `multiscale.deck.Deck` into a `Model`: the potential, the lattice, the
atomistic region (weighted + pad atoms only, when coupled), the continuum region, the handshake and
coupling method, the assembled `CoupledSystem`, the loads, the thermostat and the damping band. Every
mistake that can only be seen here (a handshake narrower than the cut-off, atoms outside the mesh, a
missing potential file, a material that needs a potential) is reported as a `DeckError` located at the
deck key responsible, through ``deck.error(key, message)``.

Units: everything stays in the deck's unit system; masses are converted once to internal force-mass
units here (``units.mass_to_internal``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .coupling.coupled import CoupledSystem
from .coupling.handshake import Handshake
from .deck import Deck
from .deck.section import plugin_of
from .errors import DeckError
from .fem.continuum import ContinuumRegion
from .geometry import make_shape
from .md.box import Box
from .md.lattice import Lattice
from .md.system import AtomisticRegion
from .units import UnitSystem


@dataclass
class Model:
    """Everything a run needs, built from one deck.

    ``system`` is the `CoupledSystem` (pure MD, pure FE or coupled); ``atoms`` / ``continuum`` are its
    regions (or None). ``all_sites`` (n_all, d) are the lattice sites of ``atoms.region`` before the
    handshake dropped the far ones; ``site_ids`` (n,) the ids of the kept ones (0-based into all_sites).
    """

    deck: Deck
    units: UnitSystem
    dim: int
    threads: int
    potential: Any = None
    lattice: Lattice | None = None
    atoms: AtomisticRegion | None = None
    continuum: ContinuumRegion | None = None
    handshake: Handshake | None = None
    method: Any = None
    system: CoupledSystem | None = None
    loads: list = field(default_factory=list)
    thermostat: Any = None
    damping: Any = None
    site_ids: np.ndarray | None = None
    n_dropped: int = 0
    surface_properties: dict | None = None   # continuum.surface_stress: `SurfaceProperties` by normal axis
    mass_user: float | None = None
    notes: list[str] = field(default_factory=list)
    #: atom types of the results: names (ntypes,), masses (ntypes,) [user mass], type of each kept atom (n,)
    type_names: list[str] = field(default_factory=list)
    type_masses: list[float] = field(default_factory=list)
    atom_types: np.ndarray | None = None
    #: the atoms came from ``atoms.file`` (no lattice)
    structure_file: str | None = None
    #: (n_file, 3) [Å/ps = metal velocity] the structure file's velocities in file order, None if it has none
    file_velocities: np.ndarray | None = None


# ----------------------------------------------------------------------------- bad input
#: what bad (but schema-valid) numbers make NumPy and the model code raise while building
BAD_INPUT = (ValueError, TypeError, OverflowError, ZeroDivisionError, FloatingPointError, IndexError,
             np.linalg.LinAlgError)


@contextmanager
def located(deck: Deck, key: str, what: str) -> Iterator[None]:
    """Turn what building ``what`` raises on bad input into a `DeckError` at deck ``key``: a `DeckError`
    that names no file (a plugin's ``DeckError(key=...)``) is placed in the deck; errors in data files
    keep their own file; `BAD_INPUT` and `MemoryError` become "cannot build ..." at ``key``."""
    try:
        yield
    except DeckError as exc:
        if exc.file is None:
            raise deck.error(exc.key or key, exc.message, exc.hint) from None
        raise
    except MemoryError:
        raise deck.error(key, f"not enough memory to build {what}",
                         "make the region or mesh smaller (`msim validate` prints the estimate)") from None
    except BAD_INPUT as exc:
        msg = str(exc) or type(exc).__name__
        raise deck.error(key, f"cannot build {what}: {msg}") from exc


# ----------------------------------------------------------------------------- pieces
def _potential(deck: Deck, units: UnitSystem) -> Any:
    cfg = deck.config.potential
    if cfg is None:
        return None
    try:
        return plugin_of(cfg).from_params(cfg, units, deck.directory)
    except DeckError as exc:
        if exc.file is None:       # a plugin's DeckError(key=...): placed in the deck
            raise deck.error(exc.key or "potential", exc.message, exc.hint) from None
        raise
    except (OSError, ValueError) as exc:
        raise deck.error("potential", f"cannot build the potential: {exc}") from exc


def _header_spacing(potential: Any, kind: str, a: float) -> float:
    """rev32 F12: the zero-stress spacing ``a`` [Å] found over the whole range, or, when the EAM file's
    header names this lattice kind for its first element with a spacing more than 10 % away from ``a``
    (Al_jnp.eam: a spurious deep well at a = 2.498, the file's fcc a = 3.986), the zero-stress spacing
    near the header's value (`zero_stress_lattice_constant` with ``a_guess``). Spacings within 10 % of
    the header's are kept as found (bitwise as before)."""
    lattices = getattr(getattr(potential, "tables", None), "lattices", None)
    hdr = lattices[0] if lattices else None
    if hdr is None or hdr[1] != kind.lower() or abs(a - hdr[0]) <= 0.1 * hdr[0]:
        return a
    from .md.properties import zero_stress_lattice_constant
    try:
        near = zero_stress_lattice_constant(potential, kind, a_guess=hdr[0])
    except (ValueError, RuntimeError):
        return a
    return near if abs(near - hdr[0]) <= 0.1 * hdr[0] else a


def _lattice(deck: Deck, potential: Any) -> Lattice | None:
    cfg = deck.config.atoms
    if cfg is None or cfg.lattice is None:
        return None
    lat = cfg.lattice
    a = lat.a
    if a == "relaxed":
        if potential is None:
            raise deck.error("atoms.lattice.a", "'relaxed' needs a `potential` section")
        from .md.properties import zero_stress_lattice_constant
        try:
            a = zero_stress_lattice_constant(potential, lat.type)
        except (ValueError, RuntimeError) as exc:
            raise deck.error("atoms.lattice.a", f"cannot find the zero-stress spacing: {exc}") from exc
        a = _header_spacing(potential, lat.type, a)
    try:
        return Lattice(lat.type, float(a), orient=lat.orient,
                       origin=None if lat.origin is None else tuple(lat.origin),
                       basis=None if lat.basis is None else tuple(tuple(b.position) for b in lat.basis))
    except ValueError as exc:
        raise deck.error("atoms.lattice", str(exc)) from exc


# ----------------------------------------------------------------------------- atom types
def _type_order(names: list[str], potential: Any, section: Any = None) -> list[str]:
    """The distinct ``names`` in type order: the potential's element order (its ``elements``, else those of
    its deck ``section``) when every name is one of them, else order of first appearance."""
    uniq = list(dict.fromkeys(names))
    elements = list(getattr(potential, "elements", None) or getattr(section, "elements", None) or [])
    if elements and all(n in elements for n in uniq):
        return sorted(uniq, key=elements.index)
    return uniq


def _sublattice_names(deck: Deck, potential: Any) -> list[str]:
    """Species name of each sublattice of ``atoms.lattice`` (basis sites, species list, one name)."""
    cfg = deck.config.atoms
    if cfg.lattice.basis is not None:
        return [b.species for b in cfg.lattice.basis]
    if isinstance(cfg.species, list):
        return list(cfg.species)
    if cfg.species:
        return [cfg.species]
    # the potential's elements (EAM files), else its deck section's (`type: lammps`/`ase` `elements:`)
    elements = getattr(potential, "elements", None) or getattr(deck.config.potential, "elements", None)
    return [str(elements[0]) if elements else "X"]


def _species_key(deck: Deck) -> str:
    cfg = deck.config.atoms
    if cfg.file is not None:
        return "atoms.species" if cfg.species is not None else "atoms.file"
    if cfg.lattice.basis is not None:
        return "atoms.lattice.basis"
    return "atoms.species" if cfg.species is not None else "atoms"


def _type_masses(deck: Deck, names: list[str], file_masses: list[float] | None = None) -> list[float]:
    """One mass per type [user mass] from ``atoms.mass`` (one number, a list in type order, a mapping by
    name) or, when it is absent, from the structure file."""
    m = deck.config.atoms.mass
    if m is None:
        if file_masses is None:
            raise deck.error("atoms", "give the atoms' mass: `mass:` [mass]")
        return [float(v) for v in file_masses]
    if isinstance(m, list):
        if len(m) == 1 and len(names) > 1:
            raise deck.error("atoms.mass", f"one mass for {len(names)} types ({', '.join(names)}): give one "
                             "per "
                             "type, e.g. `mass: {" + ", ".join(f"{n}: ..." for n in names) + "}`")
        if len(m) != len(names):
            raise deck.error("atoms.mass", f"{len(m)} masses for {len(names)} types ({', '.join(names)}, "
                             "in this "
                             "order)")
        return [float(v) for v in m]
    if isinstance(m, dict):
        missing = [n for n in names if n not in m]
        extra = [k for k in m if k not in names]
        if missing:
            raise deck.error("atoms.mass", f"no mass for species {', '.join(missing)} "
                             f"(types: {', '.join(names)})")
        if extra:
            raise deck.error("atoms.mass", f"species {', '.join(extra)} are not in the structure (types: "
                             f"{', '.join(names)})")
        return [float(m[n]) for n in names]
    return [float(m)] * len(names)


def _potential_types(deck: Deck, potential: Any, names: list[str]) -> np.ndarray | None:
    """Potential type index (ntypes,) int32 of each results type, or None (every atom the potential's type
    0). Names are matched to the potential's ``elements`` (EAM files; the ``elements`` list of the deck's
    potential section, e.g. lammps); potentials without elements take the types in order (several types
    need a potential that has them)."""
    elements = list(getattr(potential, "elements", None) or getattr(deck.config.potential, "elements", None)
                    or [])
    ptype = deck.config.potential.type
    if len(names) == 1:
        if elements and names[0] in elements and elements.index(names[0]) > 0:
            return np.array([elements.index(names[0])], np.int32)
        return None
    if elements:
        missing = [n for n in names if n not in elements]
        if missing:
            raise deck.error(_species_key(deck), f"species {', '.join(missing)} are not elements of the "
                             f"potential ({ptype}: {', '.join(elements)})",
                             "name the species as the potential file does, or select them with "
                             "`potential.elements`")
        return np.array([elements.index(n) for n in names], np.int32)
    if not getattr(potential, "many_body", False):
        raise deck.error(_species_key(deck), f"{len(names)} species ({', '.join(names)}) but potential "
                         f"`{ptype}` has one atom type",
                         "use an EAM file with these elements, or a lammps/ase potential")
    ntypes = getattr(potential, "ntypes", None)
    if ntypes is not None and len(names) > int(ntypes):
        raise deck.error(_species_key(deck), f"{len(names)} species ({', '.join(names)}) but potential "
                         f"`{ptype}` has {ntypes} atom type(s)", "list them in `potential.elements`")
    return np.arange(len(names), dtype=np.int32)


def _file_atoms(deck: Deck, units: UnitSystem) -> tuple[np.ndarray, Box, list[str], list[float], str,
                                                         np.ndarray | None]:
    """Atoms of ``atoms.file`` (multiscale/md/structure_file.py): (X (n, 3), box, species per atom, masses
    per atom [amu], path, the file's velocities (n, 3) [Å/ps] or None), checked against ``atoms.region``
    and for overlaps."""
    from .md.structure_file import StructureError, read_structure

    cfg = deck.config.atoms
    if units.name != "metal":
        raise deck.error("atoms.file", "structure files hold Å and atomic mass units: use `units: metal`")
    path = deck.directory / cfg.file if deck.directory is not None else None
    from pathlib import Path
    path = Path(cfg.file) if Path(cfg.file).is_absolute() or path is None else path
    try:
        st = read_structure(path, cfg.format, cfg.species if isinstance(cfg.species, list)
                            else None if cfg.species is None else [cfg.species], cfg.boundary)
    except FileNotFoundError:
        raise deck.error("atoms.file", f"structure file not found: {path}") from None
    except StructureError as exc:
        key = "atoms.format" if str(exc).startswith("unknown structure format") else "atoms.file"
        raise deck.error(key, f"{path.name}: {exc}") from None
    X, lo, hi, periodic = st.X, st.lo.copy(), st.hi.copy(), st.periodic
    if cfg.region is not None:
        region = make_shape(cfg.region, 3)
        rlo, rhi = region.bounds()
        for k in range(3):
            if periodic[k] and not (np.isclose(rlo[k], lo[k], rtol=0, atol=1e-6 * (hi[k] - lo[k]))
                                    and np.isclose(rhi[k], hi[k], rtol=0, atol=1e-6 * (hi[k] - lo[k]))):
                raise deck.error("atoms.region", f"axis {_AXES[k]} is periodic with the file's cell "
                                 f"[{lo[k]:.8g}, {hi[k]:.8g}) but the region spans "
                                 f"[{rlo[k]:.8g}, {rhi[k]:.8g}]: "
                                 "a periodic box must be the file's cell",
                                 "make the region's bounds on periodic axes the cell, or the axis free (f)")
        outside = ~region.contains(X)
        if np.any(outside):
            i = int(np.flatnonzero(outside)[0])
            raise deck.error("atoms.region", f"{int(outside.sum())} of {len(X)} atoms of {path.name} lie "
                             "outside "
                             f"the region, e.g. atom {i + 1} (file order) at {np.round(X[i], 6).tolist()}")
        free = ~periodic
        lo[free], hi[free] = np.minimum(rlo, X.min(axis=0))[free], np.maximum(rhi, X.max(axis=0))[free]
    else:
        for k in range(3):
            inside = st.cell_given[k] and X[:, k].min() >= lo[k] and X[:, k].max() <= hi[k]
            if not periodic[k] and not inside:
                lo[k], hi[k] = X[:, k].min(), X[:, k].max()
    from .md.neighbors import NeighborList
    from .resources import check
    check(len(X) * atom_bytes(3, 60.0), f"the atomistic region ({len(X)} atoms)", key="atoms.file")
    box = Box(lo, hi, periodic)
    dmin = float(cfg.min_distance or 0.5)
    if not np.any(periodic & (box.lengths < 2 * dmin)):
        nl = NeighborList(box, dmin, 0.0)
        nl.build(X)
        if nl.n_entries:
            r = np.linalg.norm(nl.separations(X), axis=1)
            close = r < dmin
            if np.any(close):
                i, j = nl.pairs()
                e = int(np.argmin(r))
                raise deck.error("atoms.file", f"{path.name}: {int(close.sum())} pairs of atoms are closer "
                                 "than "
                                 f"min_distance {dmin:g}: e.g. atoms {int(i[e]) + 1} and {int(j[e]) + 1} "
                                 "(file "
                                 f"order) are {r[e]:.3g} apart (periodic images included)",
                                 "overlapping or duplicated atoms; set `atoms.min_distance` if this is meant")
    return X, box, st.symbols, list(st.masses), str(path), st.V


_AXES = "xyz"


def _region_and_bounds(deck: Deck, lattice: Lattice, periodic: list[bool], notes: list[str],  # noqa: ANN202
                       min_length: float = 0.0):
    """(region shape, lo (d,), hi (d,), key of the bounds) of ``atoms.region`` or ``atoms.cells``.

    Periodic axes must span a whole number of lattice periods (`Lattice.period`, which depends on the
    orientation): within `PERIOD_TOL` of a period that number is taken exactly; beyond it the deck is
    refused (``box_fit: exact``) or the box's hi is moved to the nearest whole number (``box_fit: snap``).
    ``min_length`` [length]: the shortest periodic length the neighbour list accepts, 2 (cut-off + skin);
    the lengths the refusal suggests are whole numbers of periods at least that long (found off the
    gallery: an fcc LJ box 4σ long, cut-off 2.5 + skin 0.3, was told "3.3592 (2 periods) or 5.0388 (3)",
    both then refused as shorter than 5.6), and a snap that would land below it is refused.
    """
    from .geometry.box import BoxShape
    from .md.lattice import PERIOD_SEARCH, PERIOD_TOL

    cfg = deck.config.atoms
    dim = lattice.dim
    periods = lattice.periods()
    orient = f" turned by orient {lattice.orient}" if lattice.orient is not None else ""
    if cfg.cells is not None:
        key = "atoms.cells"
        bad = [k for k in range(dim) if periods[k] is None]
        if bad:
            k = bad[0]
            raise deck.error(key, f"the {lattice.kind} lattice{orient} has no period along {_AXES[k]} (no "
                                  f"lattice vector along that axis within {PERIOD_SEARCH} candidate "
                                  "lengths): "
                                  "`cells` cannot be used; give a `region`")
        lo = np.zeros(dim)
        hi = np.array([n * p for n, p in zip(cfg.cells, periods, strict=True)])
        return BoxShape(lo, hi), lo, hi, key
    key = "atoms.region"
    region = make_shape(cfg.region, dim)
    lo, hi = region.bounds()
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise deck.error(key, "the atomistic region must be bounded (intersect it with a box)")
    hi = hi.copy()
    for k in range(dim):
        if not periodic[k]:
            continue
        L, p = float(hi[k] - lo[k]), periods[k]
        if p is None:
            raise deck.error("atoms.boundary", f"axis {_AXES[k]} is periodic but the {lattice.kind} lattice"
                                               f"{orient} has no period along {_AXES[k]} (no lattice vector "
                                               f"along that axis within {PERIOD_SEARCH} candidate lengths): "
                                               f"make {_AXES[k]} free (f) or choose an orientation with a "
                                               "lattice direction along it")
        n = L / p
        nr = max(1, int(round(n)))
        if abs(L - nr * p) <= PERIOD_TOL * p:
            if abs(L - nr * p) > 1e-9 * p:     # round-off of the deck's digits: take the whole number
                hi[k] = lo[k] + nr * p
            continue
        n_min = int(np.ceil(min_length / p - 1e-9)) if min_length > 0 else 1
        if cfg.box_fit == "snap" and nr < n_min:
            raise deck.error("atoms.box_fit", f"`snap` would make the periodic length along {_AXES[k]} "
                                              f"{L:.8g} -> {nr * p:.8g} ({nr} periods of {p:.8g}), shorter "
                                              f"than 2 x (cut-off + skin) = {min_length:.6g}: the "
                                              "minimum-image neighbour list would miss neighbours",
                                              f"make the box at least {n_min * p:.8g} ({n_min} periods) "
                                              f"long along {_AXES[k]}")
        if cfg.box_fit == "snap":
            hi[k] = lo[k] + nr * p
            notes.append(f"box_fit snap: periodic length along {_AXES[k]} {L:.8g} -> {nr * p:.8g} "
                         f"({nr} periods of {p:.8g})")
            if not isinstance(region, BoxShape):
                raise deck.error("atoms.box_fit", "`snap` moves the hi face of a `box` region; the region "
                                                  f"is a {cfg.region.type}")
            continue
        below, above = max(1, int(np.floor(n))), int(np.floor(n)) + 1
        if below < n_min:       # the shorter one would be refused as shorter than 2 (cut-off + skin)
            valid = (f"Nearest valid length: {max(above, n_min) * p:.8g} ({max(above, n_min)} periods; "
                     f"at least 2 x (cut-off + skin) = {min_length:.6g})")
        else:
            valid = (f"Nearest valid lengths: {below * p:.8g} ({below} periods) or {above * p:.8g} "
                     f"({above})")
        raise deck.error(f"{key}.hi", f"the periodic length along {_AXES[k]} is {L:.8g} = {n:.6g} lattice "
                                      f"periods of {p:.8g} ({lattice.kind}, a = {lattice.a:.8g}{orient}); it "
                                      "must be a whole number of periods, or the sites near hi and the "
                                      f"periodic images of those near lo overlap or leave a gap. {valid}; "
                                      "or give `cells:` instead of `region:`, or set `box_fit: snap`")
    if isinstance(region, BoxShape) and np.any(hi != region.hi):
        region = BoxShape(lo, hi)
    return region, lo, hi, key


def _atom_sites(deck: Deck, lattice: Lattice, notes: list[str] | None = None, min_length: float = 0.0
                ) -> tuple[np.ndarray, Any, Box, np.ndarray]:
    """(X (n, d), region, box, sublattice (n,) int64) of the lattice filling ``atoms.region``/``cells``;
    ``min_length``: 2 (cut-off + skin) [length], for the periodic lengths `_region_and_bounds` suggests."""
    cfg = deck.config.atoms
    notes = [] if notes is None else notes
    periodic = [b == "p" for b in (cfg.boundary or ["f"] * lattice.dim)]
    region, lo, hi, key = _region_and_bounds(deck, lattice, periodic, notes, min_length)
    _check_atom_count(deck, lattice, region, lo, hi, key)
    # periodic axes: half-open [lo, hi) so images do not double; free axes: closed [lo, hi]
    eps = 1e-9 * lattice.a
    hi_fill = np.where(periodic, hi, hi + eps)
    X, sub = lattice.sites_in_box(lo, hi_fill, sublattice=True)
    if len(X):
        inside = region.contains(X)
        X, sub = X[inside], sub[inside]
    if len(X) == 0:
        raise deck.error(key, "the region holds no lattice site")
    box = Box(lo, hi, periodic)
    _check_min_distance(deck, key, lattice, X, box)
    return np.ascontiguousarray(X), region, box, sub


def _check_min_distance(deck: Deck, key: str, lattice: Lattice, X: np.ndarray, box: Box) -> None:
    """No two atoms (periodic images included) closer than half the nearest-neighbour distance."""
    from .md.neighbors import NeighborList

    half = 0.5 * lattice.nearest_neighbor_distance
    if np.any(box.periodic & (box.lengths < 2 * half)):
        return                                 # shorter than one nearest-neighbour distance: refused later
    nl = NeighborList(box, half, 0.0)
    nl.build(X)
    if nl.n_entries == 0:
        return
    r = np.linalg.norm(nl.separations(X), axis=1)
    e = int(np.argmin(r))
    if r[e] < half:
        i, j = nl.pairs()
        n_close = int(np.sum(r < half))
        raise deck.error(key, f"{n_close} pairs of atoms are closer than half the nearest-neighbour distance "
                              f"{2 * half:.6g}: e.g. atoms {int(i[e])} at {X[i[e]].tolist()} and "
                              f"{int(j[e])} at {X[j[e]].tolist()} are {r[e]:.3g} apart (periodic images "
                              "included)")


def atom_bytes(dim: int, n_neighbors: float) -> float:
    """Bytes per atom of a run: ~14 (d,) float arrays (reference, positions, velocities, forces, list
    anchors, output buffers), ~8 scalars (mass, energies, weights, types), a half neighbour list of
    ``n_neighbors`` entries (index + bond weight)."""
    return dim * 8 * 14 + 8 * 8 + 16 * n_neighbors


def _neighbors_per_atom(deck: Deck, lattice: Lattice) -> float:
    """Half-list entries per atom: lattice sites within cut-off + skin, halved."""
    pot = deck.config.potential
    rc = getattr(pot, "cutoff", None) or 3.0 * lattice.a
    r = float(rc) + float(deck.config.atoms.skin)
    d = lattice.dim
    ball = {1: 2 * r, 2: np.pi * r * r, 3: 4.0 / 3.0 * np.pi * r ** 3}[d]
    return 0.5 * ball / lattice.volume_per_atom + 1.0


def _check_atom_count(deck: Deck, lattice: Lattice, region: Any, lo: np.ndarray, hi: np.ndarray,
                      key: str = "atoms.region") -> None:
    """Estimate the lattice sites of the region (bounding-box sites x the region's share of a sampled
    box) and refuse, before any site is generated, when they cannot fit in memory."""
    from .resources import check

    d = lattice.dim
    with np.errstate(all="ignore"):
        ext = np.asarray(hi, float) - np.asarray(lo, float) + 3.0 * lattice.a
        n_box = float(np.prod(ext)) / lattice.volume_per_atom
    if not np.isfinite(n_box):
        n_box = float("inf")
    share = 1.0
    if n_box > 1e6:
        rng = np.random.default_rng(0)
        pts = np.asarray(lo) + rng.random((4000, d)) * (np.asarray(hi) - np.asarray(lo))
        share = max(float(np.mean(region.contains(pts))), 1.0 / 4000)
    n = n_box * share
    per_atom = atom_bytes(d, _neighbors_per_atom(deck, lattice))
    need = n * per_atom + n_box * d * 8 * 8  # the model, plus the candidate sites while filling
    check(need, f"the atomistic region (about {n:.3g} atoms)", key=key)


def _continuum(deck: Deck, units: UnitSystem, potential: Any, lattice: Lattice | None, dim: int,
               mass_user: float | None, threads: int) -> ContinuumRegion:
    cfg = deck.config.continuum
    try:
        mesh = plugin_of(cfg.mesh).build(cfg.mesh, deck_dir=str(deck.directory))
    except DeckError:
        raise
    except (OSError, ValueError) as exc:
        raise deck.error("continuum.mesh", f"cannot build the mesh: {exc}") from exc
    if mesh.nodes.shape[1] != dim:
        raise deck.error("continuum.mesh", f"the mesh is {mesh.nodes.shape[1]}-dimensional, the deck {dim}D")
    mat_cfg = cfg.material
    try:
        material = plugin_of(mat_cfg).from_params(mat_cfg, dim=dim, potential=potential, lattice=lattice)
    except (ValueError, TypeError) as exc:
        raise deck.error("continuum.material", str(exc)) from exc
    _require_stable_stiffness(deck, material, lattice)
    if cfg.density == "derived":
        if lattice is None or mass_user is None:
            raise deck.error("continuum.density", "'derived' density needs an `atoms` section (lattice and "
                             "mass); give a number instead")
        rho_user = mass_user / lattice.volume_per_atom
    else:
        rho_user = float(cfg.density)
    # blend=False: `CoupledSystem` sets the region's blend (α of the handshake, or α ≡ 1 without one);
    # an α ≡ 1 blend here would be computed and thrown away
    return ContinuumRegion(mesh, material, units.mass_to_internal(rho_user), n_threads=threads, blend=False)


#: a lattice site with at least this atomistic weight β(X) missing from the atoms inside the mesh is refused
_MISSING_BETA = 1e-6


def _check_handshake_filled(deck: Deck, lattice: Lattice, region: Any, handshake: Handshake,
                            continuum: ContinuumRegion) -> None:
    """Deck error at ``atoms.region`` when lattice sites with β(X) > 0 lie inside the mesh but outside the
    atoms' region: there the continuum carries only α = 1 − β and the atoms' share is simply missing (a
    region ending inside the handshake; found off the gallery: a 3D Morse deck with atoms to ±9 Å in a
    handshake reaching ±11.2 Å validated "OK", integral partition of unity −2.3e-2). Sites outside the mesh
    (a free surface, the mesh's hole) are not checked: nothing is missing there."""
    from .fem.locate import Locator

    X = _sites_outside_region(lattice, region, handshake, continuum, 0.0)
    X = X[handshake.beta(X) > _MISSING_BETA]
    if not len(X):
        return
    X = X[Locator(continuum.mesh).inside(X)]
    if not len(X):
        return
    b = handshake.beta(X)
    i = int(np.argmax(b))
    raise deck.error("atoms.region", f"{len(X)} lattice site(s) inside the mesh and the handshake lie "
                     f"outside the atoms' region (atomistic weight β up to {b[i]:.3g}, at "
                     f"{np.array2string(X[i], precision=4)}): there the continuum carries only α = 1 − β and "
                     "the atoms' share is missing",
                     "extend the region at least to the handshake's outer edge (the handshake shape grown by "
                     f"`handshake.width` = {handshake.width:g}), or move the handshake inwards")


def _sites_outside_region(lattice: Lattice, region: Any, handshake: Handshake, continuum: ContinuumRegion,
                          grow: float) -> np.ndarray:
    """Lattice sites (m, d) outside the atoms' region within the handshake's outer edge grown by ``grow``
    [length] (clipped to the mesh's bounding box)."""
    mesh = continuum.mesh
    slo, shi = handshake.shape.bounds()
    reach = handshake.width + grow
    lo = np.maximum(np.asarray(slo, float) - reach, mesh.nodes.min(axis=0))
    hi = np.minimum(np.asarray(shi, float) + reach, mesh.nodes.max(axis=0))
    d = mesh.nodes.shape[1]
    if np.any(hi < lo):
        return np.zeros((0, d))
    X = lattice.sites_in_box(lo, hi)
    return X[~region.contains(X)] if len(X) else np.zeros((0, d))


def _check_pads_filled(deck: Deck, lattice: Lattice, region: Any, handshake: Handshake,
                       continuum: ContinuumRegion, X: np.ndarray, weights: np.ndarray, cutoff: float,
                       skin: float, many_body: bool, notes: list[str]) -> None:
    """Deck error at ``atoms.region`` when lattice sites inside the mesh but outside the atoms' region are
    missing neighbours of weighted atoms (X (n, d), their weights β̄ (n,) > 0) within ``reach`` = cut-off +
    skin [length] — the pad atoms `Handshake.classify` would keep: for a many-body potential every such site
    (a weighted atom's density counts all its neighbours), for a pair potential those whose bond to a
    weighted atom has a weight (the average of β along it) > 0. Refused when such a site is within the
    cut-off (an interaction of the reference state is missing); within cut-off + skin only, a note of the
    model (`msim validate` prints it): the interaction is missing once the atoms move closer by the
    difference (gallery thermal2d: sites 2.95 from weighted atoms, cut-off 2.5, skin 1). Found off the
    gallery: the patch test deck with atoms to ±20.5 (outer edge ±20, reach 2.8) validated "OK" with 48 pads
    instead of 306, and its perfect lattice did not stay at rest (kinetic energy 1.5e-5 after 40 steps,
    2e-25 with the pads)."""
    from scipy.spatial import cKDTree

    from .fem.locate import Locator

    reach = cutoff + skin
    C = _sites_outside_region(lattice, region, handshake, continuum, reach)
    W = X[weights > 0.0]
    if not len(C) or not len(W):
        return
    dist, _ = cKDTree(W).query(C, k=1, distance_upper_bound=reach * (1 + 1e-12))
    C = C[np.isfinite(dist)]
    if len(C):
        C = C[Locator(continuum.mesh).inside(C)]
    if not len(C):
        return
    # the ball lists only for the weighted atoms with a site near them (a nearest-site query with a bound a
    # little above the lists' radius: a superset; the 3D bench: 8 748 of 111 203 atoms, 0.21 -> 0.08 s):
    # the same pairs in the same order as the lists of every weighted atom
    tree = cKDTree(C)
    d1, _ = tree.query(W, k=1, distance_upper_bound=reach * (1 + 1e-9))
    wsel = np.flatnonzero(np.isfinite(d1))
    near = tree.query_ball_point(W[wsel], r=reach * (1 + 1e-12))
    wi = wsel[np.repeat(np.arange(len(wsel)), [len(n) for n in near]).astype(np.int64)]
    ci = np.fromiter((c for n in near for c in n), np.int64, count=len(wi))
    if not many_body:
        bw = handshake.bond_weights(W[wi], C[ci] - W[wi])
        wi, ci = wi[bw > 0.0], ci[bw > 0.0]
    if not len(ci):
        return
    r = np.linalg.norm(C[ci] - W[wi], axis=1)
    e = int(np.argmin(r))
    if r[e] > cutoff:
        notes.append(f"{len(np.unique(ci))} lattice site(s) outside the atoms' region lie within cut-off + "
                     f"skin = {reach:g} of weighted handshake atoms (nearest {r[e]:.3g}; "
                     f"cut-off {cutoff:g}): "
                     "no pad atoms there, so those interactions are missing if the atoms come closer; "
                     "extend `atoms.region` to the handshake's outer edge + cut-off + skin to include them")
        return
    ci, wi, r = ci[r <= cutoff], wi[r <= cutoff], r[r <= cutoff]
    e = int(np.argmin(r))
    why = ("the atoms' densities (a many-body potential) miss them" if many_body else
           "bonds of weight > 0 to them are missing")
    raise deck.error("atoms.region", f"{len(np.unique(ci))} lattice site(s) inside the mesh but outside the "
                     f"atoms' region lie within the cut-off {cutoff:g} of weighted handshake atoms (e.g. "
                     f"{np.array2string(C[ci[e]], precision=4)}, {r[e]:.3g} from the atom at "
                     f"{np.array2string(W[wi[e]], precision=4)}): they are needed as pad atoms, and {why}",
                     "extend the region at least cut-off + skin beyond the handshake's outer edge (the "
                     f"handshake shape grown by `handshake.width` + {reach:g}); atoms further out are "
                     "left to the continuum")


def _element_size_across(continuum: ContinuumRegion, handshake: Handshake) -> float:
    """Largest element edge among the elements that meet the handshake [length]."""
    mesh = continuum.mesh
    sizes = []
    for blk in mesh.blocks:
        xe = mesh.nodes[blk.conn]                       # (ne, nen, d)
        s = handshake.s(xe.reshape(-1, mesh.nodes.shape[1])).reshape(xe.shape[:2])
        touch = np.any((s > 0.0) & (s < 1.0), axis=1) | (np.min(s, axis=1) < 1.0) & (np.max(s, axis=1) > 0.0)
        if np.any(touch):
            ext = xe[touch].max(axis=1) - xe[touch].min(axis=1)
            sizes.append(float(np.max(ext)))
    return max(sizes) if sizes else 0.0


#: the keys of a load that give quasi-static stages (one value per load stage)
_STAGE_KEYS = ("depth_steps", "depths", "K_steps", "K_values", "displacement_steps", "factors")


def _loads(deck: Deck, units: UnitSystem) -> list:
    from .registry import MINIMIZERS
    out = []
    dynamics = deck.config.integrator.type not in MINIMIZERS
    for i, cfg in enumerate(deck.config.loads):
        with located(deck, f"loads[{i}]", f"load {i}"):
            out.append(plugin_of(cfg).from_params(cfg, units))
        if getattr(out[-1], "n_stages", 1) < 1:      # an empty list: no stage to run (was an IndexError)
            key = next((k for k in _STAGE_KEYS if getattr(cfg, k, None) is not None), None)
            raise deck.error(f"loads[{i}]" + (f".{key}" if key else ""),
                             "an empty list of load stages: give at least one value", None)
        if dynamics and getattr(out[-1], "n_stages", 1) > 1:
            # dynamics runs at stage 0 for its whole length: the other stages would be ignored silently
            key = next((k for k in _STAGE_KEYS if getattr(cfg, k, None) is not None), None)
            raise deck.error(f"loads[{i}]" + (f".{key}" if key else ""),
                             f"{out[-1].n_stages} quasi-static load stages in a dynamics deck "
                             f"(integrator.type: {deck.config.integrator.type}): dynamics runs at the "
                             "first stage's value throughout and would ignore the others",
                             "give one value (e.g. `depths: [1.0]`) and a rate (`velocity`, `K_rate`, "
                             "`ramp_time`) for a loading in time, or use a minimiser for quasi-statics")
    return out


# ----------------------------------------------------------------------------- the model
def build_model(deck: Deck, threads: int | None = None) -> Model:
    """Build every model object of ``deck`` (see module docstring). ``threads`` overrides the deck."""
    cfg = deck.config
    units = deck.units
    integ = cfg.integrator
    n_threads = int(threads or getattr(integ, "threads", None) or 1)
    dim = deck.dim
    if dim is None:
        raise deck.error("", "cannot tell the dimension: give `atoms.lattice` or a mesh with `lo`")
    with located(deck, "potential", "the potential"):
        potential = _potential(deck, units)
    with located(deck, "atoms.lattice", "the lattice"):
        lattice = _lattice(deck, potential)
    model = Model(deck=deck, units=units, dim=dim, threads=n_threads, potential=potential, lattice=lattice)

    X = region = box = None
    pot_types = atom_types = None
    if cfg.atoms is not None:
        if potential is None:
            raise deck.error("atoms", "an atomistic region needs a `potential` section")
        if cfg.atoms.file is not None:
            with located(deck, "atoms.file", "the atoms of the structure file"):
                X, box, symbols, masses_atom, model.structure_file, model.file_velocities = \
                    _file_atoms(deck, units)
            type_names = _type_order(symbols, potential, cfg.potential)
            index = {n: t for t, n in enumerate(type_names)}
            atom_types = np.array([index[n] for n in symbols], np.int64)
            from .md.structure_file import StructureError, type_masses
            try:
                file_masses = type_masses(symbols, np.asarray(masses_atom), type_names)
            except StructureError as exc:
                file_masses = None
                if cfg.atoms.mass is None:
                    raise deck.error("atoms.file", str(exc)) from None
            pot_types = _potential_types(deck, potential, type_names)
            model.type_masses = _type_masses(deck, type_names, file_masses)
        else:
            with located(deck, "atoms.region", "the atomistic region"):
                X, region, box, sub = _atom_sites(deck, lattice, model.notes,
                                                  2.0 * (potential.cutoff + cfg.atoms.skin))
            sub_names = _sublattice_names(deck, potential)
            type_names = _type_order(sub_names, potential, cfg.potential)
            atom_types = np.array([type_names.index(n) for n in sub_names], np.int64)[sub]
            pot_types = _potential_types(deck, potential, type_names)
            model.type_masses = _type_masses(deck, type_names)
        model.type_names = type_names
        tm = np.asarray(model.type_masses)
        # one number for the single-mass uses (derived density, 1D chain dispersion): the mean atom mass
        model.mass_user = float(tm[0]) if len(tm) == 1 else float(np.mean(tm[atom_types]))
        if (cfg.continuum is not None or cfg.handshake is not None) and pot_types is not None \
                and len(type_names) == 1:
            raise deck.error(_species_key(deck), f"species {type_names[0]} is element {int(pot_types[0])} "
                             "of the potential, but the continuum evaluates its first element",
                             f"select the element in the potential: `elements: [{type_names[0]}]`")
        if model.structure_file is not None or len(type_names) > 1 or (
                not lattice.is_bravais and lattice.kind != "diamond"):
            if cfg.continuum is not None or cfg.handshake is not None:
                what = ("a structure read from a file" if model.structure_file is not None else
                        f"{len(type_names)} species" if len(type_names) > 1 else
                        f"the {lattice.describe()} lattice")
                raise deck.error("continuum" if cfg.continuum is not None else "handshake",
                                 f"coupling a continuum to {what} is not supported: the continuum (its "
                                 "material from the lattice, the derived density, the handshake's atom "
                                 "cells) is built from a one-species Bravais lattice",
                                 "run this structure as pure MD (no continuum/handshake), or use "
                                 "`atoms.lattice` with one species on a Bravais lattice")
        short = box.periodic & (box.lengths < 2.0 * (potential.cutoff + cfg.atoms.skin))
        if np.any(short):
            k = int(np.argmax(short))
            need = 2.0 * (potential.cutoff + cfg.atoms.skin)
            p = lattice.period(k) if lattice is not None else None
            more = f"; at least {int(np.ceil(need / p - 1e-9))} lattice periods of {p:.6g}" if p else ""
            if cfg.atoms.file is not None:       # no lattice: the file's cell is the period
                more = (f" (replicate the file's cell at least {int(np.ceil(need / box.lengths[k] - 1e-9))} "
                        f"times along {_AXES[k]}, e.g. ase's `atoms.repeat`)")
            raise deck.error("atoms.file" if cfg.atoms.file is not None else
                             "atoms.cells" if cfg.atoms.cells is not None else "atoms.region",
                             f"the periodic length along {_AXES[k]} is {box.lengths[k]:.6g}, shorter than "
                             f"2 x (cut-off + skin) = 2 x ({potential.cutoff:g} + {cfg.atoms.skin:g}) = "
                             f"{need:.6g}: the minimum-image neighbour list would miss neighbours. Make the "
                             f"box longer along {_AXES[k]}{more}, or reduce the skin")

    continuum = None
    if cfg.continuum is not None:
        with located(deck, "continuum", "the continuum"):
            continuum = _continuum(deck, units, potential, lattice, dim, model.mass_user, n_threads)

    handshake = method = classes = None
    site_ids = None if X is None else np.arange(len(X))
    if cfg.handshake is not None:
        if X is None or continuum is None:
            raise deck.error("handshake", "a handshake needs both an `atoms` and a `continuum` section")
        if np.any(box.periodic):
            # the mesh is never periodic: the atoms' periodic images would bond the handshake atoms on one
            # side of the core to those on the other (measured: a 2D LJ core 23σ wide, E_atoms −959.07 →
            # −959.47 at the reference state), with no continuum counterpart
            k = int(np.argmax(box.periodic))
            raise deck.error("atoms.boundary", f"the atoms are periodic along {_AXES[k]} in a coupled deck: "
                             "their periodic images would bond atoms on opposite sides of the core across "
                             "the box, but the continuum around them is not periodic",
                             "use free boundaries (`boundary: [f, ...]`) for the atoms of a coupled deck")
        hs = cfg.handshake
        with located(deck, "handshake.shape", "the handshake"):
            handshake = Handshake(make_shape(hs.shape, dim), hs.width, hs.blend.type)
        try:
            handshake.check_geometry(potential.cutoff, cfg.atoms.skin,
                                     _element_size_across(continuum, handshake))
        except ValueError as exc:
            raise deck.error("handshake.width", str(exc)) from exc
        with located(deck, "handshake.coupling", "the coupling"):
            method = plugin_of(hs.coupling).from_params(hs.coupling, units, deck.directory)
        if region is not None:
            _check_handshake_filled(deck, lattice, region, handshake, continuum)
        with located(deck, "handshake", "the handshake"):
            classes = handshake.classify(X, lattice.primitive_vectors, potential.cutoff + cfg.atoms.skin)
        if region is not None:
            _check_pads_filled(deck, lattice, region, handshake, continuum, X, classes.weights,
                               potential.cutoff, cfg.atoms.skin, bool(getattr(potential, "many_body", True)),
                               model.notes)
        site_ids = np.flatnonzero(classes.keep)
        model.n_dropped = classes.n_dropped
        X = X[site_ids]

    if continuum is not None and cfg.continuum.surface_stress is not None \
            and cfg.continuum.surface_stress.relax_atoms:
        if X is None:
            raise deck.error("continuum.surface_stress.relax_atoms", "relax_atoms moves the atoms under the "
                             "free faces, but the deck has no atoms", "remove `relax_atoms`")
        X = X + _relaxed_surface_shift(deck, model, continuum, X, units)
    atoms = None
    if X is not None:
        atom_types = atom_types[site_ids]
        model.atom_types = atom_types
        m_int = units.mass_to_internal(np.asarray(model.type_masses, float))[atom_types]
        with located(deck, "atoms", "the atomistic region"):
            atoms = AtomisticRegion(X, m_int, potential, box, cfg.atoms.skin,
                                    types=None if pot_types is None else pot_types[atom_types],
                                    n_threads=n_threads, neighbor=cfg.atoms.neighbor)
    key = "handshake.shape" if handshake is not None else ("atoms" if atoms is not None else "continuum")
    with located(deck, key, "the coupled system"):
        try:
            system = CoupledSystem(atoms, continuum, handshake, method,
                                   cell=None if lattice is None else lattice.primitive_vectors,
                                   atom_weight=None if classes is None else classes.weights[site_ids])
        except ValueError as exc:
            raise deck.error(key, str(exc)) from exc

    # loads that need material data (kfield's elastic constants) find the potential and lattice here
    system.potential, system.lattice = potential, lattice
    model.atoms, model.continuum, model.handshake, model.method = atoms, continuum, handshake, method
    model.system, model.site_ids = system, site_ids
    model.loads = _loads(deck, units)
    if cfg.continuum is not None and cfg.continuum.surface_stress is not None:
        _surface_stress(deck, model)
    _check_thermal_share(deck, model)
    with located(deck, "integrator", "the integrator"):
        _dynamics_extras(deck, model)
    return model


def _surface_stress(deck: Deck, model: Model) -> None:
    """``continuum.surface_stress``: the Gurtin–Murdoch term on the selected faces, γ and τ of each face
    orientation from a periodic slab of the deck's potential (`multiscale.fem.surface_stress`,
    `multiscale.md.surface_slab`). Deck errors at ``continuum.surface_stress.*``."""
    from .fem.surface_stress import SurfaceStress, outward_normals
    from .md.surface_slab import INPLANE_FTOL, surface_properties

    cfg, key = deck.config.continuum.surface_stress, "continuum.surface_stress"
    cont, mesh, d = model.continuum, model.continuum.mesh, model.dim
    if d < 2:
        raise deck.error(key, "a surface stress acts on the faces of a 2D or 3D mesh; a 1D bar has none")
    if model.lattice is None or model.potential is None:
        raise deck.error(f"{key}.source", "surface stress from the potential needs `potential` and "
                         "`atoms.lattice` (the slab is made of that lattice)")
    faces = _surface_faces(deck, mesh, None if model.atoms is None else model.atoms.X, model.lattice,
                           model.potential, model.loads)
    n = outward_normals(mesh.nodes, faces) if len(faces) else np.zeros((0, d))
    axis = np.argmax(np.abs(n), axis=1)
    if len(faces) and np.any(np.abs(n[np.arange(len(n)), axis]) < 1.0 - 1e-6):
        raise deck.error(f"{key}.faces", "surface stress is computed for faces normal to a lab axis only "
                         "(a slab periodic along the other axes); some selected faces are inclined")
    tau, gamma, S = np.zeros((len(faces), d, d)), np.zeros(len(faces)), np.zeros((len(faces), d, d))
    _require_mirror_faces(deck, key, model.lattice, axis)
    props = {}
    for k in np.unique(axis):
        try:
            props[int(k)] = pr = surface_properties(model.potential, model.lattice, int(k), tol=cfg.tol)
        except (ValueError, RuntimeError) as exc:
            raise deck.error(f"{key}.source", f"surface slab normal to {_AXES[int(k)]}: {exc}") from exc
        tau[axis == k], gamma[axis == k] = pr.tau, pr.gamma
        if cfg.elasticity:
            if pr.S_inplane_force > INPLANE_FTOL:
                raise deck.error(f"{key}.elasticity", f"the surface slab normal to {_AXES[int(k)]} relaxes in "
                                 f"plane under in-plane strain (largest in-plane force {pr.S_inplane_force:.2e} "
                                 f"> {INPLANE_FTOL:g} on the normally relaxed strained slab): its surface "
                                 "elasticity S from a normal-only relaxation would be that of an unrelaxed "
                                 "surface (γ and τ are not affected)",
                                 "set `elasticity: false`, or orient the lattice with cube-axis faces")
            S[axis == k] = pr.S
    model.surface_properties = props
    layer = _surface_layer(deck, key, cont, faces, n, axis, S) if cfg.elasticity and len(faces) else None
    cont.set_surface(SurfaceStress(mesh.nodes, faces, tau, gamma, None, layer=layer))
    method = getattr(model.system, "method", None)
    if method is not None:                             # attached after the coupling's `prepare`
        method.surface_attached(model.system)


def _require_stable_stiffness(deck: Deck, material, lattice) -> None:  # noqa: ANN001
    """Refuse a continuum whose reference stiffness C is not positive definite.

    C (Voigt, (nv, nv), energy/length^d in the deck's units) positive definite is the condition for
    ½ ε:C:ε > 0 at every strain, i.e. for a stable continuum with free faces; an indefinite C (a square
    or simple-cubic lattice with a pair potential: C12 = C66 < 0 from the Born sum) makes the explicit
    FE step grow exponentially while the total energy stays conserved, so neither the guard nor an
    energy-drift check would see it. Materials without a reference C are not checked.
    """
    C = getattr(material, "C", None)
    if C is None:
        return
    C = np.asarray(C, float)
    ev = np.linalg.eigvalsh(0.5 * (C + C.T))
    scale = float(np.max(np.abs(ev))) if ev.size else 0.0
    if scale == 0.0 or ev[0] > 1e-10 * scale:
        return
    what = (f"the {lattice.kind} lattice is mechanically unstable under this potential"
            if lattice is not None else "the material is unstable")
    raise deck.error("continuum.material",
                     f"the reference stiffness C (Voigt) is not positive definite: eigenvalues "
                     f"{np.array2string(ev, precision=4)} — {what}; the continuum would grow "
                     f"exponentially from any perturbation",
                     "use a lattice the potential holds stable (e.g. hex in 2D, fcc/bcc in 3D for a pair "
                     "potential), or give `continuum.material.C` explicitly")


def _require_mirror_faces(deck: Deck, key: str, lattice, axis: np.ndarray) -> None:  # noqa: ANN001
    """Deck errors at ``key`` unless the lattice is Bravais and the faces normal to each lab axis in
    ``axis`` (nf,) have an in-plane mirror (geometric checks, before any slab is computed)."""
    from .md.surface_slab import has_in_plane_mirror

    if not lattice.is_bravais:
        raise deck.error(key, f"surface stress needs a Bravais lattice ({lattice.describe()} has a "
                         "basis): "
                         "the slab's normal-only relaxation and the mirror check assume every atom is a "
                         "lattice site (diamond's {100} planes are glide planes, not mirrors)")
    for k in np.unique(axis):
        if not has_in_plane_mirror(lattice, int(k)):
            raise deck.error(key, f"the faces normal to {_AXES[int(k)]} have no mirror plane containing "
                             "their normal and a lab axis in this lattice orientation: their off-diagonal "
                             "surface stress τ (which the periodic slab cannot compute) need not vanish",
                             "select only faces of mirror-symmetric orientations (`faces: [face sets]`), or "
                             "orient the lattice so that they have such a mirror (cube axes; for [111] "
                             "normals, [11-2] / [1-10] in plane, with `elasticity: false`: their planes relax "
                             "in plane under strain)")


def _relaxed_surface_shift(deck: Deck, model: Model, continuum, X: np.ndarray,  # noqa: ANN001
                           units) -> np.ndarray:  # noqa: ANN001
    """``continuum.surface_stress.relax_atoms``: displacements (n, d) that move the atom sites X (n, d) under
    the selected free faces to the relaxed surface of the slab (`multiscale.md.surface_sites`); atoms in a
    ``fixed`` load's region stay on the lattice. Deck errors at ``continuum.surface_stress.*``."""
    from .fem.surface_stress import outward_normals
    from .md.surface_sites import relaxed_surface_shift
    from .md.surface_slab import surface_properties

    key, mesh, d = "continuum.surface_stress", continuum.mesh, model.dim
    if d < 2 or model.lattice is None or not model.lattice.is_bravais:
        raise deck.error(f"{key}.relax_atoms", "the relaxed surface needs a 2D or 3D Bravais `atoms.lattice` "
                         "(the slab is made of that lattice)")
    faces = _surface_faces(deck, mesh, X, model.lattice, model.potential, _loads(deck, units))
    if not len(faces):
        raise deck.error(f"{key}.relax_atoms", "relax_atoms moves the atoms under the selected free faces, but "
                         "no face is selected (`faces`)", "remove `relax_atoms`, or select faces")
    n = outward_normals(mesh.nodes, faces)
    axis = np.argmax(np.abs(n), axis=1)
    if np.any(np.abs(n[np.arange(len(n)), axis]) < 1.0 - 1e-6):
        raise deck.error(f"{key}.faces", "surface stress is computed for faces normal to a lab axis only "
                         "(a slab periodic along the other axes); some selected faces are inclined")
    _require_mirror_faces(deck, key, model.lattice, axis)
    profiles = {}
    for k in np.unique(axis):
        try:
            pr = surface_properties(model.potential, model.lattice, int(k),
                                    tol=deck.config.continuum.surface_stress.tol)
        except (ValueError, RuntimeError) as exc:
            raise deck.error(f"{key}.source", f"surface slab normal to {_AXES[int(k)]}: {exc}") from exc
        profiles[int(k)] = (pr.relaxation, pr.plane_spacing)
    held = np.zeros(len(X), bool)
    for lc in deck.config.loads:
        if lc.type == "fixed" and getattr(lc, "targets", "both") != "nodes":
            held |= np.asarray(make_shape(lc.region, d).contains(X), bool)
    if all(not np.any(np.asarray(p[0]) != 0.0) for p in profiles.values()):
        # review rev29: a potential that reaches only nearest neighbours, at its minimum spacing, relaxes no
        # plane: nothing moves, and that is the answer (not "no atom under the faces")
        model.notes.append(f"{key}.relax_atoms: the slab's surface relaxation is zero for this potential and "
                           "lattice: the atoms stay on the lattice")
        return np.zeros_like(X)
    shift = relaxed_surface_shift(X, mesh.nodes, faces, n, profiles, held)
    if not np.any(shift != 0.0):       # nothing to relax: the deck asks for something that does not happen
        raise deck.error(f"{key}.relax_atoms", f"relax_atoms moves the atoms under the selected free faces, but "
                         f"no free atom lies under any of the {len(faces)} faces (within the slab's "
                         f"{max(len(p[0]) for p in profiles.values())} relaxed planes below a face; atoms "
                         "held by a fixed load stay on the lattice): it would do nothing",
                         "remove `relax_atoms` (the atoms are not at these faces), or extend `atoms.region` "
                         "to the free surface")
    moved = np.flatnonzero(np.any(shift != 0.0, axis=1))
    if moved.size:
        from .fem.locate import Locator
        loc = Locator(mesh)
        left = moved[loc.inside(X[moved]) & ~loc.inside(X[moved] + shift[moved])]
        if left.size:
            out = float(np.max(np.einsum("ij,ij->i", shift[left], shift[left]) ** 0.5))
            raise deck.error(f"{key}.relax_atoms", f"{left.size} atom(s) under the free faces would leave the "
                             f"mesh when moved to the relaxed surface (the outer planes relax outward by up "
                             f"to {out:.4g}), e.g. #{int(left[0])} at {np.round(X[left[0]], 6).tolist()}",
                             "move the mesh's free faces out by at least the relaxation (e.g. half a plane "
                             "spacing beyond the outermost atoms), or set relax_atoms: false")
    model.notes.append(f"{key}.relax_atoms: {int(np.count_nonzero(np.any(shift != 0.0, axis=1)))} atoms "
                       f"moved to the relaxed surface (largest {float(np.max(np.abs(shift))):.4g})")
    return shift


def _surface_faces(deck: Deck, mesh, atoms_X: np.ndarray | None, lattice, potential,  # noqa: ANN001
                   loads: list) -> np.ndarray:
    """The boundary faces (nf, nen_face) that ``continuum.surface_stress.faces`` selects (`_surface_stress`):
    ``free`` drops the interface to the atoms ``atoms_X`` (n, d) and the faces held or loaded by ``loads``
    (the deck's load objects); a list of face sets is checked against the atoms. Deck errors at
    ``continuum.surface_stress.faces``."""
    from .fem.surface_stress import interface_faces

    cfg, key, d = deck.config.continuum.surface_stress, "continuum.surface_stress", mesh.dim
    if cfg.faces == "free":
        faces = mesh.boundary_faces()
        drop = (interface_faces(mesh.nodes, faces, atoms_X, lattice.nearest_neighbor_distance,
                                getattr(potential, "cutoff", None))
                if atoms_X is not None else np.zeros(len(faces), bool))
        held = np.zeros((mesh.n_nodes, d), bool)           # dofs prescribed by any kinematic load
        for i, lc in enumerate(deck.config.loads):
            sel = None
            if lc.type == "fixed" and getattr(lc, "targets", "both") != "atoms":
                sel = make_shape(lc.region, d).contains(mesh.nodes)
            elif lc.type == "traction":
                if lc.face_set is not None:
                    on = np.zeros(mesh.n_nodes, bool)
                    on[np.unique(mesh.face_sets.get(lc.face_set, np.zeros(0, np.int64)))] = True
                    sel = on
                else:
                    sel = make_shape(lc.region, d).contains(mesh.nodes)
            if sel is not None:
                drop |= np.all(np.asarray(sel, bool)[faces], axis=1)
            _held_by_load(loads[i], lc, mesh.nodes, d, held)
        drop |= np.all(np.all(held, axis=1)[faces], axis=1)
        faces = faces[~drop]
    else:
        seen = set()
        for n_ in cfg.faces:
            if n_ in seen:
                raise deck.error(f"{key}.faces", f"face set {n_!r} is listed twice (its faces would count "
                                 "twice)")
            seen.add(n_)
        missing = [n for n in cfg.faces if n not in mesh.face_sets]
        if missing:
            raise deck.error(f"{key}.faces", f"no face set {missing[0]!r} in the mesh (it has "
                             f"{sorted(mesh.face_sets)})")
        faces = _boundary_face_rows(deck, key, mesh, cfg.faces)
        if atoms_X is not None and len(faces):
            at = interface_faces(mesh.nodes, faces, atoms_X, lattice.nearest_neighbor_distance,
                                 getattr(potential, "cutoff", None))
            if np.any(at):
                raise deck.error(f"{key}.faces", f"{int(at.sum())} of the listed faces lie against the atoms "
                                 "(the coupling interface, e.g. the mesh's hole): a surface stress acts on "
                                 "free faces only (the atoms there carry their own environment)",
                                 "list only free faces, or use `faces: free`")
    return faces


def _held_by_load(load, lc, nodes: np.ndarray, d: int, held: np.ndarray) -> None:  # noqa: ANN001
    """Mark in ``held`` (N, d) the node dofs a kinematic load (one with `fixed_dofs`: fixed, prescribed,
    kfield) imposes, from its region (``region`` or ``boundary``) and components, by reference position."""
    from .loads.base import Load, component_mask
    if type(load).fixed_dofs is Load.fixed_dofs or getattr(lc, "targets", "both") == "atoms":
        return
    p = load.params
    region = getattr(p, "region", None) or getattr(p, "boundary", None)
    if region is None:
        return
    sel = np.asarray(make_shape(region, d).contains(nodes), bool)
    held |= sel[:, None] & component_mask(getattr(p, "components", None), d)[None, :]


def _boundary_face_rows(deck: Deck, key: str, mesh, names: list[str]) -> np.ndarray:  # noqa: ANN001
    """The faces of the named face sets as rows of ``mesh.boundary_faces()`` (outward node order), each
    face once (faces shared by two sets are counted once); a face not on the mesh boundary is a deck
    error at ``{key}.faces``."""
    bf = mesh.boundary_faces()
    if not names:
        return np.zeros((0, bf.shape[1]), np.int64)
    row = {tuple(sorted(f)): i for i, f in enumerate(bf.tolist())}
    out = []
    for name in names:
        for f in np.asarray(mesh.face_sets[name]).tolist():
            i = row.get(tuple(sorted(f)))
            if i is None:
                raise deck.error(f"{key}.faces", f"face set {name!r} holds a face that is not on the mesh "
                                 f"boundary (nodes {sorted(f)}): a surface stress acts on free faces only")
            out.append(i)
    return bf[np.unique(np.asarray(out, np.int64))]


def _surface_layer(deck: Deck, key: str, cont, faces: np.ndarray, normals: np.ndarray,  # noqa: ANN001
                   axis: np.ndarray, S: np.ndarray):  # noqa: ANN202
    """The surface elasticity S on a boundary layer (`multiscale.fem.surface_layer`): depth ℓ =
    LAYER_MARGIN × the thinnest layer whose bulk stiffness C carries the S at every quadrature point of the
    layer (several faces' S where their columns overlap: edges and corners). Deck error at
    ``{key}.elasticity`` when the material has no reference C, or when at some
    quadrature point C + Ŝ_q is not positive definite (columns of close faces adding up, or a layer the
    mesh does not fill)."""
    from .fem.surface_layer import LAYER_MARGIN, SurfaceLayer, min_layer_thickness
    C = getattr(cont.material, "C", None)
    if C is None:
        raise deck.error(f"{key}.elasticity", "the surface elasticity is carried by a layer of the continuum "
                         "whose material must have a reference stiffness C; this material has none",
                         "set `elasticity: false`")
    C = np.asarray(C, float)
    t_min = max(min_layer_thickness(C, S[axis == k][0]) for k in np.unique(axis))
    if t_min <= 0.0:        # S positive semi-definite: any thin layer is stable; one element row's worth
        t_min = float(np.min([np.ptp(cont.mesh.nodes[b.conn], axis=1).max(axis=1).min()
                              for b in cont.mesh.blocks])) / LAYER_MARGIN
    mesh = cont.mesh
    blocks = [(b.conn, b.element) for b in mesh.blocks]
    depth = LAYER_MARGIN * t_min
    for _ in range(8):      # where columns overlap (edges, corners) or are sampled thinly the moduli add up:
        try:
            layer = SurfaceLayer(mesh.nodes, blocks, faces, normals, S, depth)  # deepen the layer until every
        except ValueError as exc:
            raise deck.error(f"{key}.elasticity", str(exc), "set `elasticity: false`") from exc
        if len(faces) and np.min(layer.coverage) <= 0.0:
            depth *= 2.0    # a face's column holds no quadrature point (thinner than the elements): S would vanish
            continue
        Sq, _ = layer.point_moduli()                                         # point keeps the margin
        Su = np.unique(np.round(Sq * depth, 12).reshape(len(Sq), -1), axis=0).reshape(-1, *S.shape[1:])
        need = LAYER_MARGIN * max([min_layer_thickness(C, m) for m in Su] or [0.0])
        if need <= depth * (1.0 + 1e-9):
            break
        depth = need
    if len(faces) and np.min(layer.coverage) <= 0.0:
        raise deck.error(f"{key}.elasticity", "the surface elasticity's boundary layer (depth "
                         f"{layer.depth:.3g}) holds no quadrature point below some faces: the elements there "
                         "are too coarse for it",
                         "refine the mesh near the free faces or set `elasticity: false`")
    Sq, Xq = layer.point_moduli()
    d = S.shape[1]
    M = np.repeat(C[None], len(Sq), axis=0)
    M[:, :d, :d] += Sq
    low = np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, 1, 2)))[:, 0] if len(Sq) else np.zeros(0)
    if len(low) and np.min(low) <= 0.0:
        i = int(np.argmin(low))
        raise deck.error(f"{key}.elasticity",
                         f"the surface elasticity on its boundary layer (depth {layer.depth:.3g}) makes the "
                         f"material indefinite at {np.round(Xq[i], 3).tolist()} (lowest eigenvalue of "
                         f"C + S/layer {low[i]:.3g}): faces closer than the layer depth, or a layer the mesh "
                         "does not fill "
                         f"(coverage {np.min(layer.coverage):.3g})", "set `elasticity: false`")
    return layer


def _check_thermal_share(deck: Deck, model: Model) -> None:
    """``thermal_strain`` with ``handshake: free_share`` (multiscale/coupling/thermal_share.py) or
    ``quasi_harmonic`` (multiscale/coupling/thermal_qh.py; also: a pair potential and a lattice) needs a
    handshake with an energy-based coupling and a dynamics run: deck errors at the key otherwise."""
    from .registry import MINIMIZERS
    c = model.continuum
    which = getattr(c.material, "handshake", "uniform") if c is not None else "uniform"
    if c is not None and getattr(c.material, "anharmonic", False) and which != "quasi_harmonic":
        # (the thermostat it also needs is checked at prepare, once the dynamics extras are built)
        raise deck.error("continuum.material.anharmonic", "anharmonic corrects quasi_harmonic's bond "
                         "virials at the bonds' effective temperatures: it needs `handshake: quasi_harmonic`")
    if which not in ("free_share", "quasi_harmonic"):
        return
    key, hint = "continuum.material.handshake", "use `handshake: uniform` (ε_th everywhere)"
    if which == "quasi_harmonic" and getattr(model.potential, "many_body", False):
        raise deck.error(key, "quasi_harmonic computes the handshake atoms' thermal virial for pair "
                         "potentials only (a many-body embedding term is not implemented)", hint)
    if which == "quasi_harmonic" and model.lattice is None:
        raise deck.error(key, "quasi_harmonic takes its reference crystal from `atoms.lattice`; these atoms "
                         "come from a file", hint)
    if model.handshake is None:
        raise deck.error(key, f"{which} sets the continuum's thermal strain from the handshake atoms, "
                         "but the deck has no handshake", hint)
    if not getattr(model.method, "energy_based", True):
        raise deck.error(key, f"{which} balances the partition-of-unity weighted stresses of an "
                         "energy-based coupling; force-based blending has none", hint)
    if deck.config.integrator.type in MINIMIZERS:
        raise deck.error(key, f"{which} is the thermal pressure of the atoms' vibrations: dynamics at "
                         "temperature only (statics is at zero temperature)", hint)
    G = getattr(model.system, "G", None)
    if G is None or G.shape[0] == 0 or getattr(model.method, "springs", False):
        what = ("holds the handshake atoms by penalty springs (exact rows only on the atoms of β̄ below "
                "`slave_below`), so it would count the others as free"
                if getattr(model.method, "springs", False) else "has none")
        raise deck.error(key, f"{which} takes the atoms' share from exact constraint rows (strong or "
                         f"projected coupling, or a `constraint:` other than none); this coupling {what}, "
                         "so the handshake would get no thermal strain", hint)


def _dynamics_extras(deck: Deck, model: Model) -> None:
    """Thermostat, damping band and initial velocities (dynamics only)."""
    cfg = deck.config
    integ = cfg.integrator
    units = model.units
    th = getattr(integ, "thermostat", None)
    if th is not None:
        if model.atoms is None:
            raise deck.error("integrator.thermostat", "a thermostat acts on atoms; the deck has none")
        model.thermostat = plugin_of(th).from_params(th, units, master_seed=integ.seed)
        if hasattr(model.thermostat, "ids"):
            model.thermostat.ids = np.asarray(model.site_ids, np.int64)  # noise keyed by global atom id
        _check_thermostat_region(deck, model)
    from .seeds import stream_seed
    master = int(getattr(integ, "seed", 0))  # integrator.seed: every stream without its own seed
    hs = cfg.handshake
    if hs is not None and hs.damping is not None:
        from .coupling.damping import DampingBand
        omega0 = _max_lattice_frequency(model)
        model.damping = DampingBand(hs.damping.gamma0, omega0, kT=units.boltz * hs.damping.temperature,
                                    seed=stream_seed(master, "damping", hs.damping.seed),
                                    fine_scale=hs.damping.fine_scale, ids=model.site_ids)
    vel = cfg.atoms.velocity if cfg.atoms is not None else None
    if model.file_velocities is not None and model.atoms is not None:
        # rev32 F11: a structure file's velocities are the initial state unless the deck sets atoms.velocity
        from pathlib import Path
        name = Path(model.structure_file).name
        if vel is not None:
            model.notes.append(f"atoms.file: the velocities in {name} are replaced by atoms.velocity")
        else:
            s = model.system
            v = np.zeros_like(model.atoms.v)
            v[s.free] = model.file_velocities[np.asarray(model.site_ids)[s.free]]
            model.atoms.v[...] = v
            from .md.velocities import kinetic_temperature
            T = kinetic_temperature(v[s.free], s.atom_mass[s.free], units.boltz)
            model.notes.append(f"atoms.file: the initial velocities are the ones in {name} (kinetic "
                               f"temperature {T:.6g} K; `atoms.velocity` would replace them)")
    if vel is not None and vel.temperature > 0 and model.atoms is not None:
        from .md.velocities import maxwell_boltzmann
        s = model.system
        v = np.zeros_like(model.atoms.v)
        v[s.free] = maxwell_boltzmann(s.atom_mass[s.free], model.dim, vel.temperature, units.boltz,
                                      seed=stream_seed(master, "velocity", vel.seed))
        model.atoms.v[...] = v


def _check_thermostat_region(deck: Deck, model: Model) -> None:
    """A thermostat ``region`` that holds no atom of mass > 0 (by reference position, as the thermostat's
    own mask: `md.thermostats.langevin.Langevin.forces`) would thermostat nothing: a deck error at
    ``integrator.thermostat.region``, as the loads' empty regions are. The model holds every atom on every
    rank (the builder is serial), so the count is the count over all ranks and every rank raises alike."""
    th = model.thermostat
    region = getattr(th, "region", None)
    if region is None or getattr(th, "mask", None) is not None:
        return
    mass = getattr(model.system, "atom_mass", None) if model.system is not None else None
    mass = np.asarray(model.atoms.mass if mass is None else mass, float)
    inside = np.asarray(region.contains(model.atoms.X), bool)
    if not np.any(inside & (mass > 0)):
        what = ("holds atoms, but only pad atoms (mass 0, moved by the mesh)" if inside.any()
                else f"holds none of the {len(mass)} atoms (reference positions)")
        raise deck.error("integrator.thermostat.region", f"the thermostat's region {what}: it would "
                         "thermostat nothing", "move the region onto the atoms, or drop `region` to "
                         "thermostat every atom")


def _max_lattice_frequency(model: Model) -> float:
    """Largest vibration frequency estimate ω_max = 2 √(Σ_b φ''(r_b) / m) of the lattice [1/time].
    Structures with a basis, several species or from a file: `_structure_frequency`."""
    pot, lat = model.potential, model.lattice
    several = len(model.type_names) > 1 or lat is None or not lat.is_bravais
    if hasattr(pot, "max_frequency"):  # external engines (md/engines/base.py): no φ'', ask the engine
        if several and model.atoms is not None:
            return _engine_structure_frequency(model)
        return pot.max_frequency(lat, model.units.mass_to_internal(model.mass_user))
    if several and model.atoms is not None:
        return _structure_frequency(model)
    R = lat.neighbor_vectors(pot.cutoff)
    r = np.linalg.norm(R, axis=1)
    h = 1e-5 * lat.a
    d2 = (pot.pair(r + h)[1] - pot.pair(r - h)[1]) / (2 * h)
    k_eff = float(np.sum(np.clip(d2, 0.0, None))) / 2.0
    m = model.units.mass_to_internal(model.mass_user)
    return 2.0 * np.sqrt(max(k_eff, 1e-300) / m)


def _structure_frequency(model: Model) -> float:
    """ω_max = max_a 2 √(½ Σ_b max(φ''_{t_a t_b}(r_ab), 0) / m_a) over the reference structure [1/time]: the
    Bravais estimate of `_max_lattice_frequency` atom by atom (pair part, per type pair through
    ``pair_ab`` where the potential has it), for bases, several species and structure files."""
    from .md.neighbors import NeighborList

    a, pot = model.atoms, model.potential
    nl = NeighborList(a.box, pot.cutoff, 0.0)
    nl.build(a.X)
    i, j = nl.pairs()
    r = np.linalg.norm(nl.separations(a.X), axis=1)
    h = 1e-5 * max(float(np.min(r)) if len(r) else 1.0, 1e-12)
    ti = np.zeros(a.n, np.int64) if a.types is None else a.types.astype(np.int64)
    d2 = np.zeros_like(r)
    for p in np.unique(np.c_[ti[i], ti[j]], axis=0) if len(r) else []:
        sel = (ti[i] == p[0]) & (ti[j] == p[1])
        fn = (lambda x, p=p: pot.pair_ab(int(p[0]), int(p[1]), x)) if hasattr(pot, "pair_ab") else pot.pair
        d2[sel] = (fn(r[sel] + h)[1] - fn(r[sel] - h)[1]) / (2 * h)
    k = np.bincount(i, np.clip(d2, 0.0, None), a.n) + np.bincount(j, np.clip(d2, 0.0, None), a.n)
    return float(np.max(2.0 * np.sqrt(np.maximum(0.5 * k, 1e-300) / a.mass)))


def _engine_structure_frequency(model: Model) -> float:
    """External engines on a basis, several species or a structure file: ω = max over one atom of each type
    of √(2 λ_max(K_aa) / m_a), K_aa the on-site force-constant block of that atom in the reference structure
    (central differences of its force, h = 1e-4 × cut-off), as `ExternalPotential.max_frequency` does for
    one atom of a perfect lattice [1/time]."""
    a, pot = model.atoms, model.potential
    d = a.dim
    h = 1e-4 * float(pot.cutoff)
    types = np.zeros(a.n, np.int64) if a.types is None else a.types
    eng = pot._new_engine(np.ascontiguousarray(a.X), a.box, a.types)
    f = np.zeros_like(a.X)
    e = np.zeros(a.n)
    omega = 0.0
    try:
        for t in np.unique(types):
            c = int(np.flatnonzero(types == t)[0])
            K = np.zeros((d, d))
            for k in range(d):
                fk = []
                for sgn in (h, -h):
                    x = a.X.copy()
                    x[c, k] += sgn
                    eng.compute(x, f, e)
                    fk.append(f[c].copy())
                K[:, k] = -(fk[0] - fk[1]) / (2 * h)
            lam = float(np.max(np.linalg.eigvalsh(0.5 * (K + K.T))))
            omega = max(omega, float(np.sqrt(max(2.0 * lam, 1e-300) / a.mass[c])))
    finally:
        close = getattr(eng, "close", None)
        if close is not None:
            close()
    return omega
