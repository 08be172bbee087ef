"""The continuum thermal strain across the handshake from the quasi-harmonic thermal stress of the
constrained blended model (``thermal_strain`` with ``handshake: quasi_harmonic``;
multiscale/coupling/thermal_qh.py, docs/physics.md §10): the atoms' static and thermal shares against an
independent dense computation (Hessian by central differences of msim's force kernels, covariance from the
dense null space of the constraints, the virial's second derivative by central differences of the per-atom
virial kernel along the covariance's eigenvectors), the crystal reference against MD at low temperature
(slow), the point strains, and the deck errors. The handshake-stress measurement is
tests/fem/test_thermal_strain.py (slow)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import scipy.linalg as sla
from click.testing import CliRunner

from fem.thermal_bench import statics_variant, thermal_bench
from multiscale.cli import cli
from multiscale.coupling.thermal_qh import atom_thermal_shares, crystal_reference, handshake_point_strains_qh
from multiscale.coupling.thermal_share import handshake_point_strains
from multiscale.md.stress import virial_atoms

_ROOT = pathlib.Path(__file__).resolve().parents[2]
EPS = 0.00879


@pytest.fixture(scope="module")
def bench():
    return thermal_bench()


@pytest.fixture(scope="module")
def small(bench):
    """A smaller copy of the benchmark's model (core 1, handshake 4, mesh ±10), on its expanded lattice."""
    sim = bench.make(0.1, EPS, True, c=1.0, w=4.0, M=10.0, handshake="quasi_harmonic")
    sim.prepare()
    s = sim.model.system
    s.atoms.x[...] = s.atoms.X * (1.0 + EPS)
    s.continuum.U[...] = s.continuum.nodes * EPS
    s.update_pads()
    return sim


def _covariance_modes(s, integ):
    """(q0, setq, act, lam, V): the state vector, a setter of atoms/nodes/pads from q, the dofs with a finite
    mass, and the eigenpairs (lam > 1e-10 max) of the constrained model's null-space covariance
    Z (ZᵀHZ)⁻¹Zᵀ at k_B T = 1, H by central differences of msim's forces (not thermal_qh)."""
    a, cont = s.atoms, s.continuum
    d, nfd = s.d, s.n_free * s.d
    q0 = s.gather_q().copy()

    def setq(q):
        a.x[s.free] = a.X[s.free] + q[:nfd].reshape(-1, d)
        cont.U[...] = q[nfd:].reshape(-1, d)
        s.update_pads()

    def force(q):
        setq(q)
        s.compute_forces()
        return s.forces_q().copy()

    inv = np.asarray(integ.projector.inv_mass, float)
    act = np.flatnonzero(inv > 0)
    H = np.zeros((len(act), len(act)))
    h = 1e-5
    for c, k in enumerate(act):
        e = np.zeros(q0.size)
        e[k] = h
        H[:, c] = -(force(q0 + e) - force(q0 - e))[act] / (2 * h)
    H = 0.5 * (H + H.T)
    G = integ.projector.G.toarray()[:, act]
    Z = sla.null_space(G[np.abs(G).sum(axis=1) > 0])
    C = Z @ np.linalg.solve(Z.T @ H @ Z, Z.T)
    lam, V = np.linalg.eigh(0.5 * (C + C.T))
    keep = lam > 1e-10 * lam.max()
    setq(q0)
    return q0, setq, act, lam[keep], V[:, keep]


def _dense_shares(sim):
    """(atoms (k,), thermal virial + kinetic traces (k,) at k_B T = 1, static virial traces (k,)) of the
    free handshake atoms, computed without thermal_qh (module docstring)."""
    s, integ = sim.model.system, sim.integrator
    a, cont = s.atoms, s.continuum
    x0, U0 = a.x.copy(), cont.U.copy()
    q0, setq, act, lam, V = _covariance_modes(s, integ)
    n = q0.size
    a.rebuild()
    W0 = virial_atoms(a)
    W0 = W0[:, 0] + W0[:, 3]
    Wth = np.zeros_like(W0)
    hv = 5e-4
    for lm, v in zip(lam, V.T, strict=True):
        full = np.zeros(n)
        full[act] = hv * v
        setq(q0 + full)
        a.rebuild()
        Wp = virial_atoms(a)
        setq(q0 - full)
        a.rebuild()
        Wm = virial_atoms(a)
        Wth += 0.5 * lm * ((Wp[:, 0] + Wp[:, 3]) + (Wm[:, 0] + Wm[:, 3]) - 2 * W0) / hv**2
    setq(q0)
    a.x[...] = x0
    cont.U[...] = U0
    s.update_pads()
    a.rebuild()
    # kinetic: <m v v> = m (W - W G^T (G W G^T)^-1 G W) on the active dofs
    Gf = integ.projector.G.toarray()
    Gf = Gf[np.abs(Gf).sum(axis=1) > 0]
    inv = np.asarray(integ.projector.inv_mass, float)
    d, nfd = s.d, s.n_free * s.d
    Wd = inv
    Pdiag = Wd * np.einsum("rk,rk->k", Gf, np.linalg.solve(Gf @ (Wd[:, None] * Gf.T), Gf))
    kin_q = np.where(inv > 0, 1.0 - Pdiag, 0.0)[:nfd].reshape(-1, d).sum(axis=1)
    idx = s.free[s.handshake.distance(a.X[s.free]) > 0.0]
    kin = np.zeros(a.X.shape[0])
    kin[s.free] = kin_q
    return idx, Wth[idx] + kin[idx], W0[idx]


def test_thermal_shares_equal_an_independent_dense_computation(small):
    """s_a and ρ_a of thermal_qh (sparse KKT, analytic pair derivatives) equal the dense computation
    (central differences of the force and virial kernels) to 1e-5 of the bulk value, for every free
    handshake atom; the atoms span ρ from below 0.3 to above 0.9."""
    s = small.model.system
    mat = s.continuum.material
    keep = mat.point_strains
    mat.set_point_strains(None)         # the state prepare computes the field in: ε_th everywhere
    try:
        idx, th_dense, st_dense = _dense_shares(small)
    finally:
        mat.set_point_strains(keep)
    st_ref, th_ref = crystal_reference(s.atoms.potential, s.lattice, EPS)
    sh, rho = atom_thermal_shares(s, small.integrator.projector, EPS, idx)
    assert np.max(np.abs(sh - st_dense / st_ref)) < 1e-9
    assert np.max(np.abs(rho - th_dense / th_ref)) < 1e-5
    assert rho.min() < 0.3 and rho.max() > 0.9


def test_thermal_excess_is_below_the_mass_metric_count_and_sets_the_point_strains(small):
    """The quasi-harmonic excess ρ − s stays below the free-share count θ α of the mass metric (the
    configurational fluctuations of a partly constrained atom follow the stiffness); after `prepare` the
    continuum holds ε_q = ε_th (1 − θ_q) with ε_q = ε_th exactly where no handshake atom is near, and
    between the free_share field and ε_th inside the handshake."""
    s, integ = small.model.system, small.integrator
    cont = s.continuum
    eps_q = cont.material.point_strains
    eps2, th_q = handshake_point_strains_qh(s, integ.projector, EPS)
    assert eps_q is not None and np.array_equal(eps_q, eps2)
    assert np.allclose(eps_q, EPS * (1.0 - th_q), rtol=0, atol=1e-15)
    qd = s.handshake.distance(cont.qp_positions)
    # points none of whose element nodes has a handshake atom in its support (the slaved edge atoms,
    # held below their static share, give ε_q slightly above ε_th there)
    X = s.atoms.X[s.free]
    Nh = abs(cont.interpolation_matrix(X[s.handshake.distance(X) > 0.0]))
    touched = np.asarray(Nh.sum(axis=0)).ravel() > 0
    far = np.asarray(abs(cont.interpolation_matrix(cont.qp_positions)) @ touched).ravel() == 0
    assert far.sum() > 20 and np.all(eps_q[far] == EPS)
    # θ at the nodes: shape-function averages of the excess ρ − s over those of α = 1 − β̄ (atoms of H)
    Xa = s.atoms.X[s.free]
    idx = s.free[s.handshake.distance(Xa) > 0.0]
    sh, rho = atom_thermal_shares(s, integ.projector, EPS, idx)
    Na = cont.interpolation_matrix(s.atoms.X[idx]).tocsc()
    wn = np.asarray(Na.sum(axis=0)).ravel()
    on = wn > 0
    e_n = np.zeros_like(wn)
    a_n = np.zeros_like(wn)
    e_n[on] = (Na.T @ (rho - sh))[on] / wn[on]
    a_n[on] = (Na.T @ (1.0 - s.atom_weight[idx]))[on] / wn[on]
    th_n = np.where(a_n > 1e-3, e_n / np.maximum(a_n, 1e-3), 0.0)
    assert np.all(np.abs(th_n) < 1.0)                  # no clipping in this model
    assert np.allclose(th_q, cont.interpolation_matrix(cont.qp_positions) @ th_n, rtol=0, atol=1e-12)
    eps_fs, _ = handshake_point_strains(s, integ.projector, EPS)
    mid = (qd > 1.0) & (qd < 3.0)
    assert np.mean(eps_q[mid]) < 0.9 * EPS and np.mean(eps_q[mid]) > np.mean(eps_fs[mid]) + 0.1 * EPS, (
        np.mean(eps_q[mid]), np.mean(eps_fs[mid]))


def _lj_crystal():
    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.lj import LennardJones
    from multiscale.md.properties import zero_stress_lattice_constant
    pot = LennardJones(epsilon=1.0, sigma=1.0, cutoff=2.5, truncation="shift")
    return pot, Lattice("hex", zero_stress_lattice_constant(pot, "hex"))


@pytest.mark.slow
def test_anharmonic_factor_equals_the_crystal_pressure_from_md():
    """φ(T) of `crystal_anharmonic_factor` (its own Langevin runs at T_hi/3, 2T_hi/3, T_hi, quadratic fit
    with φ(0) = 1) predicts the periodic crystal's thermal pressure per k_B T measured by the thermal_strain
    module's independent MD (`_pressure_at`: other cell, step, seed, kinetic term included) at k_B T = 0.3
    within 3 combined s.e.; the anharmonic drop there (≈ 6 %) is many s.e. from the harmonic value."""
    from multiscale.coupling.thermal_qh import _crystal, _phi, crystal_anharmonic_factor
    from multiscale.fem.materials.thermal_strain import _pressure_at
    pot, lat = _lj_crystal()
    c = _crystal(pot, lat, EPS)
    fit = crystal_anharmonic_factor(pot, lat, EPS, (0.15, 0.3, 0.45))
    omega = lat.volume_per_atom * (1.0 + EPS) ** 2
    T = 0.3
    p, err = _pressure_at(pot, "hex", lat.a * (1.0 + EPS), 1.0, T, (16, 9), 2000, 6000, 10, 0.01, 1.0, 5)
    md = (p - c["static"] / (2 * omega)) / T
    pred = (float(_phi(fit, np.array(T))) * c["virial"] + 2.0) / (2 * omega)
    harm = (c["virial"] + 2.0) / (2 * omega)
    e_fit = float(np.interp(T, fit["T"], fit["err"])) * c["virial"] / (2 * omega)
    tol = 3.0 * np.hypot(err / T, e_fit)
    assert abs(md - pred) < tol, (md, pred, err / T, e_fit)
    assert harm - md > 5 * tol / 3, (harm, md, tol / 3)          # ≥ 5 s.e. below the harmonic value


def _bz_shell_variance(pot, lat, r_shell, n=48):
    """⟨|u_0 − u_R|²⟩ / k_B T of a bond of length r_shell in the periodic hex crystal (primitive cell, one
    atom), by a Brillouin-zone sum over an n × n grid: Σ_k tr D(k)⁻¹ 2 (1 − cos k·R) / N, D(k) =
    Σ_R K_R (1 − cos k·R), K_R = φ'' e eᵀ + φ'/r (I − e eᵀ) (φ'' by a five-point difference of the force)."""
    a = lat.a * (1.0 + EPS)
    a1, a2 = np.array([a, 0.0]), np.array([0.5 * a, 0.5 * np.sqrt(3.0) * a])
    m = int(np.ceil(pot.cutoff / a)) + 2
    R = np.array([p * a1 + q * a2 for p in range(-m, m + 1) for q in range(-m, m + 1)])
    rr = np.linalg.norm(R, axis=1)
    R, rr = R[(rr > 1e-9) & (rr < pot.cutoff)], rr[(rr > 1e-9) & (rr < pot.cutoff)]
    h = 1e-4
    f = lambda x: np.asarray(pot.pair(x)[1], float)  # noqa: E731
    d1 = f(rr)
    d2 = (-f(rr + 2 * h) + 8 * f(rr + h) - 8 * f(rr - h) + f(rr - 2 * h)) / (12 * h)
    e = R / rr[:, None]
    ee = e[:, :, None] * e[:, None, :]
    K = d2[:, None, None] * ee + (d1 / rr)[:, None, None] * (np.eye(2) - ee)
    B = 2 * np.pi * np.linalg.inv(np.stack([a1, a2])).T
    R0 = R[np.argmin(np.abs(rr - r_shell) + 1e-9 * np.arctan2(R[:, 1], R[:, 0]))]
    tot = 0.0
    for p in range(n):
        for q in range(n):
            if p == 0 and q == 0:
                continue
            k = (p / n) * B[0] + (q / n) * B[1]
            Dk = np.einsum("r,rab->ab", 1.0 - np.cos(R @ k), K)
            tot += np.trace(np.linalg.inv(Dk)) * 2.0 * (1.0 - np.cos(k @ R0))
    return tot / n**2


@pytest.mark.slow         # ~130 s at load 5 (the dense covariance of the small model, a lattice sum)
def test_bond_effective_temperatures_equal_an_independent_computation(small):
    """The anharmonic path's per-bond pieces: the bonds' relative-displacement variances and harmonic
    thermal virials equal those from the dense covariance of the constrained model (modes of the dense
    null-space covariance pushed through msim's own pad interpolation, g(|r + Δu|) by central differences
    along each mode) to 1e-5; each bond's T_b = k_B T var_b / var_shell with var_shell the periodic crystal's
    from a Brillouin-zone sum (1 %); ρ with the correction is the φ(T_b)-weighted aggregation."""
    s, integ = small.model.system, small.integrator
    a, cont = s.atoms, s.continuum
    mat = cont.material
    keep = mat.point_strains
    mat.set_point_strains(None)
    try:
        x0, U0 = a.x.copy(), cont.U.copy()
        q0, setq, act, lam, V = _covariance_modes(s, integ)
        modes = np.zeros((lam.size,) + x0.shape)          # atom displacements of each unit mode
        for m in range(lam.size):
            full = np.zeros(q0.size)
            full[act] = V[:, m]
            setq(q0 + full)
            modes[m] = a.x - x0
        setq(q0)
        a.x[...] = x0
        cont.U[...] = U0
        s.update_pads()
        idx = s.free[s.handshake.distance(a.X[s.free]) > 0.0]
        info = {}
        kT = 0.1
        sh, rho = atom_thermal_shares(s, integ.projector, EPS, idx, kT=kT, info=info)
    finally:
        mat.set_point_strains(keep)
    i, j, w = info["i"], info["j"], info["w"]
    dx0 = x0[j] - x0[i]
    dx0 -= np.round(dx0 / a.box.lengths) * a.box.lengths * a.box.periodic
    du = modes[:, j] - modes[:, i]                          # (modes, bonds, d)
    var = np.einsum("m,mbp->b", lam, du * du)
    assert np.max(np.abs(var - info["var"])) < 1e-5 * np.max(var)

    def g(x):
        rr = np.linalg.norm(x, axis=-1)
        return -rr * np.asarray(a.potential.pair(rr.ravel())[1], float).reshape(rr.shape)

    hh = 2e-3
    th = np.einsum("m,mb->b", lam, (g(dx0 + hh * du) + g(dx0 - hh * du) - 2 * g(dx0)) / (2 * hh * hh))
    assert np.max(np.abs(th - info["virial"])) < 1e-5 * np.max(np.abs(th))
    pot = a.potential
    r = np.linalg.norm(dx0, axis=1)
    for rs in np.unique(np.round(r, 6)):
        sel = np.abs(r - rs) < 1e-5
        vb = _bz_shell_variance(pot, s.lattice, rs)
        assert abs(info["shell_var"][sel][0] - vb) < 0.01 * vb, (rs, info["shell_var"][sel][0], vb)
        assert np.allclose(info["Tb"][sel], kT * np.minimum(var[sel] / vb, 6.0), rtol=0.01, atol=0)
    # ρ: the φ(T_b)-weighted bond virials, half to each atom, plus the harmonic path's kinetic term
    from multiscale.coupling.thermal_qh import _crystal, _phi
    ref = _crystal(pot, s.lattice, EPS)
    _, rho0 = atom_thermal_shares(s, integ.projector, EPS, idx)
    n = x0.shape[0]
    w0, w1 = np.zeros(n), np.zeros(n)
    ph = _phi(info["fit"], info["Tb"])
    for wt, out in ((w * th, w0), (w * th * ph, w1)):
        np.add.at(out, i, 0.5 * wt)
        np.add.at(out, j, 0.5 * wt)
    kin = rho0 * (ref["virial"] + ref["kinetic"]) - w0[idx]
    expect = (w1[idx] + kin) / (info["phi_ref"] * ref["virial"] + ref["kinetic"])
    assert np.max(np.abs(rho - expect)) < 1e-5
    assert np.sum(rho - sh) < np.sum(rho0 - sh)          # the correction lowers the excess


@pytest.mark.slow
def test_crystal_reference_is_the_low_temperature_thermal_pressure():
    """The reference crystal's quasi-harmonic thermal pressure per k_B T equals the periodic crystal's MD
    (Langevin NVT at k_B T = 0.02, the expanded lattice) (p − p_static)/T within 3 standard errors and 2 %."""
    from multiscale.fem.materials.thermal_strain import _pressure_at
    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.lj import LennardJones
    from multiscale.md.properties import zero_stress_lattice_constant
    pot = LennardJones(epsilon=1.0, sigma=1.0, cutoff=2.5, truncation="shift")
    a0 = zero_stress_lattice_constant(pot, "hex")
    lat = Lattice("hex", a0)
    st, th = crystal_reference(pot, lat, EPS)
    omega = lat.volume_per_atom * (1.0 + EPS) ** 2
    T = 0.02
    p, err = _pressure_at(pot, "hex", a0 * (1.0 + EPS), 1.0, T, (16, 9), 2000, 10000, 10, 0.01, 1.0, 11)
    md = (p - st / (2 * omega)) / T
    qh = th / (2 * omega)
    assert abs(md - qh) < 3 * err / T and abs(md - qh) < 0.02 * qh, (md, err / T, qh)


def _deck_text(bench, handshake: str, coupling: str | None = None, integrator: str | None = None) -> str:
    deck = bench.DECK
    if coupling is not None:
        deck = deck.replace("coupling: {{type: projected, slave_below: {slave}}}",
                            "coupling: " + coupling.replace("{", "{{").replace("}", "}}"))
    mat = f"{{type: thermal_strain, strain: {EPS}, base: linear, handshake: {handshake}}}"
    txt = deck.format(R=14.0, T0=0.2, T=0.1, M=24.0, h=2.0, c=4.0, c2=6.0, w=6.0, material=mat, Mo=25.0,
                      Mi=23.0, seed=4, slave=0.1)
    if integrator is not None:
        txt = txt.replace(txt[txt.index("integrator:"):txt.index("output:")], integrator + "\n")
        txt = statics_variant(txt)
    return txt


def test_anharmonic_without_quasi_harmonic_is_a_deck_error(bench, tmp_path):
    """`anharmonic: true` with `handshake: uniform`: exit 2 at continuum.material.anharmonic, no traceback."""
    txt = _deck_text(bench, "uniform").replace("handshake: uniform}", "handshake: uniform, anharmonic: true}")
    assert "anharmonic: true" in txt
    p = tmp_path / "deck.yaml"
    p.write_text(txt)
    r = CliRunner().invoke(cli, ["validate", str(p)])
    assert r.exit_code == 2 and "continuum.material.anharmonic" in r.output, r.output
    assert "Traceback" not in r.output


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


@pytest.mark.parametrize("case, message", [
    ("statics", "dynamics at temperature only"),
    ("force_blend", "energy-based"),
    ("penalty", "exact constraint rows"),
    ("eam", "pair potentials only"),
])
def test_quasi_harmonic_where_it_has_no_meaning_is_a_deck_error(bench, tmp_path, case, message):
    """quasi_harmonic in a statics deck, with force-based blending, without constraint rows, or with a
    many-body potential (EAM: the 3D indentation deck given this material): exit 2 from `msim validate`
    at continuum.material.handshake with file:line, no traceback."""
    if case == "eam":
        txt = (_ROOT / "decks" / "indent3d_small.yaml").read_text()
        txt = txt.replace("material: {type: linear}", "material: {type: thermal_strain, strain: 0.005, base: "
                          "linear, handshake: quasi_harmonic}")
        assert "quasi_harmonic" in txt
        (tmp_path / "deck.yaml").write_text(txt)
        for f in (_ROOT / "decks").iterdir():           # the deck's neighbour files (tables), if any
            if f.suffix not in (".yaml",) and f.is_file():
                (tmp_path / f.name).write_bytes(f.read_bytes())
    elif case == "statics":
        txt = _deck_text(bench, "quasi_harmonic", integrator="integrator: {type: fire, ftol: 1.0e-06}")
    elif case == "force_blend":
        txt = _deck_text(bench, "quasi_harmonic", coupling="{type: force_blend}")
    else:
        txt = _deck_text(bench, "quasi_harmonic", coupling="{type: penalty, kappa: 1.0}")
    p = tmp_path / "deck.yaml"
    p.write_text(txt)
    r = CliRunner().invoke(cli, ["validate", str(p)])
    assert r.exit_code == 2, r.output
    assert "continuum.material.handshake" in r.output and message in r.output, r.output
    assert f"{p}:{_line_of(txt, 'material:')}:" in r.output, r.output
    assert "Traceback" not in r.output
