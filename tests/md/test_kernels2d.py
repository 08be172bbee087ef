"""The specialised 2D kernel paths (pair_lj._lj2, pair_morse._morse2, pair_harmonic._spring2, the 2D
passes of eam; the batched loops of kernels/md_pair2d.h) against the generic d-dimensional loops they
replace (``generic=True``): bitwise the same forces and per-atom energies (same arithmetic, same order of
every sum), periodic and free boundaries, with and without weights, per-atom or owner energies; and
bitwise the same results on 1, 2 and 3 threads on a 2D system with many slabs (the slab phases then
really run in parallel)."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.md.box import Box
from multiscale.md.neighbors import NeighborList
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.potentials.pairbase import list_args

from .refcodes import lammps_potential_dir, random_config
from .samples import sample_potential

CASES = ["lj-cut", "lj-shift", "lj-smooth", "morse", "harmonic", "eam", "eam_zhou"]


def _potential(case: str):  # noqa: ANN202
    if case.startswith("lj-"):
        return LennardJones(1.0, 1.0, 2.5, case[3:]), 1.12, 0.08
    return sample_potential(case)


def _kernel(pot, x, nl, sw, bw, n_threads, generic, per_atom=True, types=None):  # noqa: ANN001, ANN202
    """Call the potential's kernel directly: (forces (n, 2), per-atom energies (n,))."""
    n = x.shape[0]
    f = np.full_like(x, np.nan)       # the kernels must overwrite every output
    e = np.full(n, np.nan)
    bw = np.zeros(0) if bw is None else bw
    if getattr(pot, "many_body", False):
        t = pot.tables
        pot._k.compute(x, *list_args(nl), bw, f, e, np.zeros((0, 0)),
                       np.zeros(n, np.int32) if types is None else types,
                       np.zeros(0) if sw is None else sw, t.frho, t.rhor, t.z2r, 1.0 / t.dr, 1.0 / t.drho,
                       t.cutoff ** 2, t.rhomax, np.zeros(n), np.zeros(n), per_atom, n_threads,
                       generic=generic)
    else:
        pot._k.compute(x, *list_args(nl), bw, f, e, np.zeros((0, 0)), *pot._kernel_params(), per_atom,
                       n_threads, generic=generic)
    return f, e


def _config(pot, a, jitter, ncell_factor, periodic, seed):  # noqa: ANN001, ANN202
    rng = np.random.default_rng(seed)
    ncell = int(np.ceil(ncell_factor * (pot.cutoff + 0.5) / a)) + 1
    x, box = random_config(rng, 2, ncell, a, jitter, periodic)
    return x, box, rng


def _weights(rng, n, nl):  # noqa: ANN001, ANN202
    sw = rng.uniform(0.0, 1.0, n)
    i, j = nl.pairs()
    W = rng.uniform(0.0, 1.0, (n, n))
    W = 0.5 * (W + W.T)
    return sw, np.ascontiguousarray(W[i, j])


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("per_atom", [True, False])
def test_2d_path_matches_generic_loop(case, periodic, weighted, per_atom):
    pot, a, jitter = _potential(case)
    x, box, rng = _config(pot, a, jitter, 2, periodic, seed=3)
    if periodic:
        x = x + rng.integers(-1, 2, x.shape) * (box.hi - box.lo)   # some atoms outside the box
    nl = NeighborList(box, pot.cutoff, 0.4)
    nl.build(x)
    xw = nl.wrapped(x)
    sw, bw = _weights(rng, len(x), nl) if weighted else (None, None)
    ff, ef = _kernel(pot, xw, nl, sw, bw, 1, generic=False, per_atom=per_atom)
    fg, eg = _kernel(pot, xw, nl, sw, bw, 1, generic=True, per_atom=per_atom)
    assert np.all(np.isfinite(ff)) and np.all(np.isfinite(ef))
    assert np.abs(fg).max() > 0 and np.abs(eg).max() > 0
    assert np.array_equal(ff, fg) and np.array_equal(ef, eg)
    # the potential's compute dispatches to the 2D path (bitwise the direct call)
    f = np.zeros_like(x)
    e = np.zeros(len(x))
    E = pot.compute(xw, nl, sw, bw, f, e, 1, atom_energies=per_atom)
    assert np.array_equal(f, ff) and np.array_equal(e, ef) and E == e.sum()


@pytest.mark.parametrize("case", ["lj-smooth", "morse", "harmonic", "eam"])
def test_2d_threads_bitwise_on_a_system_with_many_slabs(case):
    """1, 2 and 3 threads give bitwise the same forces and energies (>= 4 slabs, weights on)."""
    pot, a, jitter = _potential(case)
    x, box, rng = _config(pot, a, jitter, 5, True, seed=8)
    results = []
    sw = bw = None
    for nt in (1, 2, 3):
        nl = NeighborList(box, pot.cutoff, 0.3, n_threads=nt)
        nl.build(x)
        assert len(nl.slab_start) - 1 >= 4
        if nt == 1:
            sw, bw = _weights(rng, len(x), nl)
        f = np.zeros_like(x)
        e = np.zeros(len(x))
        E = pot.compute(x, nl, sw, bw, f, e, nt)
        results.append((E, f, e))
        fg, eg = _kernel(pot, x, nl, sw, bw, nt, generic=True)
        assert np.array_equal(f, fg) and np.array_equal(e, eg)
    for E, f, e in results[1:]:
        assert E == results[0][0] and np.array_equal(f, results[0][1]) and np.array_equal(e, results[0][2])


def test_2d_lj_hex_crystal_forces_vanish_and_energy_matches_lattice_sum():
    """Independent check of the 2D LJ path: in a perfect periodic hex crystal every force is 0 by
    symmetry and the energy per atom is the lattice sum ½ Σ_shells z_s φ(r_s) (shells a, √3a, 2a, √7a, 3a
    with 6, 6, 6, 12, 6 neighbours)."""
    from multiscale.md.lattice import Lattice

    a = 1.1
    pot = LennardJones(1.0, 1.0, 3.4, "shift")      # reaches the 3a shell (3.3 < 3.4)
    L = np.array([12 * a, 8 * a * np.sqrt(3.0)])
    X = Lattice("hex", a).sites_in_box([0.0, 0.0], L)
    box = Box([0.0, 0.0], L, [True, True])
    nl = NeighborList(box, pot.cutoff, 0.3)
    nl.build(X)
    f = np.zeros_like(X)
    e = np.zeros(len(X))
    E = pot.compute(X, nl, None, None, f, e, 1)
    r = np.array([1.0, np.sqrt(3.0), 2.0, np.sqrt(7.0), 3.0]) * a
    z = np.array([6, 6, 6, 12, 6])
    phi = 4 * (r ** -12 - r ** -6) - 4 * (3.4 ** -12 - 3.4 ** -6)
    e_ref = 0.5 * np.sum(z * phi)
    assert np.max(np.abs(f)) < 1e-12
    assert np.allclose(e, e_ref, rtol=1e-13, atol=0)
    assert np.isclose(E, len(X) * e_ref, rtol=1e-13, atol=0)


@pytest.mark.parametrize("per_atom", [True, False])
def test_2d_eam_two_elements_matches_generic_loop_and_finite_differences(per_atom):
    """setfl AlCu (two elements: rho_{el(i)} != rho_{el(j)} branches of the 2D passes), weights on."""
    from multiscale.md.potentials.eam import EAMFile

    pot = EAMFile.from_file(lammps_potential_dir() / "AlCu.eam.alloy")
    rng = np.random.default_rng(5)
    x, box = random_config(rng, 2, 8, 2.6, 0.05, True)
    types = rng.integers(0, 2, len(x)).astype(np.int32)
    nl = NeighborList(box, pot.cutoff, 0.3)
    nl.build(x)
    sw, bw = _weights(rng, len(x), nl)
    ff, ef = _kernel(pot, x, nl, sw, bw, 1, generic=False, per_atom=per_atom, types=types)
    fg, eg = _kernel(pot, x, nl, sw, bw, 1, generic=True, per_atom=per_atom, types=types)
    assert np.array_equal(ff, fg) and np.array_equal(ef, eg)

    def energy(xx):  # noqa: ANN001, ANN202
        f = np.zeros_like(xx)
        e = np.zeros(len(xx))
        return pot.compute(xx, nl, sw, bw, f, e, 1, types=types, atom_energies=per_atom), f

    E, f = energy(x)
    assert np.array_equal(f, ff)
    h = 1e-5
    for a in rng.choice(len(x), 6, replace=False):
        for k in range(2):
            xp, xm = x.copy(), x.copy()
            xp[a, k] += h
            xm[a, k] -= h
            assert abs(-(energy(xp)[0] - energy(xm)[0]) / (2 * h) - f[a, k]) <= 2e-6 * np.abs(f).max()


@pytest.mark.parametrize("case", ["lj-shift", "lj-smooth", "morse", "harmonic"])
@pytest.mark.parametrize("per_atom", [True, False])
def test_2d_row_flags_skip_unit_weights_bitwise(case, per_atom):
    """``bond_w_rows`` (issue 13): rows whose weights are all exactly 1 are flagged 0 and their weights
    are not read (batches of such rows take the unweighted copy). The forces and energies are bitwise those
    of the generic loop and of the unflagged call, on 1, 2 and 3 threads — with a coupled model's pattern:
    most rows unit-weighted, a band of rows weighted, some weighted rows holding unit entries too."""
    pot, a, jitter = _potential(case)
    x, box, rng = _config(pot, a, jitter, 5, True, seed=11)
    n = len(x)
    band = np.abs(x[:, 0] - x[:, 0].mean()) < 0.15 * np.ptp(x[:, 0])      # the weighted rows
    out = []
    w = rows = None
    for nt in (1, 2, 3):
        nl = NeighborList(box, pot.cutoff, 0.3, n_threads=nt)
        nl.build(x)                                   # the same list for any thread count
        if w is None:
            _, bw = _weights(rng, n, nl)
            owner = np.repeat(np.arange(n), np.diff(nl.offsets))
            w = np.where(band[owner] & (rng.random(bw.size) < 0.7), bw, 1.0)
            c = np.concatenate([[0], np.cumsum(w != 1.0)])
            rows = np.ascontiguousarray((c[nl.offsets[1:]] - c[nl.offsets[:-1]]) > 0, dtype=np.uint8)
            assert 0 < rows.sum() < 0.5 * n and np.all(rows[owner[w != 1.0]] == 1)
        f, e = np.zeros_like(x), np.zeros(n)
        E = pot.compute(x, nl, None, w, f, e, nt, atom_energies=per_atom, bond_w_rows=rows)
        f1, e1 = np.zeros_like(x), np.zeros(n)
        pot.compute(x, nl, None, w, f1, e1, nt, atom_energies=per_atom)
        fg, eg = _kernel(pot, nl.wrapped(x), nl, None, w, nt, generic=True, per_atom=per_atom)
        assert np.array_equal(f, f1) and np.array_equal(e, e1)
        assert np.array_equal(f, fg) and np.array_equal(e, eg)
        f2, e2 = np.zeros_like(x), np.zeros(n)                # the weights do matter
        pot.compute(x, nl, None, None, f2, e2, nt, atom_energies=per_atom)
        assert not np.array_equal(f, f2)
        out.append((E, f, e))
    for E, f, e in out[1:]:
        assert E == out[0][0] and np.array_equal(f, out[0][1]) and np.array_equal(e, out[0][2])


@pytest.mark.parametrize("case", ["lj-shift", "morse", "harmonic"])
@pytest.mark.parametrize("per_atom", [True, False])
def test_2d_zero_weight_rows_skipped_bitwise(case, per_atom):
    """``bond_w_rows`` == 2 (issue 13): rows whose weights are all exactly 0 (a coupled model's pad-pad
    bonds) are skipped. The flags come from `AtomisticRegion._bond_w_rows`; forces and energies equal
    those of the unflagged call and of the generic loop (which add the rows' exact zeros), on 1 and 2
    threads, while setting those rows' weights to 1 does change the forces."""
    from multiscale.md.system import AtomisticRegion

    pot, a, jitter = _potential(case)
    x, box, rng = _config(pot, a, jitter, 5, True, seed=13)
    n = len(x)
    for nt in (1, 2):
        nl = NeighborList(box, pot.cutoff, 0.3, n_threads=nt)
        nl.build(x)
        _, bw = _weights(rng, n, nl)
        owner = np.repeat(np.arange(n), np.diff(nl.offsets))
        dead = x[:, 0] < x[:, 0].min() + 0.3 * np.ptp(x[:, 0])           # rows of weight 0
        band = np.abs(x[:, 0] - x[:, 0].mean()) < 0.15 * np.ptp(x[:, 0])   # weighted rows
        w = np.where(dead[owner], 0.0, np.where(band[owner], bw, 1.0))
        holder = type("H", (), {})()
        holder.bond_w, holder.nlist = w, nl
        rows = AtomisticRegion._bond_w_rows(holder)
        lens = np.diff(nl.offsets)
        assert np.array_equal(rows == 2, dead & (lens > 0))
        assert np.any(rows == 1) and np.any(rows == 0)
        f, e = np.zeros_like(x), np.zeros(n)
        E = pot.compute(x, nl, None, w, f, e, nt, atom_energies=per_atom, bond_w_rows=rows)
        f1, e1 = np.zeros_like(x), np.zeros(n)
        E1 = pot.compute(x, nl, None, w, f1, e1, nt, atom_energies=per_atom)
        fg, eg = _kernel(pot, nl.wrapped(x), nl, None, w, nt, generic=True, per_atom=per_atom)
        assert E == E1 and np.array_equal(f, f1) and np.array_equal(e, e1)
        assert np.array_equal(f, fg) and np.array_equal(e, eg)
        w2 = np.where(dead[owner], 1.0, w)                                # the skipped rows do matter
        f2, e2 = np.zeros_like(x), np.zeros(n)
        pot.compute(x, nl, None, w2, f2, e2, nt, atom_energies=per_atom)
        assert not np.array_equal(f, f2)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("per_atom", [True, False])
def test_2d_zero_weight_entries_left_out_bitwise(case, per_atom):
    """Entries of bond weight exactly 0 inside weighted rows (a coupled model's handshake-pad bonds) are
    left out of the pair kernels' batches (issue 13; pair potentials only — EAM's embedding terms of such
    a bond are unweighted and stay). Forces and energies equal the generic loop's (which adds the entries'
    exact zeros) on 1 and 2 threads, and a small weight on those entries does change them."""
    pot, a, jitter = _potential(case)
    x, box, rng = _config(pot, a, jitter, 5, True, seed=17)
    n = len(x)
    for nt in (1, 2):
        nl = NeighborList(box, pot.cutoff, 0.3, n_threads=nt)
        nl.build(x)
        sw, bw = _weights(rng, n, nl)
        zero = rng.random(bw.size) < 0.3
        w = np.where(zero, 0.0, bw)
        owner = np.repeat(np.arange(n), np.diff(nl.offsets))
        assert np.unique(owner[zero]).size > n // 2            # zeros spread over many weighted rows
        rows = np.ones(n, np.uint8)
        f, e = _kernel(pot, nl.wrapped(x), nl, sw, w, nt, generic=False, per_atom=per_atom)
        fg, eg = _kernel(pot, nl.wrapped(x), nl, sw, w, nt, generic=True, per_atom=per_atom)
        assert np.array_equal(f, fg) and np.array_equal(e, eg)
        if not getattr(pot, "many_body", False):
            f1, e1 = np.zeros_like(x), np.zeros(n)
            pot.compute(x, nl, None, w, f1, e1, nt, atom_energies=per_atom, bond_w_rows=rows)
            assert np.array_equal(f1, fg)
        fs, _ = _kernel(pot, nl.wrapped(x), nl, sw, np.where(zero, 1e-3, bw), nt, generic=False,
                        per_atom=per_atom)
        assert not np.array_equal(fs, f)                       # the left-out entries do matter
