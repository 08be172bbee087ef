"""ASE both ways: msim potentials as ASE calculators (`multiscale.ase_calculator.MsimCalculator`) and ASE
calculators as msim potentials (``potential: {type: ase, ...}``).

References: ASE's own calculators (LennardJones, EMT) run directly by the test, ASE's optimiser (BFGS on a
FrechetCellFilter) against msim's independent lattice-sum route (`md.properties`), and finite-difference
derivatives of the energy.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, fcc100
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones as AseLJ
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from multiscale.ase_calculator import MsimCalculator
from multiscale.cli import main as cli_main
from multiscale.deck.deck import load_deck_text
from multiscale.md.box import Box
from multiscale.md.lattice import Lattice
from multiscale.md.potentials import make_potential
from multiscale.md.properties import zero_stress_lattice_constant
from multiscale.md.system import AtomisticRegion
from multiscale.simulation import Simulation
from multiscale.units import METAL

LJ_AR = {"type": "lj", "epsilon": 0.0104, "sigma": 3.4, "cutoff": 8.5, "truncation": "shift"}


@pytest.mark.parametrize("spec", [{"type": "eam_zhou", "element": "Cu"},
                                  {"type": "lj", "epsilon": 0.0104, "sigma": 3.4, "cutoff": 8.5,
                                   "truncation": "smooth"},
                                  {"type": "eam", "file": "Cu_u3.eam"}])
def test_bfgs_cell_relaxation_finds_the_lattice_constant_of_properties(spec):
    if spec["type"] == "eam":
        from multiscale.md.engines.lammps_lib import potentials_dir
        spec = {**spec, "file": str(potentials_dir() / spec["file"])}
    pot = make_potential(spec, METAL)
    a0 = zero_stress_lattice_constant(pot, "fcc")
    atoms = bulk("Cu", "fcc", a=0.97 * a0, cubic=True)
    atoms.calc = MsimCalculator(pot)
    opt = BFGS(FrechetCellFilter(atoms), logfile=None)

    def sane() -> None:  # a wrong stress drives the cell away: fail fast instead of crawling
        assert 0.85 * a0 < atoms.cell[0, 0] < 1.15 * a0, atoms.cell[0, 0]

    opt.attach(sane)
    assert opt.run(fmax=1e-9, steps=200)
    a = atoms.cell[0, 0]
    print(spec["type"], "a0 (properties) =", a0, "BFGS:", a, "rel", abs(a - a0) / a0)
    assert abs(a - a0) <= 1e-6 * a0
    assert np.allclose(atoms.cell[:], np.diag([a, a, a]), rtol=0, atol=1e-9 * a)


def test_stress_is_the_strain_derivative_of_the_energy():
    pot = make_potential({"type": "eam_zhou", "element": "Cu"}, METAL)
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=3)
    atoms.calc = MsimCalculator(pot)
    s = atoms.get_stress(voigt=False)
    V = atoms.get_volume()
    h = 1e-6
    pairs = [(0, 0), (1, 1), (2, 2)]   # msim boxes are orthogonal: normal strains only
    for i, j in pairs:
        E = []
        for sgn in (1, -1):
            a2 = atoms.copy()
            a2.calc = MsimCalculator(pot)
            eps = np.eye(3)
            eps[i, j] += sgn * h
            a2.set_cell(atoms.cell[:] @ eps, scale_atoms=True)
            E.append(a2.get_potential_energy())
        fd = (E[0] - E[1]) / (2 * h) / V
        assert abs(fd - s[i, j]) <= 1e-6 * np.max(np.abs(s)) + 1e-10, (i, j, fd, s[i, j])


def test_msim_lj_calculator_matches_ase_lj_on_a_slab():
    atoms = fcc100("Ar", size=(4, 4, 5), a=5.26, vacuum=6.0, orthogonal=True, periodic=False)
    atoms.pbc = [True, True, False]
    atoms.rattle(0.1, seed=1)
    ref = atoms.copy()
    ref.calc = AseLJ(epsilon=0.0104, sigma=3.4, rc=8.5, smooth=False)
    atoms.calc = MsimCalculator(make_potential(LJ_AR, METAL))
    E, Er = atoms.get_potential_energy(), ref.get_potential_energy()
    assert abs(E - Er) <= 1e-12 * abs(Er)
    assert np.max(np.abs(atoms.get_forces() - ref.get_forces())) <= 1e-12 * np.max(np.abs(ref.get_forces()))
    assert np.max(np.abs(atoms.get_potential_energies() - ref.get_potential_energies())) <= 1e-12 * abs(Er)


def test_lammps_potential_as_ase_calculator_relaxes_silicon():
    pot = make_potential({"type": "lammps", "pair_style": "tersoff", "pair_coeff": ["* * Si.tersoff Si"]},
                         METAL)
    atoms = bulk("Si", "diamond", a=5.3, cubic=True)
    atoms.calc = MsimCalculator(pot, skin=1.0)
    opt = BFGS(FrechetCellFilter(atoms), logfile=None)
    assert opt.run(fmax=1e-8, steps=200)
    a = atoms.cell[0, 0]
    # Tersoff (1988) Si: e(a) minimum of the perfect diamond lattice; reference: energies from the same
    # engine on a fine grid, parabola through the three lowest points
    grid = np.linspace(a - 0.01, a + 0.01, 41)
    e = []
    for g in grid:
        b = bulk("Si", "diamond", a=g, cubic=True)
        b.calc = MsimCalculator(pot, skin=1.0)
        e.append(b.get_potential_energy())
    k = int(np.argmin(e))
    c = np.polyfit(grid[k - 1:k + 2], e[k - 1:k + 2], 2)
    assert abs(a + c[1] / (2 * c[0])) <= 1e-5 * a, (a, -c[1] / (2 * c[0]))
    assert 5.42 < a < 5.44


# --------------------------------------------------------------------------- ASE calculators in msim
def _jittered_fcc(a, cells, jitter, seed):
    L = cells * a
    X = Lattice("fcc", a).sites_in_box(np.zeros(3), np.full(3, L))
    rng = np.random.default_rng(seed)
    return X + rng.uniform(-jitter, jitter, X.shape), Box(np.zeros(3), np.full(3, L), [True] * 3)


def test_ase_lj_as_msim_potential_matches_native_lj():
    ase_pot = make_potential({"type": "ase", "calculator": "ase.calculators.lj:LennardJones",
                              "args": {"epsilon": 0.0104, "sigma": 3.4, "rc": 8.5}, "symbols": ["Ar"]}, METAL)
    assert ase_pot.cutoff == 8.5
    native = make_potential(LJ_AR, METAL)
    x, box = _jittered_fcc(5.26, 4, 0.15, seed=2)
    out = []
    for pot in (ase_pot, native):
        reg = AtomisticRegion(x, 1.0, pot, box, skin=0.5)
        reg.compute()
        reg.x[...] = x + 0.3          # a second call through the persistent engine (all atoms shifted)
        E = reg.compute()
        out.append((E, reg.forces.copy(), reg.energies.copy()))
    (E, f, e), (En, fn, en) = out
    assert abs(E - En) <= 1e-12 * abs(En)
    assert np.max(np.abs(f - fn)) <= 1e-12 * np.max(np.abs(fn))
    assert np.max(np.abs(e - en)) <= 1e-12 * np.max(np.abs(en))


def test_ase_emt_as_msim_potential_matches_ase_directly():
    pot = make_potential({"type": "ase", "calculator": "ase.calculators.emt:EMT", "symbols": ["Cu"],
                          "cutoff": 5.0}, METAL)
    x, box = _jittered_fcc(3.6, 4, 0.1, seed=4)
    reg = AtomisticRegion(x, 1.0, pot, box, skin=0.5)
    x2 = x.copy()
    x2[::2] += box.hi          # outside the box: msim wraps, ASE sees the same periodic configuration
    reg.x[...] = x2
    E = reg.compute()
    from ase import Atoms
    ref = Atoms(f"Cu{len(x)}", positions=x, cell=np.diag(box.hi - box.lo), pbc=True)
    ref.calc = EMT()
    assert abs(E - ref.get_potential_energy()) <= 1e-12 * abs(E)
    assert np.max(np.abs(reg.forces - ref.get_forces())) <= 1e-12 * np.max(np.abs(ref.get_forces()))
    assert np.max(np.abs(reg.energies - ref.get_potential_energies())) <= 1e-12 * abs(E)


EMT_DECK = """\
msim: 1
units: metal
potential: {type: ase, calculator: "ase.calculators.emt:EMT", symbols: [Cu], cutoff: 5.0}
atoms:
  lattice: {type: fcc, a: 3.6}
  region: {type: box, lo: [0.0, 0.0, 0.0], hi: [14.4, 14.4, 14.4]}
  boundary: [p, p, p]
  mass: 63.546
  skin: 0.5
  velocity: {temperature: 300.0, seed: 1}
integrator: {type: verlet, dt: 0.002, steps: 20}
output: {every: 10, thermo_every: 5, fields: [position, velocity, energy]}
"""


def test_ase_emt_deck_runs(tmp_path):
    sim = Simulation.from_deck(load_deck_text(EMT_DECK, "emt.yaml"))
    sim.run(output=str(tmp_path / "emt.h5"))
    atoms = sim.model.atoms
    from ase import Atoms
    ref = Atoms(f"Cu{atoms.n}", positions=atoms.x, cell=np.diag(atoms.box.hi - atoms.box.lo), pbc=True)
    ref.calc = EMT()
    assert np.max(np.abs(atoms.forces - ref.get_forces())) <= 1e-12 * np.max(np.abs(ref.get_forces()))
    assert np.max(np.abs(atoms.x - atoms.X)) > 1e-3   # the atoms moved


def test_bad_calculator_is_a_located_deck_error(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(EMT_DECK.replace("ase.calculators.emt:EMT", "ase.calculators.emt:NoSuch"))
    with pytest.raises(SystemExit) as exc:
        cli_main(["validate", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3" in err and "NoSuch" in err and "Traceback" not in err, err
