"""Run ParaView's `pvpython` on an XDMF file (tests/output/pv_read_xdmf.py) and load what it saw.

`pvpython` comes from the Debian packages `paraview python3-paraview` (`make test` installs them when
missing); a missing pvpython fails the test, it is not skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

PV_SCRIPT = Path(__file__).with_name("pv_read_xdmf.py")
VTK_POLY_VERTEX, VTK_POLY_LINE, VTK_TRIANGLE, VTK_QUAD, VTK_HEXAHEDRON = 2, 4, 5, 9, 12


def pvpython() -> str:
    exe = shutil.which("pvpython")
    assert exe, ("ParaView's pvpython is needed (Debian: apt-get install paraview python3-paraview; "
                 "`make test` installs it)")
    return exe


def read(xdmf: Path, out: Path, reader: str | None = None) -> tuple[dict, list[list[dict]]]:
    """(info, leaves): info = {"reader", "times", "frames"}; leaves[i][j] = {"points": (p,3), array: ...}
    of leaf j of frame i. `reader` None: the reader `OpenDataFile` picks (ParaView's default)."""
    cmd = [pvpython(), str(PV_SCRIPT), str(Path(xdmf).resolve()), str(out)] + ([reader] if reader else [])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Skipping" not in res.stdout + res.stderr, res.stdout + res.stderr    # a dropped array
    info = json.loads((out / "info.json").read_text())
    leaves = [[dict(np.load(out / f"frame{i}_leaf{j}.npz")) for j in range(len(fr))]
              for i, fr in enumerate(info["frames"])]
    return info, leaves
