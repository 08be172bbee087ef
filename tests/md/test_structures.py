"""Structures and types (issue 15): eam/fs and multi-element setfl against LAMMPS, the b2/l12/basis
lattices against ASE's builders, atoms from structure files (extxyz, LAMMPS data, POSCAR) with their deck
errors, and the type names / masses carried to the results (extxyz read back by ASE)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from multiscale.build import build_model
from multiscale.deck import load_deck
from multiscale.errors import DeckError
from multiscale.md.box import Box
from multiscale.md.lattice import Lattice
from multiscale.md.potentials.eam import EAMFile

from .refcodes import lammps_eval, lammps_potential_dir, msim_eval, random_config

TOL = 1e-12      # relative; measured ≤ 1.3e-14 (eam/fs and setfl, 3D, 216-343 atoms)
A_B2 = 2.86299   # zero-pressure B2 NiAl spacing of NiAlH_jea.eam.alloy (Ni, Al) [Å]
A_L12 = 3.56765  # zero-pressure L1_2 Ni3Al spacing of the same potential [Å]


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


def _eam(fname, elements=None):
    return EAMFile.from_params(EAMFile.Params(file=str(lammps_potential_dir() / fname), elements=elements))


# ----------------------------------------------------------------------------- eam/fs and setfl vs LAMMPS
FS_CASES = [("Fe_mm.eam.fs", None), ("AlFe_mm.eam.fs", None), ("NiAlH_jea.eam.fs", None),
            ("NiAlH_jea.eam.fs", ["Al", "Ni"])]


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("fname,elements", FS_CASES, ids=["Fe", "AlFe", "NiAlH", "NiAlH-AlNi"])
def test_eam_fs_vs_lammps(fname, elements, d):
    """Random jittered configuration, random element per atom: energy and forces of the native eam/fs
    reader against LAMMPS ``pair_style eam/fs`` on the same positions (2D: the generic kernel loops for
    several elements, the fast 2D loops for one)."""
    pot = _eam(fname, elements)
    assert pot.tables.rhor.shape[0] == len(pot.elements) ** 2 or len(pot.elements) == 1
    rng = np.random.default_rng(7 + len(fname))
    nc = int(np.ceil(2 * (pot.cutoff + 0.3) / 2.5)) + 1
    x, box = random_config(rng, d, nc, 2.5, 0.06, True)
    types = rng.integers(0, len(pot.elements), len(x)).astype(np.int32)
    E, f, _ = msim_eval(pot, x, box, types=types)
    El, fl = lammps_eval(x, box, ["pair_style eam/fs",
                                  f"pair_coeff * * {lammps_potential_dir() / fname} "
                                  f"{' '.join(pot.elements)}"],
                         units="metal", types=types, ntypes=len(pot.elements))
    assert _rel(E, El) <= TOL
    assert _rel(f, fl) <= TOL


def test_eam_fs_density_is_per_element_pair():
    """The files of the comparison above can tell a wrong reading: AlFe_mm's cross density ρ_{Al,Fe}
    differs from the pure ρ_{Fe,Fe}, ρ_{Al,Al} (a setfl-style reading would be wrong), and NiAlH_jea's
    ρ_{Ni,Al} ≠ ρ_{Al,Ni} (the source/target order matters)."""
    t = _eam("AlFe_mm.eam.fs").tables
    R = t.rhor[:, :, 6].reshape(2, 2, -1)
    assert np.max(np.abs(R[0, 1] - R[1, 1])) > 1.0 and np.max(np.abs(R[1, 0] - R[0, 0])) > 1.0
    t = _eam("NiAlH_jea.eam.fs").tables
    R = t.rhor[:, :, 6].reshape(3, 3, -1)
    assert np.max(np.abs(R[0, 1] - R[1, 0])) > 0.1


@pytest.mark.parametrize("kind,a", [("b2", A_B2), ("l12", A_L12)])
def test_setfl_two_elements_on_ordered_lattice_vs_lammps(kind, a):
    """B2 NiAl and L1_2 Ni3Al (NiAlH_jea.eam.alloy, elements Ni Al of three) jittered, vs LAMMPS."""
    pot = _eam("NiAlH_jea.eam.alloy", ["Ni", "Al"])
    n = 5 if kind == "b2" else 4          # periodic length > 2 (cut-off + skin)
    X, sub = Lattice(kind, a).sites_in_box(np.zeros(3), np.full(3, n * a), sublattice=True)
    x = X + np.random.default_rng(11).uniform(-0.05, 0.05, X.shape) * a
    box = Box(np.zeros(3), np.full(3, n * a), [True] * 3)
    types = sub.astype(np.int32)   # b2: corners Ni (0), centres Al (1); l12: faces Ni (0), corners Al (1)
    E, f, _ = msim_eval(pot, x, box, types=types)
    El, fl = lammps_eval(x, box, ["pair_style eam/alloy",
                                  f"pair_coeff * * {lammps_potential_dir() / 'NiAlH_jea.eam.alloy'} Ni Al"],
                         units="metal", types=types, ntypes=2)
    assert _rel(E, El) <= TOL
    assert _rel(f, fl) <= TOL


# ----------------------------------------------------------------------------- lattices
def _same_sites(X, Y, L):
    """Same point sets in a periodic cube of edge L (order-free)."""
    def key(P):
        P = np.mod(np.round(P, 6), L)
        P = np.where(np.isclose(P, L), 0.0, P)
        return sorted(map(tuple, np.round(P, 5)))
    return key(X) == key(Y)


def _ase_sites(atoms, sym):
    return atoms.get_positions()[np.array(atoms.get_chemical_symbols()) == sym]


def test_b2_l12_and_basis_against_ase_builders():
    from ase.build import bulk
    from ase.lattice.compounds import L1_2

    n = 3
    # B2 NiAl: ase's cesiumchloride (Ni at the corner, Al at the body centre)
    L = n * A_B2
    X, sub = Lattice("b2", A_B2).sites_in_box(np.zeros(3), np.full(3, L), sublattice=True)
    ref = bulk("NiAl", "cesiumchloride", a=A_B2).repeat(n)
    assert _same_sites(X[sub == 0], _ase_sites(ref, "Ni"), L)
    assert _same_sites(X[sub == 1], _ase_sites(ref, "Al"), L)
    # L1_2 Ni3Al: ase's L1_2 (Ni on face centres, Al on corners)
    L = n * A_L12
    X, sub = Lattice("l12", A_L12).sites_in_box(np.zeros(3), np.full(3, L), sublattice=True)
    ref = L1_2(symbol=("Al", "Ni"), latticeconstant=A_L12, size=(n, n, n))  # Al corners
    assert np.bincount(sub).tolist() == [3 * n ** 3, n ** 3]
    assert _same_sites(X[sub == 0], _ase_sites(ref, "Ni"), L)
    assert _same_sites(X[sub == 1], _ase_sites(ref, "Al"), L)
    # general basis: fcc + (0, ½a 0 0) is rock salt
    a = 5.64
    L = n * a
    lat = Lattice("fcc", a, basis=((0, 0, 0), (0.5, 0, 0)))
    X, sub = lat.sites_in_box(np.zeros(3), np.full(3, L), sublattice=True)
    ref = bulk("NaCl", "rocksalt", a=a, cubic=True).repeat(n)
    assert _same_sites(X[sub == 0], _ase_sites(ref, "Na"), L)
    assert _same_sites(X[sub == 1], _ase_sites(ref, "Cl"), L)
    assert lat.volume_per_atom == pytest.approx(a ** 3 / 8)
    assert lat.nearest_neighbor_distance == pytest.approx(a / 2)
    assert Lattice("b2", A_B2).nearest_neighbor_distance == pytest.approx(A_B2 * np.sqrt(3) / 2)
    with pytest.raises(ValueError, match="not a Bravais lattice"):
        Lattice("b2", 1.0).neighbor_vectors(2.0)
    with pytest.raises(ValueError, match="already has a basis"):
        Lattice("b2", 1.0, basis=((0, 0, 0),))


# ----------------------------------------------------------------------------- decks
HEAD = """\
msim: 1
units: metal
potential: {type: eam, file: NiAlH_jea.eam.alloy, elements: [Ni, Al]}
"""
TAIL = """\
integrator: {type: verlet, dt: 0.001, steps: 10}
"""


def _deck(tmp_path: Path, atoms: str, head: str = HEAD, tail: str = TAIL, name: str = "d.yaml") -> Path:
    p = tmp_path / name
    p.write_text(head + "atoms:\n" + textwrap.indent(textwrap.dedent(atoms), "  ") + tail)
    return p


def _build(path: Path):
    return build_model(load_deck(path))


B2_ATOMS = f"""\
lattice: {{type: B2, a: {A_B2}}}
species: [Ni, Al]
cells: [5, 5, 5]
boundary: [p, p, p]
mass: {{Al: 26.981539, Ni: 58.6934}}
skin: 1.0
"""


def test_b2_deck_types_masses_and_forces_vs_lammps(tmp_path):
    """The whole deck path (species per sublattice -> types -> potential elements): forces of the built
    model on jittered positions against LAMMPS, whose types are taken from the species NAMES."""
    m = _build(_deck(tmp_path, B2_ATOMS))
    assert m.type_names == ["Ni", "Al"]
    assert m.type_masses == [58.6934, 26.981539]
    names = np.array(m.type_names)[m.atom_types]
    assert (names == "Ni").sum() == (names == "Al").sum() == 125
    a = m.atoms
    assert np.allclose(a.mass, m.units.mass_to_internal(np.where(names == "Ni", 58.6934, 26.981539)))
    a.x[...] = a.X + np.random.default_rng(3).uniform(-0.08, 0.08, a.X.shape)
    E = a.compute()
    lmp_types = np.where(names == "Ni", 0, 1)        # LAMMPS: pair_coeff * * file Ni Al
    El, fl = lammps_eval(a.x, a.box, ["pair_style eam/alloy",
                                      f"pair_coeff * * {lammps_potential_dir() / 'NiAlH_jea.eam.alloy'} "
                                      "Ni Al"],
                         units="metal", types=lmp_types, ntypes=2)
    assert _rel(E, El) <= TOL
    assert _rel(a.forces, fl) <= TOL


def test_species_order_follows_the_potential(tmp_path):
    """species [Al, Ni] on b2 puts Al on the corners; type order stays the potential's (Ni, Al)."""
    m = _build(_deck(tmp_path, B2_ATOMS.replace("[Ni, Al]", "[Al, Ni]")))
    assert m.type_names == ["Ni", "Al"]
    X = m.atoms.X
    corner = np.all(np.isclose(np.mod(X / A_B2 + 1e-9, 1.0), 0.0, atol=1e-6), axis=1)
    assert np.all(np.array(m.type_names)[m.atom_types][corner] == "Al")


def test_extxyz_of_a_multispecies_run_reads_back_in_ase(tmp_path):
    import ase.io

    from multiscale.output.extxyz import write_extxyz
    from multiscale.simulation import Simulation

    sim = Simulation.from_deck(load_deck(_deck(tmp_path, B2_ATOMS)))
    out = sim.run(output=tmp_path / "o.h5", steps=4, progress="quiet")
    xyz = write_extxyz(out, tmp_path / "o.extxyz")
    frames = ase.io.read(xyz, index=":")
    m = sim.model
    names = np.array(m.type_names)[m.atom_types]
    for at in frames:
        assert at.get_chemical_symbols() == names.tolist()
        assert np.allclose(at.get_masses(), np.where(names == "Ni", 58.6934, 26.981539), rtol=1e-12)
    assert frames[0].get_chemical_formula() == "Al125Ni125"


# ----------------------------------------------------------------------------- structure files
def _ref_structure():
    """A 3x3x3 B2 NiAl crystal with a vacancy, ASE Atoms with masses and pbc (shifted origin-free cell)."""
    import ase

    n = 5
    X, sub = Lattice("b2", A_B2).sites_in_box(np.zeros(3), np.full(3, n * A_B2), sublattice=True)
    X, sub = X[1:], sub[1:]                                        # a Ni vacancy
    at = ase.Atoms(["Ni" if s == 0 else "Al" for s in sub], positions=X + 0.01,
                   cell=np.diag([n * A_B2] * 3), pbc=True)
    return at


@pytest.mark.parametrize("fmt,fname", [("extxyz", "s.extxyz"), ("lammps-data", "s.data"), ("vasp", "POSCAR")])
def test_structure_file_formats(tmp_path, fmt, fname):
    import ase.io

    at = _ref_structure()
    kw = {"masses": True, "specorder": ["Ni", "Al"]} if fmt == "lammps-data" else {}
    ase.io.write(tmp_path / fname, at, format=fmt, **kw)
    m = _build(_deck(tmp_path, f"file: {fname}\nformat: {fmt}\nskin: 1.0\n"))
    assert m.lattice is None and m.structure_file.endswith(fname)
    names = np.array(m.type_names)[m.atom_types]
    order = np.lexsort(np.round(at.get_positions(), 6).T)
    got = np.lexsort(np.round(m.atoms.X, 6).T)
    assert np.allclose(m.atoms.X[got], at.get_positions()[order], atol=1e-9)
    assert names[got].tolist() == np.array(at.get_chemical_symbols())[order].tolist()
    assert m.type_names == ["Ni", "Al"]
    assert np.allclose(m.type_masses, [58.6934, 26.9815385], rtol=1e-6)
    assert np.all(m.atoms.box.periodic)
    assert np.allclose(m.atoms.box.lengths, 5 * A_B2)


def test_structure_file_deck_overrides_masses(tmp_path):
    import ase.io
    ase.io.write(tmp_path / "s.extxyz", _ref_structure())
    m = _build(_deck(tmp_path, "file: s.extxyz\nmass: {Ni: 60.0, Al: 27.0}\nskin: 1.0\n"))
    assert m.type_masses == [60.0, 27.0]


def _error(path: Path) -> DeckError:
    with pytest.raises(DeckError) as info:
        _build(path)
    err = info.value
    assert err.file == str(path) and err.line is not None, err.format()
    return err


def test_structure_file_errors(tmp_path):
    import ase
    import ase.io

    at = _ref_structure()
    ase.io.write(tmp_path / "s.extxyz", at)
    err = _error(_deck(tmp_path, "file: missing.extxyz\nskin: 1.0\n"))
    assert err.key == "atoms.file" and "not found" in err.message
    err = _error(_deck(tmp_path, "file: s.extxyz\nformat: extxzy\nskin: 1.0\n"))
    assert err.key == "atoms.format" and "unknown structure format" in err.message
    # atoms outside the region (free axes: the region is just a bound)
    err = _error(_deck(tmp_path, "file: s.extxyz\nboundary: [f, f, f]\nskin: 1.0\n"
                                 "region: {type: box, lo: [0, 0, 0], hi: [9, 15, 15]}\n"))
    assert err.key == "atoms.region" and "outside the region" in err.message
    # periodic cell inconsistent with the region's box
    err = _error(_deck(tmp_path, "file: s.extxyz\nskin: 1.0\n"
                                 "region: {type: box, lo: [0, 0, 0], hi: [15, 15, 15]}\n"))
    assert err.key == "atoms.region" and "periodic" in err.message
    # overlapping atoms
    dup = at + at[:1]
    dup.positions[-1] += 0.1
    ase.io.write(tmp_path / "dup.extxyz", dup)
    err = _error(_deck(tmp_path, "file: dup.extxyz\nskin: 1.0\n"))
    assert err.key == "atoms.file" and "closer than" in err.message
    # triclinic cell
    tri = at.copy()
    tri.set_cell(tri.cell[:] + np.array([[0, 0, 0], [1.0, 0, 0], [0, 0, 0]]), scale_atoms=True)
    ase.io.write(tmp_path / "tri.extxyz", tri)
    err = _error(_deck(tmp_path, "file: tri.extxyz\nskin: 1.0\n"))
    assert "not orthogonal" in err.message
    # species the potential does not have
    cu = at.copy()
    cu.symbols[0] = "Cu"
    ase.io.write(tmp_path / "cu.extxyz", cu)
    err = _error(_deck(tmp_path, "file: cu.extxyz\nskin: 1.0\n"))
    assert err.key == "atoms.file" and "Cu" in err.message and "not elements of the potential" in err.message
    # not a structure file
    (tmp_path / "junk.extxyz").write_text("this is not\nan xyz file\n")
    err = _error(_deck(tmp_path, "file: junk.extxyz\nskin: 1.0\n"))
    assert err.key == "atoms.file" and "cannot read" in err.message


def test_coupling_a_file_structure_is_refused(tmp_path):
    import ase.io
    ase.io.write(tmp_path / "s.extxyz", _ref_structure())
    tail = TAIL + textwrap.dedent("""\
        continuum:
          mesh: {type: box, element: hex8, lo: [-10, -10, -10], hi: [25, 25, 25], size: 5.0}
        handshake: {shape: {type: box, lo: [3, 3, 3], hi: [11, 11, 11]}, width: 7.0}
        """)
    err = _error(_deck(tmp_path, "file: s.extxyz\nskin: 1.0\nboundary: [f, f, f]\n", tail=tail))
    assert err.key == "continuum" and "not supported" in err.message


@pytest.mark.parametrize("atoms,key,text", [
    (B2_ATOMS.replace("species: [Ni, Al]\n", ""), "atoms", "2 sublattices"),
    (B2_ATOMS.replace("mass: {Al: 26.981539, Ni: 58.6934}", "mass: 58.0"), None, None),
    (B2_ATOMS.replace("mass: {Al: 26.981539, Ni: 58.6934}", "mass: [58.0]"), "atoms.mass", "one mass for 2"),
    (B2_ATOMS.replace("mass: {Al: 26.981539, Ni: 58.6934}", "mass: {Ni: 58.0}"), "atoms.mass", "no mass for"),
    (B2_ATOMS.replace("[Ni, Al]", "[Ni, Cu]"), "atoms.species", "not elements of the potential"),
    (B2_ATOMS + "file: x.extxyz\n", "atoms", "not both"),
    (B2_ATOMS.replace("mass: {Al: 26.981539, Ni: 58.6934}\n", ""), "atoms", "give the atoms' mass"),
])
def test_lattice_species_and_mass_errors(tmp_path, atoms, key, text):
    p = _deck(tmp_path, atoms)
    if key is None:                       # one mass for every type is allowed
        assert _build(p).type_masses == [58.0, 58.0]
        return
    with pytest.raises(DeckError) as info:
        _build(p)
    err = info.value
    assert err.key == key and text in err.message, err.format()
    assert err.file == str(p) and err.line is not None


def test_pair_potential_refuses_several_species(tmp_path):
    head = "msim: 1\nunits: metal\npotential: {type: lj, epsilon: 0.1, sigma: 2.5, cutoff: 6.0}\n"
    p = _deck(tmp_path, B2_ATOMS, head=head)
    with pytest.raises(DeckError) as info:
        _build(p)
    assert info.value.key == "atoms.species" and "one atom type" in info.value.message


def test_cli_exit_status_2_for_a_missing_structure_file(tmp_path):
    from click.testing import CliRunner

    from multiscale.cli import cli
    p = _deck(tmp_path, "file: nowhere.extxyz\nskin: 1.0\n")
    res = CliRunner().invoke(cli, ["validate", str(p)])
    assert res.exit_code == 2, res.output
    assert "atoms.file" in res.output and "not found" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("pot_line,kind,a,sym", [
    ("potential: {type: eam, file: Cu_u3.eam}\n", "fcc", 3.615, "Cu"),
    ('potential: {type: lammps, pair_style: tersoff, pair_coeff: ["* * Si.tersoff Si"], elements: [Si]}\n',
     "diamond", 5.432, "Si"),
], ids=["eam-fcc", "lammps-diamond"])
def test_stable_dt_of_a_file_structure_equals_the_lattice_estimate(tmp_path, pot_line, kind, a, sym):
    """The time-step estimate of a structure file (atom by atom on the structure: `_structure_frequency`
    for native potentials, `_engine_structure_frequency` for engines) equals the lattice route's on the
    same perfect crystal."""
    import ase.io
    from ase.build import bulk

    from multiscale.build import _max_lattice_frequency

    n = 4 if kind == "fcc" else 3
    ase.io.write(tmp_path / "s.extxyz", bulk(sym, kind, a=a, cubic=True).repeat(n))
    head = "msim: 1\nunits: metal\n" + pot_line
    f_file = _max_lattice_frequency(_build(_deck(tmp_path, "file: s.extxyz\nskin: 1.0\n", head=head)))
    lat = (f"lattice: {{type: {kind}, a: {a}}}\ncells: [{n}, {n}, {n}]\nboundary: [p, p, p]\n"
           "mass: 1.0\nskin: 1.0\n")
    m = _build(_deck(tmp_path, lat.replace("mass: 1.0", f"mass: {bulk(sym).get_masses()[0]}"), head=head,
                     name="l.yaml"))
    f_lat = _max_lattice_frequency(m)
    assert f_file == pytest.approx(f_lat, rel=1e-6 if kind == "fcc" else 1e-3)


def test_species_reach_a_lammps_engine_by_name(tmp_path):
    """B2 NiAl through the LAMMPS engine with `elements: [Al, Ni]` (reversed): species are matched by name
    to the LAMMPS types, so the forces equal the native EAM deck's."""
    pair = ('potential: {type: lammps, pair_style: eam/alloy, '
            'pair_coeff: ["* * NiAlH_jea.eam.alloy Al Ni"], elements: [Al, Ni]}\n')
    m_eng = _build(_deck(tmp_path, B2_ATOMS, head="msim: 1\nunits: metal\n" + pair, name="e.yaml"))
    m_nat = _build(_deck(tmp_path, B2_ATOMS))
    assert m_eng.type_names == ["Al", "Ni"] and m_nat.type_names == ["Ni", "Al"]
    x = m_nat.atoms.X + np.random.default_rng(5).uniform(-0.08, 0.08, m_nat.atoms.X.shape)
    for m in (m_eng, m_nat):
        m.atoms.x[...] = x
        m.atoms.compute()
    assert np.array_equal(np.array(m_eng.type_names)[m_eng.atom_types],
                          np.array(m_nat.type_names)[m_nat.atom_types])
    assert _rel(m_eng.atoms.forces, m_nat.atoms.forces) <= TOL
    assert _rel(m_eng.atoms.energy, m_nat.atoms.energy) <= TOL


def test_coupled_deck_with_a_later_element_is_refused(tmp_path):
    """A single species that is not the file's first element: the atoms would use it but the continuum
    (element 0's functions) would not; refused with the fix (`potential.elements`)."""
    head = "msim: 1\nunits: metal\npotential: {type: eam, file: NiAlH_jea.eam.alloy}\n"
    atoms = ("lattice: {type: fcc, a: 4.05}\nspecies: Al\nmass: 26.98\nskin: 1.0\n"
             "region: {type: box, lo: [0, 0, 0], hi: [16.2, 16.2, 16.2]}\n")
    tail = TAIL + textwrap.dedent("""\
        continuum:
          mesh: {type: box, element: hex8, lo: [-10, -10, -10], hi: [26, 26, 26], size: 4.0}
        handshake: {shape: {type: box, lo: [3, 3, 3], hi: [13, 13, 13]}, width: 7.0}
        """)
    err = _error(_deck(tmp_path, atoms, head=head, tail=tail))
    assert err.key == "atoms.species" and "elements: [Al]" in err.hint
    m = _build(_deck(tmp_path, atoms, head=head, name="md.yaml"))      # pure MD: Al is element 1
    assert m.atoms.types is not None and set(m.atoms.types.tolist()) == {1}


def test_distributed_engine_multi_element_eam_fs():
    """The MPI engine's EAM density pass reads one density per element PAIR for an eam/fs file with several
    elements (it refused such files, then — once accepted — read the rows of element 0 for every source:
    its density pass was not given the element count; fixed this release). Energy and forces on one rank
    equal the native serial evaluation (itself checked against LAMMPS above) on a random two-element
    configuration; the single-element selection of the same file still runs."""
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.engine import DistributedMD

    rng = np.random.default_rng(1)
    pot = _eam("AlFe_mm.eam.fs")
    nc = int(np.ceil(2 * (pot.cutoff + 0.3) / 2.5)) + 1
    x, box = random_config(rng, 3, nc, 2.5, 0.06, True)
    types = rng.integers(0, 2, len(x)).astype(np.int32)
    E, f, _ = msim_eval(pot, x, box, types=types)
    md = DistributedMD(SerialComm(), x, np.zeros_like(x), np.ones(len(x)), np.arange(len(x)), pot, box, 0.5,
                       types=types)
    md.compute()
    g = md.gather()
    assert _rel(md.potential_energy(), E) <= 1e-12
    assert _rel(g["forces"], f) <= 1e-12
    DistributedMD(SerialComm(), x, np.zeros_like(x), np.ones(len(x)), np.arange(len(x)),
                  _eam("AlFe_mm.eam.fs", ["Fe"]), box, 0.5)


def test_lammps_data_box_origin_is_the_files(tmp_path):
    """rev32 F0: ase's lammps-data reader keeps the positions in the file's frame but sets no origin for
    `xlo xhi` boxes; msim took the origin 0 and wrapped every atom into [0, L): a CuNi box from −7.12 came
    out shifted, and a `fixed` region written in the file's coordinates held 345 atoms instead of 149. Now
    the box is [xlo, xhi) × … of the header and the atoms stay where the file puts them."""
    at = _ref_structure()
    lo = np.array([-7.3, -5.1, 2.2])
    L = np.diag(at.cell[:])
    X = at.get_positions() + lo
    types = [1 if s == "Ni" else 2 for s in at.get_chemical_symbols()]
    lines = ["written by hand for msim's tests", "", f"{len(at)} atoms", "2 atom types", ""]
    lines += [f"{float(lo[k])!r} {float(lo[k] + L[k])!r} {c}lo {c}hi" for k, c in enumerate("xyz")]
    lines += ["", "Masses", "", "1 58.6934", "2 26.9815385", "", "Atoms # atomic", ""]
    lines += [f"{i + 1} {t} {float(x)!r} {float(y)!r} {float(z)!r}"
              for i, (t, (x, y, z)) in enumerate(zip(types, X, strict=True))]
    (tmp_path / "s.data").write_text("\n".join(lines) + "\n")
    m = _build(_deck(tmp_path, "file: s.data\nformat: lammps-data\nskin: 1.0\n"))
    assert np.array_equal(m.atoms.box.lo, lo)
    assert np.allclose(m.atoms.box.hi, lo + L, rtol=0, atol=1e-12)
    assert np.allclose(m.atoms.X, X, rtol=0, atol=1e-12)   # inside the box already: not moved (the wrap's
    # round-off only; before the fix every atom was 7.3 / 5.1 / 2.2 Å off along the axes with a negative lo)
