"""XDMF sidecars: meshio reads the mesh file; every DataItem of the time series resolves to the right data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import meshio
import numpy as np

from multiscale.output.hdf5 import ResultsWriter
from multiscale.output.reader import ResultsReader
from multiscale.output.xdmf import write_xdmf

from . import synth

STEPS = [0, 5, 10]


def _results(path: Path, static=None, frame=synth.frame) -> Path:
    with ResultsWriter(path, static=static or synth.static(), **synth.WRITER_KW) as w:
        for s in STEPS:
            atoms, nodes = frame(s)
            w.write_frame(s, 0.5 * s, atoms, nodes)
    return path


def _resolve(item: ET.Element, base: Path) -> np.ndarray:
    """Evaluate a DataItem as an XDMF 3 reader does (XML; HDF with an optional Xdmf3 hyperslab
    ``file:/path|start:stride:count:dataspace``)."""
    dims = [int(x) for x in item.get("Dimensions").split()]
    if item.get("Format") == "XML":
        return np.array(item.text.split(), dtype=float).reshape(dims)
    content, *slab = item.text.strip().split("|")
    fname, dpath = content.split(":")
    with h5py.File(base / fname, "r") as f:
        data = f[dpath][()]
    if slab:
        start, stride, count, space = ([int(v) for v in part.split()] for part in slab[0].split(":"))
        assert list(data.shape[1:]) == space[1:] and data.shape[0] >= space[0]
        data = data[tuple(slice(a, a + b * c, b) for a, b, c in zip(start, stride, count, strict=True))]
    return data[: dims[0]].reshape(dims)


def _frames(path: Path) -> list[ET.Element]:
    """The per-frame Spatial collections of the time series (one Temporal collection "msim")."""
    series = ET.parse(path).getroot().findall("Domain/Grid")
    assert len(series) == 1 and series[0].get("Name") == "msim"
    assert series[0].get("CollectionType") == "Temporal"
    frames = list(series[0])
    assert all(f.get("CollectionType") == "Spatial" for f in frames)
    return frames


def test_meshio_reads_mesh_and_series_resolves(tmp_path):
    h5 = _results(tmp_path / "run.h5")
    written = write_xdmf(h5)
    assert [p.name for p in written] == ["run.xdmf", "run.mesh.xdmf"]

    mesh = meshio.read(tmp_path / "run.mesh.xdmf")
    nodes, blocks = synth.mesh2d()
    np.testing.assert_array_equal(mesh.points, nodes)
    got = {c.type: c.data.tolist() for c in mesh.cells}
    assert got == {"quad": blocks["core"][1].tolist(), "triangle": blocks["outer"][1].tolist()}

    frames = _frames(tmp_path / "run.xdmf")
    assert len(frames) == len(STEPS)
    ref = synth.static()["atoms"]
    with ResultsReader(h5) as r:
        for i, frame in enumerate(frames):
            assert float(frame.find("Time").get("Value")) == 0.5 * STEPS[i]
            grids = {g.get("Name"): g for g in frame.findall("Grid")}
            assert set(grids) == {"core", "outer", "atoms"}
            # continuum: one Uniform grid per block
            for name in ("core", "outer"):
                grid = grids[name]
                topo = grid.find("Topology")
                assert topo.get("TopologyType") == {"core": "Quadrilateral", "outer": "Triangle"}[name]
                np.testing.assert_array_equal(_resolve(topo.find("DataItem"), tmp_path), blocks[name][1])
                np.testing.assert_array_equal(_resolve(grid.find("Geometry/DataItem"), tmp_path), nodes)
                atts = {a.get("Name"): a for a in grid.findall("Attribute")}
                assert set(atts) == {"displacement", "velocity"}
                for fname, a in atts.items():
                    assert a.get("AttributeType") == "Vector" and a.get("Center") == "Node"
                    np.testing.assert_array_equal(_resolve(a.find("DataItem"), tmp_path),
                                                  r.field("nodes", fname, i))
            # atoms: one vertex cell per atom, per-frame and static fields
            grid = grids["atoms"]
            topo = grid.find("Topology")
            assert topo.get("TopologyType") == "Polyvertex"
            assert int(topo.get("NumberOfElements")) == synth.N_ATOMS
            np.testing.assert_array_equal(_resolve(topo.find("DataItem"), tmp_path), np.arange(synth.N_ATOMS))
            np.testing.assert_array_equal(_resolve(grid.find("Geometry/DataItem"), tmp_path),
                                          ref["reference_positions"])
            atts = {a.get("Name"): a for a in grid.findall("Attribute")}
            assert set(atts) == {"displacement", "velocity", "force", "energy", "ids", "types", "weight",
                                 "mass"}
            for name in ("displacement", "energy"):
                np.testing.assert_array_equal(_resolve(atts[name].find("DataItem"), tmp_path),
                                              synth.frame(STEPS[i])[0][name])
            np.testing.assert_array_equal(_resolve(atts["weight"].find("DataItem"), tmp_path), ref["weight"])


def test_single_block_3d_hex8_and_1d(tmp_path):
    # 3D: one hex8 block -> a plain Uniform grid per frame; meshio reads the mesh file
    nodes = np.array([[x, y, z] for z in (0.0, 1.0) for y in (0.0, 1.0) for x in (0.0, 1.0, 2.0)])
    conn = np.array([[0, 1, 4, 3, 6, 7, 10, 9], [1, 2, 5, 4, 7, 8, 11, 10]], dtype=np.int64)
    static = {"mesh": {"nodes": nodes, "connectivity": {"b": conn}, "element_types": {"b": "hex8"}}}
    rng = np.random.default_rng(0)
    h5 = _results(tmp_path / "hex.h5", static, lambda s: (None, {"displacement": rng.normal(size=(12, 3))}))
    write_xdmf(h5)
    mesh = meshio.read(tmp_path / "hex.mesh.xdmf")
    np.testing.assert_array_equal(mesh.points, nodes)
    assert mesh.cells[0].type == "hexahedron" and mesh.cells[0].data.tolist() == conn.tolist()
    grids = [f.find("Grid") for f in _frames(tmp_path / "hex.xdmf")]
    assert [(g.get("Name"), g.get("GridType")) for g in grids] == [("continuum", "Uniform")] * 3
    with ResultsReader(h5) as r:
        np.testing.assert_array_equal(_resolve(grids[2].find("Attribute/DataItem"), tmp_path),
                                      r.field("nodes", "displacement", 2))
    # 1D chain of atoms with a bar2 mesh: geometry lifted with zeros
    x = np.arange(6.0)[:, None]
    static = {"atoms": {"reference_positions": x}, "mesh": {"nodes": x, "connectivity": {"bars": np.array(
        [[i, i + 1] for i in range(5)], dtype=np.int64)}, "element_types": {"bars": "bar2"}}}
    h5 = _results(tmp_path / "chain.h5", static, lambda s: ({"displacement": np.full((6, 1), 0.1 * s)},
                                                             {"displacement": np.full((6, 1), 0.2 * s)}))
    write_xdmf(h5)
    mesh = meshio.read(tmp_path / "chain.mesh.xdmf")
    assert mesh.points.shape == (6, 2) and mesh.cells[0].type == "line"
    g = _frames(tmp_path / "chain.xdmf")[2].find("Grid[@Name='atoms']")
    assert g.find("Geometry").get("GeometryType") == "XYZ"       # inline, y = z = 0
    np.testing.assert_array_equal(_resolve(g.find("Geometry/DataItem"), tmp_path),
                                  np.column_stack([x, 0 * x, 0 * x]))
    np.testing.assert_array_equal(_resolve(g.find("Attribute/DataItem"), tmp_path), np.full(6, 1.0))


def test_position_field_is_the_atoms_geometry(tmp_path):
    static = {"atoms": {"reference_positions": np.zeros((4, 2)), "pad": np.array([0, 0, 1, 1], np.int8)}}
    rng = np.random.default_rng(2)
    pos = {s: rng.normal(size=(4, 2)) for s in STEPS}
    h5 = _results(tmp_path / "p.h5", static, lambda s: ({"position": pos[s], "velocity": pos[s] * 2}, None))
    write_xdmf(h5)
    grids = [f.find("Grid[@Name='atoms']") for f in _frames(tmp_path / "p.xdmf")]
    for i, g in enumerate(grids):
        np.testing.assert_array_equal(_resolve(g.find("Geometry/DataItem"), tmp_path), pos[STEPS[i]])
        names = {a.get("Name") for a in g.findall("Attribute")}
        assert names == {"velocity", "pad"}                 # position is the geometry, not an attribute
    import ase.io

    from multiscale.output.extxyz import write_extxyz
    frames = ase.io.read(write_extxyz(h5, tmp_path / "p.xyz"), index=":")
    np.testing.assert_allclose(frames[1].positions[:, :2], pos[STEPS[1]], rtol=0, atol=1e-8)
    np.testing.assert_array_equal(frames[1].arrays["pad"], [0, 0, 1, 1])
