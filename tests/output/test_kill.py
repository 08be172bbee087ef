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
