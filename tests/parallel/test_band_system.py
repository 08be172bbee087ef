"""The handshake's replicated part built from the band's atoms only (`parallel.band_system.BandSystem`, the
per-rank build's step 4, docs/parallel.md "Per-rank build"), against the serial model: every array, sparse
matrix and the projector's solves BITWISE those of the serial `CoupledSystem` and `VelocityVerlet`.

In process (the band is replicated: no MPI). The band's arrays (X, global ids, free ids, β̄, pad flags,
masses of the free atoms of H and the pads, sorted by global id) are taken from the serial model here; on
P ranks they come from the per-rank classification (`parallel.rank_sites`). Decks: every coupled gallery
deck with a lattice region (the two ``force_blend`` decks with an external engine and ``patch2d``'s
``ghost_corrected`` are refused: checked), and random wave2d variants (core shape, width, blend, lattice
orientation, mesh size, coupling, slave_below, mass floor, fixed atoms and nodes). The projector's paths
exercised: SuperLU of the Gram matrix (≤ 2 000 rows), its block solve (indent3d_small: 2 952 rows), the
certified augmented solve (crack2d_coupled, indent3d), the augmented per-step solve (wave2d_sharp), dropped
dependent rows (indent2d_dyn_T: 196 of 690; fixed variants), slaved rows; penalty's K over H.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from multiscale.coupling.coupled import CoupledSystem
from multiscale.deck import load_deck
from multiscale.integrate.verlet import VelocityVerlet
from multiscale.parallel.band_system import BandSystem, band_refusal
from multiscale.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
GALLERY = ["decks/wave2d.yaml", "decks/wave2d_sharp.yaml", "decks/thermal2d.yaml",
           "decks/indent2d_dyn_T.yaml", "decks/indent2d_dyn_T_equil.yaml", "decks/indent2d_small.yaml",
           "decks/crack2d_coupled_small.yaml",
           "decks/indent3d_small.yaml", "tests/parallel/decks/coupled3d_smoke.yaml",
           "tests/parallel/decks/coupled3d_eam.yaml", "decks/wave1d.yaml", "decks/wave1d_damped.yaml",
           "decks/indent2d.yaml", "decks/crack2d_coupled.yaml", "decks/indent3d.yaml"]
REFUSED = {"decks/patch2d.yaml": "ghost_corrected", "decks/wave2d_lammps_cb.yaml": "force_blend",
           "decks/indent3d_ml_small.yaml": "force_blend"}


def _sp_equal(a, b) -> bool:  # noqa: ANN001
    """Two sparse matrices entry by entry: shape, format, row pointers, column indices and values in
    storage order."""
    a, b = a.tocsr() if a.format != "csr" else a, b.tocsr() if b.format != "csr" else b
    return (a.shape == b.shape and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data) and a.data.dtype == b.data.dtype)


def _same(a, b) -> bool:  # noqa: ANN001
    """Arrays (values and dtype), sparse matrices, tuples / lists of them, or None."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "tocsr"):
        return _sp_equal(a, b)
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def band_arrays(s) -> dict:  # noqa: ANN001
    """The band's inputs from a serial `CoupledSystem`: the free atoms of H and the pads, by global id."""
    n = s.n_atoms
    free_id = np.full(n, -1, np.int64)
    free_id[s.free] = np.arange(s.n_free)
    inb = np.zeros(n, bool)
    inb[s.free[s.constrained]] = True
    inb[s.pad_idx] = True
    g = np.flatnonzero(inb)
    return {"X": s.atoms.X[g], "gid": g, "free_id": free_id[g], "beta": s.atom_weight[g], "pad": s.pad[g],
            "mass": np.asarray(s.atoms.mass, float)[g], "n_atoms": n, "n_free": s.n_free}


def build_band(s, method, **kw) -> BandSystem:  # noqa: ANN001
    """The band system of the serial system ``s`` (its fixed dofs: the zero inverse masses of its free atoms'
    and active nodes' components), with the coupling ``method`` (a fresh object)."""
    ba = band_arrays(s)
    d = s.d
    inv = s.inv_mass_dof.reshape(-1, d)
    fid = ba["free_id"]
    fixed_atoms = np.zeros((fid.size, d), bool)
    fixed_atoms[~ba["pad"]] = inv[: s.n_free][fid[~ba["pad"]]] == 0.0
    fixed_nodes = (inv[s.n_free:] == 0.0) & np.asarray(s.active_nodes, bool)[:, None]
    cell = s.cell if s.cell is not None else s.lattice.primitive_vectors
    return BandSystem(s.continuum, s.handshake, method, cell, ba.pop("X"), ba.pop("gid"), ba.pop("free_id"),
                      ba.pop("beta"), ba.pop("pad"), ba.pop("mass"), ba.pop("n_atoms"), ba.pop("n_free"),
                      fixed_atoms=fixed_atoms, fixed_nodes=fixed_nodes, **kw)


def fresh_method(m):  # noqa: ANN001, ANN201
    """A new coupling object of the same type and parameters (penalty keeps matrices on its object)."""
    return type(m)(m.params)


def compare(bs: BandSystem, s, vv: VelocityVerlet, serial_method=None, seed: int = 0) -> None:  # noqa: ANN001
    """Every output of the band system bitwise the serial system's / integrator's."""
    g = bs.gid
    assert _same(bs.G, s.G)
    assert _same(bs.constrained, np.asarray(s.constrained, np.int64))
    assert _same(bs.gid_constrained, s.free[s.constrained].astype(np.int64))
    assert _same(bs.N_c, s.N_c) and _same(bs.N_pad, s.N_pad)
    assert _same(bs.pad_idx, s.pad_idx.astype(np.int64)) and _same(bs._X_pad, s._X_pad)
    if s.pad_idx.size:
        assert _same(bs._pads()[1:], s._pads()[1:])          # (kernel module, then the plan's arrays)
    assert _same(bs.atom_mass, s.atom_mass[g]) and _same(bs.node_mass, s.node_mass)
    assert _same(bs.active_nodes, s.active_nodes) and _same(bs.floored, s.floored.astype(np.int64))
    assert _same(bs.inv_atoms, vv._inv_atoms[g]) and _same(bs.inv_nodes, vv._inv_nodes)
    assert bs.local == vv._local
    p, q = vv.projector, bs.projector
    assert (p is None) == (q is None)
    if serial_method is not None and hasattr(serial_method, "_Kt"):       # penalty
        assert _same(bs.method._Kt, serial_method._Kt)
        assert _same(bs.method._ta, serial_method._ta) and _same(bs.method._tn, serial_method._tn)
    if p is None:
        return
    assert _same(bs.touched, p.touched) and _same(bs.active, p.active)
    for k in ("t_atom", "t_node", "a_atom", "a_node", "inv_t"):
        assert _same(getattr(bs, k), getattr(vv, "_" + k)), k
    assert bs.reproject_tol == vv.reproject_tol
    # `SpatialCoupled`'s touched copy: the touched atoms T (global ids), their X and inverse masses
    T = np.unique(vv._t_atom // s.d)
    rows = bs.band_rows(bs.t_atom)
    assert _same(bs.gid[rows], T) and _same(bs.X[rows], s.atoms.X[T])
    assert _same(bs.inv_atoms[rows], vv._inv_atoms[T])
    assert _same(q.rows, p.rows) and _same(q.dropped_rows, p.dropped_rows)
    assert _same(q.G_touched, p.G_touched) and _same(q._GaT, p._GaT) and _same(q._wa, p._wa)
    assert _same(q._Gt_csr, p._Gt_csr) and _same(q._Ca_csr, p._Ca_csr) and _same(q.slaved, p.slaved)
    assert type(q._lu) is type(p._lu) and (q._fast is None) == (p._fast is None)
    assert (q._aug is None) == (p._aug is None)
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(p.n_rows)
    assert _same(q.solve(r), p.solve(r))
    c1, c2 = np.empty(p.active.size), np.empty(p.active.size)
    assert _same(q.correction_into(r, c1), p.correction_into(r, c2))
    # the per-step residual from region arrays at the touched dofs (mode 1: x − X; mode 2: f · inv_t)
    x = s.atoms.X + rng.standard_normal(s.atoms.X.shape)
    U = rng.standard_normal(s.continuum.U.shape)
    for mode, ref in ((1, s.atoms.X.reshape(-1)), (2, vv._inv_t)):
        r1, r2 = np.empty(p.n_rows), np.empty(p.n_rows)
        b1, b2 = np.empty(p.touched.size), np.empty(p.touched.size)
        m1 = q.residual_into(x.reshape(-1), ref if mode == 1 else bs.inv_t, U.reshape(-1), mode, bs.t_atom,
                             bs.t_node, b1, r1)
        m2 = p.residual_into(x.reshape(-1), ref, U.reshape(-1), mode, vv._t_atom, vv._t_node, b2, r2)
        assert m1 == m2 and _same(r1, r2)


def _serial_integrator(sim) -> VelocityVerlet:  # noqa: ANN001
    """The deck's prepared integrator (dynamics) or, for a statics deck, a `VelocityVerlet` on its system."""
    sim.prepare()
    vv = sim.integrator
    return vv if isinstance(vv, VelocityVerlet) else VelocityVerlet(sim.model.system, 1.0)


def _check_deck(path: Path) -> None:
    sim = Simulation.from_deck(load_deck(path), threads=1)
    s = sim.model.system
    vv = _serial_integrator(sim)
    assert band_refusal(s.method) is None
    bs = build_band(s, fresh_method(s.method), blend=False)
    compare(bs, s, vv, s.method)


@pytest.mark.parametrize("deck", GALLERY)
def test_gallery_band_system_bitwise(deck: str) -> None:
    _check_deck(ROOT / deck)


def _arrays(root, skip: tuple) -> list:  # noqa: ANN001
    """Every NumPy array reachable from ``root`` through multiscale / scipy objects, containers and tuples,
    not entering the objects in ``skip`` (the replicated continuum and handshake, the method)."""
    seen, out, stack = {id(o) for o in skip}, [], [root]
    while stack:
        o = stack.pop()
        if o is None or id(o) in seen or isinstance(o, (str, bytes, int, float, bool, type)):
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            out.append(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
        elif hasattr(o, "__dict__") and type(o).__module__.split(".")[0] in ("multiscale", "scipy"):
            stack.extend(vars(o).values())
    return out


def test_no_array_over_all_atoms(tmp_path: Path) -> None:
    """The band system holds no array with a row per atom, free atom or stacked dof of the whole model
    (wave2d with a core of ±50 and a handshake 6 wide: the band is under a third of the atoms): its memory
    follows the band and the mesh."""
    d = yaml.safe_load((ROOT / "decks" / "wave2d.yaml").read_text())
    d.pop("expect", None)
    d["atoms"]["region"] = {"type": "box", "lo": [-60.0, -60.0], "hi": [60.0, 60.0]}
    d["continuum"]["mesh"].update(lo=[-80.0, -80.0], hi=[80.0, 80.0], size=3.0,
                                  hole={"lo": [-44.0, -44.0], "hi": [44.0, 44.0]})
    d["handshake"].update(shape={"type": "box", "lo": [-50.0, -50.0], "hi": [50.0, 50.0]}, width=6.0)
    p = tmp_path / "big_core.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    sim = Simulation.from_deck(load_deck(p), threads=1)
    s = sim.model.system
    bs = build_band(s, fresh_method(s.method), blend=False)
    big = {s.n_atoms, s.n_free, s.n_atoms * s.d, s.n_free * s.d, s.n_dof, s.n_dof + 1}
    arrays = _arrays(bs, (bs.continuum, bs.handshake, bs.method))
    assert len(arrays) > 20 and bs.gid.size < s.n_atoms / 3
    assert not [a.shape for a in arrays if a.shape[:1] and a.shape[0] in big]


@pytest.mark.parametrize("deck", sorted(REFUSED))
def test_refused_couplings(deck: str) -> None:
    """ghost_corrected and force_blend are refused with the deck key, and BandSystem raises."""
    cfg = yaml.safe_load((ROOT / deck).read_text())
    from multiscale.plugins import load_all
    from multiscale.registry import COUPLINGS
    load_all()
    c = cfg["handshake"]["coupling"]
    c = {"type": c} if isinstance(c, str) else dict(c)
    kind = c.pop("type")
    assert kind == REFUSED[deck]
    m = COUPLINGS.get(kind)(COUPLINGS.get(kind).Params(**{k: v for k, v in c.items()}))
    why = band_refusal(m)
    assert why is not None and why[0] == "handshake.coupling"
    assert type(m).__name__ in why[1] and "handshake band" in why[1]
    with pytest.raises(ValueError, match="handshake.coupling"):
        BandSystem(None, None, m, None, np.zeros((0, 2)), [], [], [], [], [], 0, 0)


# ---------------------------------------------------------------------------------- random wave2d variants
def variant(tmp_path: Path, seed: int) -> tuple[Path, dict]:
    """A wave2d deck with a random core (box or sphere), width, blend, lattice orientation, mesh size and
    coupling; returns (path, extras): extras the mass floor and whether to hold a band of atoms / nodes."""
    rng = np.random.default_rng(1000 + seed)
    d = yaml.safe_load((ROOT / "decks" / "wave2d.yaml").read_text())
    d.pop("expect", None)
    d["atoms"]["region"] = {"type": "box", "lo": [-26.0, -26.0], "hi": [26.0, 26.0]}
    d["continuum"]["mesh"]["size"] = float(rng.choice([2.0, 3.0, 4.0]))
    if seed % 3 == 2:
        d["handshake"]["shape"] = {"type": "sphere", "center": rng.uniform(-1.0, 1.0, 2).tolist(),
                                   "radius": float(rng.uniform(11.0, 13.0))}
        d["continuum"]["mesh"]["hole"] = {"lo": [-7.0, -7.0], "hi": [7.0, 7.0]}
    else:
        lo, hi = rng.uniform(-13.0, -11.0, 2), rng.uniform(11.0, 13.0, 2)
        d["handshake"]["shape"] = {"type": "box", "lo": lo.tolist(), "hi": hi.tolist()}
    d["handshake"]["width"] = float(rng.uniform(5.5, 8.0))
    d["handshake"]["blend"] = {"type": ["linear", "cubic", "quintic"][seed % 3]}
    d["atoms"]["lattice"]["orient"] = float(rng.uniform(0.0, 60.0))
    coupling = [{"type": "projected", "slave_below": 0.0}, {"type": "projected", "slave_below": 0.05},
                {"type": "strong"}, {"type": "penalty", "kappa": float(rng.uniform(1.0, 20.0))},
                {"type": "projected"}][seed % 5]
    d["handshake"]["coupling"] = coupling
    p = tmp_path / f"band_variant{seed}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p, {"mass_floor": [0.0, 0.01, 0.03][(seed // 2) % 3], "fix": seed % 3 == 1}


def _rebuild_serial(sim, mass_floor: float, fix: bool) -> tuple:  # noqa: ANN001
    """The serial system rebuilt with a mass floor (not a deck key: the API's) and, when ``fix``, the atoms
    of H with x < 0 held along x and the nodes with y > 20 held along both axes; its integrator."""
    m = sim.model
    s0 = m.system
    s = CoupledSystem(m.atoms, m.continuum, m.handshake, fresh_method(s0.method),
                      cell=m.lattice.primitive_vectors, atom_weight=s0.atom_weight, mass_floor=mass_floor)
    s.lattice = m.lattice
    if fix:
        am = np.zeros((s.n_atoms, s.d), bool)
        am[:, 0] = m.atoms.X[:, 0] < 0.0
        nm = np.zeros((s.n_nodes, s.d), bool)
        nm[m.continuum.nodes[:, 1] > 20.0] = True
        s.fix_dofs(am, nm)
    return s, VelocityVerlet(s, 0.01)


@pytest.mark.parametrize("seed", range(15))
def test_random_variants_bitwise(tmp_path: Path, seed: int) -> None:
    path, ex = variant(tmp_path, seed)
    sim = Simulation.from_deck(load_deck(path), threads=1)
    try:
        s, vv = _rebuild_serial(sim, ex["mass_floor"], ex["fix"])
    except ValueError as exc:       # a floor the nodes cannot give: the band build refuses it alike
        assert "mass_floor" in str(exc)
        s0 = sim.model.system
        with pytest.raises(ValueError, match="mass_floor too large"):
            build_band(s0, fresh_method(s0.method), mass_floor=ex["mass_floor"], blend=True)
        return
    if ex["mass_floor"] > 0.0:
        assert s.floored.size > 0            # the floor acts on some atoms of H
    # the band system sets the continuum's blend itself (as CoupledSystem does): on a fresh blend
    bs = build_band(s, fresh_method(s.method), mass_floor=ex["mass_floor"], blend=True)
    compare(bs, s, vv, s.method, seed)


def test_band_inputs_checked(tmp_path: Path) -> None:
    """β̄ not the handshake's weights of X, unsorted ids, a pad flag off: ValueError, nothing built."""
    sim = Simulation.from_deck(load_deck(ROOT / "decks" / "wave2d.yaml"), threads=1)
    s = sim.model.system
    ba = band_arrays(s)
    cell = sim.model.lattice.primitive_vectors

    def make(**kw) -> BandSystem:
        a = dict(ba, **kw)
        return BandSystem(s.continuum, s.handshake, fresh_method(s.method), cell, a["X"], a["gid"],
                          a["free_id"], a["beta"], a["pad"], a["mass"], a["n_atoms"], a["n_free"],
                          blend=False)

    make()
    beta = ba["beta"].copy()
    beta[np.flatnonzero(~ba["pad"])[3]] *= 1.0 + 1e-15
    with pytest.raises(ValueError, match="atom weights"):
        make(beta=beta)
    with pytest.raises(ValueError, match="increasing"):
        make(gid=ba["gid"][::-1].copy())
    pad = ba["pad"].copy()
    pad[np.flatnonzero(~pad)[0]] = True
    with pytest.raises(ValueError, match="pad"):
        make(pad=pad)


@pytest.mark.parametrize("floor", [0.003, 0.05])
def test_wave2d_mass_floor_bitwise(floor: float) -> None:
    """decks/wave2d.yaml with a mass floor (its 40 massless core nodes give no mass: built since the floor
    check reads only the nodes that give mass; refused before, even at 0.003)."""
    sim = Simulation.from_deck(load_deck(ROOT / "decks" / "wave2d.yaml"), threads=1)
    s, vv = _rebuild_serial(sim, floor, False)
    assert s.floored.size > 100 and np.any(s.node_mass == 0.0)
    compare(build_band(s, fresh_method(s.method), mass_floor=floor, blend=True), s, vv, s.method)


def test_mass_floor_too_large_refused_alike() -> None:
    """A floor the nodes cannot give (0.999 on wave2d: two nodes would give more than their mass): the serial
    system and the band build both refuse."""
    sim = Simulation.from_deck(load_deck(ROOT / "decks" / "wave2d.yaml"), threads=1)
    with pytest.raises(ValueError, match="mass_floor too large"):
        _rebuild_serial(sim, 0.999, False)
    s = sim.model.system
    with pytest.raises(ValueError, match="mass_floor too large"):
        build_band(s, fresh_method(s.method), mass_floor=0.999, blend=True)
