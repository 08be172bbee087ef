"""A writer killed with SIGKILL at a random moment leaves a file that opens and holds every completed step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from multiscale.output.hdf5 import ResultsWriter, is_clean, repair
from multiscale.output.reader import ResultsReader

from . import synth

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import sys
    sys.path[:0] = [{root!r}, {here!r}]
    import synth
    from multiscale.output.hdf5 import ResultsWriter
    w = ResultsWriter({path!r}, static=synth.static(), compression={comp!r}, **synth.WRITER_KW)
    step = 0
    while True:
        atoms, nodes = synth.frame(step)
        w.write_frame(step, 0.002 * step, atoms, nodes)
        w.write_thermo(step, 0.002 * step, synth.thermo(step))
        print(step, flush=True)          # the step is complete: it must survive a kill from now on
        step += 1
""")


def _run_and_kill(path: Path, min_steps: int, delay: float, compression) -> int:
    """Start the writer, wait for `min_steps` completed steps (+ `delay` s), SIGKILL; last completed step."""
    script = WRITER.format(root=str(ROOT), here=str(Path(__file__).parent), path=str(path), comp=compression)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    last = -1
    try:
        while last < min_steps:
            line = proc.stdout.readline()
            assert line, "writer died early"
            last = int(line)
        time.sleep(delay)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    lines = out.split()
    return int(lines[-1]) if lines else last


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("min_steps", "delay", "compression"),
                         [(3, 0.0, None), (20, 0.013, None), (40, 0.031, "gzip"), (5, 0.047, "gzip")])
def test_sigkilled_writer_leaves_readable_file(tmp_path, min_steps, delay, compression):
    path = tmp_path / "killed.h5"
    last = _run_and_kill(path, min_steps, delay, compression)
    assert not is_clean(path)
    with ResultsReader(path) as r:                        # opens without modifying the file
        assert not r.clean
        n = r.nframes
        assert n >= last + 1                              # every completed step is there
        np.testing.assert_array_equal(r.steps, np.arange(n))
        for i in [0, n // 2, n - 1]:
            atoms, nodes = synth.frame(i)
            fr = r.frame(i)
            for k in atoms:
                assert fr["atoms"][k].tobytes() == atoms[k].tobytes()
            for k in nodes:
                assert fr["nodes"][k].tobytes() == nodes[k].tobytes()
        th = r.thermo()
        assert len(th["step"]) >= last + 1
        assert th["total"][last] == synth.thermo(last)["total"]
    assert repair(path) and is_clean(path)
    with h5py.File(path, "r") as f:                       # any HDF5 tool now opens it
        assert f["frames/step"].shape[0] == n
    # restart: append from the last complete frame, no duplicates
    with ResultsWriter(path, static=synth.static(), append=True, compression=compression,
                       **synth.WRITER_KW) as w:
        w.truncate_after(last)
        for s in (last + 1, last + 2):
            atoms, nodes = synth.frame(s)
            w.write_frame(s, 0.002 * s, atoms, nodes)
            w.write_thermo(s, 0.002 * s, synth.thermo(s))
    with ResultsReader(path) as r:
        np.testing.assert_array_equal(r.steps, np.arange(last + 3))
        np.testing.assert_array_equal(r.thermo()["step"], np.arange(last + 3))
        assert r.field("nodes", "velocity", -1).tobytes() == synth.frame(last + 2)[1]["velocity"].tobytes()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("delay", [0.0, 0.002, 0.005, 0.01, 0.02])
def test_kill_during_start_up(tmp_path, delay):
    """Killed while creating the file and its tables: no file, or a file with every announced step."""
    path = tmp_path / "early.h5"
    script = WRITER.format(root=str(ROOT), here=str(Path(__file__).parent), path=str(path), comp=None)
    script = script.replace("w = ResultsWriter", "print(-1, flush=True)\nw = ResultsWriter")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "-1"          # the interpreter is up, the writer is starting
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    last = max(int(x) for x in out.split()) if out.split() else -1
    if not path.exists():
        assert last == -1
        return
    with ResultsReader(path) as r:
        assert r.nframes >= last + 1 and len(r.thermo().get("step", [])) >= last + 1
    assert not list(tmp_path.glob(".*.tmp")) or last == -1   # a temp copy only if killed mid-change


@pytest.mark.timeout(120)
@pytest.mark.parametrize("delay", [0.0, 0.03, 0.08, 0.15])
def test_kill_during_restart(tmp_path, delay):
    """Killed while reopening for a restart / truncating / appending: old or new state, never broken."""
    path = tmp_path / "r.h5"
    with ResultsWriter(path, static=synth.static(), **synth.WRITER_KW) as w:
        for s in range(20):
            w.write_frame(s, 0.002 * s, *synth.frame(s))
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(ROOT)!r}, {str(Path(__file__).parent)!r}]
        import synth
        from multiscale.output.hdf5 import ResultsWriter
        print("start", flush=True)
        w = ResultsWriter({str(path)!r}, static=synth.static(), append=True, **synth.WRITER_KW)
        w.truncate_after(10)
        for step in range(11, 100000):
            w.write_frame(step, 0.002 * step, *synth.frame(step))
            print(step, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    done = [int(x) for x in out.split()]
    with ResultsReader(path) as r:
        steps = r.steps.tolist()
        if done:
            assert steps[: done[-1] + 1] == list(range(done[-1] + 1))
        else:
            assert steps in (list(range(20)), list(range(11)), list(range(12)))
        i = len(steps) - 1
        assert r.frame(i)["atoms"]["force"].tobytes() == synth.frame(steps[i])[0]["force"].tobytes()
