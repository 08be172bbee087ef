"""Results of real runs opened with the field's own readers: ASE and OVITO (extxyz), ParaView (XDMF).

ParaView: the test runs `pvpython` (Debian packages `paraview python3-paraview`; `make test` installs them
when missing) with the reader ParaView uses by default for .xdmf files (`OpenDataFile` picks Xdmf3ReaderS
in ParaView 5.11) and with Xdmf3ReaderT, and compares what ParaView sees with the HDF5 file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import ase.io
import ase.units
import numpy as np
import pytest

from multiscale.output.extxyz import write_extxyz
from multiscale.output.hdf5 import ResultsWriter
from multiscale.output.reader import ResultsReader
from multiscale.output.xdmf import write_xdmf

from . import pvread, synth

VTK_POLY_VERTEX, VTK_TRIANGLE = pvread.VTK_POLY_VERTEX, pvread.VTK_TRIANGLE


# ------------------------------------------------------------------------------------------ ASE
def test_ase_reads_cell_pbc_species_masses_velocities_lj(real_run):
    h5 = real_run("lj_melt")
    frames = ase.io.read(write_extxyz(h5, h5.with_suffix(".extxyz")), index=":")
    with ResultsReader(h5) as r:
        assert len(frames) == r.nframes == 2
        v = r.field("atoms", "velocity")
        x = r.field("atoms", "position")
        th = r.thermo()
        ke0 = th["kinetic_atoms"][th["step"] == 0][0]
    L = 5 * 1.6796                                  # 5 x 5 x 5 fcc cells of the deck
    for k, at in enumerate(frames):
        assert len(at) == 500
        np.testing.assert_allclose(at.cell.array, np.diag([L, L, L]), atol=1e-12)
        assert at.pbc.tolist() == [True, True, True]
        assert set(at.get_chemical_symbols()) == {"X"}           # LJ deck without atoms.species
        np.testing.assert_array_equal(at.get_masses(), 1.0)
        np.testing.assert_allclose(at.positions, x[k], atol=1e-8)
        np.testing.assert_allclose(at.get_velocities(), v[k], atol=1e-8)   # lj: written unconverted
    # ASE's kinetic energy from the file's momenta and masses = msim's ledger at step 0 (ε)
    assert frames[0].get_kinetic_energy() == pytest.approx(ke0, rel=1e-8)


def test_ase_reads_metal_units_species_masses_velocities(real_run):
    h5 = real_run("cu_nve")
    frames = ase.io.read(write_extxyz(h5, h5.with_suffix(".extxyz")), index=":")
    with ResultsReader(h5) as r:
        v = r.field("atoms", "velocity")                         # Å/ps
        f = r.field("atoms", "force")
        th = r.thermo()
    assert len(frames) == 3
    for k, at in enumerate(frames):
        assert set(at.get_chemical_symbols()) == {"Cu"}          # the EAM element
        np.testing.assert_allclose(at.get_masses(), 63.546)
        np.testing.assert_allclose(at.cell.lengths(), 14.46, atol=1e-12)
        assert at.pbc.all()
        # Å/ps -> ASE's Å / (Å sqrt(amu/eV)): 1 ps = 1000 ase.units.fs
        np.testing.assert_allclose(at.get_velocities() * 1000 * ase.units.fs, v[k], atol=2e-6)
        np.testing.assert_allclose(at.get_forces(), f[k], atol=1e-8)
        # kinetic energy in eV from ASE's own unit system = msim's ledger (mvv2e of LAMMPS metal units)
        ke = th["kinetic_atoms"][k]
        assert at.get_kinetic_energy() == pytest.approx(ke, rel=1e-6)
        assert ke > 1.0                                          # 300 K, 256 atoms: ~10 eV


def test_box_per_frame_and_species_names(tmp_path):
    """A box that changes is taken per frame; type names that are not elements survive as type_name."""
    static = synth.static()
    static["atoms"]["type_names"] = np.array(["Cu", "Wall"])
    static["atoms"]["types"] = np.arange(12) % 2
    static["box"] = {"lo": np.zeros(2), "hi": np.array([5.0, 6.0]), "periodic": np.array([1, 0], np.int8)}
    h5 = tmp_path / "run.h5"
    with ResultsWriter(h5, static=static, **synth.WRITER_KW) as w:
        for s in (0, 10):
            atoms, nodes = synth.frame(s)
            w.write_frame(s, 0.1 * s, atoms, nodes, box=(np.zeros(2), np.array([5.0 + 0.01 * s, 6.0])))
    frames = ase.io.read(write_extxyz(h5, tmp_path / "run.extxyz"), index=":")
    assert [at.cell.lengths()[0] for at in frames] == [5.0, 5.1]
    assert frames[1].pbc.tolist() == [True, False, False]
    assert frames[0].get_chemical_symbols()[:2] == ["Cu", "X"]
    assert frames[0].arrays["type_name"][:2].tolist() == ["Cu", "Wall"]


# ------------------------------------------------------------------------------------------ OVITO
def _cna_fcc(path: Path, frame: int) -> tuple[int, int]:
    from ovito.io import import_file
    from ovito.modifiers import CommonNeighborAnalysisModifier
    pipe = import_file(str(path))
    pipe.modifiers.append(CommonNeighborAnalysisModifier())
    data = pipe.compute(frame)
    return int(data.attributes["CommonNeighborAnalysis.counts.FCC"]), data.particles.count


@pytest.mark.parametrize("run", ["lj_melt", "cu_nve"])
def test_ovito_finds_every_atom_fcc_on_the_perfect_frame(real_run, run):
    h5 = real_run(run)
    xyz = write_extxyz(h5, h5.with_suffix(".extxyz"))
    fcc, n = _cna_fcc(xyz, 0)
    assert n > 100 and fcc == n, (fcc, n)
    if run == "lj_melt":                               # melted at T* ~ 1.5 after 500 steps: no fcc left
        fcc, n = _cna_fcc(xyz, 1)
        assert fcc < 0.05 * n


# ------------------------------------------------------------------------------------------ ParaView
def _pad3(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, float).reshape(len(a), -1)
    return np.hstack([a, np.zeros((len(a), 3 - a.shape[1]))])


def _same(pv: np.ndarray, ours: np.ndarray) -> None:
    ours = np.asarray(ours)
    if ours.ndim == 2 and pv.ndim == 2 and pv.shape[1] == 3 and ours.shape[1] < 3:
        ours = _pad3(ours)
    np.testing.assert_array_equal(pv.reshape(ours.shape), ours)


@pytest.mark.parametrize("run", ["wave2d", "lj_melt", "indent2d_small"])
@pytest.mark.parametrize("reader", [None, "Xdmf3ReaderT"])
def test_paraview_default_reader_sees_atoms_mesh_fields_and_time_series(real_run, tmp_path, run, reader):
    h5 = real_run(run)
    xdmf = write_xdmf(h5)[0]
    info, leaves_all = pvread.read(xdmf, tmp_path / "pv", reader)
    if reader is None:
        assert info["reader"] == "Xdmf3ReaderS"          # what ParaView 5.11 opens .xdmf files with
    with ResultsReader(h5) as r:
        assert info["times"] == r.times.tolist()          # a time series, one entry per frame
        assert len(info["frames"]) == r.nframes
        mesh = r.mesh()
        atoms_static = r.static("atoms")
        n_atoms = len(atoms_static["reference_positions"])
        for i, frame in enumerate(info["frames"]):
            # one leaf for the mesh (if any), one for the atoms, one for the box, per frame: nothing stacked
            assert len(frame) == (mesh is not None) + 2, frame
            leaves = leaves_all[i]
            box_j = next(j for j, lf in enumerate(frame) if "periodic" in lf["field"])
            lo, hi, per = r.box(i)
            b = leaves[box_j]
            np.testing.assert_array_equal(b["field:periodic"].ravel(), per.astype(int))
            np.testing.assert_array_equal(b["field:box_lo"].ravel(), lo)
            np.testing.assert_array_equal(b["field:box_hi"].ravel(), hi)
            np.testing.assert_array_equal(b["points"].min(axis=0)[: len(lo)], lo)
            np.testing.assert_array_equal(b["points"].max(axis=0)[: len(lo)], hi)
            assert frame[box_j]["cells"] == 1
            if run == "lj_melt":
                assert per.tolist() == [True] * 3 and np.allclose(hi - lo, 8.398)
            atoms_j = next(j for j, lf in enumerate(frame) if "ids" in lf["arrays"])
            a, fa = leaves[atoms_j], frame[atoms_j]
            assert fa["points"] == fa["cells"] == n_atoms and fa["cell_types"] == [VTK_POLY_VERTEX]
            posf = r.position_field()
            pos = r.field("atoms", posf, i) if posf else atoms_static["reference_positions"]
            _same(a["points"], pos)
            for f in r.fields("atoms"):
                if f != posf:
                    _same(a[f], r.field("atoms", f, i))
            for k in r.static_atom_names():
                _same(a[k], atoms_static[k])
            if mesh is not None:
                nodes, blocks = mesh
                mesh_j = ({0, 1, 2} - {atoms_j, box_j}).pop()
                m, fm = leaves[mesh_j], frame[mesh_j]
                assert fm["points"] == len(nodes)
                assert fm["cells"] == sum(len(c) for _, c in blocks.values())
                assert fm["cell_types"] == [VTK_TRIANGLE]
                _same(m["points"], nodes)
                assert set(r.fields("nodes")) <= set(fm["arrays"])
                for f in r.fields("nodes"):
                    _same(m[f], r.field("nodes", f, i))
        if run != "lj_melt":     # the frames differ: ParaView shows each frame's own values
            d = r.field("atoms", "displacement")
            assert not np.array_equal(d[0], d[-1])


# ------------------------------------------------------------------------------------------ temp files
@pytest.mark.parametrize("what", ["xdmf", "extxyz"])
def test_planted_symlink_at_the_temporary_name_is_not_followed(real_run, tmp_path, what):
    src = real_run("wave2d")
    h5 = tmp_path / "run.h5"
    shutil.copyfile(src, h5)
    out = tmp_path / f"run.{what}"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in (f"run.{what}.tmp", f".run.{what}.tmp"):        # the old fixed name and a likely guess
        (tmp_path / name).symlink_to(victim)
    write_xdmf(h5, out) if what == "xdmf" else write_extxyz(h5, out)
    assert victim.read_text() == "precious"
    assert (tmp_path / f"run.{what}.tmp").is_symlink()
    assert out.is_file() and not out.is_symlink() and out.stat().st_size > 1000
    # a symlink planted at the output name itself is replaced, its target left alone
    out.unlink()
    out.symlink_to(victim)
    write_xdmf(h5, out) if what == "xdmf" else write_extxyz(h5, out)
    assert victim.read_text() == "precious" and not out.is_symlink()
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_deck_species_key_names_the_atoms(tmp_path):
    """`atoms.species: Ar` on an LJ deck: ASE reads Ar with the deck's mass (1.0 in LJ units, not ASE's
    39.948 for argon); the HDF5 file holds the type name."""
    from multiscale import Simulation
    from multiscale.deck import load_deck_text
    text = (Path(__file__).resolve().parents[2] / "decks" / "lj_melt.yaml").read_text()
    text = text.replace("  mass: 1.0\n", "  mass: 1.0\n  species: Ar\n")
    assert "species: Ar" in text
    h5 = tmp_path / "ar.h5"
    Simulation.from_deck(load_deck_text(text, "ar.yaml"), threads=1).run(output=h5, steps=10, progress="quiet")
    with ResultsReader(h5) as r:
        assert r.type_names() == ["Ar"]
        np.testing.assert_array_equal(r.static("atoms")["type_masses"], [1.0])
    at = ase.io.read(write_extxyz(h5, tmp_path / "ar.extxyz"))
    assert set(at.get_chemical_symbols()) == {"Ar"}
    np.testing.assert_array_equal(at.get_masses(), 1.0)
