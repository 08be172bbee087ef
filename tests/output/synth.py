"""Synthetic results of the right shapes (no engine needed): a quad4 + tri3 mesh and a block of atoms."""

from __future__ import annotations

import numpy as np

N_ATOMS, DIM = 12, 2


def mesh2d() -> tuple[np.ndarray, dict[str, tuple[str, np.ndarray]]]:
    """3x2 nodes grid: 2 quad4 on the left, 2 tri3 on the right. Nodes (6... 12, 2)."""
    xs, ys = np.meshgrid(np.arange(4.0), np.arange(3.0), indexing="xy")
    nodes = np.column_stack([xs.ravel(), ys.ravel()]) * 2.5
    nid = np.arange(12).reshape(3, 4)
    quads = np.array([[nid[j, i], nid[j, i + 1], nid[j + 1, i + 1], nid[j + 1, i]]
                      for j in range(2) for i in range(2)], dtype=np.int64)
    tris = np.array([[nid[j, 2], nid[j, 3], nid[j + 1, 3]] for j in range(2)]
                    + [[nid[j, 2], nid[j + 1, 3], nid[j + 1, 2]] for j in range(2)], dtype=np.int64)
    return nodes, {"core": ("quad4", quads), "outer": ("tri3", tris)}


def static() -> dict:
    nodes, blocks = mesh2d()
    rng = np.random.default_rng(1)
    return {
        "atoms": {"reference_positions": rng.uniform(0.0, 5.0, (N_ATOMS, DIM)),
                  "ids": np.arange(1, N_ATOMS + 1, dtype=np.int64),
                  "types": (np.arange(N_ATOMS) % 2 + 1).astype(np.int32),
                  "mass": np.full(N_ATOMS, 63.546 * 1.0364269e-4),
                  "weight": rng.uniform(0.0, 1.0, N_ATOMS),
                  "species": "Cu"},
        "mesh": {"nodes": nodes,
                 "connectivity": {name: conn for name, (_, conn) in blocks.items()},
                 "element_types": {name: etype for name, (etype, _) in blocks.items()},
                 "alpha_qp": rng.uniform(0.0, 1.0, 16),
                 "node_sets": {"left": np.array([0, 4, 8], dtype=np.int64)}},
    }


def frame(step: int) -> tuple[dict, dict]:
    """Deterministic atoms and nodes fields of frame `step` (so a reader can check any frame)."""
    rng = np.random.default_rng(1000 + step)
    atoms = {"displacement": rng.normal(0, 0.1, (N_ATOMS, DIM)), "velocity": rng.normal(0, 1, (N_ATOMS, DIM)),
             "force": rng.normal(0, 1, (N_ATOMS, DIM)), "energy": rng.normal(-3.5, 0.1, N_ATOMS)}
    nodes = {"displacement": rng.normal(0, 0.1, (12, DIM)), "velocity": rng.normal(0, 1, (12, DIM))}
    return atoms, nodes


def thermo(step: int) -> dict[str, float]:
    rng = np.random.default_rng(5000 + step)
    terms = ["kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum", "coupling",
             "external_work", "dissipated"]
    values = {t: float(v) for t, v in zip(terms, rng.normal(0, 1, len(terms)), strict=True)}
    values["total"] = float(sum(values.values()))
    return values


def observables(step: int) -> dict:
    return {"indenter_depth": 0.01 * step, "indenter_force": np.array([0.0, -0.5 * step]),
            "constraint_residual": 1e-15 * step}


WRITER_KW = {"deck_text": "units: metal\n# synthetic deck\n", "units": "metal", "seed": 7,
             "msim_version": "0.1.0-test"}
