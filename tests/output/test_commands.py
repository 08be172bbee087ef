"""inspect / plot / export through click's CliRunner on the command objects; user mistakes exit 2."""

from __future__ import annotations

import ase.io
import h5py
import matplotlib.image
import numpy as np
import pytest
from click.testing import CliRunner

from multiscale.output.commands import (
    _plot_energy,
    _plot_observables,
    _plot_xy,
    export_cmd,
    inspect_cmd,
    plot_cmd,
    series_unit,
)
from multiscale.output.hdf5 import ResultsWriter
from multiscale.output.reader import ResultsReader
from multiscale.output.reflection import write_reflection

from . import synth

STEPS = [0, 10, 20, 30]


@pytest.fixture
def results(tmp_path):
    path = tmp_path / "run.h5"
    with ResultsWriter(path, static=synth.static(), **synth.WRITER_KW) as w:
        for s in STEPS:
            atoms, nodes = synth.frame(s)
            w.write_frame(s, 0.002 * s, atoms, nodes)
            th = synth.thermo(s)
            th["total"], th["dissipated"] = -100.0 + 1e-3 * s, 0.0
            w.write_thermo(s, 0.002 * s, th)
            w.write_observables(s, 0.002 * s, synth.observables(s))
    return path


def _run(cmd, *args):
    return CliRunner().invoke(cmd, [str(a) for a in args])


def test_inspect(results):
    res = _run(inspect_cmd, results, "--deck")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "closed cleanly" in out and "units metal" in out and "seed 7" in out
    assert "frames: 4 (steps 0 … 30" in out
    assert "atoms/displacement (12, 2)" in out and "nodes/velocity (12, 2)" in out
    assert "connectivity/" in out and "thermo: 4 rows" in out
    assert "total + dissipated: relative change 3.000e-04" in out      # (−99.97 − (−100)) / 100
    assert "indenter_force (2,)" in out and "# synthetic deck" in out


def test_plots(results, tmp_path):
    for what in ("energy", "observables"):
        res = _run(plot_cmd, results, what)
        assert res.exit_code == 0, res.output
        png = tmp_path / f"run_{what}.png"
        img = matplotlib.image.imread(png)
        assert img.ndim == 3 and img.shape[0] > 100 and img.std() > 0      # a real, non-blank picture
    res = _run(plot_cmd, results, "energy", "-f", "total", "-o", tmp_path / "sub" / "e.png")
    assert res.exit_code == 0 and (tmp_path / "sub" / "e.png").is_file()
    ka = np.linspace(0.1, np.pi, 12)
    write_reflection(tmp_path / "verify.h5", ka, np.column_stack([1e-6 * ka**4, 1e-7 * ka**4]),
                     labels=["cubic", "quintic"])
    res = _run(plot_cmd, tmp_path / "verify.h5", "reflection", "-o", tmp_path / "R.png")
    assert res.exit_code == 0, res.output
    assert matplotlib.image.imread(tmp_path / "R.png").std() > 0


def test_exports(results, tmp_path):
    res = _run(export_cmd, results, "--format", "extxyz")
    assert res.exit_code == 0, res.output
    assert len(ase.io.read(tmp_path / "run.extxyz", index=":")) == len(STEPS)
    res = _run(export_cmd, results, "--format", "extxyz", "--frames", "1:3", "-o", tmp_path / "two.xyz")
    assert res.exit_code == 0 and len(ase.io.read(tmp_path / "two.xyz", index=":")) == 2
    res = _run(export_cmd, results, "--format", "xdmf")
    assert res.exit_code == 0 and (tmp_path / "run.xdmf").is_file() and (tmp_path / "run.mesh.xdmf").is_file()
    res = _run(export_cmd, results, "--format", "vtu", "-o", tmp_path / "vtu" / "run")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "vtu" / "run.pvd").is_file() and (tmp_path / "vtu" / "run_atoms_30.vtu").is_file()


def test_user_mistakes_exit_2(results, tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    cases = [
        (inspect_cmd, [tmp_path / "missing.h5"], "no such results file"),
        (inspect_cmd, [junk], "not an HDF5 file"),
        (inspect_cmd, [other], "not an msim results file"),
        (plot_cmd, [results, "energy", "-f", "kinetic"], "no energy ledger (thermo) column 'kinetic'"),
        (plot_cmd, [results, "reflection"], "no reflection sweep"),
        (plot_cmd, [results, "stress"], "unknown plot 'stress'"),
        (plot_cmd, [results, "time", "stress"], "no series 'stress'"),
        (export_cmd, [results, "--format", "pdb"], "Invalid value"),
        (export_cmd, [results, "--format", "extxyz", "--frames", "a:b"], "START:STOP"),
        (export_cmd, [other, "--format", "xdmf"], "not an msim results file"),
    ]
    for cmd, args, msg in cases:
        res = _run(cmd, *args)
        assert res.exit_code == 2, (args, res.output)
        assert msg in res.output, (args, res.output)
    res = _run(plot_cmd, results, "energy", "-f", "kinetic")
    assert "hint: available: coupling, dissipated, external_work, kinetic_atoms" in res.output


def test_killed_file_inspect_and_repair(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from .test_kill import ROOT, WRITER
    path = tmp_path / "k.h5"
    script = WRITER.format(root=str(ROOT), here=str(ROOT / "tests" / "output"), path=str(path), comp=None)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for _ in range(3):
        proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    res = _run(inspect_cmd, path)
    assert res.exit_code == 0 and "NOT closed cleanly: the run was killed" in res.output
    res = _run(export_cmd, path, "--format", "xdmf", "--repair")
    assert res.exit_code == 0 and "cleared the open-for-write flags" in res.output
    assert "closed cleanly" in _run(inspect_cmd, path).output


def test_file_left_open_without_swmr_is_explained_and_repaired(results):
    import os
    import signal
    import subprocess
    import sys
    import time

    # a process that holds the file open for plain (non-SWMR) writing, then dies by SIGKILL
    code = (f"import h5py, time; f = h5py.File({str(results)!r}, 'r+', libver='latest'); "
            "print(1, flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    time.sleep(0.01)
    res = _run(inspect_cmd, results)
    assert res.exit_code == 2 and "left open for writing by a killed run" in res.output
    assert "--repair" in res.output
    res = _run(export_cmd, results, "--format", "extxyz", "--repair")
    assert res.exit_code == 0, res.output
    assert "frames: 4" in _run(inspect_cmd, results).output


def test_group_temperatures_are_labelled_as_temperatures(results):
    """The observables a coupled run writes per group (temperature_core, _handshake, _pad, _continuum)
    are temperatures, not ledger energies (they were labelled [eV] / [ε] by the energy fallback)."""
    with ResultsReader(results) as r:
        assert series_unit(r, "temperature", False) == "K"
        for name in ("temperature_core", "temperature_handshake", "temperature_pad", "temperature_continuum"):
            assert series_unit(r, name, False) == "K", name
        assert series_unit(r, "kinetic_atoms", False) == "eV"       # the ledger's terms stay energies


# ---------------------------------------------------------------------------------------------- real runs
def _axes_labelled(fig) -> None:
    """Every axis of every panel names a unit, and no unit is unknown."""
    for ax in fig.axes:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert label and ("[" in label or label == "load stage"), label
            assert "[?]" not in label, label


def test_quasistatic_plots_against_the_load_parameter_with_force_depth(real_run, tmp_path):
    h5 = real_run("indent2d_small")
    with ResultsReader(h5) as r:
        ob, th = r.observables(), r.thermo()
        depth, load = ob["indenter.depth"], ob["indenter.load"]
        assert len(depth) == 2 and depth[1] == 0.5             # two stages: d = 0, 0.5 σ
        fig = _plot_observables(r, (), str(h5))
        _axes_labelled(fig)
        fd = [ax for ax in fig.axes if ax.get_title().startswith("force–depth")]
        assert len(fd) == 1
        assert fd[0].get_xlabel() == "indenter.depth [σ]" and fd[0].get_ylabel() == "indenter.load [ε/σ]"
        line = fd[0].get_lines()[0]
        np.testing.assert_array_equal(line.get_xdata(), depth)
        np.testing.assert_array_equal(line.get_ydata(), load)
        assert load[1] > 1.0                                     # the indenter pushes: a real force
        others = [ax for ax in fig.axes if ax not in fd]
        assert others and all(ax.get_xlabel() == "indenter.depth [σ]" for ax in others)
        assert "indenter.contacts [count]" in [ax.get_ylabel() for ax in others]
        fig = _plot_energy(r, (), str(h5))
        _axes_labelled(fig)
        ax = fig.axes[0]
        assert ax.get_xlabel() == "indenter.depth [σ]" and ax.get_ylabel() == "E − E(start) [ε]"
        lines = {ln.get_label().split(" ")[0]: ln for a in fig.axes for ln in a.get_lines()}
        assert {"iterations", "max_force", "wall", "indenter.load"}.isdisjoint(lines)   # not energies
        np.testing.assert_array_equal(lines["energy"].get_ydata(), th["energy"] - th["energy"][0])
        np.testing.assert_array_equal(lines["energy"].get_xdata(), depth)
        fig = _plot_xy(r, "indenter.depth", "indenter.force_y", str(h5))
        assert fig.axes[0].get_xlabel() == "indenter.depth [σ]"
        np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata(), ob["indenter.force_y"])
    res = _run(plot_cmd, h5, "indenter.depth", "indenter.load", "-o", tmp_path / "fd.png")
    assert res.exit_code == 0, res.output
    assert matplotlib.image.imread(tmp_path / "fd.png").std() > 0


def test_dynamics_energy_changes_and_totals_panel(real_run):
    h5 = real_run("lj_melt")
    with ResultsReader(h5) as r:
        th = r.thermo()
        fig = _plot_energy(r, (), str(h5))
        _axes_labelled(fig)
        assert [ax.get_xlabel() for ax in fig.axes] == ["time [τ]", "time [τ]"]
        terms, totals = fig.axes
        lines = {ln.get_label().split(" ")[0]: ln for ln in totals.get_lines()}
        assert set(lines) >= {"total", "total_plus_dissipated"}
        np.testing.assert_array_equal(lines["total"].get_xdata(), th["time"])
        np.testing.assert_array_equal(lines["total"].get_ydata(), th["total"] - th["total"][0])
        # the drift of the total is visible on its own scale: not flattened by the ±1000 ε exchange
        lo, hi = totals.get_ylim()
        assert hi - lo < 0.1 * np.ptp(th["kinetic_atoms"])
        assert "kinetic_atoms" in {ln.get_label().split(" ")[0] for ln in terms.get_lines()}
        fig = _plot_observables(r, (), str(h5))
        _axes_labelled(fig)
        assert fig.axes[0].get_ylabel() == "temperature [ε/k_B]"
