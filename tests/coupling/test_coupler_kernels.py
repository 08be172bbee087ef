"""The compiled per-step coupler loops (kernels/coupler.pyx, issue 13 "coupler cost ∝ handshake") against
the NumPy / SciPy expressions they replace: bitwise, and independent of the thread count."""

from __future__ import annotations

import numpy as np
import pytest
from test_coupler_cost import DECK  # noqa: E402 - the same small 2D coupled model

from multiscale._kernels import load
from multiscale.deck.deck import load_deck_text
from multiscale.plugins import load_all
from multiscale.simulation import Simulation


def _sim() -> Simulation:
    load_all()
    sim = Simulation.from_deck(load_deck_text(DECK))
    sim.prepare()
    return sim


def test_pads_follow_and_pad_forces_bitwise_scipy():
    s = _sim().model.system
    rng = np.random.default_rng(5)
    assert len(s.pad_idx) > 0
    s.continuum.U[...] = rng.standard_normal(s.continuum.U.shape)
    s.continuum.V[...] = rng.standard_normal(s.continuum.V.shape)
    s.update_pads()
    assert np.array_equal(s.atoms.x[s.pad_idx], s._X_pad + s.N_pad @ s.continuum.U)
    assert np.array_equal(s.atoms.v[s.pad_idx], s.N_pad @ s.continuum.V)
    x_before = s.atoms.x.copy()
    s.continuum.U[...] += 1.0
    s.continuum.V[...] = rng.standard_normal(s.continuum.V.shape)
    s.update_pads(positions=False)                      # velocities only
    assert np.array_equal(s.atoms.x, x_before)
    assert np.array_equal(s.atoms.v[s.pad_idx], s.N_pad @ s.continuum.V)
    fa = rng.standard_normal(s.f_atoms.shape)
    fn = rng.standard_normal(s.f_nodes.shape)
    ref_n = fn + s.N_pad.T @ fa[s.pad_idx]
    ref_a = fa.copy()
    ref_a[s.pad_idx] = 0.0
    for _ in range(2):                                  # the scratch is reused: same result
        a, n = fa.copy(), fn.copy()
        s.pad_forces_to_nodes(a, n)
        assert np.array_equal(a, ref_a)
        assert np.array_equal(n, ref_n)


def test_pads_positions_only_and_skipped_mid_step_velocities_bitwise():
    """update_pads(velocities=False) sets the pads' positions only; the integrator uses it for the mid-step
    update when nothing reads the pads' velocities before the end-of-step update: 20 steps bitwise the
    steps that update them."""
    s = _sim().model.system
    rng = np.random.default_rng(7)
    s.continuum.U[...] = rng.standard_normal(s.continuum.U.shape)
    v_before = s.atoms.v.copy()
    s.update_pads(velocities=False)
    assert np.array_equal(s.atoms.x[s.pad_idx], s._X_pad + s.N_pad @ s.continuum.U)
    assert np.array_equal(s.atoms.v, v_before)
    runs = []
    for read in (None, True):
        sim = _sim()
        integ, s = sim.integrator, sim.model.system
        if read is None:
            assert not integ._pad_velocities_read()     # this deck takes the shortcut
        else:
            integ._pad_velocities_read = lambda: True
        s.atoms.v[s.free] = 0.01 * np.random.default_rng(3).standard_normal((s.n_free, s.d))
        integ.project_state()
        integ.step(20)
        runs.append([a.copy() for a in (s.atoms.x, s.atoms.v, s.continuum.U, s.continuum.V, s.f_atoms,
                                        s.f_nodes)])
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a, b)


def test_residual_and_correction_bitwise_projector():
    sim = _sim()
    integ, s = sim.integrator, sim.model.system
    p = integ.projector
    assert p._fast is not None
    rng = np.random.default_rng(6)
    fa, fn = rng.standard_normal(s.f_atoms.shape), rng.standard_normal(s.f_nodes.shape)
    s.f_atoms[...], s.f_nodes[...] = fa, fn
    corr = integ._acc_correction().copy()
    a = np.concatenate([(fa * integ._inv_atoms)[s.free].ravel(), (fn * integ._inv_nodes).ravel()])
    r = p.residual_of(a[p.touched])
    assert np.array_equal(integ._r, r)
    assert np.array_equal(corr, p.correction(r))
    # mode 1 (x − X at the touched dofs) and the max it returns
    x = s.atoms.X + rng.standard_normal(s.atoms.X.shape)
    U = rng.standard_normal(s.continuum.U.shape)
    m = p.residual_into(x.reshape(-1), s.atoms.X.reshape(-1), U.reshape(-1), 1, integ._t_atom, integ._t_node,
                        integ._buf_t, integ._r)
    q = np.concatenate([(x - s.atoms.X)[s.free].ravel(), U.ravel()])
    assert np.array_equal(integ._r, p.residual_of(q[p.touched]))
    assert m == np.max(np.abs(integ._r))


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_acc_kick_bitwise_numpy_any_thread_count(n_threads):
    k = load("coupler")
    rng = np.random.default_rng(7)
    n = 3 * 4096 + 517                                   # several chunks, the last one partial
    f, inv, v0 = rng.standard_normal(n), rng.random(n), rng.standard_normal(n)
    act = np.sort(rng.choice(n, 2500, replace=False)).astype(np.int64)
    act[:3] = [0, 1, 4095]                               # chunk edges
    act = np.unique(np.concatenate([act, [4096, n - 1]])).astype(np.int64)
    corr = rng.standard_normal(act.size + 11)
    c0 = 11
    a_ref = f * inv
    a_ref[act] -= corr[c0:]
    v_ref = v0 + 0.0125 * a_ref
    v, a = v0.copy(), np.empty(n)
    k.acc_kick(v, a, f, inv, 0.0125, act, corr, c0, n_threads)
    assert np.array_equal(a, a_ref)
    assert np.array_equal(v, v_ref)


def test_step_thread_count_independent_bitwise():
    out = []
    for nt in (1, 2):
        sim = _sim()
        s = sim.model.system
        rng = np.random.default_rng(3)
        s.atoms.v[s.free] = 0.02 * rng.standard_normal((s.n_free, 2))
        sim.integrator.n_threads = nt
        sim.integrator.project_state()
        sim.integrator.step(20)
        out.append((s.atoms.x.copy(), s.atoms.v.copy(), s.continuum.U.copy(), s.continuum.V.copy()))
    for a, b in zip(*out, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("m", [2, 3])
def test_lu_solve_multi_rhs_bitwise_single_columns(m):
    """trisolve.lu_solve and coupler.block_correction's solve: the fused 2- and 3-column loops (3D
    handshakes: one block per component) give bitwise the one-column results, and solve A x = b."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from multiscale.coupling.projector import _BlockSolve, _nested_dissection

    rng = np.random.default_rng(9)
    n = 2500
    G = sp.random(n, 3 * n, density=4.0 / n, random_state=4, format="csr") + sp.eye(n, 3 * n)
    A = (G @ G.T).tocsc()
    order = _nested_dissection(A)
    assert np.array_equal(np.sort(order), np.arange(n))
    P = A[order][:, order].tocsc()
    lu = spla.splu(P, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    bs = _BlockSolve(np.arange(n).reshape(n, 1), lu, np.ones(n))
    k = load("trisolve")
    b = rng.standard_normal((n, m))
    w, x = np.empty_like(b), np.empty_like(b)
    k.lu_solve(*bs._args, b, w, x)
    for c in range(m):
        bc = np.ascontiguousarray(b[:, c:c + 1])
        wc, xc = np.empty_like(bc), np.empty_like(bc)
        k.lu_solve(*bs._args, bc, wc, xc)
        assert np.array_equal(xc[:, 0], x[:, c])
    assert np.max(np.abs(P @ x - b)) < 1e-9 * np.max(np.abs(b))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_pad_forces_rows_of_transpose_bitwise_scipy(d):
    """The pads' chain rule by rows of N_padᵀ (each touched node's sum over its pads in pad order) is
    bitwise SciPy's ``f_nodes + N_pad.T @ f_atoms[pad]`` for random interpolation matrices (d = 1, 2, 3;
    nodes touched by many pads, untouched nodes, explicit zeros), and zeroes the pads' forces."""
    import scipy.sparse as sp

    from multiscale.coupling.coupled import CoupledSystem

    rng = np.random.default_rng(8 + d)
    n, N, npad = 400, 150, 120
    pad = np.sort(rng.choice(n, npad, replace=False))
    Np = sp.random(npad, N, density=0.04, random_state=rng, format="csr")
    Np.data[::7] = 0.0                                        # explicit zeros stay entries
    h = type("H", (), {"_pads": CoupledSystem._pads})()
    h.N_pad, h.pad_idx, h.coupled, h.n_nodes, h.d = Np, pad, True, N, d
    h._X_pad, h._pad_plan = np.zeros((npad, d)), None
    fa, fn = rng.standard_normal((n, d)), rng.standard_normal((N, d))
    ref_n = fn + Np.T @ fa[pad]
    ref_a = fa.copy()
    ref_a[pad] = 0.0
    assert np.any(np.diff(Np.tocsc().indptr) > 2)             # nodes with several pads
    CoupledSystem.pad_forces_to_nodes(h, fa, fn)
    assert np.array_equal(fa, ref_a) and np.array_equal(fn, ref_n)
