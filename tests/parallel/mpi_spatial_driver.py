"""Run by tests/parallel/test_mpi_spatial.py under ``mpiexec -n P``: one force evaluation of the spatial
engine (`parallel.engine.DistributedMD`) on a free box or with handshake weights; results on rank 0.

    python mpi_spatial_driver.py free POT BOUNDARY OUT.npz [--newton] [--overlap]
    python mpi_spatial_driver.py weights DECK OUT.npz [--newton] [--overlap]
    python mpi_spatial_driver.py periodic POT OUT.npz [--newton] [--overlap]

``free``: the jittered crystal of `free_crystal` (POT lj or eam; BOUNDARY e.g. ``fff`` or ``fpp``).
``periodic``: the periodic jittered crystal of `mpi_driver.crystal` (atoms outside the box: image
counts ≠ 0; pairs across the periodic seam) with `site_weights` and `smooth_bond_factory`.
``weights``: the atoms of a coupled DECK with their handshake weights (site weights β̄, bond weights
from the deck's `Handshake.bond_weight_fn`) at the positions of `weighted_atoms`. Rank 0 starts with
every atom (the first rebuild migrates them), writes gid-sorted forces and per-atom energies, the
energy, the atoms per rank and, for ``weights``, every rank's list entries (global ids) with their
bond weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))


def free_crystal(pot_name: str, boundary: str) -> dict:
    """A jittered fcc crystal in a box free along the axes marked ``f`` in ``boundary`` (some atoms lie
    just beyond the box's lower faces; free x: one dimer 2 rlist beyond each x face). Returns X,
    potential, box, skin."""
    from mpi_driver import lammps_potentials

    from multiscale.md.box import Box
    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.eam import EAMFile
    from multiscale.md.potentials.lj import LennardJones

    rng = np.random.default_rng(20261207)
    if pot_name == "lj":
        a, cells, pot, skin = (4 / 0.8442) ** (1 / 3), (9, 4, 4), LennardJones(1.0, 1.0, 2.5, "cut"), 0.3
    else:
        a, cells, skin = 3.615, (6, 4, 4), 1.0
        pot = EAMFile.from_file(lammps_potentials() / "Cu_u3.eam")
    L = np.array(cells) * a
    X = Lattice("fcc", a).sites_in_box([0, 0, 0], L)
    X = X + 0.05 * rng.standard_normal(X.shape)
    box = Box([0, 0, 0], L, [c == "p" for c in boundary])
    X = box.wrap(X)
    if boundary[0] == "f":      # an evaporated dimer far beyond each open face along x (owned by the
        rl = float(pot.cutoff) + skin     # first / last slab; its pair is listed by that rank alone)
        r0 = 0.4 * float(pot.cutoff)
        mid = 0.5 * L[1:]
        X = np.concatenate([X, [[-2 * rl, *mid], [-2 * rl - r0, *mid],
                                [L[0] + 2 * rl, *mid], [L[0] + 2 * rl + r0, *mid]]])
    return dict(X=X, potential=pot, box=box, skin=skin)


def weighted_atoms(deck_path: str) -> tuple:
    """(model, x): the serial model of a coupled deck and its atoms' positions displaced by a smooth
    field plus a small random jitter (seeded) [length]."""
    from multiscale.build import build_model
    from multiscale.deck import load_deck

    model = build_model(load_deck(deck_path), 1)
    a = model.atoms
    rng = np.random.default_rng(99)
    x = a.X + 0.01 * rng.standard_normal(a.X.shape) + 0.02 * np.sin(a.X[:, :1] / 3.0)
    return model, np.ascontiguousarray(x)


def smooth_bond_factory(X_ref: np.ndarray):  # noqa: ANN201
    """A ``bond_weight_fn`` factory like ``Handshake.bond_weight_fn``: X_ref (k, d) -> fn(i, j, dX) =
    1 / (1 + (c (x_i + x_end))²) with x_end = x_i + dX_x (the bond's far end, periodic image included),
    c = 0.05 / length unit. Only +, −, ×, ÷ (IEEE-exact per element, the same bits in any array)."""
    Xr = np.asarray(X_ref, float)

    def fn(i: np.ndarray, j: np.ndarray, dX: np.ndarray) -> np.ndarray:  # noqa: ARG001
        p0 = Xr[i, 0]
        s = p0 + (p0 + dX[:, 0])
        return 1.0 / (1.0 + (0.05 * s) * (0.05 * s))

    return fn


def site_weights(X: np.ndarray) -> np.ndarray:
    """(n,) site weights in (0, 1] of the periodic case [dimensionless]."""
    return 1.0 / (1.0 + (0.1 * X[:, 0]) * (0.1 * X[:, 0]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["free", "weights", "periodic"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--newton", action="store_true")
    ap.add_argument("--overlap", action="store_true")
    ap.add_argument("--steps", type=int, default=0, help="periodic: N NVE steps of the drifting crystal "
                    "first (migration, rebuilds: bond weights from the cache and fresh)")
    ns = ap.parse_args()

    from multiscale.parallel import DistributedMD, get_comm, run_guarded

    comm = get_comm()

    def run() -> None:
        kw: dict = {}
        if ns.case == "free":
            pot_name, boundary, out_path = ns.args
            c = free_crystal(pot_name, boundary)
            X, pot, box, skin = c["X"], c["potential"], c["box"], c["skin"]
            x = X
        elif ns.case == "periodic":      # the periodic jittered crystal, weighted (`smooth_bond_factory`)
            from mpi_driver import crystal
            pot_name, out_path = ns.args
            c = crystal(pot_name)
            X, pot, box, skin = c["X"], c["potential"], c["box"], c["skin"]
            x = X
            kw = dict(site_w=site_weights(X), X_ref=X, bond_weight_fn=smooth_bond_factory)
            if ns.steps:
                kw.update(v=c["v"], mass=c["mass"])
        else:
            deck, out_path = ns.args
            model, x = weighted_atoms(deck)
            a = model.atoms
            X, pot, box, skin = a.X, a.potential, a.box, a.nlist.skin
            kw = dict(site_w=a.site_w, X_ref=a.X, bond_weight_fn=model.system.handshake.bond_weight_fn)
        n = len(x)
        # every rank starts with the atoms gid ≡ rank (mod P) in reverse order: the first rebuild migrates
        # atoms both ways, their carried columns (site weights, reference positions) with them, and sorts
        mine = np.arange(n)[comm.rank::comm.size][::-1].copy()
        v0 = kw.pop("v", np.zeros_like(x))
        m0 = kw.pop("mass", np.ones(n))
        sel = {k: (np.asarray(v)[mine] if k != "bond_weight_fn" else v) for k, v in kw.items()}
        md = DistributedMD(comm, x[mine], v0[mine], m0[mine], mine, pot, box, skin, newton=ns.newton,
                           overlap=ns.overlap, **sel)
        out: dict = {}
        if ns.steps:
            m_start = md.total_migrated()        # the initial distribution
            md.step(ns.steps, c["dt"])
            out["builds"] = md.n_builds
            out["migrated"] = md.total_migrated() - m_start     # atoms that changed slab while stepping
            md.rebuild()        # the lists of the final positions (as the serial reference's), then forces
            md.compute()
        if md.bond_weight_fn is not None:
            out["cache_hits"] = comm.allreduce(md._bw_cache.hits, "sum")
            out["cache_misses"] = comm.allreduce(md._bw_cache.misses, "sum")
        out["epot"] = md.potential_energy()
        lb = md.load_balance()
        if ns.case != "free":        # every rank's entries: (gid_i, gid_j, weight)
            ents = []
            for lst, bw in ((md.list, md.bond_w), (md.list_b, md.bond_w_b)):
                if lst is None:
                    continue
                i = np.repeat(np.arange(md.n_loc), np.diff(lst.offsets))
                ents.append((md.gid[i], md.gid[lst.neighbors], bw))
            allents = comm.gather(ents, 0)
        g = md.gather()
        if comm.rank == 0:
            out.update(g)
            out["atoms_per_rank"] = lb["atoms"]
            out["ghosts_per_rank"] = lb["ghosts"]
            out["size"] = comm.size
            if ns.case != "free":
                flat = [e for r in allents for e in r]
                out["ent_i"] = np.concatenate([e[0] for e in flat])
                out["ent_j"] = np.concatenate([e[1] for e in flat])
                out["ent_w"] = np.concatenate([e[2] for e in flat])
            np.savez(out_path, **out)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
