"""The ``lammps`` potential (an external force engine) against LAMMPS driven directly by the test.

The reference is a separate, plain LAMMPS instance per configuration (``create_atoms`` + ``run 0``, per-atom
energies from ``compute pe/atom``, everything gathered by atom id), so it shares with the engine only the
LAMMPS library and the loader (`multiscale.md.engines.lammps_lib`). The engine is driven through a sequence
of configurations (large moves, atoms outside the periodic box) to exercise its persistent instance, its
reneighbouring and wrapping. Also: forces = −∇E by finite differences, NVE energy error ∝ Δt², pure-MD and
force-blended decks end to end, and the validation of couplings an engine cannot do.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from multiscale._kernels import load
from multiscale.cli import main as cli_main
from multiscale.deck.deck import load_deck_text
from multiscale.md.box import Box
from multiscale.md.engines.lammps_lib import new_instance, potentials_dir
from multiscale.md.lattice import Lattice
from multiscale.md.potentials import make_potential
from multiscale.md.system import AtomisticRegion
from multiscale.md.velocities import maxwell_boltzmann
from multiscale.simulation import Simulation
from multiscale.units import METAL

P = potentials_dir()

#: name -> (lattice, a [Å], cells, pair_style, pair_coeff)
CASES = {
    "tersoff_Si": ("diamond", 5.431, 3, "tersoff", ["* * Si.tersoff Si"]),
    "sw_Si": ("diamond", 5.431, 3, "sw", ["* * Si.sw Si"]),
    "eam_fs_Al": ("fcc", 4.05, 4, "eam/fs", ["* * Al_mm.eam.fs Al"]),
    "meam_Cu": ("fcc", 3.615, 4, "meam", ["* * library.meam Cu Cu.meam Cu"]),
    "snap_Cu_Zuo": ("fcc", 3.615, 3, "snap",
                    ["* * Cu_Zuo_JPCA2020.snapcoeff Cu_Zuo_JPCA2020.snapparam Cu"]),
    "mliap_nn_Cu": ("fcc", 3.615, 4,
                    "mliap model nn Cu.nn.mliap.model descriptor sna Cu.snap.mliap.descriptor", ["* * Cu"]),
}


def _abs_files(line: str) -> str:
    return " ".join(str(P / t) if (P / t).is_file() else t for t in line.split())


def plain_lammps(x: np.ndarray, box: Box, pair_style: str, pair_coeff: list[str]):
    """(E, forces (n, 3), energies (n,)) of positions x in a fresh periodic LAMMPS instance."""
    n = len(x)
    lmp = new_instance()
    try:
        for c in ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
                  "region b block " + " ".join(f"{float(lo)!r} {float(hi)!r}"
                                               for lo, hi in zip(box.lo, box.hi, strict=True)),
                  "create_box 1 b"]:
            lmp.command(c)
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, box.wrap(x).ravel().tolist())
        assert lmp.get_natoms() == n
        lmp.command("mass 1 1.0")
        lmp.command("pair_style " + _abs_files(pair_style))
        for c in pair_coeff:
            lmp.command("pair_coeff " + _abs_files(c))
        for c in ["compute pa all pe/atom", "compute s all reduce sum c_pa",
                  "thermo_style custom step pe c_s", "thermo_modify norm no", "run 0"]:
            lmp.command(c)
        E = float(lmp.get_thermo("pe"))
        f = np.array(lmp.gather_atoms("f", 1, 3), dtype=float).reshape(n, 3)
        ids = np.array(lmp.numpy.extract_atom("id", nelem=n))
        e = np.empty(n)
        e[ids - 1] = np.array(lmp.numpy.extract_compute("pa", 1, 1)[:n])
    finally:
        lmp.close()
    return E, f, e


def _crystal(kind: str, a: float, cells: int, jitter: float, seed: int):
    L = cells * a
    X = Lattice(kind, a).sites_in_box(np.zeros(3), np.full(3, L))
    rng = np.random.default_rng(seed)
    return X + rng.uniform(-jitter, jitter, X.shape), Box(np.zeros(3), np.full(3, L), [True] * 3)


def _rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("name", list(CASES))
def test_engine_matches_plain_lammps(name):
    kind, a, cells, style, coeff = CASES[name]
    pot = make_potential({"type": "lammps", "pair_style": style, "pair_coeff": coeff}, METAL)
    x0, box = _crystal(kind, a, cells, 0.1, seed=7)
    region = AtomisticRegion(x0, 1.0, pot, box, skin=0.5)
    rng = np.random.default_rng(3)
    configs = [x0, x0 + rng.normal(0.0, 0.25, x0.shape)]   # moves beyond skin/2: LAMMPS rebuilds
    x2 = configs[1].copy()
    x2[::3, 0] += box.hi[0]                                  # unwrapped images: same configuration
    x2[1::3, 2] -= 2 * box.hi[2]
    configs.append(x2)
    worst = []
    for x in configs:
        region.x[...] = x
        E = region.compute()
        Er, fr, er = plain_lammps(x, box, style, coeff)
        worst.append((abs(E - Er) / abs(Er), _rel(region.forces, fr), _rel(region.energies, er)))
        assert abs(E - Er) <= 1e-10 * abs(Er), (name, E, Er)
        assert _rel(region.forces, fr) <= 1e-10, name
        assert _rel(region.energies, er) <= 1e-10, name
        assert abs(np.sum(region.energies) - E) <= 1e-10 * abs(E)
    print(name, "cut-off", pot.cutoff, "worst rel. differences (E, f, e):", np.max(worst, axis=0))


def test_cutoff_is_read_from_lammps():
    # Si.tersoff: R + D = 2.85 + 0.15... of the file's Si-Si-Si line; Si.sw: a·σ = 1.8 · 2.0951
    tersoff = make_potential({"type": "lammps", "pair_style": "tersoff", "pair_coeff": ["* * Si.tersoff Si"]})
    sw = make_potential({"type": "lammps", "pair_style": "sw", "pair_coeff": ["* * Si.sw Si"]})
    lj = make_potential({"type": "lammps", "pair_style": "lj/cut 2.7", "pair_coeff": ["1 1 1.0 1.0"]})
    tokens = " ".join(ln for ln in (P / "Si.tersoff").read_text().splitlines()
                      if not ln.lstrip().startswith("#")).split()
    assert tokens[:3] == ["Si", "Si", "Si"]
    R, D = float(tokens[13]), float(tokens[14])
    assert tersoff.cutoff == pytest.approx(R + D, rel=1e-12)
    assert sw.cutoff == pytest.approx(1.80 * 2.0951, rel=1e-12)
    assert lj.cutoff == pytest.approx(2.7, rel=1e-12)


def test_forces_are_minus_gradient_of_energy():
    pot = make_potential({"type": "lammps", "pair_style": "tersoff", "pair_coeff": ["* * Si.tersoff Si"]})
    x, box = _crystal("diamond", 5.431, 2, 0.15, seed=11)
    region = AtomisticRegion(x, 1.0, pot, box, skin=0.5)
    region.compute()
    f = region.forces.copy()
    h = 1e-5
    rng = np.random.default_rng(0)
    for a in rng.choice(len(x), 6, replace=False):
        for k in range(3):
            E = []
            for s in (h, -h):
                region.x[...] = x
                region.x[a, k] += s
                E.append(region.compute())
            fd = -(E[0] - E[1]) / (2 * h)
            assert abs(fd - f[a, k]) <= 1e-6 * max(1.0, abs(f[a, k])), (a, k, fd, f[a, k])


def _nve(region: AtomisticRegion, dt: float, nsteps: int) -> np.ndarray:
    k = load("verlet")
    region.compute()
    inv_m = 1.0 / region.mass
    acc = region.forces * inv_m[:, None]
    E = []
    for _ in range(nsteps):
        k.kick_acc(region.v, acc, 0.5 * dt, 1)
        k.drift(region.x, region.v, dt, 1)
        Ep = region.compute()
        acc = region.forces * inv_m[:, None]
        k.kick_acc(region.v, acc, 0.5 * dt, 1)
        E.append(Ep + region.kinetic_energy())
    return np.array(E)


def test_nve_energy_error_scales_as_dt_squared():
    pot = make_potential({"type": "lammps", "pair_style": "sw", "pair_coeff": ["* * Si.sw Si"]})
    errs = []
    for dt in (0.002, 0.001):
        X, box = _crystal("diamond", 5.431, 2, 0.0, seed=0)
        region = AtomisticRegion(X, METAL.mass_to_internal(28.0855), pot, box, skin=0.5)
        region.v[...] = maxwell_boltzmann(region.mass, 3, 600.0, METAL.boltz, seed=5)
        E0 = region.compute() + region.kinetic_energy()
        E = _nve(region, dt, int(round(0.2 / dt)))
        errs.append(np.max(np.abs(E - E0)))
    ratio = errs[0] / errs[1]
    print("NVE max energy error (eV) for dt = 2, 1 fs:", errs, "ratio", ratio)
    assert 3.5 < ratio < 4.5, ratio


SI_DECK = """\
msim: 1
units: metal
potential: {type: lammps, pair_style: tersoff, pair_coeff: ["* * Si.tersoff Si"], elements: [Si]}
atoms:
  lattice: {type: diamond, a: 5.432}
  region: {type: box, lo: [0.0, 0.0, 0.0], hi: [10.864, 10.864, 10.864]}
  boundary: [%s]
  mass: 28.0855
  skin: 1.0
  velocity: {temperature: 600.0, seed: 1}
integrator: {type: verlet, dt: 0.001, steps: 200}
output: {every: 100, thermo_every: 20, fields: [position, velocity, energy]}
"""


@pytest.mark.parametrize("boundary", ["p, p, p", "f, f, f", "p, f, p"])
def test_pure_md_deck_runs_and_conserves_energy(tmp_path, boundary):
    deck = load_deck_text(SI_DECK % boundary, "si.yaml")
    sim = Simulation.from_deck(deck)
    sim.run(output=str(tmp_path / "si.h5"))
    atoms = sim.model.atoms
    # the trajectory's last forces are LAMMPS's forces of the last positions
    periodic = [b.strip() == "p" for b in boundary.split(",")]
    if all(periodic):
        _, fr, _ = plain_lammps(atoms.x, atoms.box, "tersoff", ["* * Si.tersoff Si"])
        assert _rel(atoms.forces, fr) <= 1e-10
    E = atoms.energy + atoms.kinetic_energy()
    from multiscale.output.reader import ResultsReader  # noqa: PLC0415
    with ResultsReader(str(tmp_path / "si.h5")) as r:
        th = r.thermo()
    tot = np.asarray(th["total"], float)
    kin = np.asarray(th["kinetic_atoms"], float)
    assert tot[-1] == pytest.approx(E, rel=1e-12)
    assert np.max(np.abs(tot - tot[0])) < 5e-3 * np.max(kin)


COUPLED = """\
msim: 1
units: lj
potential: %s
atoms:
  lattice: {type: hex, a: 1.1126}
  region: {type: box, lo: [-14.0, -14.0], hi: [14.0, 14.0]}   # the handshake edge ±11 + cut-off + skin
  mass: 1.0
  skin: 0.3
continuum:
  mesh: {type: rectangle, element: tri3, lo: [-30.0, -30.0], hi: [30.0, 30.0], size: 2.0,
         hole: {lo: [-6.0, -6.0], hi: [6.0, 6.0]}}
  material: {type: linear, C: [[60.0, 20.0, 0.0], [20.0, 60.0, 0.0], [0.0, 0.0, 20.0]]}
  density: derived
handshake:
  shape: {type: box, lo: [-8.0, -8.0], hi: [8.0, 8.0]}
  width: 3.0
  blend: {type: linear}
  coupling: {type: %s}
loads:
  - {type: radial_pulse, center: [0.0, 0.0], sigma: 2.0, amplitude: 0.01}
integrator: {type: verlet, dt: 0.001, steps: 400}
output: {every: 200, thermo_every: 50, fields: [displacement, velocity]}
"""
NATIVE_LJ = "{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: cut}"
LAMMPS_LJ = '{type: lammps, pair_style: "lj/cut 2.5", pair_coeff: ["1 1 1.0 1.0 2.5"]}'


def test_force_blend_coupled_run_matches_native_lj(tmp_path):
    """A force-blended atom/continuum run with LAMMPS's lj/cut gives the trajectory of msim's own lj."""
    runs = []
    for pot in (NATIVE_LJ, LAMMPS_LJ):
        sim = Simulation.from_deck(load_deck_text(COUPLED % (pot, "force_blend"), "c.yaml"))
        sim.run(output=str(tmp_path / f"c{len(runs)}.h5"))
        runs.append((sim.model.atoms.x.copy(), sim.model.continuum.U.copy()))
    assert np.max(np.abs(runs[0][1])) > 1e-6                 # the pulse reached the mesh
    assert np.max(np.abs(runs[1][0] - runs[0][0])) <= 1e-10
    assert np.max(np.abs(runs[1][1] - runs[0][1])) <= 1e-10


@pytest.mark.parametrize("coupling", ["strong", "projected", "penalty, kappa: 1.0", "ghost_corrected"])
def test_validate_refuses_energy_blending_with_engine(tmp_path, capsys, coupling):
    text = COUPLED % (LAMMPS_LJ, coupling)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        cli_main(["validate", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    line = 1 + next(i for i, ln in enumerate(text.splitlines()) if "coupling:" in ln)
    assert f"bad.yaml:{line}" in err, err
    assert "handshake.coupling.type" in err and "external engine" in err and "force_blend" in err, err
    assert "Traceback" not in err


def test_engine_refuses_fractional_weights():
    pot = make_potential({"type": "lammps", "pair_style": "lj/cut 2.5", "pair_coeff": ["1 1 1.0 1.0"]})
    x, box = _crystal("fcc", 1.6, 4, 0.0, 0)
    region = AtomisticRegion(x, 1.0, pot, box, skin=0.3)
    w = np.ones(len(x))
    w[0] = 0.5
    region.set_weights(w, None)
    with pytest.raises(ValueError, match="site weights"):
        region.compute()


def test_missing_potential_file_is_a_deck_error(tmp_path, capsys):
    text = textwrap.dedent(SI_DECK % "p, p, p").replace("Si.tersoff", "NoSuch.tersoff")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        cli_main(["validate", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3" in err and "LAMMPS rejected the potential" in err, err
