"""The XDMF sidecars through VTK's XDMF reader (the reader behind ParaView's "XDMF Reader").

Skipped when the `vtk` package is not installed (it is not a dependency of msim; `pip install vtk`).
"""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.output.hdf5 import ResultsWriter
from multiscale.output.reader import ResultsReader
from multiscale.output.xdmf import write_xdmf

from . import synth

vtk = pytest.importorskip("vtk")
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402


def _leaves(obj, name="root"):
    if obj.IsA("vtkMultiBlockDataSet"):
        for i in range(obj.GetNumberOfBlocks()):
            yield from _leaves(obj.GetBlock(i), obj.GetMetaData(i).Get(vtk.vtkCompositeDataSet.NAME()))
    else:
        yield name, obj


def _point_arrays(ds):
    pd = ds.GetPointData()
    return {pd.GetArrayName(j): vtk_to_numpy(pd.GetArray(j)) for j in range(pd.GetNumberOfArrays())}


def _reader(path):
    r = vtk.vtkXdmfReader()
    r.SetFileName(str(path))
    r.UpdateInformation()
    return r


@pytest.mark.parametrize("case", ["2d_two_blocks", "1d_chain"])
def test_vtk_reads_every_frame(tmp_path, case):
    steps = [0, 5, 10]
    if case == "2d_two_blocks":
        static, frame, d = synth.static(), synth.frame, 2
    else:
        x = np.arange(6.0)[:, None]
        static = {"atoms": {"reference_positions": x},
                  "mesh": {"nodes": x, "connectivity": {"bars": np.array([[i, i + 1] for i in range(5)])},
                           "element_types": {"bars": "bar2"}}}
        d = 1

        def frame(s):
            return {"displacement": np.full((6, 1), 0.1 * s)}, {"displacement": np.full((6, 1), 0.2 * s)}
    h5 = tmp_path / "run.h5"
    with ResultsWriter(h5, static=static, **synth.WRITER_KW) as w:
        for s in steps:
            atoms, nodes = frame(s)
            w.write_frame(s, 0.5 * s, atoms, nodes)
    write_xdmf(h5)
    r = _reader(tmp_path / "run.xdmf")
    times = r.GetOutputInformation(0).Get(vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS())
    assert list(times) == [0.5 * s for s in steps]
    with ResultsReader(h5) as res:
        for k, t in enumerate(times):
            r.UpdateTimeStep(t)
            leaves = list(_leaves(r.GetOutputDataObject(0)))
            assert {n.split("[")[0] for n, _ in leaves} >= {"atoms"}
            for name, ds in leaves:
                kind = "atoms" if name == "atoms" else "nodes"
                disp = _point_arrays(ds)["displacement"].reshape(ds.GetNumberOfPoints(), -1)
                np.testing.assert_array_equal(disp[:, :d], res.field(kind, "displacement", k).reshape(-1, d))
                assert np.all(disp[:, d:] == 0)
                pts = vtk_to_numpy(ds.GetPoints().GetData())
                ref = res.static("atoms")["reference_positions"] if kind == "atoms" else res.mesh()[0]
                np.testing.assert_array_equal(pts[:, :d], ref.reshape(-1, d))
    m = _reader(tmp_path / "run.mesh.xdmf")
    m.Update()
    mesh = m.GetOutputDataObject(0)
    with ResultsReader(h5) as res:
        nodes, blocks = res.mesh()
    assert mesh.GetNumberOfPoints() == len(nodes)
    assert mesh.GetNumberOfCells() == sum(len(c) for _, c in blocks.values())
