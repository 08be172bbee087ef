"""Run by ParaView's `pvpython` (not by pytest): read an XDMF file with a named ParaView reader proxy and dump
what ParaView sees, frame by frame, to NumPy files for the test to compare with the HDF5 results.

    pvpython pv_read_xdmf.py FILE.xdmf OUTDIR [READER]

READER: a ParaView reader proxy name (Xdmf3ReaderS, Xdmf3ReaderT, XdmfReader); default: the one
`OpenDataFile` picks for the file (what ParaView uses by default). Writes OUTDIR/info.json
{"reader": name, "times": [...], "frames": [[{"points": n, "cells": c, "cell_types": [...],
"arrays": [...], "field": [...]}, ...], ...]} and OUTDIR/frame<i>_leaf<j>.npz with `points`, every point
array and every field-data array (as "field:NAME").
"""

import json
import sys
from pathlib import Path

import numpy as np
from paraview import servermanager as sm
from paraview import simple
from vtkmodules.util.numpy_support import vtk_to_numpy

path, outdir = sys.argv[1], Path(sys.argv[2])
outdir.mkdir(parents=True, exist_ok=True)
if len(sys.argv) > 3:
    reader = getattr(simple, sys.argv[3])(FileName=[path])
else:
    reader = simple.OpenDataFile(path)
reader.UpdatePipelineInformation()
times = [float(t) for t in reader.TimestepValues]
info = {"reader": reader.GetXMLName(), "times": times, "frames": []}
for i, t in enumerate(times or [0.0]):
    reader.UpdatePipeline(t)
    data = sm.Fetch(reader)
    leaves = []
    if data.IsA("vtkDataSet"):
        leaves = [data]
    else:
        it = data.NewIterator()
        it.InitTraversal()
        while not it.IsDoneWithTraversal():
            leaves.append(it.GetCurrentDataObject())
            it.GoToNextItem()
    frame = []
    for j, ds in enumerate(leaves):
        pd = ds.GetPointData()
        arrays = {pd.GetArrayName(k): vtk_to_numpy(pd.GetArray(k)) for k in range(pd.GetNumberOfArrays())}
        fd = ds.GetFieldData()
        field = {fd.GetArrayName(k): vtk_to_numpy(fd.GetArray(k)) for k in range(fd.GetNumberOfArrays())
                 if fd.GetArray(k) is not None}
        pts = vtk_to_numpy(ds.GetPoints().GetData()) if ds.GetNumberOfPoints() else np.zeros((0, 3))
        np.savez(outdir / f"frame{i}_leaf{j}.npz", points=pts, **arrays,
                 **{f"field:{k}": v for k, v in field.items()})
        types = sorted({ds.GetCellType(c) for c in range(ds.GetNumberOfCells())})
        frame.append({"points": ds.GetNumberOfPoints(), "cells": ds.GetNumberOfCells(), "cell_types": types,
                      "arrays": sorted(arrays), "field": sorted(field)})
    info["frames"].append(frame)
(outdir / "info.json").write_text(json.dumps(info))
