"""Run by tests/parallel/test_mpi_statics.py under ``mpiexec -n P``: one force evaluation of a statics
deck's atoms through the split of `run.distributed_statics` (installed by `Simulation.prepare`).

    python mpi_statics_driver.py DECK OUT.npz
    python mpi_statics_driver.py --poison K RANK -- msim run arguments...

The second form runs `msim run` (the CLI, exit status as the command's) with the pair potential's kernel
poisoned: from its K-th call on, the per-atom energies it returns are NaN — on every rank (RANK = -1) or
on that rank only (the other ranks' kernels stay finite). The first form: the atoms are displaced by a
deterministic jitter (`jitter`, the same function the test applies to the
serial model). Rank 0 writes forces (n, d), energies (n,), energy and the split's load balance to OUT.npz.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def jitter(x: np.ndarray) -> np.ndarray:
    """A deterministic displacement field of amplitude 0.05 (length units of the deck)."""
    rng = np.random.default_rng(7)
    return x + 0.05 * rng.standard_normal(x.shape)


def poisoned_cli(k: int, rank: int, argv: list[str]) -> None:
    from multiscale.cli import main as cli_main
    from multiscale.md.potentials.pairbase import PairPotential
    from multiscale.parallel.comm import get_comm

    me = get_comm().rank
    real = PairPotential.compute
    calls = [0]

    def compute(self, x, nlist, site_w, bond_w, forces, energies, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        E = real(self, x, nlist, site_w, bond_w, forces, energies, *a, **kw)
        calls[0] += 1
        if calls[0] >= k and rank in (-1, me):
            energies[...] = np.nan
            return float("nan")
        return E

    PairPotential.compute = compute
    cli_main(argv)


def main() -> None:
    if sys.argv[1] == "--poison":
        return poisoned_cli(int(sys.argv[2]), int(sys.argv[3]), sys.argv[5:])
    from multiscale.deck import load_deck
    from multiscale.parallel.comm import get_comm
    from multiscale.simulation import Simulation

    deck, out = Path(sys.argv[1]), Path(sys.argv[2])
    comm = get_comm()
    sim = Simulation.from_deck(load_deck(deck), comm=comm)
    sim.prepare()
    a = sim.model.atoms
    a.x[...] = jitter(a.X)
    E = float(sim.model.system.compute_forces())
    split = getattr(a, "split_forces", None)
    lb = split.load_balance() if split is not None else None
    if comm.rank == 0:
        np.savez(out, forces=a.forces, energies=a.energies, energy=E, load=json.dumps(lb), size=comm.size)


if __name__ == "__main__":
    main()
