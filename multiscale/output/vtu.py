"""VTU export (one file per frame, through meshio) plus a ParaView `.pvd` collection with the times.

`write_vtu(h5, base)` writes `base_continuum_<step>.vtu` (reference mesh, node fields of the frame) and
`base_atoms_<step>.vtu` (atoms as vertex cells at the reference positions, or the frame's `position`,
with per-atom and static fields), and `base.pvd` listing them against time. Points and d-component
vectors are padded to 3 components (VTK's convention).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import meshio
import numpy as np

from multiscale.output.reader import ResultsReader

MESHIO_TYPES = {"bar2": "line", "tri3": "triangle", "quad4": "quad", "tet4": "tetra", "hex8": "hexahedron",
                "tri6": "triangle6", "quad8": "quad8", "quad9": "quad9", "tet10": "tetra10",
                "hex20": "hexahedron20", "hex27": "hexahedron27"}


def _pad3(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] < 3:
        return np.hstack([a, np.zeros((a.shape[0], 3 - a.shape[1]), dtype=a.dtype)])
    return a


def _field(a: np.ndarray, n: int) -> np.ndarray:
    """(n,) stays scalar; (n,1) becomes scalar; (n,d) padded to (n,3)."""
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] == 1:
        return a[:, 0]
    return _pad3(a.reshape(n, -1)) if a.ndim > 1 else a


def write_vtu(h5_path: str | os.PathLike, base: str | os.PathLike, frames: slice = slice(None)) -> list[Path]:
    """Export frames `frames` of `h5_path` as VTU files named from `base`; returns [pvd, vtu...]."""
    base = Path(base)
    if base.suffix in (".vtu", ".pvd"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    entries: list[tuple[float, str, Path]] = []
    with ResultsReader(h5_path) as r:
        mesh = r.mesh()
        atoms_static = r.static("atoms") if "atoms" in r.h5["static"] else {}
        idx = range(r.nframes)[frames]
        cells = []
        if mesh is not None:
            nodes, blocks = mesh
            from multiscale.errors import DeckError
            for bname, (etype, conn) in blocks.items():
                if etype not in MESHIO_TYPES:
                    raise DeckError(f"block {bname!r}: element type {etype!r} has no VTK equivalent")
                cells.append((MESHIO_TYPES[etype], conn))
            pts = _pad3(nodes.reshape(len(nodes), -1).astype(float))
        ref = atoms_static.get("reference_positions")
        posf, static_names = r.position_field(), r.static_atom_names()
        for i in idx:
            fr = r.frame(i)
            step, t = fr["step"], fr["time"]
            if mesh is not None:
                data = {k: _field(v, len(pts)) for k, v in fr["nodes"].items()}
                path = base.with_name(f"{base.name}_continuum_{step}.vtu")
                meshio.write(path, meshio.Mesh(pts, cells, point_data=data), file_format="vtu")
                written.append(path)
                entries.append((t, "continuum", path))
            if ref is not None:
                n = len(ref)
                pos = fr["atoms"].get(posf, ref) if posf else ref
                data = {k: _field(v, n) for k, v in fr["atoms"].items() if k != posf}
                data.update({k: np.asarray(atoms_static[k]) for k in static_names})
                path = base.with_name(f"{base.name}_atoms_{step}.vtu")
                vertex = [("vertex", np.arange(n, dtype=np.int64)[:, None])]
                meshio.write(path, meshio.Mesh(_pad3(np.asarray(pos, float).reshape(n, -1)), vertex,
                                               point_data=data), file_format="vtu")
                written.append(path)
                entries.append((t, "atoms", path))
    root = ET.Element("VTKFile", type="Collection", version="0.1")
    coll = ET.SubElement(root, "Collection")
    for t, part, path in entries:
        ET.SubElement(coll, "DataSet", timestep=repr(float(t)), group="",
                      part="0" if part == "continuum" else "1", file=os.path.relpath(path, base.parent))
    ET.indent(root)
    pvd = base.with_suffix(".pvd")
    pvd.write_text('<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
    return [pvd, *written]
