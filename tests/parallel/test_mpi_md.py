"""Distributed MD (multiscale/parallel) under ``mpiexec -n 2`` against serial msim.

Each test launches tests/parallel/mpi_driver.py with the venv's mpiexec (mpich, from ``pip install
msim[mpi]``) and compares with the serial `AtomisticRegion` (the serial force path of every msim run) or
with the 1-rank run. References are computed here, in the pytest process, without MPI.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from multiscale._kernels import load
from multiscale.md.system import AtomisticRegion

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mpi_driver import crystal  # noqa: E402
from mpi_helpers import MPIEXEC, mpi_env, rel  # noqa: E402


def run(n_ranks: int, case: str, pot: str, tmp_path: Path, *extra: str, check: bool = True,
        timeout: float = 240) -> dict | subprocess.CompletedProcess:
    """Run the driver on n_ranks (0 = plain serial process, no MPI); return its results."""
    tag = "".join(ch if ch.isalnum() else "_" for ch in "_".join(extra))[-40:]
    out = tmp_path / f"{case}_{pot}_{n_ranks}_{tag}_{time.monotonic_ns()}.npz"
    cmd = [sys.executable, str(HERE / "mpi_driver.py"), case, pot, str(out), *extra]
    if n_ranks:
        assert MPIEXEC.exists(), f"{MPIEXEC} missing: pip install 'msim[mpi]' (mpi4py + mpich)"
        cmd = [str(MPIEXEC), "-n", str(n_ranks), *cmd]
    p = subprocess.run(cmd, env=mpi_env(keep_threads=True), capture_output=True, text=True, timeout=timeout)
    if not check:
        return p
    assert p.returncode == 0, p.stderr[-3000:]
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def serial_region(pot: str) -> tuple[AtomisticRegion, dict]:
    c = crystal(pot)
    reg = AtomisticRegion(c["X"], c["mass"], c["potential"], c["box"], c["skin"])
    reg.v[...] = c["v"]
    return reg, c


@pytest.mark.parametrize("overlap", [True, False], ids=["overlap", "blocking"])
@pytest.mark.parametrize("newton", [False, True], ids=["full", "newton"])
@pytest.mark.parametrize(("ranks", "pot"), [(2, "lj"), (2, "eam"), (3, "lj")])
def test_forces_and_energy_match_serial(pot: str, newton: bool, overlap: bool, ranks: int,
                                        tmp_path: Path) -> None:
    """2 and 3 ranks (3: the two neighbours of a slab are different ranks; oversubscribes 2 cores):
    per-atom forces, per-atom energies and the total energy equal serial msim to 1e-12, with the ghost
    exchange overlapped with the interior entries (two lists) or not (one list)."""
    reg, _ = serial_region(pot)
    E = reg.compute()
    r = run(ranks, "forces", pot, tmp_path, *(["--newton"] if newton else []),
            *(["--overlap"] if overlap else []))
    assert int(r["size"]) == ranks and np.all(r["atoms_per_rank"] > 0)
    np.testing.assert_array_equal(r["gid"], np.arange(reg.n))
    assert rel(r["forces"], reg.forces) <= 1e-12
    assert abs(float(r["epot"]) - E) <= 1e-12 * abs(E)
    # owned atoms hold their symmetric per-atom shares (newton: the ghosts' halves sent back by gather)
    assert rel(r["energies"], reg.energies) <= 1e-12


def serial_nve(pot: str, steps: int) -> tuple[AtomisticRegion, float]:
    """The serial msim reference: AtomisticRegion forces (neighbour policy: rebuild at skin/2) and the
    verlet kernels' kick/drift."""
    reg, c = serial_region(pot)
    k = load("verlet")
    inv_m = 1.0 / reg.mass
    dt = c["dt"]
    reg.compute()
    for _ in range(steps):
        k.kick(reg.v, reg.forces, inv_m, 0.5 * dt, 1)
        k.drift(reg.x, reg.v, dt, 1)
        E = reg.compute()
        k.kick(reg.v, reg.forces, inv_m, 0.5 * dt, 1)
    return reg, E


@pytest.mark.parametrize("steps", [pytest.param(1000, marks=pytest.mark.slow), 150])
@pytest.mark.parametrize("pot", ["lj", "eam"])
def test_nve_1_vs_2_ranks(pot: str, steps: int, tmp_path: Path) -> None:
    """1 000 (slow) and 150 NVE steps: 1 rank, 2 ranks (both force modes; full also overlapped) and
    serial msim agree to 1e-12 relative in positions and energies; atoms migrated between the slabs; the
    same P twice is bitwise.

    Velocities are held to 1e-10: the different summation order (1e-16) grows chaotically in the LJ
    crystal at T* = 0.3 (measured 8.6e-12 after 1 000 steps; 6e-16 for EAM Cu at 300 K)."""
    st = ("--steps", str(steps))
    r1 = run(0, "nve", pot, tmp_path, *st)
    r2 = run(2, "nve", pot, tmp_path, *st)
    r2b = run(2, "nve", pot, tmp_path, *st)
    r2n = run(2, "nve", pot, tmp_path, "--newton", *st)
    r2o = run(2, "nve", pot, tmp_path, "--overlap", *st)      # exchange overlapped with the interior pairs
    reg, E = serial_nve(pot, steps)
    # migration really happened during the run (the drift along x carries atoms across the faces)
    assert int(r2["migrated"]) > reg.n * steps // 5000
    assert int(r1["migrated"]) == 0
    for other in (r2, r2n, r2o):
        assert rel(other["x"], r1["x"]) <= 1e-12
        assert rel(other["v"], r1["v"]) <= 1e-10
        assert abs(other["epot"] - r1["epot"]) <= 1e-12 * abs(r1["epot"])
        assert abs(other["ekin"] - r1["ekin"]) <= 1e-12 * abs(r1["ekin"])
    assert rel(r1["x"], reg.x) <= 1e-12
    assert rel(r1["v"], reg.v) <= 1e-10
    print(f"{pot}: 2 vs 1 rank x {rel(r2['x'], r1['x']):.2e} v {rel(r2['v'], r1['v']):.2e} "
          f"epot {abs(r2['epot'] / r1['epot'] - 1):.2e}; newton x {rel(r2n['x'], r1['x']):.2e}; "
          f"1 rank vs serial msim x {rel(r1['x'], reg.x):.2e} epot {abs(r1['epot'] / E - 1):.2e}; "
          f"migrated {int(r2['migrated'])} of {reg.n}")
    assert abs(float(r1["epot"]) - E) <= 1e-12 * abs(E)
    # the atoms travelled (the check above is not vacuous)
    assert np.mean(np.abs(reg.x[:, 0] - reg.X[:, 0])) > 0.1 * reg.box.lengths[0] * steps / 1000
    for key in ("x", "v", "forces", "energies", "epot", "ekin"):
        np.testing.assert_array_equal(r2[key], r2b[key], err_msg=key)


def test_langevin_same_trajectory_for_any_rank_count(tmp_path: Path) -> None:
    """Langevin noise keyed by (seed, step, global id): 1 and 2 ranks follow the same trajectory."""
    r1 = run(0, "nve", "lj", tmp_path, "--langevin", "--steps", "300")
    r2 = run(2, "nve", "lj", tmp_path, "--langevin", "--steps", "300")
    r0 = run(0, "nve", "lj", tmp_path, "--steps", "300")
    assert rel(r0["v"], r1["v"]) > 1e-3          # the thermostat acts
    assert rel(r2["x"], r1["x"]) <= 1e-12
    assert rel(r2["v"], r1["v"]) <= 1e-12


def test_restart_on_another_rank_count(tmp_path: Path) -> None:
    """The gathered state (gid-sorted, unwrapped positions) of a 2-rank run restarts on 1 rank and that of a
    1-rank run on 2 ranks; both continue like an uninterrupted run. With Langevin: the step counter keys
    the noise and the last forces (noise + friction of the half-step velocity) come from the state
    (measured 8e-6 off when they were recomputed from x and v instead)."""
    lg = ("--langevin",)
    full = run(0, "nve", "lj", tmp_path, *lg, "--steps", "160")
    a2 = run(2, "nve", "lj", tmp_path, *lg, "--steps", "80")
    a1 = run(0, "nve", "lj", tmp_path, *lg, "--steps", "80")
    assert int(a2["step"]) == 80
    paths = []
    for i, a in enumerate((a2, a1)):
        paths.append(tmp_path / f"state{i}.npz")
        np.savez(paths[-1], **a)
    b1 = run(0, "nve", "lj", tmp_path, *lg, "--steps", "80", "--from", str(paths[0]))
    b2 = run(2, "nve", "lj", tmp_path, *lg, "--steps", "80", "--from", str(paths[1]))
    for b in (b1, b2):
        assert int(b["step"]) == 160
        assert rel(b["x"], full["x"]) <= 1e-12
        assert rel(b["v"], full["v"]) <= 1e-12
        assert abs(b["epot"] / full["epot"] - 1) <= 1e-12


def test_failure_on_one_rank_stops_all(tmp_path: Path) -> None:
    """Rank 1 raises after 10 steps while rank 0 waits in a collective: the job ends within seconds
    with a non-zero status and rank 1's message."""
    t0 = time.monotonic()
    p = run(2, "nve", "lj", tmp_path, "--fail-rank", "1", "--steps", "100000", check=False, timeout=120)
    assert p.returncode != 0
    assert "msim: rank 1/2: ValueError: deliberate failure on rank 1" in p.stderr
    assert time.monotonic() - t0 < 60


def test_slabs_thinner_than_the_list_radius_are_refused(tmp_path: Path) -> None:
    """The 14.46 Å EAM crystal cut in 3 slabs of 4.82 Å < rlist = 5.95 Å: a clear message from every
    rank's check, non-zero exit, no hang."""
    p = run(3, "forces", "eam", tmp_path, check=False, timeout=120)
    assert p.returncode != 0
    assert "thinner than the neighbour-list radius cutoff + skin = 5.95" in p.stderr
