"""Quasi-statics under `mpiexec -n 2 msim run` (multiscale/run/distributed_statics.py) against the serial
`msim run` of the same deck.

The reference is the plain serial run (`AtomisticRegion.compute` on the whole neighbour list, the serial
minimiser). On 2 ranks each rank computes the pair kernel on the list entries touching its atom block and
the owned rows are allgathered; the split is designed to give every atom's force and energy the same terms
in the same order as the serial kernel, so the whole run — every minimiser iterate, every converged stage —
must be BITWISE the serial run (asserted; the issue asks ≤ 1e-12). Decks: the fully atomistic indentation
(precon_lbfgs, fixed rows + indenter) and the mode-I crack (FIRE, K-field + precrack bond weights).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from mpi_helpers import ROOT, deck_copy, msim, ok, serial_and_two

INDENT = ROOT / "decks" / "indent2d_full_small.yaml"
CRACK = ROOT / "decks" / "crack2d_small.yaml"
LJ3D = Path(__file__).resolve().parent / "decks" / "lj3d_indent_statics.yaml"  # fcc, periodic x, y

#: results columns that are wall-clock times (differ between any two runs)
_CLOCK = ("wall",)


def datasets(path: Path) -> dict:
    """Every dataset under frames/, thermo/ and observables/ except wall-clock columns: {name: array}."""
    out = {}
    with h5py.File(path, "r") as f:
        for top in ("frames", "thermo", "observables"):
            if top in f:
                f[top].visititems(lambda n, o, t=top: out.__setitem__(f"{t}/{n}", o[()])
                                  if isinstance(o, h5py.Dataset) and n.split("/")[-1] not in _CLOCK else None)
    return out


def assert_bitwise(a: Path, b: Path) -> int:
    da, db = datasets(a), datasets(b)
    assert sorted(da) == sorted(db)
    bad = [k for k in da if da[k].shape != db[k].shape or da[k].tobytes() != db[k].tobytes()]
    assert not bad, "differ: " + ", ".join(
        f"{k} (max rel {np.max(np.abs(da[k] - db[k])) / max(np.max(np.abs(db[k])), 1e-300):.2e})"
        if da[k].shape == db[k].shape and da[k].dtype.kind == "f" else k for k in bad)
    n_frames = da["frames/step"].size
    assert n_frames > 1
    return n_frames


@pytest.mark.parametrize("deck,stages,minimizer",
                         [(INDENT, None, None), (CRACK, 3, None), (INDENT, 3, "lbfgs"), (LJ3D, None, None)],
                         ids=["indent_precon_lbfgs", "crack_fire", "indent_lbfgs", "lj3d_periodic_fire"])
def test_statics_one_vs_two_ranks_bitwise(tmp_path: Path, deck: Path, stages: int | None,
                                          minimizer: str | None) -> None:
    """Every converged stage (positions, displacements, forces, energies, iterations, observables) of the
    2-rank run equals the serial run bitwise; the energies are those of the serial minimiser."""
    if minimizer is not None:
        deck = deck_copy(deck, tmp_path, integrator={"type": minimizer, "ftol": 1e-6})
    extra = [] if stages is None else ["--stages", str(stages)]
    s, p = serial_and_two(deck, tmp_path, *extra)
    n = assert_bitwise(p, s)
    with h5py.File(s, "r") as f:
        assert np.all(f["thermo/converged"][()])
        assert np.any(f["thermo/indenter.load"][()] > 0) if "thermo/indenter.load" in f else True
    print(deck.name, minimizer, "stages", n, "bitwise")


def test_statics_same_p_twice(tmp_path: Path) -> None:
    """The indentation on 2 ranks twice: bitwise."""
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    for out in (a, b):
        ok(msim(2, str(INDENT), "-o", str(out), "--stages", "3"))
    assert_bitwise(a, b)


@pytest.mark.parametrize("first,second", [(2, 0), (0, 2)], ids=["2to1", "1to2"])
def test_statics_restart_across_p(tmp_path: Path, first: int, second: int) -> None:
    """A statics run stopped after 2 stages on ``first`` ranks (its checkpoint), continued to stage 3 on
    ``second`` ranks: bitwise the straight serial 4-stage run."""
    restart_across_p(deck_copy(INDENT, tmp_path, output={"checkpoint_every": 1}), tmp_path, first, second)


def restart_across_p(deck: Path, tmp_path: Path, first: int, second: int) -> None:
    """``deck`` (checkpoint every stage) run 2 stages on ``first`` ranks, restarted from its checkpoint to
    stage 4 on ``second`` ranks (0 = serial): asserted bitwise the straight serial 4-stage run."""
    ref, out = tmp_path / "ref.h5", tmp_path / "run.h5"
    ok(msim(0, str(deck), "-o", str(ref), "--stages", "4"))
    ok(msim(first, str(deck), "-o", str(out), "--stages", "2"))
    ck = out.with_name(out.stem + ".checkpoint.h5")
    assert ck.exists()
    ok(msim(second, str(deck), "-o", str(out), "--restart", str(ck), "--stages", "4"))
    assert assert_bitwise(out, ref) == 4


@pytest.mark.parametrize("deck", [INDENT, CRACK], ids=["indent", "crack"])
def test_split_force_evaluation(tmp_path: Path, deck: Path) -> None:
    """One force evaluation of the jittered atoms: on 2 ranks each rank's kernel runs on fewer entries
    than the serial list (the work is split: the entries touching its block, the cross-block pairs on
    both), and the allgathered forces, per-atom energies and energy are bitwise the serial ones."""
    import json

    from mpi_helpers import HERE, mpirun
    from mpi_statics_driver import jitter

    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    out = tmp_path / "f.npz"
    p = mpirun(2, HERE / "mpi_statics_driver.py", deck, out)
    assert p.returncode == 0, p.stderr[-3000:]
    got = np.load(out)
    sim = Simulation.from_deck(load_deck(deck))
    sim.prepare()
    a = sim.model.atoms
    a.x[...] = jitter(a.X)
    E = float(sim.model.system.compute_forces())
    assert int(got["size"]) == 2
    lb = json.loads(str(got["load"]))
    n_serial = int(a.nlist.neighbors.size)
    assert lb["entries_serial"] == n_serial
    assert max(lb["entries"]) < 0.75 * n_serial, lb          # each rank computes about half the pairs
    assert sum(lb["entries"]) >= n_serial
    print(deck.name, lb)
    assert got["forces"].tobytes() == a.forces.tobytes()
    assert got["energies"].tobytes() == a.energies.tobytes()
    assert float(got["energy"]) == E


@pytest.mark.parametrize("rank", [-1, 1], ids=["nan_on_every_rank", "nan_on_rank1_only"])
def test_statics_blow_up_is_collective(tmp_path: Path, rank: int) -> None:
    """NaN energies from the kernel after its 40th call (on every rank, or on rank 1 only: its block's
    energies reach every rank through the allgather): every rank stops at the same load stage with exit 3,
    the message printed once, no MPI_Abort; the results file holds the good stages and OUT.lastgood.h5
    the state after the last good one — the same stage and state as the serial run poisoned alike."""
    from mpi_helpers import HERE, mpirun

    from multiscale.output.checkpoint import load_checkpoint
    outs = {}
    for n in (0, 2):
        out = tmp_path / f"p{n}.h5"
        p = mpirun(n, HERE / "mpi_statics_driver.py", "--poison", "40", rank if n else -1, "--", "run",
                   "--quiet", INDENT, "-o", out)
        assert p.returncode == 3, p.stderr[-3000:]
        assert p.stderr.count("blow-up in load stage") == 1, p.stderr
        assert "Traceback" not in p.stderr and "MPI_Abort" not in p.stderr, p.stderr
        outs[n] = out
    st0 = load_checkpoint(tmp_path / "p0.lastgood.h5")
    st2 = load_checkpoint(tmp_path / "p2.lastgood.h5")
    assert st2["next_stage"] == st0["next_stage"] >= 1
    assert st2["x"].tobytes() == st0["x"].tobytes()
    assert_bitwise(outs[2], outs[0])
