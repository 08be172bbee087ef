"""Run by tests/parallel/test_initial_velocity.py under ``mpiexec -n P`` (or serially): each rank draws its
own rows of ``atoms.velocity`` with `parallel.initial_velocity.maxwell_boltzmann_rows`; rank 0 gathers them by
free id and writes them with the serial model's draw.

    python mpi_initial_velocity_driver.py OUT.npz DECK[:floor=F] ... [synthetic]

``DECK``: a coupled deck with ``atoms.velocity``; the rank's rows are
`parallel.rank_sites.rank_sites_from_deck`'s (free ids and coupled masses: no serial model is used to make
them); the reference is the serial `build.build_model`'s ``atoms.v`` at ``system.free`` (the product's own draw). ``:floor=F``: the serial model
is built with ``CoupledSystem(mass_floor=F)`` and each rank's masses are the floored ones at its free ids
(what the band system gives a rank). ``synthetic``: 10 007 free atoms in 3D, masses with 5 % zeros (mixed
chunks), free ids dealt to the ranks at random, chunk 97 (103 chunks); reference
`md.velocities.maxwell_boltzmann`.

OUT: ``c/free_id``, ``c/v`` (every rank's rows, concatenated on rank 0), ``c/raw`` (the raw normals of those
rows), ``c/pos`` (their places in the stream), ``c/ref_v`` (n_free, d) the serial draw, ``c/ref_mass``
(n_free,) the serial coupled masses, ``c/seed``, ``c/rows_per_rank``, ``c/floored`` (floored atoms); ``size``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def serial_model(path: str, floor: float):  # noqa: ANN201
    from multiscale.build import build_model
    from multiscale.coupling import coupled
    from multiscale.deck import load_deck
    init = coupled.CoupledSystem.__init__
    if floor > 0.0:
        def floored(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
            k.setdefault("mass_floor", floor)
            return init(self, *a, **k)
        coupled.CoupledSystem.__init__ = floored
    try:
        deck = load_deck(path)
        return deck, build_model(deck, threads=1)
    finally:
        coupled.CoupledSystem.__init__ = init


def deck_case(comm, path: str, floor: float) -> dict:  # noqa: ANN001
    from multiscale.parallel.initial_velocity import maxwell_boltzmann_rows, normal_rows, stream_positions
    from multiscale.parallel.rank_sites import rank_sites_from_deck
    from multiscale.seeds import stream_seed
    deck, model = serial_model(path, floor)
    s = model.system
    cfg = deck.config
    vel = cfg.atoms.velocity
    seed = stream_seed(cfg.integrator.seed, "velocity", vel.seed)
    rs, _, _ = rank_sites_from_deck(deck, comm)
    mass = rs.mass
    if floor > 0.0:         # the floored coupled masses at this rank's free ids (the band system's)
        f = rs.free_id >= 0
        mass = rs.mass.copy()
        mass[f] = np.asarray(s.atom_mass)[np.asarray(s.free)[rs.free_id[f]]]
    T, kB = float(vel.temperature), float(model.units.boltz)
    v = maxwell_boltzmann_rows(rs.free_id, mass, rs.n_free, model.dim, T, kB, seed, comm)
    pos, _ = stream_positions(rs.free_id, mass, rs.n_free, comm)
    raw = normal_rows(pos, model.dim, seed)
    ref_v = np.asarray(model.atoms.v)[np.asarray(s.free)]
    return {"free_id": rs.free_id, "v": v, "raw": raw, "pos": pos, "ref_v": ref_v,
            "ref_mass": np.asarray(s.atom_mass)[np.asarray(s.free)], "seed": seed,
            "floored": int(np.size(getattr(s, "floored", ())))}


def synthetic_case(comm) -> dict:  # noqa: ANN001
    from multiscale.md.velocities import maxwell_boltzmann
    from multiscale.parallel.initial_velocity import maxwell_boltzmann_rows, normal_rows, stream_positions
    n, d, seed, chunk = 10007, 3, 123456789, 97
    rng = np.random.default_rng(5)
    m_all = rng.uniform(0.2, 3.0, n)
    m_all[rng.random(n) < 0.05] = 0.0
    owner = rng.integers(0, comm.size, n)
    fid = np.flatnonzero(owner == comm.rank).astype(np.int64)
    fid = fid[rng.permutation(fid.size)] if fid.size else fid          # rows in no particular order
    pad = np.full(7, -1, np.int64)                                     # pad rows interleaved
    fid = np.concatenate([pad[:3], fid, pad[3:]])
    mass = np.where(fid >= 0, m_all[np.maximum(fid, 0)], 0.0)
    v = maxwell_boltzmann_rows(fid, mass, n, d, 1.7, 0.9, seed, comm, chunk=chunk)
    pos, _ = stream_positions(fid, mass, n, comm, chunk)
    raw = normal_rows(pos, d, seed, chunk)
    ref = maxwell_boltzmann(m_all, d, 1.7, 0.9, seed)
    return {"free_id": fid, "v": v, "raw": raw, "pos": pos, "ref_v": ref,
            "ref_mass": m_all, "seed": seed, "floored": 0}


def main() -> None:
    from multiscale.parallel import get_comm, run_guarded
    comm = get_comm()

    def run() -> None:
        out: dict = {}
        for c, spec in enumerate(sys.argv[2:]):
            if spec == "synthetic":
                res = synthetic_case(comm)
            else:
                path, _, opt = spec.partition(":")
                res = deck_case(comm, path, float(opt[6:]) if opt.startswith("floor=") else 0.0)
            mine = {k: res[k] for k in ("free_id", "v", "raw", "pos")}
            parts = comm.gather(mine, 0) if comm.size > 1 else [mine]
            if comm.rank == 0:
                for k in mine:
                    out[f"{c}/{k}"] = np.concatenate([p[k] for p in parts])
                out[f"{c}/rows_per_rank"] = np.array([len(p["free_id"]) for p in parts])
                out[f"{c}/ref_v"], out[f"{c}/ref_mass"] = res["ref_v"], res["ref_mass"]
                out[f"{c}/seed"] = np.int64(res["seed"])
                out[f"{c}/floored"] = np.int64(res["floored"])
        if comm.rank == 0:
            np.savez(sys.argv[1], size=comm.size, **out)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
