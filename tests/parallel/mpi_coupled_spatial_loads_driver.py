"""Run by tests/parallel/test_mpi_coupled_spatial_loads.py under ``mpiexec -n P``: the coupled dynamics of a
deck with loads (prescribed, indenter, body_force, traction, fixed) on the spatial path
(`parallel.coupled_spatial.SpatialCoupled`, `parallel.spatial_loads`).

    python mpi_coupled_spatial_loads_driver.py DECK STEPS EVERY OUT.npz

Every rank builds and prepares the serial model, then steps it with `SpatialCoupled`; rank 0 writes the
gathered x, v (n, d), U, V (N, d) after STEPS steps and, every EVERY steps, ``ledger`` (rows, 8): kinetic
atoms, kinetic continuum, potential atoms, potential continuum, external work, dissipated, total
K + Π − W, step; ``obs`` (rows, k): every load's observables (deck order, each load's keys sorted) and
every load hook's energy (`run.prepare.LoadHook.energy`). `serial_reference` is the same record of the
serial `VelocityVerlet` (called by the test in its own process).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from mpi_coupled_spatial_driver import prepared  # noqa: E402
from mpi_helpers import perturb_forces, serial_rows, spatial_rows  # noqa: E402

KEYS = ("kinetic_atoms", "kinetic_continuum", "potential_atoms", "potential_continuum", "external_work",
        "dissipated", "total")


def observed(sim) -> tuple[list[str], list[float]]:  # noqa: ANN001
    """(names, values) of every load's observables (deck order, sorted keys) and every hook's energy."""
    names, vals = [], []
    for ld in sim.model.loads:
        o = ld.observables()
        for k in sorted(o):
            names.append(k)
            vals.append(float(o[k]))
    for i, h in enumerate(sim.integrator.force_hooks if not hasattr(sim.integrator, "sc") else []):
        if hasattr(h, "load"):
            names.append(f"hook{i}.energy")
            vals.append(float(h.energy))
    return names, vals


def hook_energies(hooks) -> list[float]:  # noqa: ANN001
    return [float(h.energy) for h in hooks if hasattr(h, "load")]


def ledger_row(sim, k: int) -> list[float]:  # noqa: ANN001
    """The serial run's ledger row at step k (`KEYS` then k): total = K + Π − W as `Reduction.ledger`'s."""
    it, s = sim.integrator, sim.model.system
    Ka, Kc = s.kinetic()
    e = s.energy
    W = it.external_work
    return [Ka, Kc, e["potential_atoms"], e["potential_continuum"], W, it.dissipated,
            Ka + Kc + it.potential - W, float(k)]


def serial_reference(deck_path: str, steps: int, every: int, perturb: float = 0.0) -> dict:
    """The serial run's record (the driver's layout). ``perturb`` > 0: the control run, the atoms' forces
    perturbed after every evaluation by ``perturb`` × standard normal noise (seeded) [force]: how far
    round-off in the forces alone moves the serial record."""
    sim = prepared(deck_path)
    it, s = sim.integrator, sim.model.system
    perturb_forces(s.atoms, perturb)
    hooks = list(it.force_hooks)
    obs, names = [], []

    def row(k: int) -> list[float]:
        names[:], vals = observed(sim)
        obs.append(vals[: len(vals) - len(hook_energies(hooks))] + hook_energies(hooks))
        return ledger_row(sim, k)
    rows = serial_rows(it, steps, every, row)
    return {"x": s.atoms.x.copy(), "v": s.atoms.v.copy(), "U": s.continuum.U.copy(), "V": s.continuum.V.copy(),
            "ledger": np.array(rows), "obs": np.array(obs), "names": np.array(names)}


def main() -> None:
    deck, steps, every, out_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    from multiscale.parallel import get_comm, run_guarded
    from multiscale.parallel.coupled_spatial import SpatialCoupled
    comm = get_comm()

    def run() -> None:
        sim = prepared(deck)
        hooks = list(sim.integrator.force_hooks)
        sc = SpatialCoupled(sim.model, sim.integrator, comm)
        obs = []

        def each(k: int) -> None:
            vals = []
            for ld in sim.model.loads:
                o = ld.observables()
                vals += [float(o[key]) for key in sorted(o)]
            obs.append(vals + hook_energies(hooks))
        rows = spatial_rows(sc, steps, every, KEYS, each)
        g = sc.gather()
        lb = sc.engine.load_balance()
        if comm.rank == 0:
            np.savez(out_path, **g, ledger=np.array(rows), obs=np.array(obs), atoms_per_rank=lb["atoms"],
                     size=comm.size)

    run_guarded(comm, run)


if __name__ == "__main__":
    main()
