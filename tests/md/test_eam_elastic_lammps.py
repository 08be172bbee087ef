"""Born elastic constants of tabulated EAMs (Cauchy–Born, `md.properties.elastic_constants`) against an
independent LAMMPS reference, relative difference ≤ 1e-8 (funcfl Cu_u3.eam, setfl Cu_mishin1.eam.alloy).

msim: analytic second derivatives of the interpolating cubic splines (``pair_d2``, ``density_d2``,
``embedding_d2`` of `TabulatedEAM`), lattice sums at the zero-stress fcc spacing.

Reference: LAMMPS (``pair_style eam`` / ``eam/alloy``) on a periodic 4×4×4-cell fcc crystal (256 atoms)
deformed by x = F X with F = I + h e_x⊗e_x (C11 from σ_xx, C12 from σ_yy) and F = I + h e_x⊗e_y (simple
shear, C44 from σ_xy); central differences (σ(h) − σ(−h))/2h of LAMMPS's virial stress (−p_ij, converted
with LAMMPS's own bar-per-eV/Å³ factor). Accuracy of the reference: (i) the steps are checked to keep every
bond length and the host density inside the spline intervals they occupy at F = I (the energy is then one
smooth function of h, so the central difference errs by O(h²) — no knot is crossed, which is what made the
old 2e-4-relative finite differences in msim wrong by 1.5e-5 on Cu_mishin1's fine table); (ii) the
differences at h = 1e-6 and h/2 agree to ≤ 1e-9 relative (measured ≤ 3.2e-10: the round-off of the virial
over 2h dominates), so the reference is good to ~1e-9. Measured msim − LAMMPS: ≤ 1.1e-10 (Cu_u3),
≤ 6.6e-11 (Cu_mishin1; the old finite differences: −1.5e-5 C11, −2.1e-5 C12, −6.2e-7 C44).
"""

import numpy as np
import pytest

from multiscale.md.lattice import Lattice
from multiscale.md.potentials.eam import EAMFile
from multiscale.md.properties import elastic_constants, zero_stress_lattice_constant

from .refcodes import lammps_instance, lammps_potential_dir

CASES = {"Cu_u3.eam": ("eam", "pair_coeff 1 1 {path}"),
         "Cu_mishin1.eam.alloy": ("eam/alloy", "pair_coeff * * {path} Cu")}
N_CELLS = 4
H = 1e-6


def _sites(a: float) -> np.ndarray:
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    g = np.stack(np.meshgrid(*[np.arange(N_CELLS)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    return ((g[:, None, :] + basis[None]) .reshape(-1, 3)) * a


def _lammps_stress(path, style, coeff, a: float, F: np.ndarray) -> np.ndarray:
    """Cauchy stress (3, 3) [eV/Å³] of the periodic crystal x = F X in LAMMPS (F upper triangular)."""
    L = N_CELLS * a
    x = _sites(a) @ F.T
    lmp = lammps_instance()
    lx, ly, lz = (float(L * F[k, k]) for k in range(3))
    xy, xz, yz = float(L * F[0, 1]), float(L * F[0, 2]), float(L * F[1, 2])
    for c in ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
              f"region box prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r} units box",
              "create_box 1 box"]:
        lmp.command(c)
    n = len(x)
    lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, x.ravel().tolist())
    assert lmp.get_natoms() == n
    lmp.command("mass 1 63.546")
    lmp.command(f"pair_style {style}")
    lmp.command(coeff.format(path=path))
    lmp.command("thermo_style custom step pe pxx pyy pzz pxy pxz pyz")
    lmp.command("run 0")
    p = {k: float(lmp.get_thermo(k)) for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")}
    nktv2p = float(lmp.extract_global("nktv2p"))
    lmp.close()
    P = np.array([[p["pxx"], p["pxy"], p["pxz"]], [p["pxy"], p["pyy"], p["pyz"]],
                  [p["pxz"], p["pyz"], p["pzz"]]])
    return -P / nktv2p


def _in_same_intervals(pot, a: float, F: np.ndarray) -> bool:
    """Every bond length and the host density of x = F X lie in the spline intervals of F = I."""
    t = pot.tables
    R = Lattice("fcc", a).neighbor_vectors(pot.cutoff)
    r0 = np.linalg.norm(R, axis=1)
    r1 = np.linalg.norm(R @ F.T, axis=1)
    same_r = np.array_equal(np.floor(r0 / t.dr), np.floor(r1 / t.dr)) and np.all(r1 < pot.cutoff)
    rho0, rho1 = pot.density(r0)[0].sum(), pot.density(r1)[0].sum()
    return bool(same_r and np.floor(rho0 / t.drho) == np.floor(rho1 / t.drho))


def _reference(path, style, coeff, pot, a: float, h: float) -> dict:
    out = {}
    for name, (i, j) in (("stretch", (0, 0)), ("shear", (0, 1))):
        s = []
        for sgn in (1.0, -1.0):
            F = np.eye(3)
            F[i, j] += sgn * h
            assert _in_same_intervals(pot, a, F), f"step {h} crosses a spline knot"
            s.append(_lammps_stress(path, style, coeff, a, F))
        out[name] = (s[0] - s[1]) / (2 * h)
    st, sh = out["stretch"], out["shear"]
    return {"C11": st[0, 0], "C12": st[1, 1], "C44": sh[0, 1]}


@pytest.mark.parametrize("fname", list(CASES))
def test_eam_elastic_constants_vs_lammps(fname):
    path = lammps_potential_dir() / fname
    style, coeff = CASES[fname]
    pot = EAMFile.from_file(path)
    a = zero_stress_lattice_constant(pot, "fcc", 3.6)
    C = elastic_constants(pot, Lattice("fcc", a))
    ref = _reference(path, style, coeff, pot, a, H)
    ref2 = _reference(path, style, coeff, pot, a, H / 2)
    mine = {"C11": C[0, 0], "C12": C[0, 1], "C44": C[3, 3]}
    for k in ref:
        assert abs(ref[k] - ref2[k]) <= 1e-9 * abs(ref[k]), (k, ref[k], ref2[k])   # reference accuracy
        assert abs(mine[k] - ref[k]) <= 1e-8 * abs(ref[k]), (fname, k, mine[k], ref[k])
    # zero stress of the reference lattice, in LAMMPS too
    assert np.max(np.abs(_lammps_stress(path, style, coeff, a, np.eye(3)))) <= 1e-9 * ref["C11"]
