"""Cauchy–Born continuum of an external-engine potential (`fem/materials/cauchy_born_engine.py`).

1. EAM Cu (``Cu_u3.eam``): the LAMMPS route (periodic cell evaluated by LAMMPS, C from finite differences
   of its stress) against msim's native exact lattice sums (`CauchyBorn` of `EAMFile`, spline second
   derivatives): C ≤ 1e-6 relative (cube and [110]-rotated orientations), W(F) and P(F) at random finite F
   ≤ 1e-12 relative.
2. SNAP Cu (``Cu_Zuo_JPCA2020``): C of the engine route against an independent LAMMPS reference — ENERGY
   second differences of a 2×2×2-cell crystal deformed by LAMMPS itself (``change_box ... remap``, the
   upper Cholesky factor of I + 2E as F, so the box stays LAMMPS-triclinic without any rotation), with one
   Richardson step (h, 2h): ≤ 1e-5 relative. The reference shares with msim only the LAMMPS library.
3. The deck route: ``material: {type: cauchy_born}`` with a ``lammps`` potential builds the engine material.
"""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.fem.materials.cauchy_born import CauchyBorn
from multiscale.fem.materials.cauchy_born_engine import EngineCauchyBorn, engine_elastic_constants
from multiscale.fem.materials.linear import Linear
from multiscale.md.engines.lammps_lib import new_instance, potentials_dir
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.eam import EAMFile
from multiscale.md.potentials.lammps import LammpsPotential

P = potentials_dir()
SNAP = ("snap", ["* * Cu_Zuo_JPCA2020.snapcoeff Cu_Zuo_JPCA2020.snapparam Cu"])
VOIGT3 = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


@pytest.mark.parametrize("orient", [None, [[1, 1, 0], [-1, 1, 0], [0, 0, 1]]], ids=["cube", "110"])
def test_eam_engine_matches_native_lattice_sums(orient):
    lat = Lattice("fcc", 3.615, orient=orient)
    native = CauchyBorn(EAMFile.from_file(P / "Cu_u3.eam"), lat)
    eng = EngineCauchyBorn(LammpsPotential("eam", ["1 1 Cu_u3.eam"]), lat)
    try:
        rel = np.max(np.abs(eng.C - native.C)) / np.max(np.abs(native.C))
        assert rel <= 1e-6, rel
        assert eng.C_error <= 1e-8
        F = np.eye(3) + 0.04 * np.random.default_rng(7).standard_normal((6, 3, 3))
        F = np.concatenate([F, np.eye(3)[None], np.eye(3)[None]])  # repeated F: computed once
        Pe, We = eng.evaluate(F)
        Pn, Wn = native.evaluate(F)
        assert np.max(np.abs(We - Wn)) <= 1e-12 * np.max(np.abs(Wn))
        assert np.max(np.abs(Pe - Pn)) <= 1e-12 * np.max(np.abs(Pn))
        assert eng.cell.evaluations <= 7 + 6 * 4 * 6  # 7 distinct F after the C differences
    finally:
        eng.close()


def _lammps_energy(style: str, coeffs: list[str], a: float, n: int, E: np.ndarray) -> tuple[float, float]:
    """(energy [eV], reference volume [Å³]) of an n×n×n-cell fcc crystal deformed by LAMMPS to the Green
    strain E (3, 3): F = upper Cholesky factor of I + 2E (upper triangular: a LAMMPS triclinic box)."""
    U = np.linalg.cholesky(np.eye(3) + 2.0 * E).T  # UᵀU = I + 2E, U upper triangular
    L = n * a
    H = (U * L).tolist()
    lmp = new_instance()
    try:
        for c in ["units metal", "atom_style atomic", "boundary p p p", "lattice fcc " + repr(a),
                  f"region b prism 0 {n} 0 {n} 0 {n} 0 0 0", "create_box 1 b", "create_atoms 1 box",
                  "mass 1 63.546", "pair_style " + style,
                  *["pair_coeff " + " ".join(str(P / t) if (P / t).is_file() else t for t in c.split())
                    for c in coeffs],
                  f"change_box all x final 0 {H[0][0]!r} y final 0 {H[1][1]!r} z final 0 {H[2][2]!r} "
                  f"xy final {H[0][1]!r} xz final {H[0][2]!r} yz final {H[1][2]!r} remap units box",
                  "thermo_style custom step pe", "thermo_modify norm no", "run 0"]:
            lmp.command(c)
        assert lmp.get_natoms() == 4 * n ** 3
        return float(lmp.get_thermo("pe")), L ** 3
    finally:
        lmp.close()


def _reference_C(style: str, coeffs: list[str], a: float, h: float) -> np.ndarray:
    """C_ab = ∂²W/∂ε_a∂ε_b (Voigt, engineering shears) from energy differences with step h."""
    def W(ea: np.ndarray) -> float:
        E = np.zeros((3, 3))
        for k, (i, j) in enumerate(VOIGT3):
            if i == j:
                E[i, i] += ea[k]
            else:
                E[i, j] += 0.5 * ea[k]
                E[j, i] += 0.5 * ea[k]
        e, V = _lammps_energy(style, coeffs, a, 2, E)
        return e / V

    I6 = np.eye(6)
    C = np.zeros((6, 6))
    w0 = W(np.zeros(6))
    for a_ in range(6):
        C[a_, a_] = (W(h * I6[a_]) - 2 * w0 + W(-h * I6[a_])) / h ** 2
        for b in range(a_):
            C[a_, b] = C[b, a_] = (W(h * (I6[a_] + I6[b])) - W(h * (I6[a_] - I6[b]))
                                   - W(h * (I6[b] - I6[a_])) + W(-h * (I6[a_] + I6[b]))) / (4 * h * h)
    return C


def test_snap_engine_C_against_lammps_energy_differences():
    a = 3.615
    h = 2e-4
    ref = (4 * _reference_C(*SNAP, a, h) - _reference_C(*SNAP, a, 2 * h)) / 3  # Richardson: O(h⁴)
    eng = EngineCauchyBorn(LammpsPotential(*SNAP), Lattice("fcc", a))
    try:
        rel = np.max(np.abs(eng.C - ref)) / np.max(np.abs(ref))
        print(f"SNAP Cu: engine C vs LAMMPS energy differences, max rel {rel:.2e}")
        assert rel <= 1e-5, (rel, eng.C, ref)
    finally:
        eng.close()


def test_fd_step_is_controlled():
    """The step is halved until two successive differences agree to tol; a looser tol stops earlier."""
    pot = LammpsPotential(*SNAP)
    cell = pot.periodic_cell(Lattice("fcc", 3.615))
    try:
        C1, e1, h1 = engine_elastic_constants(cell, h0=1e-3, tol=1e-3)
        C2, e2, h2 = engine_elastic_constants(cell, h0=1e-3, tol=1e-8)
        assert e1 <= 1e-3 and e2 <= 1e-8 and h2 < h1
        assert np.max(np.abs(C1 - C2)) <= 3 * e1 * np.max(np.abs(C2))
    finally:
        cell.close()


def test_deck_materials_use_the_engine():
    pot = LammpsPotential(*SNAP)
    lat = Lattice("fcc", 3.615)
    cb = CauchyBorn.from_params(CauchyBorn.Params(), dim=3, potential=pot, lattice=lat)
    lin = Linear.from_params(Linear.Params(), dim=3, potential=pot, lattice=lat)
    assert isinstance(cb, EngineCauchyBorn) and cb.path == "engine"
    assert np.array_equal(cb.C, lin.C)  # the per-run cache: one C for both
    # W(F) is the energy per reference volume of the deformed crystal, cohesive energy included (as the
    # native material's W): against the independent LAMMPS crystal deformed by change_box
    E = np.array([[0.01, 0.002, 0.0], [0.002, -0.005, 0.003], [0.0, 0.003, 0.004]])
    U = np.linalg.cholesky(np.eye(3) + 2.0 * E).T
    _, W = cb.evaluate(np.stack([np.eye(3), U]))
    for k, Ek in enumerate([np.zeros((3, 3)), E]):
        e, V = _lammps_energy(*SNAP, 3.615, 2, Ek)
        assert abs(W[k] - e / V) <= 1e-13 * abs(e / V)
    cb.close()


def test_ase_route_energy_and_stress():
    """`type: ase` (ASE's EMT): W(F) against the same crystal built by ``ase.build.bulk`` and deformed by
    ASE (independent cell and positions), and P = ∂W/∂F against central differences of W."""
    from ase.build import bulk

    from multiscale.md.potentials.ase_potential import AsePotential, import_class

    emt = import_class("ase.calculators.emt:EMT")
    pot = AsePotential(emt, ["Cu"], cutoff=5.0)
    a = 3.6
    mat = EngineCauchyBorn(pot, Lattice("fcc", a))
    F = np.eye(3) + np.array([[0.02, 0.01, -0.005], [0.004, -0.01, 0.003], [0.0, 0.006, 0.015]])
    P, W = mat.evaluate(F[None])
    ref = bulk("Cu", "fcc", a=a, cubic=True)
    ref.calc = emt()
    ref.set_cell(ref.cell[:] @ F.T, scale_atoms=True)
    assert abs(W[0] * a ** 3 - ref.get_potential_energy()) <= 1e-12  # eV (EMT: E ≈ 0 near fcc)
    h = 1e-6
    for i, j in [(0, 0), (0, 1), (2, 1), (1, 2)]:
        Fp, Fm = F.copy(), F.copy()
        Fp[i, j] += h
        Fm[i, j] -= h
        dW = (mat.evaluate(Fp[None])[1][0] - mat.evaluate(Fm[None])[1][0]) / (2 * h)
        assert abs(dW - P[0, i, j]) <= 1e-6 * np.max(np.abs(P)), (i, j, dW, P[0, i, j])


def test_2d_lammps_cell_matches_native_lj():
    """2D route (LAMMPS ``dimension 2`` cell, xy tilt only): LAMMPS ``lj/cut`` against msim's native lj
    lattice sums on the hex lattice, C ≤ 1e-6, W and P at finite F ≤ 1e-12."""
    from multiscale.md.potentials.lj import LennardJones

    lat = Lattice("hex", 1.1126)
    native = CauchyBorn(LennardJones(1.0, 1.0, 2.5, "cut"), lat)
    eng = EngineCauchyBorn(LammpsPotential("lj/cut 2.5", ["1 1 1.0 1.0 2.5"], units="lj"), lat)
    try:
        assert eng.dim == 2
        assert np.max(np.abs(eng.C - native.C)) <= 1e-6 * np.max(np.abs(native.C))
        F = np.eye(2) + np.array([[[0.01, 0.004], [-0.003, -0.006]], [[0.0, 0.02], [0.0, 0.0]]])
        Pe, We = eng.evaluate(F)
        Pn, Wn = native.evaluate(F)
        assert np.max(np.abs(We - Wn)) <= 1e-12 * np.max(np.abs(Wn))
        assert np.max(np.abs(Pe - Pn)) <= 1e-12 * np.max(np.abs(Pn))
    finally:
        eng.close()
