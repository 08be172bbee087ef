"""Run by tests/parallel/test_restart_rows.py under ``mpiexec -n P`` (or serially): today's restart of the
spatial path (`run.spatial.SpatialIntegrator.set_state` with the whole checkpoint on every rank) against
`parallel.restart_rows.read_checkpoint_rows` with the engine's owned global ids, in both modes.

    python mpi_restart_rows_driver.py DECK CKPT OUT.npz

OUT (rank 0, every rank's values concatenated): ``gid`` the owned global ids, ``pad`` (pads of the model),
``x``, ``v``, ``fext`` the engine's owned rows after today's restart (x, v; the thermostat's restart forces),
``rows_<key>`` / ``scatter_<key>`` (key x, v, fext_atoms, reference_positions) the component's rows in each
mode, ``X`` the engine's reference positions; ``small_same`` every rank's small state equal to the
checkpoint's non-per-atom entries (bitwise, both modes); ``size``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def same_tree(a, b) -> bool:  # noqa: ANN001
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_tree(x, y) for x, y in
                                                               zip(a, b, strict=True))
    if isinstance(a, np.ndarray | np.generic):
        return isinstance(b, np.ndarray | np.generic) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, np.random.Generator):
        return a.bit_generator.state == b.bit_generator.state
    return a == b


def main() -> None:
    from multiscale.deck import load_deck
    from multiscale.output.checkpoint import load_checkpoint
    from multiscale.parallel import get_comm, run_guarded
    from multiscale.parallel.restart_rows import PER_ATOM, read_checkpoint_rows
    from multiscale.simulation import Simulation
    comm = get_comm()
    deck_path, ck, out_path = sys.argv[1:4]

    def run() -> None:
        sim = Simulation.from_deck(load_deck(deck_path), threads=1, comm=comm)
        sim.decompose = "spatial"
        sim.prepare()
        st = load_checkpoint(ck)
        sim.integrator.set_state(st["integrator"])       # today's restart: every rank the whole state
        sc = sim.integrator.sc
        e = sc.engine
        n = e.n_own
        gid = e.gid[:n].copy()
        fe = sc.ops.fext_own()
        mine = {"gid": gid, "x": e.x[:n].copy(), "v": e.v[:n].copy(), "X": e.X_ref[:n].copy(),
                "fext": np.zeros((n, e.x.shape[1])) if fe is None else np.array(fe),
                "pad": np.isin(gid, np.asarray(sim.model.system.pad_idx))}
        small = {k: v for k, v in st.items()}
        small["integrator"] = {k: v for k, v in st["integrator"].items() if f"integrator/{k}" not in PER_ATOM}
        small["model"] = {k: v for k, v in st.get("model", {}).items() if f"model/{k}" not in PER_ATOM}
        same = True
        keys = ("integrator/x", "integrator/v", "integrator/fext_atoms", "model/reference_positions")
        for mode in ("rows", "scatter"):
            rr = read_checkpoint_rows(ck, gid, comm, keys=keys, mode=mode)
            for k in keys:
                mine[f"{mode}_{k.split('/')[1]}"] = rr.rows[k]
            same &= same_tree(small, rr.state) and rr.n_atoms == sim.model.system.n_atoms
        mine["small_same"] = np.bool_(same)
        # the model check by rows (`reference_mismatch`) against the serial `model_mismatch`: the deck's own
        # sites (None), then atom 5 moved by 1e-6 along y in the "deck"
        from multiscale.parallel.restart_rows import reference_mismatch
        from multiscale.run.checkpoints import model_mismatch
        rr = read_checkpoint_rows(ck, gid, comm, keys=("model/reference_positions",))
        ref = rr.rows["model/reference_positions"]
        X = e.X_ref[:n].copy()
        msgs = [reference_mismatch(ref, X, gid, rr.n_atoms, sim.model.system.n_atoms, comm)]
        X[gid == 5, 1] += 1e-6
        msgs.append(reference_mismatch(ref, X, gid, rr.n_atoms, sim.model.system.n_atoms, comm))
        Xs = np.array(sim.model.atoms.X, float)
        Xs[5, 1] += 1e-6
        serial = [model_mismatch(st["model"], {"reference_positions": np.array(sim.model.atoms.X, float)}),
                  model_mismatch(st["model"], {"reference_positions": Xs})]
        # today's ownership (owner of the checkpoint's x along axis 0) from the file in blocks
        from multiscale.parallel.engine import SlabDecomposition
        from multiscale.parallel.restart_rows import owned_gids
        a = sim.model.atoms
        dec = SlabDecomposition(a.box, comm.size, 0, float(a.potential.cutoff) + float(a.nlist.skin))
        mine["owned_same"] = np.array([np.array_equal(owned_gids(ck, dec, comm.rank, block=100), np.sort(gid))])
        mine["check_same"] = np.array([[str(m) == str(s) for m, s in zip(msgs, serial, strict=True)]])
        mine["check_msg"] = np.array([str(msgs[1])])
        parts = comm.gather(mine, 0) if comm.size > 1 else [mine]
        if comm.rank == 0:
            out = {k: np.concatenate([p[k] for p in parts]) if np.ndim(parts[0][k]) else
                   np.array([p[k] for p in parts]) for k in mine}
            np.savez(out_path, size=comm.size, **out)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
