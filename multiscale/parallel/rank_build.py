"""The per-rank build of a coupled dynamics deck for the spatial path: no rank builds the serial model
(docs/parallel.md "Per-rank memory of the spatial path", "The wiring").

`build_rank_model(deck, comm)` makes, on every rank, the deck-level pieces WITHOUT atoms (potential, lattice,
the mesh and its material (`build._continuum`), the handshake and the coupling method), this rank's own
kept sites (`parallel.rank_sites.rank_sites_from_deck`: slab along axis 0, the engine's ownership), the
replicated handshake band (`handshake_band`) and the handshake's replicated part built from the band
(`parallel.band_system.BandSystem`: G, the pads' plan, masses, the projector and the local solve). The
initial conditions (``radial_pulse``: pointwise) are set on the rank's own atoms, on the band and on the
nodes, and the initial state is projected as `VelocityVerlet.project_state` (its local path) does — the
correction computed on the band's touched dofs (replicated), applied pointwise. `RankModel` then hands
`parallel.coupled_spatial.SpatialCoupled` (`SpatialCoupled.from_rank_model`) the engine's rows, the
touched copy and the pads from these pieces: the same values, bitwise, that it takes from the serial model
today (tests/parallel/test_rank_build.py: the two engines stepped side by side on 1, 2 and 3 ranks agree
bit for bit).

What it covers is decided in ONE place, `per_rank_refusal(deck, size, restart=, start_from=, run=)`, each
reason named with its deck key (what only the built pieces tell: `PerRankRefused`); everything else keeps
the serial build. ``msim run`` takes it on the spatial path (`cli._per_rank_simulation`,
`run.spatial_rank.RankSimulation`): a deck runs fully on one build or the other. The run's deck checks that
read sites are made here on the rank's pieces (`check_time_step` / `stable_dt` on the band's own list, the
pads' check on the gathered sites near the missing ones, the minimum distance per slab).

Memory per rank: the rank's own sites (O(n/P)), the band and the mesh (replicated), no array over all
atoms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["PerRankRefused", "RankModel", "build_rank_model", "check_time_step", "per_rank_refusal", "stable_dt"]


class PerRankRefused(Exception):  # noqa: N818
    """What `per_rank_refusal` cannot tell from the deck, found once the per-rank pieces are built (every
    rank reaches the same verdict: the pieces are replicated): ``key``, ``reason``. The run then keeps the
    serial build."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key, self.reason = key, reason

#: the coupling methods the per-rank build runs (their constraint rows from the band; penalty, whose
#: springs `BandSystem` builds too, is not wired into `SpatialCoupled.from_rank_model` yet)
_METHODS = ("projected", "strong")
#: loads that are initial conditions set pointwise here
_INITIAL = ("radial_pulse",)


def per_rank_refusal(deck, size: int, *, restart: bool = False,  # noqa: ANN001
                     start_from: bool = False, run: bool = True) -> tuple[str, str] | None:
    """(deck key, reason) of the first feature of ``deck`` the per-rank build does not cover on ``size``
    ranks (then the run keeps the serial build: today's spatial path), or None. No communication: every
    rank reaches the same verdict. ``restart`` / ``start_from``: the run continues a checkpoint or another
    run's state (the scatter of a checkpoint by global id is not wired). ``run``: for a whole ``msim run``
    (False: the coupled step alone, `SpatialCoupled.from_rank_model`, without the run's checks and output)."""
    from ..deck.section import plugin_of
    from ..registry import MINIMIZERS
    from .band_system import band_refusal
    from .rank_sites import rank_sites_refusal
    cfg = deck.config
    what = "keeps the serial build (the per-rank build of the spatial path does not cover it yet)"
    if cfg.integrator.type in MINIMIZERS:
        return "integrator", f"quasi-statics {what}"
    why = rank_sites_refusal(deck)
    if why is not None:
        return why[0], f"{why[1]}: {what}"
    if restart:
        return "integrator", f"--restart (the checkpoint's scatter by global id is not wired) {what}"
    if start_from:
        return "integrator", f"--from (the state's scatter by global id is not wired) {what}"
    hs = cfg.handshake
    method = plugin_of(hs.coupling).from_params(hs.coupling, deck.units, deck.directory)
    why = band_refusal(method)
    if why is not None:
        return why[0], f"{why[1]}: {what}"
    if hs.coupling.type not in _METHODS:
        return "handshake.coupling", f"coupling '{hs.coupling.type}' {what} (projected and strong only)"
    if hs.damping is not None:
        return "handshake.damping", f"a damping band {what}"
    if getattr(cfg.integrator, "thermostat", None) is not None:
        return "integrator.thermostat", f"a thermostat {what}"
    for k, ld in enumerate(cfg.loads or []):
        if ld.type not in _INITIAL:
            return f"loads[{k}]", f"load '{ld.type}' {what} (initial conditions: {', '.join(_INITIAL)} only)"
    c = cfg.continuum
    if c.surface_stress is not None:
        return "continuum.surface_stress", f"surface stress {what}"
    if c.material.type not in ("linear", "cauchy_born"):
        return "continuum.material", f"material '{c.material.type}' {what} (linear and cauchy_born only)"
    pot = cfg.potential.type
    if pot in ("lammps", "ase"):
        return "potential", f"an external engine {what}"
    if run:
        if pot.startswith("eam"):
            return "potential", (f"an EAM potential in `msim run` (the weighted-EAM on-site stability check of "
                                 f"the time-step check is not built per rank) {what}")
        bad = [f for f in cfg.output.fields if f.startswith("hardy_") or f == "stress_atom"]
        if bad:
            return "output.fields", f"output field(s) {', '.join(bad)} (they read every atom's neighbours) {what}"
        from ..coupling.handshake import Handshake
        from ..geometry import make_shape
        hs_obj = Handshake(make_shape(hs.shape, deck.dim), hs.width, hs.blend.type)
        fn = hs_obj.bond_weight_fn(np.zeros((1, deck.dim)))
        if hs_obj._sd is None or not hs_obj._convex or getattr(fn, "certain_unit", None) is None:
            return "handshake.shape", (f"a handshake shape that is not one convex compiled shape (the time-step "
                                       f"check's band list does not apply) {what}")
    return _thin_slabs(deck, size, what)


def _thin_slabs(deck, size: int, what: str) -> tuple[str, str] | None:  # noqa: ANN001
    """`spatial_refusal`'s slab rule (P slabs along x no thinner than cut-off + skin) from the deck's
    region bounds (`build._region_and_bounds`, as the serial box)."""
    from .. import build as B
    if size <= 1:
        return None
    cfg = deck.config
    with B.located(deck, "potential", "the potential"):
        potential = B._potential(deck, deck.units)
    with B.located(deck, "atoms.lattice", "the lattice"):
        lattice = B._lattice(deck, potential)
    rlist = float(potential.cutoff) + float(cfg.atoms.skin)
    with B.located(deck, "atoms.region", "the atomistic region"):
        _, lo, hi, _ = B._region_and_bounds(deck, lattice, [False] * lattice.dim, [], 2.0 * rlist)
    if (hi[0] - lo[0]) / size < rlist:
        return "atoms.region", (f"{size} slabs of {(hi[0] - lo[0]) / size:g} along x are thinner than cut-off + "
                                f"skin = {rlist:g}: {what}")
    return None


@dataclass
class RankModel:
    """One rank's part of a coupled dynamics model (module docstring). Per-site arrays are this rank's own
    sites in global-id order (``sites``: `parallel.rank_sites.RankSites`); ``band``, ``bsys``, the mesh and
    U, V are replicated.

    x, v : (m, d) this rank's positions and velocities after the initial conditions and the projection
    xB, vB : (b, d) the band's (``band.gid`` order), the same values at its atoms
    box : the atoms' `md.box.Box` (free); skin, policy : the neighbour list's
    pot_types : (m,) int32 the potential's types of the own sites, or None
    """

    deck: Any
    units: Any
    potential: Any
    lattice: Any
    continuum: Any
    handshake: Any
    method: Any
    sites: Any
    band: Any
    bsys: Any
    dec: Any
    box: Any
    skin: float
    policy: Any
    x: np.ndarray
    v: np.ndarray
    xB: np.ndarray
    vB: np.ndarray
    pot_types: np.ndarray | None
    dt: float
    n_threads: int = 1
    notes: list = field(default_factory=list)
    type_names: list = field(default_factory=list)
    type_masses: list = field(default_factory=list)
    mass_user: float = 1.0
    hooks: list = field(default_factory=list)

    # -------------------------------------------------------------- what SpatialCoupled takes
    def band_rows(self, gid: np.ndarray) -> np.ndarray:
        """Band positions (k,) of the global ids ``gid`` (each must be a band atom)."""
        g = np.asarray(gid, np.int64)
        pos = np.searchsorted(self.band.gid, g)
        if g.size and (int(pos.max()) >= self.band.gid.size or not np.array_equal(self.band.gid[pos], g)):
            raise RuntimeError("an atom of the replicated copy is not in the handshake band")
        return pos

    def late_check(self) -> bool:
        """`VelocityVerlet._check_after_forces` of this model: the local solve exists and nothing but the
        drift moves the constrained dofs (no velocity operators, fixed dofs or imposed motion: refused)."""
        return bool(self.bsys.local)

    def facades(self) -> tuple[Any, Any]:
        """(model, integrator): what `SpatialCoupled` reads of the serial `build.Model` and the prepared
        `VelocityVerlet` besides the atoms (which it takes from this object: `SpatialCoupled.from_rank_model`),
        from the per-rank pieces: no array over all atoms. A fresh start (clock 0, no loads, thermostat or
        band: `per_rank_refusal`)."""
        from types import SimpleNamespace as NS
        b, c, h = self.bsys, self.continuum, self.handshake
        system = NS(d=b.d, n_atoms=b.n_atoms, n_free=b.n_free, n_nodes=b.n_nodes, coupled=True,
                    pad_idx=b.pad_idx, _pads=b._pads, N_pad=b.N_pad, method=self.method, handshake=h,
                    node_mass=b.node_mass, continuum=c)
        atoms = NS(potential=self.potential, box=self.box, nlist=NS(skin=self.skin, policy=self.policy))
        model = NS(system=system, atoms=atoms, continuum=c, loads=[], thermostat=None, damping=None,
                   units=self.units, potential=self.potential)
        integ = NS(projector=b.projector, _t_atom=b.t_atom, _a_atom=b.a_atom, _t_node=b.t_node,
                   _a_node=b.a_node, _inv_t=b.inv_t, _inv_nodes=b.inv_nodes, reproject_tol=b.reproject_tol,
                   _check_after_forces=self.late_check, dt=self.dt, n_threads=self.n_threads, step_count=0,
                   time=0.0, _initialized=False, dissipated=0.0, external_work=0.0, force_hooks=[],
                   velocity_ops=[], _local=b.local)
        return model, integ


def _pulses(deck, d: int) -> list:  # noqa: ANN001
    """The deck's ``radial_pulse`` loads (deck order), checked as `Load.prepare` checks them."""
    from ..build import _loads
    from ..loads.radial_pulse import RadialPulse
    out = []
    for k, ld in enumerate(_loads(deck, deck.units)):
        if not isinstance(ld, RadialPulse):         # (`per_rank_refusal` admitted initial conditions only)
            raise RuntimeError(f"loads[{k}]: not an initial condition of the per-rank build")
        if len(ld.params.center) != d:
            raise deck.error(f"loads[{k}].center", f"radial_pulse center has {len(ld.params.center)} values in "
                             f"{d}D")
        out.append(ld)
    return out


def build_rank_model(deck, comm, threads: int | None = None) -> RankModel:  # noqa: ANN001
    """This rank's `RankModel` of ``deck`` (collective: the sites' ids and the band are one allgather each).
    The caller has checked `per_rank_refusal`; deck mistakes raise `DeckError` at their keys."""
    from .. import build as B
    from ..deck.section import plugin_of
    from ..md.box import Box
    from ..md.neighbors import NeighborList
    from ..run.prepare import LoadHook
    from .band_system import BandSystem
    from .rank_sites import handshake_band, rank_sites_from_deck
    cfg = deck.config
    units = deck.units
    n_threads = int(threads or getattr(cfg.integrator, "threads", None) or 1)
    sites, handshake, dec = rank_sites_from_deck(deck, comm)
    with B.located(deck, "potential", "the potential"):
        potential = B._potential(deck, units)
    with B.located(deck, "atoms.lattice", "the lattice"):
        lattice = B._lattice(deck, potential)
    dim = lattice.dim
    sub_names = B._sublattice_names(deck, potential)
    type_names = B._type_order(sub_names, potential, cfg.potential)
    pot_types_all = B._potential_types(deck, potential, type_names)
    if len(type_names) != 1 or not lattice.is_bravais and lattice.kind != "diamond":
        raise deck.error("continuum", "coupling a continuum to more than one species or a lattice with a "
                         "basis is not supported (build_model's rule)")
    mass_user = float(B._type_masses(deck, type_names)[0])
    with B.located(deck, "continuum", "the continuum"):
        continuum = B._continuum(deck, units, potential, lattice, dim, mass_user, n_threads)
    try:
        handshake.check_geometry(potential.cutoff, cfg.atoms.skin, B._element_size_across(continuum, handshake))
    except ValueError as exc:
        raise deck.error("handshake.width", str(exc)) from exc
    with B.located(deck, "handshake.coupling", "the coupling"):
        method = plugin_of(cfg.handshake.coupling).from_params(cfg.handshake.coupling, units, deck.directory)
    periodic = [False] * dim
    notes: list = []
    with B.located(deck, "atoms.region", "the atomistic region"):
        region, lo, hi, key = B._region_and_bounds(deck, lattice, periodic, notes,
                                                   2.0 * (potential.cutoff + cfg.atoms.skin))
    box = Box(lo, hi, periodic)
    B._check_atom_count(deck, lattice, region, lo, hi, key)     # (the whole model's estimate, as today)
    B._check_min_distance(deck, key, lattice, sites.X, box)      # per slab (a lattice: never closer)
    B._check_handshake_filled(deck, lattice, region, handshake, continuum)
    _check_pads_filled(deck, lattice, region, handshake, continuum, potential, sites, comm, notes)
    band = handshake_band(sites, handshake, comm)
    from ..coupling.projector import DependentConstraintsError
    from ..run.prepare import dependent_constraints
    try:
        with B.located(deck, "handshake.shape", "the coupled system"):
            bsys = BandSystem(continuum, handshake, method, lattice.primitive_vectors, band.X, band.gid,
                              band.free_id, band.weight, band.pad, band.mass_full, sites.n_atoms, sites.n_free)
    except DependentConstraintsError as exc:      # `run.prepare.prepare`'s deck error
        raise dependent_constraints(deck, exc) from None
    policy = NeighborList(box, potential.cutoff, cfg.atoms.skin, n_threads, policy=cfg.atoms.neighbor,
                          wrap=True).policy
    _check_spatial(potential, continuum, method, bsys)
    # ---- initial conditions (pointwise: own sites, band, nodes) and the projection of the initial state
    x, xB = sites.X.copy(), band.X.copy()
    pulses = _pulses(deck, dim)
    for ld in pulses:
        u = ld.displacement
        x[...] = sites.X + u(sites.X)
        xB[...] = band.X + u(band.X)
        continuum.U[...] = u(continuum.nodes)
    v, vB = _initial_velocities(deck, sites, band, dim, comm)
    _project_initial(bsys, band, sites, x, xB, v, vB, continuum)
    _pads_follow(bsys, sites, x, continuum)
    sites, x, v = _own_by_position(sites, x, v, dec, comm)
    return RankModel(deck=deck, units=units, potential=potential, lattice=lattice, continuum=continuum,
                     handshake=handshake, method=method, sites=sites, band=band, bsys=bsys, dec=dec, box=box,
                     skin=float(cfg.atoms.skin), policy=policy, x=x, v=v, xB=xB, vB=vB,
                     pot_types=None if pot_types_all is None else
                     np.asarray(pot_types_all, np.int32)[sites.types],
                     dt=float(cfg.integrator.dt), n_threads=n_threads, type_names=list(type_names),
                     type_masses=list(B._type_masses(deck, type_names)), mass_user=mass_user,
                     hooks=[LoadHook(ld) for ld in pulses], notes=notes)


def _project_initial(bsys, band, sites, x, xB, v, vB, continuum) -> None:  # noqa: ANN001
    """`VelocityVerlet._project_state_local` on the rank's own rows and the band (the correction from the
    band's touched dofs and U, replicated; applied pointwise): x = X + (x − X) everywhere, at the active
    atom dofs X + ((x − X) − c); U, V at the active node dofs corrected; v likewise from G v."""
    p = bsys.projector
    if p is None:
        return
    if not bsys.local or p.zero_fixed:
        raise RuntimeError("the per-rank build needs the projector's local solve")
    d = bsys.d
    U = continuum.U.reshape(-1)
    V = continuum.V.reshape(-1)
    ta, tn, aa, an = bsys.t_atom, bsys.t_node, bsys.a_atom, bsys.a_node
    tb, ab = bsys._band_flat(ta), bsys._band_flat(aa)

    def touched(atoms_b: np.ndarray, ref_b: np.ndarray | None, nodes: np.ndarray) -> np.ndarray:
        buf = np.empty(ta.size + tn.size)
        buf[:ta.size] = atoms_b.reshape(-1)[tb]
        if ref_b is not None:
            buf[:ta.size] -= ref_b.reshape(-1)[tb]
        buf[ta.size:] = nodes[tn]
        return buf

    ka = aa.size
    corr = p.correction(p.residual_of(touched(xB, band.X, U)))
    # the rank's own rows of the active atom dofs (flat indices into (m, d))
    gown = sites.gid
    pos = np.searchsorted(gown, aa // d)
    mine = (pos < gown.size) & (gown[np.minimum(pos, max(gown.size - 1, 0))] == aa // d) if gown.size else \
        np.zeros(aa.size, bool)
    fo = pos[mine] * d + aa[mine] % d
    for xa, Xa, flat, sel in ((x, sites.X, fo, mine), (xB, band.X, ab, np.ones(ka, bool))):
        q_act = xa.reshape(-1)[flat] - Xa.reshape(-1)[flat]
        q_act -= corr[:ka][sel]
        u = np.subtract(xa, Xa)
        np.add(Xa, u, out=xa)
        xa.reshape(-1)[flat] = Xa.reshape(-1)[flat] + q_act
    if an.size:
        U[an] -= corr[ka:]
    corr = p.correction(p.residual_of(touched(vB, None, V)))
    v.reshape(-1)[fo] -= corr[:ka][mine]
    vB.reshape(-1)[ab] -= corr[:ka]
    if an.size:
        V[an] -= corr[ka:]


def _initial_velocities(deck, sites, band, dim: int, comm) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """(v (m, d) of the own sites, vB (b, d) of the band) at the start: zero, or ``atoms.velocity``'s
    Maxwell–Boltzmann draw (`build._dynamics_extras`: over the free atoms in free-id order, pads 0) per rank
    (`parallel.initial_velocity.maxwell_boltzmann_rows`: the serial draw's rows, the momentum removal and
    rescale from allreduced sums: round-off from the serial values); the band's rows from their owners
    (one allgather of the own band rows)."""
    from .engine import _pack_rows, _unpack_rows
    cfg = deck.config
    v = np.zeros((len(sites.gid), dim))
    vel = cfg.atoms.velocity
    if vel is None or not vel.temperature > 0:
        return v, np.zeros((len(band.gid), dim))
    from ..seeds import stream_seed
    from .initial_velocity import maxwell_boltzmann_rows
    master = int(getattr(cfg.integrator, "seed", 0))
    v = maxwell_boltzmann_rows(sites.free_id, sites.mass, sites.n_free, dim, float(vel.temperature),
                               deck.units.boltz, stream_seed(master, "velocity", vel.seed), comm)
    inb = np.isin(sites.gid, band.gid)
    cols = [sites.gid[inb], v[inb]]
    rows = _pack_rows(cols)
    parts = comm.allgather(rows) if comm.size > 1 else [rows]
    g, vb = _unpack_rows(np.concatenate(parts), cols)
    o = np.argsort(g, kind="stable")
    if not np.array_equal(g[o], band.gid):
        raise RuntimeError("the band's velocities are not every band atom's once")
    return v, np.ascontiguousarray(vb[o])


def _check_pads_filled(deck, lattice, region, handshake, continuum, potential, sites, comm,  # noqa: ANN001
                       notes: list) -> None:
    """`build._check_pads_filled` (the deck error or note on lattice sites outside the region that weighted
    atoms miss as pads) on the weighted sites within cut-off + skin of such a site only, gathered from the
    ranks in global-id order: the serial check reads no other weighted atom (its two queries keep the
    atoms with a site within reach), so its verdict and message are the serial ones."""
    from scipy.spatial import cKDTree

    from .. import build as B
    from .engine import _pack_rows, _unpack_rows
    cfg = deck.config
    reach = float(potential.cutoff) + float(cfg.atoms.skin)
    C = B._sites_outside_region(lattice, region, handshake, continuum, reach)
    W = sites.X[sites.weight > 0.0]
    g = sites.gid[sites.weight > 0.0]
    near = np.zeros(len(W), bool)
    if len(C) and len(W):
        d1, _ = cKDTree(C).query(W, k=1, distance_upper_bound=reach * (1 + 1e-6))
        near = np.isfinite(d1)
    cols = [g[near], W[near]]
    rows = _pack_rows(cols)
    parts = comm.allgather(rows) if comm.size > 1 else [rows]
    gw, Wn = _unpack_rows(np.concatenate(parts), cols)
    o = np.argsort(gw, kind="stable")
    Wn = np.ascontiguousarray(Wn[o])
    B._check_pads_filled(deck, lattice, region, handshake, continuum, Wn, np.ones(len(Wn)),
                         float(potential.cutoff), float(cfg.atoms.skin),
                         bool(getattr(potential, "many_body", True)), notes)


def _check_spatial(potential, continuum, method, bsys) -> None:  # noqa: ANN001
    """`PerRankRefused` for what `parallel.coupled_spatial.spatial_refusal` refuses and the deck alone does
    not tell: a many-body potential without tables, a continuum `SplitContinuum` does not split, a
    constraint system without the local solve (or with fixed dofs zeroed in the projector)."""
    from ..fem.continuum import ContinuumRegion
    from .split_continuum import SplitContinuum
    if getattr(potential, "external", False) or (getattr(potential, "many_body", False)
                                                 and getattr(potential, "tables", None) is None):
        raise PerRankRefused("potential", "a many-body potential without tables")
    if not isinstance(continuum, ContinuumRegion) or not SplitContinuum.supports(continuum, method):
        raise PerRankRefused("continuum", "a continuum the spatial path does not split")
    p = bsys.projector
    if p is not None and (not bsys.local or p.zero_fixed):
        raise PerRankRefused("handshake.coupling", "a constraint system without the local (touched-dof) solve")


def _pads_follow(bsys, sites, x, continuum) -> None:  # noqa: ANN001
    """The own pads' x = X + N U (`CoupledSystem.update_pads`' kernel over the band's pads, replicated)."""
    if not bsys.pad_idx.size or not np.any(sites.pad):
        return
    k, _, Np, Ni, Nx, Xp, _, _ = bsys._pads()
    xP, vP = np.zeros_like(Xp), np.zeros_like(Xp)
    k.pads_follow(np.arange(xP.shape[0], dtype=np.int64), Np, Ni, Nx, Xp, continuum.U, continuum.V, xP, vP, 2)
    own = np.flatnonzero(sites.pad)
    x[own] = xP[np.searchsorted(bsys.pad_idx, sites.gid[own])]


def _own_by_position(sites, x, v, dec, comm):  # noqa: ANN001, ANN202
    """(sites, x, v) of the atoms this rank owns by their CURRENT position (`SlabDecomposition.owner` of x
    along axis 0, as the serial path hands the engine its rows): the sites the initial conditions moved
    across a slab face go to their owner (one allgather of those few rows), every rank's rows sorted by
    global id."""
    from dataclasses import replace

    from .engine import _pack_rows, _unpack_rows
    me = comm.rank if comm.size > 1 else 0
    go = np.asarray(dec.owner(x[:, 0])) != me if len(x) else np.zeros(0, bool)
    n_go = int(comm.allreduce(int(go.sum()), "sum")) if comm.size > 1 else int(go.sum())
    if n_go == 0:
        return sites, x, v
    names = ("X", "sub", "types", "weight", "pad", "mass", "mass_full", "gid", "free_id", "site_id")
    cols = [getattr(sites, k) for k in names] + [x, v]
    cols[4] = cols[4].astype(np.int64)
    rows = _pack_rows([c[go] for c in cols])
    parts = comm.allgather(rows)
    got = _unpack_rows(np.concatenate(parts), cols)
    keep = ~go
    inc = np.asarray(dec.owner(got[-2][:, 0])) == me if len(got[-2]) else np.zeros(0, bool)
    merged = [np.concatenate([c[keep], gc[inc]]) for c, gc in zip(cols, got, strict=True)]
    o = np.argsort(merged[7], kind="stable")
    merged = [np.ascontiguousarray(c[o]) for c in merged]
    merged[4] = merged[4].astype(bool)
    new = replace(sites, **dict(zip(names, merged[:len(names)], strict=True)))
    return new, merged[-2], merged[-1]


# ----------------------------------------------------------------------------- the time-step check
def stable_dt(rm, comm) -> dict[str, float]:  # noqa: ANN001
    """`run.summary.stable_dt` of the per-rank model (collective), the same values: ``atoms`` 2/ω_max of
    the lattice (deck-level), ``continuum`` (the replicated mesh), ``weighted atoms`` — the largest
    ω_a² = ω_max² · ratio_a · m_a / (β̄_a m_a) over the free atoms no strong row slaves, the bond ratio
    Σ w k / Σ k of the handshake's rows from the band's own list (`diagnostics.weighted_band.band_list`'s
    selection and arithmetic on the gathered band rows; every other atom's ratio is exactly 1)."""
    from ..build import _max_lattice_frequency
    from ..diagnostics.stability import slaved_atoms
    from ..diagnostics.weighted_band import bond_ratio, fd_stiffness
    from ..md.neighbors import NeighborList
    from .engine import _pack_rows, _unpack_rows
    from .weights import entry_weights
    facade = SimpleNamespace(potential=rm.potential, lattice=rm.lattice, type_names=rm.type_names,
                             units=rm.units, mass_user=rm.mass_user, atoms=None)
    om_l = _max_lattice_frequency(facade)
    out = {"atoms": 2.0 / om_l, "continuum": float(rm.continuum.stable_dt())}
    st, hs, pot = rm.sites, rm.handshake, rm.potential
    d = rm.bsys.d
    rc = float(pot.cutoff)
    # `band_list` (hops = 1, no site weights): the rows and their halo by the signed distance at X
    big_own = float(np.max(np.abs(st.X))) if len(st.X) else 0.0
    big = float(comm.allreduce(big_own, "max")) if comm.size > 1 else big_own
    margin = 1e-9 * hs.width + 2e-12 * (1.0 + big)
    slack = 1e-9 * (1.0 + big + rc)
    sd = np.asarray(hs._sd(st.X), float) if len(st.X) else np.zeros(0)
    sel = np.flatnonzero(sd >= -(margin + 2 * (rc + slack)))
    cols = [st.gid[sel], st.X[sel]]
    rows = _pack_rows(cols)
    parts = comm.allgather(rows) if comm.size > 1 else [rows]
    gsel, Xs = _unpack_rows(np.concatenate(parts), cols)
    o = np.argsort(gsel, kind="stable")
    gsel, Xs = gsel[o], np.ascontiguousarray(Xs[o])
    ratio_rows = np.zeros(0)
    rows_g = np.zeros(0, np.int64)
    if gsel.size:
        sds = np.asarray(hs._sd(Xs), float)
        ring = (sds < -(margin + (rc + slack))).astype(np.int8)
        nl = NeighborList(rm.box, rc, 1e-6 * rc, rm.n_threads)
        nl.build(Xs)
        i, j = nl.pairs()
        dX = nl.separations(Xs)
        r = np.sqrt(np.sum(dX * dX, axis=1))
        inside = r < rc
        zero = np.zeros((gsel.size, d), np.int64)
        w = entry_weights(lambda: hs.bond_weight_fn(Xs), nl, Xs, zero, zero, np.zeros(d), np.zeros(d))
        del nl
        sub = bond_ratio(gsel.size, i[inside], j[inside], fd_stiffness(pot, r[inside]), w[inside], gsel)
        keep = ring == 0
        rows_g, ratio_rows = gsel[keep], sub[keep]
    # ω² over this rank's free atoms that no strong row slaves (`_omega2_of_ratio`)
    free = np.flatnonzero(~st.pad)
    if rm.bsys.G is not None:
        slaved = np.asarray(slaved_atoms(rm.bsys.G, rm.bsys.n_free, d), np.int64)
        free = free[~np.isin(st.free_id[free], slaved)]
    ratio = np.ones(free.size)
    pos = np.searchsorted(rows_g, st.gid[free])
    hit = (pos < rows_g.size) & (rows_g[np.minimum(pos, max(rows_g.size - 1, 0))] == st.gid[free]) \
        if rows_g.size else np.zeros(free.size, bool)
    ratio[hit] = ratio_rows[pos[hit]]
    M = st.mass[free]
    with np.errstate(divide="ignore"):
        om2 = om_l ** 2 * ratio * np.where(M > 0, st.mass_full[free] / M, np.inf)
    mx = float(np.max(om2)) if om2.size else -np.inf
    mx = float(comm.allreduce(mx, "max")) if comm.size > 1 else mx
    out["weighted atoms"] = 2.0 / float(np.sqrt(mx)) if (np.isfinite(mx) and mx > 0) else float("inf")
    if mx == np.inf:
        out["weighted atoms"] = 0.0
    return out


def check_time_step(rm, deck, comm) -> None:  # noqa: ANN001
    """`run.summary.check_time_step` of a deck `per_rank_refusal` accepted for a run (pair potentials, no
    penalty, no thermostat: its weighted-EAM, spring and Langevin checks do not apply): a `DeckError` at
    ``integrator.dt`` when dt is not below the smallest estimate of `stable_dt` (the same message).
    Collective; every rank raises the same error."""
    integ = deck.config.integrator
    if getattr(integ, "allow_unstable_dt", False):
        return
    from ..run.summary import check_dt_against
    check_dt_against(deck, stable_dt(rm, comm), rm.units.time)
