"""Graded tensor-product grids shared by the ``bar``, ``rectangle`` and ``box`` generators.

Element size along each axis is ``h(x) = min(size, core_size + (growth − 1)·dist(x, core))``: uniform
``core_size`` inside the core box, growing geometrically (ratio ≈ ``growth`` between neighbours) away
from it, capped at ``size``. Grid lines always pass through the edges of the domain, the core box and
the hole box, so a tensor-product grid stays conforming and a hole is cut exactly along grid lines.
"""

from __future__ import annotations

from itertools import permutations

import numpy as np
from pydantic import Field, model_validator

from ...registry import PluginParams
from ..mesh import ElementBlock, Mesh

AXES = "xyz"


class BoxParams(PluginParams):
    """An axis-aligned box ``lo``–``hi`` [length] (one value per axis)."""

    lo: list[float] = Field(description="lower corner [length]")
    hi: list[float] = Field(description="upper corner [length]")

    @model_validator(mode="after")
    def _check(self) -> BoxParams:
        if len(self.lo) != len(self.hi) or any(h <= lo for lo, h in zip(self.lo, self.hi, strict=True)):
            raise ValueError("box needs lo < hi componentwise, with the same number of components")
        return self


class GridParams(PluginParams):
    """Common parameters of the structured generators (lengths in the deck's length unit)."""

    lo: list[float] = Field(description="lower corner of the domain [length]")
    hi: list[float] = Field(description="upper corner of the domain [length]")
    size: float = Field(gt=0, description="largest element size (far from the core) [length]")
    core: BoxParams | None = Field(None, description="box around the atoms where elements are finest")
    core_size: float | None = Field(None, gt=0, description="element size inside the core [length] "
                                    "(default: size)")
    growth: float = Field(1.0, ge=1.0, description="size ratio of neighbouring elements away from the core")
    hole: BoxParams | None = Field(None, description="box left empty (the pure atomistic region): every "
                                   "element inside it is removed")

    @model_validator(mode="after")
    def _check(self) -> GridParams:
        d = len(self.lo)
        if len(self.hi) != d or any(h <= lo for lo, h in zip(self.lo, self.hi, strict=True)):
            raise ValueError("need lo < hi componentwise, with the same number of components")
        for name in ("core", "hole"):
            b = getattr(self, name)
            if b is not None and len(b.lo) != d:
                raise ValueError(f"{name} must have {d} components like lo/hi")
        return self


def graded_axis(lo: float, hi: float, size: float, core: tuple[float, float] | None = None,
                core_size: float | None = None, growth: float = 1.0,
                breaks: tuple[float, ...] = (), max_elements: float | None = None) -> np.ndarray:
    """Node coordinates (n+1,) along one axis [length], increasing, including lo, hi, the core edges and
    ``breaks`` that fall inside (lo, hi). More than ``max_elements`` elements: `ElementCountError`, raised
    before the coordinates are allocated."""
    cs = size if core_size is None else min(core_size, size)
    pts = {lo, hi}
    extra = list(breaks) + (list(core) if core is not None else [])
    pts.update(b for b in extra if lo < b < hi)
    bp = sorted(pts)

    def h(x: np.ndarray) -> np.ndarray:
        if core is None:
            return np.full_like(x, size)
        dist = np.maximum(np.maximum(core[0] - x, x - core[1]), 0.0)
        return np.minimum(size, cs + (growth - 1.0) * dist)

    plan = []
    for x0, x1 in zip(bp[:-1], bp[1:], strict=True):
        s = np.linspace(x0, x1, 4001)
        hs = h(s)
        if np.ptp(hs) <= 1e-12 * hs[0]:
            plan.append((x0, x1, _count((x1 - x0) / hs[0]), None, None))
        else:
            inv = 1.0 / hs
            cum = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(s))])
            plan.append((x0, x1, _count(cum[-1]), cum, s))
    if max_elements is not None and sum(p[2] for p in plan) > max_elements:
        raise ElementCountError(sum(p[2] for p in plan))
    out = [np.array([bp[0]])]
    for x0, x1, n, cum, s in plan:
        if cum is None:
            seg = np.linspace(x0, x1, int(n) + 1)
        else:
            seg = np.interp(np.linspace(0.0, cum[-1], int(n) + 1), cum, s)
            seg[0], seg[-1] = x0, x1
        out.append(seg[1:])
    return np.concatenate(out)


class ElementCountError(ValueError):
    """An axis would get more elements than allowed (``.count``: how many)."""

    def __init__(self, count: float) -> None:
        super().__init__(f"{count:.3g} elements along one axis")
        self.count = count


def _count(x: float) -> float:
    """Elements of one segment: ceil(x) (at least 1); a float, so absurd sizes do not overflow."""
    return max(1.0, float(np.ceil(x - 1e-9))) if np.isfinite(x) else float("inf")


def _kuhn_tets() -> np.ndarray:
    """Six tet4 (local hex8 node indices) splitting a hex along its 0–6 diagonal, positively oriented."""
    corner = {(0, 0, 0): 0, (1, 0, 0): 1, (1, 1, 0): 2, (0, 1, 0): 3,
              (0, 0, 1): 4, (1, 0, 1): 5, (1, 1, 1): 6, (0, 1, 1): 7}
    tets = []
    for perm in permutations(range(3)):
        p = [0, 0, 0]
        path = [corner[tuple(p)]]
        for ax in perm:
            p[ax] = 1
            path.append(corner[tuple(p)])
        X = np.array([k for k, _ in sorted(corner.items(), key=lambda kv: kv[1])], float)[path]
        if np.linalg.det(X[1:] - X[0]) < 0:
            path[2], path[3] = path[3], path[2]
        tets.append(path)
    return np.array(tets)


def structured_mesh(axes: list[np.ndarray], element: str, hole: BoxParams | None,
                    lo: list[float], hi: list[float]) -> Mesh:
    """Tensor-product mesh on the grid ``axes`` (one coordinate array per axis, x fastest), elements of
    type ``element``; elements whose centroid lies inside ``hole`` are removed. Node/face sets ``xlo``,
    ``xhi``, ``ylo``, ... on the outer faces, ``hole`` on the hole boundary, node set ``all``."""
    d = len(axes)
    shape = [len(a) for a in axes]
    grids = np.meshgrid(*axes[::-1], indexing="ij")
    nodes = np.stack([g.ravel() for g in grids[::-1]], axis=1)  # x fastest
    idx = np.arange(nodes.shape[0]).reshape(shape[::-1])  # idx[k, j, i]
    if d == 1:
        conn = np.stack([idx[:-1], idx[1:]], axis=1)
    elif d == 2:
        conn = np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], axis=-1).reshape(-1, 4)
    else:
        conn = np.stack([idx[:-1, :-1, :-1], idx[:-1, :-1, 1:], idx[:-1, 1:, 1:], idx[:-1, 1:, :-1],
                         idx[1:, :-1, :-1], idx[1:, :-1, 1:], idx[1:, 1:, 1:], idx[1:, 1:, :-1]],
                        axis=-1).reshape(-1, 8)
    if hole is not None:
        c = nodes[conn].mean(axis=1)
        inside = np.all((c > np.asarray(hole.lo)) & (c < np.asarray(hole.hi)), axis=1)
        conn = conn[~inside]
    if element == "tri3":
        conn = conn[:, [[0, 1, 2], [0, 2, 3]]].reshape(-1, 3)
    elif element == "tet4":
        conn = conn[:, _kuhn_tets()].reshape(-1, 4)
    used = np.unique(conn)
    renum = np.full(nodes.shape[0], -1, dtype=np.int64)
    renum[used] = np.arange(used.size)
    nodes, conn = nodes[used], renum[conn]
    mesh = Mesh(nodes, [ElementBlock(element, conn)])
    tol = 1e-9 * max(float(np.max(np.asarray(hi) - np.asarray(lo))), 1.0)
    X = mesh.nodes
    for k in range(d):
        for side, val in (("lo", lo[k]), ("hi", hi[k])):
            name = f"{AXES[k]}{side}"
            on = np.abs(X[:, k] - val) <= tol
            mesh.face_sets[name] = mesh.faces_in(lambda _X, on=on: on)
            mesh.node_sets[name] = np.nonzero(on)[0].astype(np.int64)
    if hole is not None:
        hlo, hhi = np.asarray(hole.lo), np.asarray(hole.hi)
        closed = np.all((X >= hlo - tol) & (X <= hhi + tol), axis=1)
        mesh.face_sets["hole"] = mesh.faces_in(lambda _X: closed)
        mesh.node_sets["hole"] = np.unique(mesh.face_sets["hole"])
    mesh.node_sets["all"] = np.arange(mesh.n_nodes, dtype=np.int64)
    return mesh


def build_grid(p: GridParams, element: str, extra_breaks: dict[int, tuple[float, ...]] | None = None) -> Mesh:
    """Graded axes from the parameters, then the structured mesh. ``extra_breaks``: axis → coordinates
    [length] every grid of that axis must pass through (e.g. the line of a slit)."""
    from ...resources import check

    d = len(p.lo)
    axes = []
    per_node, per_el = mesh_bytes(d, element)
    for k in range(d):
        core = (p.core.lo[k], p.core.hi[k]) if p.core is not None else None
        breaks = (p.hole.lo[k], p.hole.hi[k]) if p.hole is not None else ()
        breaks = tuple(breaks) + tuple((extra_breaks or {}).get(k, ()))
        try:
            axes.append(graded_axis(p.lo[k], p.hi[k], p.size, core, p.core_size, p.growth, breaks,
                                    max_elements=1e8))
        except ElementCountError as exc:
            check(exc.count * (per_node + per_el), f"the mesh ({exc.count:.3g} elements along "
                  f"{AXES[k]} alone)", key="continuum.mesh")
            raise ValueError(f"the mesh would have {exc.count:.3g} elements along {AXES[k]}") from None
    n_nodes = float(np.prod([float(len(a)) for a in axes]))
    n_el = float(np.prod([float(len(a) - 1) for a in axes])) * {"tri3": 2, "tet4": 6}.get(element, 1)
    check(n_nodes * per_node + n_el * per_el, f"the mesh ({n_el:.3g} {element} elements, {n_nodes:.3g} "
          "nodes)", key="continuum.mesh")
    return structured_mesh(axes, element, p.hole, p.lo, p.hi)


def mesh_bytes(d: int, element: str) -> tuple[float, float]:
    """(bytes per node, bytes per element) of a run: ~14 (d,) float arrays per node (coordinates, U, V,
    forces, mass, output); per element its connectivity and, at each quadrature point, ~6 (d, d) float
    arrays (F, P, tangent pieces, shape-function gradients) and a few scalars; the mesh generation's
    temporary copies are included (x2)."""
    nen = {"bar2": 2, "tri3": 3, "quad4": 4, "tet4": 4, "hex8": 8}.get(element, 8)
    nq = {"bar2": 2, "tri3": 1, "quad4": 4, "tet4": 1, "hex8": 8}.get(element, 8)
    return 2 * (d * 8 * 14), 2 * (nen * 8 + nq * (6 * d * d * 8 + 6 * 8 + nen * d * 8))
