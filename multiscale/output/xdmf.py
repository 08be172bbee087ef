"""XDMF 3 sidecars of a results file, so ParaView opens the HDF5 without conversion.

`write_xdmf(h5)` writes two files next to `OUT.h5`, both pointing into it (no data copied):

- `OUT.xdmf`: the time series, written for (and tested with) the readers ParaView uses by default,
  Xdmf3ReaderS / Xdmf3ReaderT (VTK's vtkXdmf3Reader). One Temporal collection "msim"; per frame one
  Spatial collection (with the frame's Time) holding the mesh (one Uniform grid per element block, named
  after the block, or "continuum" for a single block; node fields as Node attributes) and "atoms" (one
  Polyvertex cell per atom, connectivity /static/atoms/index; geometry the reference positions or the
  frame's `position` field; per-atom fields of the frame plus the static per-atom arrays: ids, types,
  mass, weight...) and, when the file has a box, "box" (one cell at the box's corners, per frame; its
  Grid-centred attributes, field data in ParaView: `periodic`, `box_lo`, `box_hi`). Row `i` of a field stored as (F, n, d) is selected with Xdmf3's HDF hyperslab syntax
  ``OUT.h5:/frames/atoms/displacement|i 0 0:1 1 1:1 n d:F n d`` (start:stride:count:dataspace); ParaView's
  legacy "XDMF Reader" (Xdmf2) does not understand it. Displacements are attributes: apply ParaView's
  "Warp By Vector" with `displacement` to see the deformed configuration.
- `OUT.mesh.xdmf`: the reference mesh alone as one Uniform grid (meshio.read opens it; several blocks are
  written as one XDMF "Mixed" topology, inline).

Element types (msim name -> XDMF): bar2 Polyline, tri3 Triangle, quad4 Quadrilateral, tet4 Tetrahedron,
hex8 Hexahedron, tri6, quad8, quad9, tet10, hex20, hex27. Node order inside an element is VTK's.
1D geometry is written inline as XYZ (time series) / XY (mesh file) with zeros: the Xdmf3 readers read no
X_Y_Z geometry. Files are replaced atomically through a private temporary file (`_atomic.atomic_write`).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from multiscale.output._atomic import atomic_write
from multiscale.output.paths import mesh_sidecar_path, sidecar_path
from multiscale.output.reader import ResultsReader

# msim element name -> (XDMF topology name, nodes per element, XDMF "Mixed" type code)
ELEMENT_TYPES: dict[str, tuple[str, int, int]] = {
    "bar2": ("Polyline", 2, 0x2), "tri3": ("Triangle", 3, 0x4), "quad4": ("Quadrilateral", 4, 0x5),
    "tet4": ("Tetrahedron", 4, 0x6), "hex8": ("Hexahedron", 8, 0x9), "tri6": ("Triangle_6", 6, 0x24),
    "quad8": ("Quadrilateral_8", 8, 0x25), "quad9": ("Quadrilateral_9", 9, 0x23),
    "tet10": ("Tetrahedron_10", 10, 0x26), "hex20": ("Hexahedron_20", 20, 0x30),
    "hex27": ("Hexahedron_27", 27, 0x32),
}
_NUMBER = {"f": "Float", "i": "Int", "u": "UInt", "b": "UChar"}



def _etype(name: str) -> tuple[str, int, int]:
    from multiscale.errors import DeckError
    if name not in ELEMENT_TYPES:
        raise DeckError(f"element type {name!r} has no XDMF equivalent (known: {', '.join(ELEMENT_TYPES)})")
    return ELEMENT_TYPES[name]


def _hdf(parent: ET.Element, h5name: str, ds, dims: tuple[int, ...] | None = None) -> ET.Element:  # noqa: ANN001
    item = ET.SubElement(parent, "DataItem", Dimensions=" ".join(map(str, dims or ds.shape)),
                         NumberType=_NUMBER[ds.dtype.kind], Precision=str(ds.dtype.itemsize), Format="HDF")
    item.text = f"{h5name}:{ds.name}"
    return item


def _inline(parent: ET.Element, arr: np.ndarray) -> ET.Element:
    kind = "Float" if arr.dtype.kind == "f" else "Int"
    item = ET.SubElement(parent, "DataItem", Dimensions=" ".join(map(str, arr.shape)), NumberType=kind,
                         Precision="8", Format="XML")
    item.text = " ".join(repr(float(v)) if kind == "Float" else str(int(v)) for v in arr.ravel())
    return item


def _frame_item(parent: ET.Element, h5name: str, ds, i: int, nrows: int) -> ET.Element:  # noqa: ANN001
    """DataItem of row `i` of a (F, *shape) dataset whose first `nrows` rows are valid.

    Xdmf3 syntax (what ParaView's default Xdmf3 readers and VTK's vtkXdmf3Reader understand): the HDF
    content ``file:/path|start:stride:count:dataspace`` selects the hyperslab in the heavy-data controller
    itself. (A ``ItemType="HyperSlab"`` DataItem is valid XDMF but the Xdmf3 readers drop it: "Skipping
    unrecognized array type".)
    """
    shape = ds.shape[1:]
    dims = shape[:1] if len(shape) == 2 and shape[1] == 1 else shape    # (n, 1): a scalar per point
    item = ET.SubElement(parent, "DataItem", Dimensions=" ".join(map(str, dims)),
                         NumberType=_NUMBER[ds.dtype.kind], Precision=str(ds.dtype.itemsize), Format="HDF")
    r = len(ds.shape)
    sel = [[i, *[0] * (r - 1)], [1] * r, [1, *shape], [nrows, *shape]]
    item.text = f"{h5name}:{ds.name}|" + ":".join(" ".join(map(str, v)) for v in sel)
    return item


def _attr_type(shape: tuple[int, ...]) -> str:
    if len(shape) == 1 or shape[1] == 1:
        return "Scalar"
    return "Vector" if shape[1] in (2, 3) else "Matrix"


def _geometry(grid: ET.Element, d: int, item_fn, values_fn) -> None:  # noqa: ANN001
    """Geometry from `item_fn(parent)` (a DataItem of shape (n, d)). 1D: inline XYZ with y = z = 0 from
    `values_fn()` (n,) (the Xdmf3 readers ParaView uses read no X_Y_Z geometry, nor a JOIN of an HDF
    column with zeros: they give a grid without points)."""
    if d == 1:
        x = np.asarray(values_fn(), float).ravel()
        geo = ET.SubElement(grid, "Geometry", GeometryType="XYZ")
        _inline(geo, np.column_stack([x, np.zeros_like(x), np.zeros_like(x)]))
    else:
        geo = ET.SubElement(grid, "Geometry", GeometryType="XY" if d == 2 else "XYZ")
        item_fn(geo)


def _topology(grid: ET.Element, h5name: str, conn_ds, etype: str) -> None:  # noqa: ANN001
    xname, nen, _ = _etype(etype)
    topo = ET.SubElement(grid, "Topology", TopologyType=xname, NumberOfElements=str(conn_ds.shape[0]),
                         NodesPerElement=str(nen))
    _hdf(topo, h5name, conn_ds)


def _continuum_grids(holder: ET.Element, r: ResultsReader, h5name: str, i: int) -> None:
    """Grids of the mesh at frame `i` (one per element block) with the frame's node fields."""
    m = r.h5["static/mesh"]
    nodes = m["nodes"]
    n_nodes, d = nodes.shape[0], (nodes.shape[1] if nodes.ndim == 2 else 1)
    types = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in m["element_types"].attrs.items()}
    blocks = list(m["connectivity"].items())
    for bname, conn in blocks:
        grid = ET.SubElement(holder, "Grid", Name=bname if len(blocks) > 1 else "continuum",
                             GridType="Uniform")
        _topology(grid, h5name, conn, types[bname])
        _geometry(grid, d, lambda g: _hdf(g, h5name, nodes, (n_nodes, d)), lambda: nodes[()])
        for f in r.fields("nodes"):
            ds = r.h5[f"frames/nodes/{f}"]
            att = ET.SubElement(grid, "Attribute", Name=f, AttributeType=_attr_type(ds.shape[1:]),
                                Center="Node")
            _frame_item(att, h5name, ds, i, r.nframes)


def _atom_grid(holder: ET.Element, r: ResultsReader, h5name: str, i: int) -> None:
    """The atoms at frame `i`: one vertex cell per atom, positions (reference or the frame's own), the
    frame's per-atom fields and the static per-atom arrays."""
    a = r.h5["static/atoms"]
    ref = a["reference_positions"]
    n, d = ref.shape[0], (ref.shape[1] if ref.ndim == 2 else 1)
    posf = r.position_field()
    nf = r.nframes
    grid = ET.SubElement(holder, "Grid", Name="atoms", GridType="Uniform")
    # Xdmf3 readers need the connectivity of a Polyvertex topology (without it: points but no cells);
    # files from msim ≥ this version hold it (/static/atoms/index = 0…n-1), older ones get it inline
    topo = ET.SubElement(grid, "Topology", TopologyType="Polyvertex", NumberOfElements=str(n),
                         NodesPerElement="1")
    if "index" in a:
        _hdf(topo, h5name, a["index"])
    else:
        _inline(topo, np.arange(n, dtype=np.int64))
    if posf is not None:
        pos = r.h5[f"frames/atoms/{posf}"]
        _geometry(grid, d, lambda g: _frame_item(g, h5name, pos, i, nf), lambda: pos[i])
    else:
        _geometry(grid, d, lambda g: _hdf(g, h5name, ref, (n, d)), lambda: ref[()])
    for f in (f for f in r.fields("atoms") if f != posf):
        ds = r.h5[f"frames/atoms/{f}"]
        att = ET.SubElement(grid, "Attribute", Name=f, AttributeType=_attr_type(ds.shape[1:]), Center="Node")
        _frame_item(att, h5name, ds, i, nf)
    for k in r.static_atom_names():
        att = ET.SubElement(grid, "Attribute", Name=k, AttributeType="Scalar", Center="Node")
        _hdf(att, h5name, a[k])


def _box_grid(holder: ET.Element, r: ResultsReader, i: int) -> None:
    """The atoms' box at frame `i` as one cell (hexahedron / quadrilateral / line, corners inline), with
    Grid-centred attributes (ParaView: field data) ``periodic`` (d,) 1/0 and ``box_lo``, ``box_hi`` (d,)
    [length]: the periodic cell OVITO draws, in ParaView."""
    lo, hi, per = r.box(i)
    d = len(lo)
    corners = np.array([[(hi if (c >> k) & 1 else lo)[k] for k in range(d)] for c in range(2 ** d)], float)
    pts = np.column_stack([corners, np.zeros((len(corners), 3 - d))])
    grid = ET.SubElement(holder, "Grid", Name="box", GridType="Uniform")
    # corner c has bit k set when at hi along axis k; VTK order of the hexahedron / quad around the faces
    order, ttype = {1: ([0, 1], "Polyline"), 2: ([0, 1, 3, 2], "Quadrilateral"),
                    3: ([0, 1, 3, 2, 4, 5, 7, 6], "Hexahedron")}[d]
    topo = ET.SubElement(grid, "Topology", TopologyType=ttype, NumberOfElements="1",
                         NodesPerElement=str(len(order)))
    _inline(topo, np.array([order], dtype=np.int64))
    geo = ET.SubElement(grid, "Geometry", GeometryType="XYZ")
    _inline(geo, pts)
    for name, v in (("periodic", per.astype(np.int64)), ("box_lo", lo), ("box_hi", hi)):
        att = ET.SubElement(grid, "Attribute", Name=name, AttributeType="Vector" if d > 1 else "Scalar",
                            Center="Grid")
        _inline(att, np.asarray(v).reshape(1, d) if d > 1 else np.asarray(v))


def _mesh_file(r: ResultsReader, h5name: str) -> ET.Element:
    root = ET.Element("Xdmf", Version="3.0")
    domain = ET.SubElement(root, "Domain")
    grid = ET.SubElement(domain, "Grid", Name="mesh", GridType="Uniform")
    m = r.h5["static/mesh"]
    nodes = m["nodes"]
    n_nodes, d = nodes.shape[0], (nodes.shape[1] if nodes.ndim == 2 else 1)
    types = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in m["element_types"].attrs.items()}
    blocks = list(m["connectivity"].items())
    if len(blocks) == 1:
        _topology(grid, h5name, blocks[0][1], types[blocks[0][0]])
    else:
        parts, ne = [], 0
        for bname, conn in blocks:
            _, nen, code = _etype(types[bname])
            c = conn[()]
            head = [np.full((len(c), 1), code)] + ([np.full((len(c), 1), nen)] if code == 0x2 else [])
            parts.append(np.hstack([*head, c]).ravel())
            ne += len(c)
        topo = ET.SubElement(grid, "Topology", TopologyType="Mixed", NumberOfElements=str(ne))
        _inline(topo, np.concatenate(parts).astype(np.int64))
    if d == 1:
        geo = ET.SubElement(grid, "Geometry", GeometryType="XY")
        _inline(geo, np.column_stack([nodes[()].ravel(), np.zeros(n_nodes)]))
    else:
        _geometry(grid, d, lambda g: _hdf(g, h5name, nodes, (n_nodes, d)), lambda: nodes[()])
    return root


def _save(root: ET.Element, path: Path) -> None:
    """Write through a private temporary file (`atomic_write`: no fixed `.tmp` name to plant a symlink at)."""
    ET.indent(root)
    with atomic_write(path) as fh:
        fh.write('<?xml version="1.0" ?>\n<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd" []>\n'
                 + ET.tostring(root, encoding="unicode") + "\n")


def write_xdmf(h5_path: str | os.PathLike, xdmf_path: str | os.PathLike | None = None) -> list[Path]:
    """Write `OUT.xdmf` (time series) and, with a mesh, `OUT.mesh.xdmf`; returns the paths written.

    `xdmf_path` defaults to the HDF5 path with suffix .xdmf; the HDF5 file is referenced relative to it.
    Safe to call repeatedly during a run (each call describes the frames complete at that moment).
    """
    h5_path = Path(h5_path)
    out = Path(xdmf_path) if xdmf_path is not None else sidecar_path(h5_path)
    h5name = os.path.relpath(h5_path.resolve(), out.resolve().parent)
    written = []
    with ResultsReader(h5_path) as r:
        static = r.h5["static"]
        has_mesh = "mesh" in static
        has_atoms = "atoms" in static and "reference_positions" in static["atoms"]
        root = ET.Element("Xdmf", Version="3.0")
        domain = ET.SubElement(root, "Domain")
        series = ET.SubElement(domain, "Grid", Name="msim", GridType="Collection", CollectionType="Temporal")
        for i, (step, t) in enumerate(zip(r.steps, r.times, strict=True)):
            frame = ET.SubElement(series, "Grid", Name=f"step_{int(step)}", GridType="Collection",
                                  CollectionType="Spatial")
            ET.SubElement(frame, "Time", Value=repr(float(t)))
            if has_mesh:
                _continuum_grids(frame, r, h5name, i)
            if has_atoms:
                _atom_grid(frame, r, h5name, i)
                if r.box(i) is not None:
                    _box_grid(frame, r, i)
        _save(root, out)
        written.append(out)
        if has_mesh:
            mesh_out = mesh_sidecar_path(out)
            _save(_mesh_file(r, h5name), mesh_out)
            written.append(mesh_out)
    return written
