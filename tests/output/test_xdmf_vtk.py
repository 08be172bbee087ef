"""Synthetic results (two element blocks; a 1D chain; a 3D hex8 block) through ParaView's default XDMF reader.

Run with ParaView's own `pvpython` (see tests/output/paraview.py): every frame is a time step, every block
and the atoms are present with their cells, and every field holds the frame's values.
"""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.output.hdf5 import ResultsWriter
from multiscale.output.reader import ResultsReader
from multiscale.output.xdmf import write_xdmf

from . import pvread, synth

CELL = {"quad4": pvread.VTK_QUAD, "tri3": pvread.VTK_TRIANGLE, "bar2": pvread.VTK_POLY_LINE,
        "hex8": pvread.VTK_HEXAHEDRON}


def _pad3(a):
    a = np.asarray(a, float)
    a = a.reshape(len(a), -1)
    return np.hstack([a, np.zeros((len(a), 3 - a.shape[1]))])


@pytest.mark.parametrize("case", ["2d_two_blocks", "1d_chain", "3d_hex8"])
def test_paraview_reads_every_frame(tmp_path, case):
    steps = [0, 5, 10]
    rng = np.random.default_rng(3)
    if case == "2d_two_blocks":
        static, frame = synth.static(), synth.frame
    elif case == "1d_chain":
        x = np.arange(6.0)[:, None]
        static = {"atoms": {"reference_positions": x},
                  "mesh": {"nodes": x, "connectivity": {"bars": np.array([[i, i + 1] for i in range(5)])},
                           "element_types": {"bars": "bar2"}}}

        def frame(s):
            return {"displacement": np.full((6, 1), 0.1 * s)}, {"displacement": np.full((6, 1), 0.2 * s)}
    else:
        nodes = np.array([[x, y, z] for z in (0.0, 1.0) for y in (0.0, 1.0) for x in (0.0, 1.0, 2.0)])
        conn = np.array([[0, 1, 4, 3, 6, 7, 10, 9], [1, 2, 5, 4, 7, 8, 11, 10]], dtype=np.int64)
        static = {"mesh": {"nodes": nodes, "connectivity": {"b": conn}, "element_types": {"b": "hex8"}}}
        disp = {s: rng.normal(size=(12, 3)) for s in steps}

        def frame(s):
            return None, {"displacement": disp[s], "stress": rng.normal(size=(12, 9))}
    h5 = tmp_path / "run.h5"
    with ResultsWriter(h5, static=static, **synth.WRITER_KW) as w:
        for s in steps:
            atoms, nodes = frame(s)
            w.write_frame(s, 0.5 * s, atoms, nodes)
    write_xdmf(h5)
    info, leaves = pvread.read(tmp_path / "run.xdmf", tmp_path / "pv")
    assert info["times"] == [0.5 * s for s in steps]
    with ResultsReader(h5) as r:
        nodes, blocks = r.mesh()
        has_atoms = "atoms" in r.h5["static"]
        for k, (fr, lv) in enumerate(zip(info["frames"], leaves, strict=True)):
            assert len(fr) == len(blocks) + has_atoms
            for meta, data in zip(fr, lv, strict=True):
                if "ids" in meta["arrays"] or (has_atoms and meta["cell_types"] == [pvread.VTK_POLY_VERTEX]):
                    kind, pts = "atoms", r.static("atoms")["reference_positions"]
                    assert meta["cells"] == len(pts)
                else:
                    kind, pts = "nodes", nodes
                    etype, conn = next((t, c) for t, c in blocks.values() if CELL[t] in meta["cell_types"])
                    assert meta["cell_types"] == [CELL[etype]] and meta["cells"] == len(conn)
                np.testing.assert_array_equal(data["points"], _pad3(pts))
                for f in r.fields(kind):
                    ours = r.field(kind, f, k)
                    got = data[f].reshape(len(pts), -1)
                    ours = ours.reshape(len(pts), -1)
                    if ours.shape[1] in (1, 2) and got.shape[1] == 3:
                        ours = _pad3(ours)
                    np.testing.assert_array_equal(got, ours)
