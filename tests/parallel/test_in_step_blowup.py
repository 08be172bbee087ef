"""A blow-up found INSIDE a step on P ranks is collective (review rev32 F16).

Before: a rank whose rebuild met non-finite or flown atoms (`ValueError: non-finite positions` of the
neighbour build, a negative cell count) raised alone while the other ranks waited in its collectives;
`run_guarded` then MPI_Aborted every rank: no OUT.lastgood.h5, the results file left "open for write" (only
a SWMR reader opened it) and its lock file behind. Now the distributed engine's rebuild check — the
Allreduce every check step already does — carries the flag (`DistributedMD._verdict`: an owned position
NaN, or an atom moved more than 10⁶ box sides since the last build, beyond what its rebuild can take), so every rank raises the same `BlowUpError` at the same step; rank 0 saves the last good state and
closes the results file with every finished step, as for the guard's collective verdict.

The MPI tests run the real command line under ``mpiexec -n 2`` (`mpi_helpers.msim`) and open the files
with h5py afterwards. Broken on purpose: `_verdict` returning the rebuild decision without raising makes
both MPI tests fail (exit 3 from rank 1's abort, "could NOT be saved", no OUT.lastgood.h5, the file only
SWMR-readable); the unit tests fail when the kernel skips NaN (`max_displacement_sq`'s rule)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from mpi_helpers import ROOT, deck_copy, msim

from multiscale.errors import BlowUpError

LJ = ROOT / "decks" / "lj_melt.yaml"

#: the 2D coupled deck of test_mpi_spatial_blowup.py: dt 0.5 ps blows up inside step 1..5 (before this fix
#: rank 1 aborted at step 5: "an atom of this rank moves 1.72e+10 Å per step ... could NOT be saved")
COUPLED = """\
msim: 1
units: metal
potential: {type: morse, D: 0.3429, alpha: 1.3588, r0: 2.866, cutoff: 6.0, truncation: shift}
atoms:
  lattice: {type: hex, a: relaxed}
  region: {type: box, lo: [-25.0, -20.0], hi: [31.0, 20.0]}
  mass: 63.546
  skin: 0.5
continuum:
  mesh: {type: rectangle, element: quad4, lo: [-60.0, -50.0], hi: [70.0, 50.0], size: 3.0,
         hole: {lo: [-6.0, -6.0], hi: [12.0, 6.0]}}
handshake:
  shape: {type: box, lo: [-9.0, -9.0], hi: [15.0, 9.0]}
  width: 7.0
  blend: {type: linear}
  coupling: {type: projected}
loads:
  - {type: radial_pulse, center: [3.0, 1.0], sigma: 3.0, amplitude: 1.0}
integrator: {type: verlet, dt: 0.5, steps: 300, allow_unstable_dt: true}
output: {every: 100, thermo_every: 100}
"""


def _closed_cleanly(out: Path) -> dict:
    """The results file opened WITHOUT SWMR (a file a killed writer left open for write refuses that) and
    its lock file gone; returns the thermo steps and the frame count."""
    assert not Path(str(out) + ".lock").exists(), "the results file's lock was left behind"
    with h5py.File(out, "r") as f:
        steps = np.asarray(f["thermo/step"][()]) if "step" in f["thermo"] else None
        frames = {k: f["frames/atoms"][k].shape[0] for k in f["frames/atoms"]}
    return {"steps": steps, "frames": frames}


def _one_collective_message(p) -> None:  # noqa: ANN001
    assert p.returncode == 3, p.stderr[-3000:]
    assert p.stderr.count("the run became unstable") == 1, p.stderr[-3000:]
    assert "found inside the step on every rank together" in p.stderr, p.stderr[-3000:]
    for bad in ("MPI_Abort", "Traceback", "could NOT be saved", "msim: rank"):
        assert bad not in p.stderr, p.stderr[-3000:]


def test_plain_md_blowup_inside_a_step_after_good_rows(tmp_path: Path) -> None:
    """lj_melt with dt 0.02 (4x too large), thermo and frames every 40 steps: seven good rows, then the
    atoms fly apart inside a step between rows (serial: "non-finite positions" at step 306, last good
    step 280). On 2 ranks: exit 3 once, OUT.lastgood.h5 at step 280 (what the serial run saves), the
    results file closed with rows 0…280 and their frames."""
    deck = deck_copy(LJ, tmp_path, integrator={"dt": 0.02, "steps": 400, "allow_unstable_dt": True},
                     output={"every": 40, "thermo_every": 40})
    for n in (0, 2):
        out = tmp_path / f"lj{n}.h5"
        p = msim(n, str(deck), "-o", str(out))
        if n:
            _one_collective_message(p)
        else:
            assert p.returncode == 3 and "is saved in" in p.stderr, p.stderr[-3000:]
        from multiscale.output.checkpoint import load_checkpoint
        st = load_checkpoint(tmp_path / f"lj{n}.lastgood.h5")
        assert int(st["integrator"]["step"]) == 280, (n, int(st["integrator"]["step"]))
        x = st["integrator"]["x"]
        assert x.shape == (500, 3) and np.all(np.isfinite(x))
        rec = _closed_cleanly(out)
        assert rec["steps"].tolist() == list(range(0, 281, 40)), (n, rec["steps"])
        assert set(rec["frames"].values()) == {8}, (n, rec["frames"])


def test_spatial_coupled_blowup_inside_a_step(tmp_path: Path) -> None:
    """The coupled spatial path (`--decompose spatial`) on 2 ranks: exit 3 once, OUT.lastgood.h5 (the
    initial state, the last guarded one) saved and restartable in layout, the results file closed."""
    deck = tmp_path / "blow.yaml"
    deck.write_text(COUPLED)
    out = tmp_path / "c.h5"
    p = msim(2, str(deck), "-o", str(out), "--decompose", "spatial")
    _one_collective_message(p)
    from multiscale.output.checkpoint import load_checkpoint
    st = load_checkpoint(tmp_path / "c.lastgood.h5")
    assert int(st["integrator"]["step"]) == 0
    assert np.all(np.isfinite(st["integrator"]["x"])) and np.all(np.isfinite(st["integrator"]["U"]))
    rec = _closed_cleanly(out)
    assert rec["steps"].tolist() == [0], rec["steps"]


# ------------------------------------------------------------------------------------------ one process
def _engine(neighbor=None):  # noqa: ANN001, ANN202
    from multiscale.md.box import Box
    from multiscale.md.potentials.lj import LennardJones
    from multiscale.parallel.comm import SerialComm
    from multiscale.parallel.engine import DistributedMD
    a, nc = 1.6796, 4
    g = np.stack(np.meshgrid(*[np.arange(nc)] * 3, indexing="ij"), -1).reshape(-1, 3) * a
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * a
    x = (g[:, None, :] + basis[None]).reshape(-1, 3)
    box = Box(np.zeros(3), np.full(3, nc * a), np.ones(3, bool))
    pot = LennardJones(1.0, 1.0, 2.5, "shift")
    return DistributedMD(SerialComm(), x, np.zeros_like(x), np.ones(len(x)), np.arange(len(x)), pot, box, 0.3,
                         neighbor=neighbor)


@pytest.mark.parametrize("check", [True, False], ids=["check", "no_check"])
@pytest.mark.parametrize("what", ["nan", "inf", "jump"])
def test_engine_check_raises_collectively(what: str, check: bool) -> None:
    """The rebuild check raises the in-step blow-up (``collective``, ``in_step``) for a NaN position (the
    plain kernel skips it: no rebuild, and the run went on), an infinite one and a jump of more than 10⁶
    box sides; the step is not counted. A move just below that limit rebuilds (the run goes on, as the
    serial one). Without ``check`` in the neighbour policy the rebuild's step reduces the flag too."""
    pol = {"every": 1, "delay": 0, "check": check}
    md = _engine(pol)
    md.v[7, 0] = {"nan": np.nan, "inf": np.inf, "jump": 1.01e6 * 4 * 1.6796 / 0.005}[what]
    with pytest.raises(BlowUpError) as e:
        md.step(1, 0.005)
    assert e.value.collective and e.value.in_step, e.value
    assert md.step_count == 0
    assert ("no longer finite" in str(e.value)) == (what != "jump"), e.value
    ok = _engine(pol)
    ok.v[7, 0] = 0.99e6 * 4 * 1.6796 / 0.005     # just below the limit: rebuilds, no blow-up
    builds = ok.n_builds
    ok.step(1, 0.005)
    assert ok.n_builds == builds + 1 and ok.step_count == 1


def test_nan_kernel() -> None:
    """`max_displacement_sq_nan`: the plain kernel's maximum, NaN when any displacement is NaN (wherever it
    is), inf for an infinite one."""
    from multiscale._kernels import load
    kn = load("neighbors")
    rng = np.random.default_rng(2)
    x0 = rng.random((50, 3))
    x = x0 + 0.1 * rng.standard_normal((50, 3))
    assert kn.max_displacement_sq_nan(x, x0) == kn.max_displacement_sq(x, x0)
    for i in (0, 17, 49):
        y = x.copy()
        y[i, 1] = np.nan
        assert np.isnan(kn.max_displacement_sq_nan(y, x0)), i
        y[i, 1] = np.inf
        assert kn.max_displacement_sq_nan(y, x0) == np.inf, i
