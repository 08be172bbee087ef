"""Fast Cauchy–Born W(F) of an engine potential (`fem/materials/cauchy_born_poly.py`), SNAP Cu
(``Cu_Zuo_JPCA2020``) at its zero-stress lattice constant.

1. The polynomial against the EXACT engine route (`EngineCauchyBorn`: the periodic cell evaluated by
   LAMMPS, itself checked against LAMMPS and the native lattice sums in test_cauchy_born_engine.py) at
   random F = R U inside the fitted ball ‖E‖ ≤ r = 0.04 (rotations included): W within 2e-4 of the largest
   strain energy W − W₀, P within 1e-3 of the largest |P|; W(I), P(I) to round-off; the tangent at I
   (central differences of the polynomial's P) equals the engine C to 1e-6; outside the ball the values
   are the exact engine's, bit for bit; ≥ 20× faster per distinct F than the exact cell.
2. `engine_lattice_constant` against LAMMPS's own ``fix box/relax iso 0.0`` + ``minimize`` on a 3×3×3
   periodic crystal: ≤ 1e-6 relative.
3. The deck keys ``engine_w: polynomial`` build the polynomial material.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from multiscale.applications.indent3d_ml import A0_SNAP
from multiscale.fem.materials.base import voigt_to_tensor
from multiscale.fem.materials.cauchy_born import CauchyBorn
from multiscale.fem.materials.cauchy_born_engine import EngineCauchyBorn, engine_lattice_constant
from multiscale.fem.materials.cauchy_born_poly import PolynomialEngineCauchyBorn
from multiscale.md.engines.lammps_lib import new_instance, potentials_dir
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.lammps import LammpsPotential

SNAP = ("snap", ["* * Cu_Zuo_JPCA2020.snapcoeff Cu_Zuo_JPCA2020.snapparam Cu"])
R = 0.04


def _random_F(rng: np.random.Generator, n: int, r: float) -> np.ndarray:
    """n deformation gradients R U with the Green strain of U uniform-ish in ‖E‖_F ≤ r, R random."""
    out = []
    for _ in range(n):
        E = rng.standard_normal((3, 3))
        E = 0.5 * (E + E.T)
        E *= r * rng.uniform(0.2, 1.0) ** (1 / 6) / np.linalg.norm(E)
        w, V = np.linalg.eigh(np.eye(3) + 2 * E)
        U = (V * np.sqrt(w)) @ V.T
        Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        Q *= np.sign(np.linalg.det(Q))
        out.append(Q @ U)
    return np.array(out)


@pytest.mark.slow
def test_polynomial_against_exact_engine():
    pot = LammpsPotential(*SNAP)
    lat = Lattice("fcc", A0_SNAP)
    poly = PolynomialEngineCauchyBorn(pot, lat, strain_range=R, order=5)
    exact = EngineCauchyBorn(pot, lat)
    try:
        print("fit error", poly.fit_error)
        assert poly.fit_error["W"] <= 2e-4 and poly.fit_error["P"] <= 1e-3
        F = _random_F(np.random.default_rng(11), 40, R)
        Pp, Wp = poly.evaluate(F)
        Pe, We = exact.evaluate(F)
        assert poly.fallbacks == 0
        W0 = float(exact.evaluate(np.eye(3)[None])[1][0])
        eW = np.max(np.abs(Wp - We)) / np.max(np.abs(We - W0))
        eP = np.max(np.abs(Pp - Pe)) / np.max(np.abs(Pe))
        print("random F: error W", eW, "P", eP)
        assert eW <= 2e-4 and eP <= 1e-3
        # reference state: exact values
        P1, W1 = poly.evaluate(np.eye(3)[None])
        Pe1, We1 = exact.evaluate(np.eye(3)[None])
        assert abs(W1[0] - We1[0]) <= 1e-13 * abs(We1[0])
        assert np.max(np.abs(P1 - Pe1)) <= 1e-12 * np.max(np.abs(Pe1)) + 1e-15
        # tangent at I: ∂P_ij/∂F_kl = C_ijkl + δ_ik S0_jl (S0 the reference stress)
        h = 1e-5
        T = np.empty((3, 3, 3, 3))
        for k in range(3):
            for m in range(3):
                D = np.zeros((3, 3))
                D[k, m] = h
                T[:, :, k, m] = (poly.evaluate((np.eye(3) + D)[None])[0][0]
                                 - poly.evaluate((np.eye(3) - D)[None])[0][0]) / (2 * h)
        S0 = Pe1[0]
        ref = voigt_to_tensor(exact.C) + np.einsum("ik,jl->ijkl", np.eye(3), S0)
        assert np.max(np.abs(T - ref)) <= 1e-6 * np.max(np.abs(exact.C))
        # outside the ball: the exact engine, bit for bit
        Fo = _random_F(np.random.default_rng(5), 3, 3 * R)
        Po, Wo = poly.evaluate(np.concatenate([Fo, F[:2]]))
        Peo, Weo = exact.evaluate(Fo)
        assert poly.fallbacks == 3
        assert np.array_equal(Po[:3], Peo) and np.array_equal(Wo[:3], Weo)
        # speed per distinct F
        Fs = _random_F(np.random.default_rng(3), 2000, R)
        t = time.perf_counter()
        poly.evaluate(Fs)
        tp = (time.perf_counter() - t) / len(Fs)
        Fx = _random_F(np.random.default_rng(4), 50, R)
        t = time.perf_counter()
        exact.evaluate(Fx)
        te = (time.perf_counter() - t) / len(Fx)
        print(f"per distinct F: polynomial {tp * 1e6:.1f} us, exact {te * 1e6:.1f} us, ratio {te / tp:.0f}")
        assert te / tp >= 20
    finally:
        poly.close()
        exact.close()


def _lammps_relaxed_a(style: str, coeffs: list[str], a: float) -> float:
    P = potentials_dir()
    lmp = new_instance()
    try:
        for c in ["units metal", "atom_style atomic", "boundary p p p", "lattice fcc " + repr(a),
                  "region b block 0 3 0 3 0 3", "create_box 1 b", "create_atoms 1 box", "mass 1 63.546",
                  "pair_style " + style,
                  *["pair_coeff " + " ".join(str(P / t) if (P / t).is_file() else t for t in c.split())
                    for c in coeffs],
                  "fix r all box/relax iso 0.0 vmax 0.001", "min_modify line quadratic",
                  "minimize 0 1e-12 2000 20000"]:
            lmp.command(c)
        return float(lmp.get_thermo("lx")) / 3.0
    finally:
        lmp.close()


@pytest.mark.slow
def test_engine_lattice_constant_against_lammps_box_relax():
    pot = LammpsPotential(*SNAP)
    a = engine_lattice_constant(pot, "fcc", 3.615)
    ref = _lammps_relaxed_a(*SNAP, 3.615)
    print("a0", a, "LAMMPS box/relax", ref)
    assert abs(a - ref) <= 1e-6 * ref
    assert a == pytest.approx(A0_SNAP, rel=1e-12)


@pytest.mark.slow
def test_deck_keys_build_the_polynomial_material():
    pot = LammpsPotential(*SNAP)
    params = CauchyBorn.Params(engine_w="polynomial", engine_strain_range=0.03, engine_order=4)
    mat = CauchyBorn.from_params(params, dim=3, potential=pot, lattice=Lattice("fcc", A0_SNAP))
    try:
        assert isinstance(mat, PolynomialEngineCauchyBorn)
        assert (mat.r, mat.order) == (0.03, 4)
        assert mat.fit_error["W"] <= 1e-3 and mat.fit_error["P"] <= 1e-3
    finally:
        mat.close()
    plain = CauchyBorn.from_params(CauchyBorn.Params(), dim=3, potential=pot, lattice=Lattice("fcc", A0_SNAP))
    try:
        assert type(plain) is EngineCauchyBorn
    finally:
        plain.close()
