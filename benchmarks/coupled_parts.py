"""Per-part CPU time of a coupled step of bench_coupled's decks, and the counts that set each part
(issue 13: why the 3D step ratio does not fall with size). One size per call; run one process per size:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/coupled_parts.py --dim 3 --L 25 [--steps 10]

Prints one ``PARTS {json}`` line: counts (atoms by class, nodes, constraint rows, multiplier factor
entries, node-stencil types) and per-step CPU milliseconds (cProfile with ``time.process_time`` as its
clock, cumulative times) of the atoms' forces (coupled and alone), the FE forces, the pads, the multiplier
correction of the accelerations, the round-off re-projection check, and the whole step (coupled, alone).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# --tree DIR: run another checkout's code (old vs new side by side, e.g. --tree /work/main)
_TREE = Path(sys.argv[sys.argv.index("--tree") + 1]) if "--tree" in sys.argv else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_TREE / "benchmarks"))
sys.path.insert(0, str(_TREE))

import numpy as np  # noqa: E402
from bench_coupled import counts, deck, setup  # noqa: E402

PARTS = {  # label: (file suffix, function name)
    "atoms": ("md/system.py", "compute"),
    "fe": ("fem/continuum.py", "compute"),
    "pad_forces": ("coupling/coupled.py", "pad_forces_to_nodes"),
    "update_pads": ("coupling/coupled.py", "update_pads"),
    "acc_correction": ("integrate/verlet.py", "_acc_correction"),
    "reproject": ("integrate/verlet.py", "_reproject_q"),
    "acc_correction_check": ("integrate/verlet.py", "_acc_correction_and_check"),
    "forces": ("integrate/verlet.py", "_forces"),
    "acc_kick": ("integrate/verlet.py", "_acc_kick"),
    "step": ("integrate/verlet.py", "step"),
}


def profile_steps(sim, steps: int) -> dict:
    pr = cProfile.Profile(time.process_time)
    pr.runcall(sim.integrator.step, steps)
    st = pstats.Stats(pr).stats
    out = {}
    for label, (suffix, name) in PARTS.items():
        tot = sum(v[3] for (f, _, fn), v in st.items() if f.endswith(suffix) and fn == name)
        out[label] = tot / steps * 1e3
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=3)
    ap.add_argument("--L", type=float, default=25.0)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--chunks", type=int, default=3)
    ap.add_argument("--tree", default=None, help="checkout whose multiscale package is timed")
    a = ap.parse_args()
    import multiscale
    res = {"dim": a.dim, "L": a.L, "tree": str(Path(multiscale.__file__).parents[1])}
    tsc, simc = setup(deck(a.dim, a.L, True))
    tsa, sima = setup(deck(a.dim, a.L, False))
    simc.integrator.step(1)
    sima.integrator.step(1)
    s = simc.model.system
    w = s.atom_weight
    p = simc.integrator.projector
    cont = s.continuum
    res.update(atoms=int(s.n_atoms), core=int(np.sum(w >= 1.0)), handshake=int(np.sum((w > 0) & (w < 1))),
               pads=int(np.sum(w <= 0)), nodes=int(s.n_nodes), rows=int(s.G.shape[0]),
               atoms_alone=counts(sima)[0], setup_c=tsc, setup_a=tsa)
    f = p._aug.kb if p._aug is not None else p._fast
    if f is not None:
        res["factor_entries"] = int(f.blocks.shape[1] * f.nnz)
        res["aug"] = p._aug is not None
    st = getattr(cont, "_stencil", None) or getattr(cont, "stencil", None)
    res["stencil"] = type(st).__name__ if st is not None else None
    runs = {"c": [], "a": []}
    for _ in range(a.chunks):
        runs["c"].append(profile_steps(simc, a.steps))
        runs["a"].append(profile_steps(sima, a.steps))
    for key in ("c", "a"):
        for label in PARTS:
            res[f"{key}_{label}"] = float(np.median([r[label] for r in runs[key]]))
    res["load"] = os.getloadavg()[0]
    res["reprojections"] = int(getattr(simc.integrator, "n_reprojections", -1))
    res["steps_c"] = int(simc.integrator.step_count)
    print("PARTS " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
