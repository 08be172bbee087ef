"""``file``: any mesh meshio reads (gmsh ``.msh`` 2.2/4.1, VTK, XDMF, ...), with named groups as sets.

Element types taken: line → bar2, triangle → tri3, quad → quad4, tetra → tet4, hexahedron → hex8, of the
highest dimension present (or ``dim``). Named groups (gmsh physical groups, meshio ``cell_sets``) become
node sets (all their nodes); groups of dimension ``dim − 1`` also become face sets (gmsh ``vertex``
groups in 1D). Inverted elements are reordered to positive orientation; unused nodes are dropped.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
from pydantic import Field

from ...errors import DeckError, clip
from ...registry import MESHES, PluginParams
from ..mesh import ElementBlock, Mesh

_TYPES = {"line": "bar2", "triangle": "tri3", "quad": "quad4", "tetra": "tet4", "hexahedron": "hex8"}
_FACE_TYPES = {"vertex": 0, "line": 1, "triangle": 2, "quad": 2}
_DIM = {"bar2": 1, "tri3": 2, "quad4": 2, "tet4": 3, "hex8": 3}
#: node permutation that turns an inverted element into a positive one
_FLIP = {"bar2": [1, 0], "tri3": [0, 2, 1], "quad4": [0, 3, 2, 1], "tet4": [0, 2, 1, 3],
         "hex8": [0, 3, 2, 1, 4, 7, 6, 5]}


def _group_cells(m) -> dict[str, list[tuple[str, np.ndarray]]]:  # noqa: ANN001
    """name -> list of (meshio cell type, connectivity) of the cells in that named group."""
    groups: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name, per_block in (m.cell_sets or {}).items():
        if name.startswith("gmsh:"):
            continue
        for blk, ids in zip(m.cells, per_block, strict=False):
            if ids is not None and len(ids):
                groups.setdefault(name, []).append((blk.type, blk.data[np.asarray(ids, dtype=int)]))
    phys = m.cell_data.get("gmsh:physical")
    if phys is not None and m.field_data:
        for name, (tag, gdim) in ((k, (int(v[0]), int(v[1]))) for k, v in m.field_data.items()):
            if name in groups:
                continue
            for blk, tags in zip(m.cells, phys, strict=True):
                sel = np.asarray(tags) == tag
                if np.any(sel) and _cell_dim(blk.type) == gdim:
                    groups.setdefault(name, []).append((blk.type, blk.data[sel]))
    return groups


def _cell_dim(t: str) -> int:
    return _DIM[_TYPES[t]] if t in _TYPES else _FACE_TYPES.get(t, -1)


def mesh_from_meshio(m, dim: int | None = None, scale: float = 1.0) -> Mesh:  # noqa: ANN001
    """Convert a ``meshio.Mesh``; see the module docstring."""
    blocks_in = [(b.type, np.asarray(b.data, dtype=np.int64)) for b in m.cells if b.type in _TYPES]
    if not blocks_in:
        raise ValueError(f"no supported cells (have {[b.type for b in m.cells]}; supported: {list(_TYPES)})")
    top = max(_DIM[_TYPES[t]] for t, _ in blocks_in) if dim is None else dim
    blocks_in = [(t, c) for t, c in blocks_in if _DIM[_TYPES[t]] == top]
    if not blocks_in:
        raise ValueError(f"no {top}D cells in the mesh")
    pts = np.asarray(m.points, float)
    if pts.ndim != 2 or len(pts) == 0:
        raise ValueError("the mesh has no points")
    bad = ~np.all(np.isfinite(pts) & (np.abs(pts) <= 1e100), axis=1)
    if np.any(bad):
        raise ValueError(f"point {int(np.argmax(bad))} (0-based) has a coordinate that is not a finite "
                         "number of magnitude <= 1e100")
    for t, c in blocks_in:
        if c.size and (c.min() < 0 or c.max() >= len(pts)):
            raise ValueError(f"a {t} cell refers to point {int(c.max() if c.max() >= len(pts) else c.min())},"
                             f" but the file has {len(pts)} points")
    if pts.shape[1] < top:
        raise ValueError(f"{top}D cells but {pts.shape[1]} coordinates per point")
    if pts.shape[1] > top and np.any(pts[:, top:] != 0):
        raise ValueError(f"{top}D mesh with non-zero coordinates beyond axis {top}")
    pts = pts[:, :top] * scale
    groups = _group_cells(m)
    used = np.unique(np.concatenate([c.ravel() for _, c in blocks_in]))
    renum = np.full(pts.shape[0], -1, dtype=np.int64)
    renum[used] = np.arange(used.size)
    nodes = pts[used]
    blocks = []
    for t, c in blocks_in:
        et = _TYPES[t]
        conn = renum[c]
        blk = ElementBlock(et, conn)
        el = blk.element
        xi, _ = el.quadrature()
        _, detJ, _ = el.jacobian(nodes[conn], xi[:1])
        size = np.ptp(nodes[conn], axis=1).max(axis=1) ** top
        flat = ~(np.abs(detJ[:, 0]) > 1e-12 * size)
        if np.any(flat):
            raise ValueError(f"{int(flat.sum())} {et} element(s) have zero or undefined volume (first: "
                             f"element {int(np.argmax(flat))} of its block)")
        flip = detJ[:, 0] < 0
        conn[flip] = conn[flip][:, _FLIP[et]]
        blocks.append(ElementBlock(et, conn))
    node_sets: dict[str, np.ndarray] = {}
    face_sets: dict[str, np.ndarray] = {}
    for name, cells in groups.items():
        allnodes = renum[np.concatenate([c.ravel() for _, c in cells])]
        node_sets[name] = np.unique(allnodes[allnodes >= 0])
        faces = [renum[c] for t, c in cells if _cell_dim(t) == top - 1]
        if faces and len({f.shape[1] for f in faces}) == 1:
            f = np.concatenate(faces)
            if np.all(f >= 0):
                face_sets[name] = f
    node_sets["all"] = np.arange(nodes.shape[0], dtype=np.int64)
    return Mesh(nodes, blocks, node_sets, face_sets)


@MESHES.register("file")
class FileMesh:
    """A mesh file read with meshio; named groups become node sets and (dim−1 groups) face sets."""

    class Params(PluginParams):
        path: str = Field(description="mesh file, relative to the deck's folder (gmsh .msh, .vtu, ...)")
        dim: int | None = Field(None, ge=1, le=3, description="mesh dimension (default: highest present)")
        scale: float = Field(1.0, gt=0, description="factor applied to the coordinates [length/file unit]")

    @classmethod
    def build(cls, params: Params, deck_dir: str | None = None) -> Mesh:
        import meshio

        path = Path(params.path)
        if not path.is_absolute() and deck_dir is not None:
            path = Path(deck_dir) / path
        if not path.exists():
            raise DeckError(f"mesh file not found: {path}", key="continuum.mesh.path")
        if not path.is_file():
            raise DeckError(f"not a file: {path}", key="continuum.mesh.path")
        looks = _looks_like_mesh(path)
        if looks is False:
            raise DeckError(f"{path} does not look like a mesh file of its kind "
                            f"({path.suffix or 'no suffix'}): its first bytes are not the format's header",
                            key="continuum.mesh.path")
        try:
            # meshio prints to stdout and calls sys.exit(1) when no reader accepts a file
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = meshio.read(str(path))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - meshio raises many types
            # the reader's message may quote the file: only shown (shortened) when the header matched
            why = f": {clip(str(exc), 120)}" if looks and str(exc) else f" ({type(exc).__name__})"
            raise DeckError(f"cannot read mesh file {path}{why}", key="continuum.mesh.path") from None
        try:
            return mesh_from_meshio(m, params.dim, params.scale)
        except (ValueError, IndexError, TypeError, OverflowError, np.linalg.LinAlgError) as exc:
            raise DeckError(f"mesh file {path}: {exc}", key="continuum.mesh.path") from None


#: the first bytes of the mesh formats msim checks before reading (suffix -> accepted prefixes)
_SIGNATURES = {".msh": (b"$MeshFormat", b"$NOD", b"$Comments"), ".vtu": (b"<",), ".vtk": (b"# vtk",),
               ".xdmf": (b"<",), ".xmf": (b"<",), ".inp": (b"*",)}


def _looks_like_mesh(path: Path) -> bool | None:
    """True/False: the file starts (after blanks) like its suffix's format says; None: no check known."""
    sig = _SIGNATURES.get(path.suffix.lower())
    if sig is None:
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(256).lstrip()
    except OSError:
        return False
    return head.startswith(sig)
