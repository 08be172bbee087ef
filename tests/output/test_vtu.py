"""VTU export: meshio reads back every frame's mesh and atoms with their fields; the .pvd lists them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import meshio
import numpy as np

from multiscale.output.hdf5 import ResultsWriter
from multiscale.output.vtu import write_vtu

from . import synth

STEPS = [0, 10]


def test_vtu_frames_read_back(tmp_path):
    h5 = tmp_path / "run.h5"
    with ResultsWriter(h5, static=synth.static(), **synth.WRITER_KW) as w:
        for s in STEPS:
            atoms, nodes = synth.frame(s)
            w.write_frame(s, 0.5 * s, atoms, nodes)
    paths = write_vtu(h5, tmp_path / "vtu" / "run")
    assert paths[0].name == "run.pvd" and len(paths) == 1 + 2 * len(STEPS)
    nodes, blocks = synth.mesh2d()
    ref = synth.static()["atoms"]
    for s in STEPS:
        atoms, nfields = synth.frame(s)
        m = meshio.read(tmp_path / "vtu" / f"run_continuum_{s}.vtu")
        np.testing.assert_array_equal(m.points[:, :2], nodes)
        assert {c.type: c.data.tolist() for c in m.cells} == {"quad": blocks["core"][1].tolist(),
                                                             "triangle": blocks["outer"][1].tolist()}
        np.testing.assert_array_equal(m.point_data["velocity"][:, :2], nfields["velocity"])
        np.testing.assert_array_equal(m.point_data["velocity"][:, 2], 0.0)
        a = meshio.read(tmp_path / "vtu" / f"run_atoms_{s}.vtu")
        np.testing.assert_array_equal(a.points[:, :2], ref["reference_positions"])
        np.testing.assert_array_equal(a.point_data["energy"], atoms["energy"])
        np.testing.assert_array_equal(a.point_data["displacement"][:, :2], atoms["displacement"])
        np.testing.assert_array_equal(a.point_data["ids"], ref["ids"])
    ds = ET.parse(paths[0]).getroot().findall("Collection/DataSet")
    assert [(float(d.get("timestep")), d.get("file")) for d in ds] == [
        (0.5 * s, f"run_{p}_{s}.vtu") for s in STEPS for p in ("continuum", "atoms")]
