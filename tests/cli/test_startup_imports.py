"""Start-up cost: `msim --help`, `msim validate` and `msim run` of a plain MD deck do not load scipy, and
only `run` loads h5py (they cost ~0.5 s of CPU per process; `multiscale/_lazy.py`). A coupled deck
loads scipy.sparse as before (the control that shows the probe sees a real import).

Each command runs in a fresh interpreter (the test process has everything imported already); the probe
looks for submodules that only a real import of the package executes (a module registered by
`lazy_module` but never used has none).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from multiscale._lazy import lazy_module

ROOT = Path(__file__).resolve().parents[2]

#: package -> a submodule that exists in sys.modules only once the package itself has been executed
PROBES = {"scipy.sparse": "scipy.sparse._base", "scipy.sparse.linalg": "scipy.sparse.linalg._interface",
          "scipy.spatial": "scipy.spatial._ckdtree", "scipy.optimize": "scipy.optimize._minimize",
          "scipy.linalg": "scipy.linalg._basic", "h5py": "h5py._hl.files"}

_RUNNER = textwrap.dedent("""
    import json, sys
    from multiscale.cli import cli
    try:
        cli.main(args=sys.argv[2:], prog_name="msim")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    probes = json.loads(sys.argv[1])
    loaded = sorted(p for p, m in probes.items() if m in sys.modules)
    print("PROBE " + json.dumps({"exit": code, "loaded": loaded}))
""")

PLAIN_MD = """msim: 1
units: lj
title: plain 2D LJ
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: cut}
atoms:
  lattice: {type: hex, a: 1.1695}
  cells: [12, 8]
  boundary: [p, p]
  mass: 1.0
  skin: 0.3
  velocity: {temperature: 0.5, seed: 3}
integrator: {type: verlet, dt: 0.005, steps: 20}
output: {every: 10, thermo_every: 10}
"""


def _loaded(tmp_path: Path, *args: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=os.fspath(ROOT), OMP_NUM_THREADS="1")
    env.pop("MSIM_PLUGINS", None)
    p = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(PROBES), *args], capture_output=True,
                       text=True, env=env, timeout=120, cwd=tmp_path)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("PROBE ")), None)
    assert line is not None, p.stdout + p.stderr
    res = json.loads(line[len("PROBE "):])
    assert res["exit"] == 0, p.stdout + p.stderr
    return res["loaded"]


def test_help_loads_neither_scipy_nor_h5py(tmp_path):
    assert _loaded(tmp_path, "--help") == []


def test_plain_md_validate_and_run_load_no_scipy(tmp_path):
    deck = tmp_path / "md.yaml"
    deck.write_text(PLAIN_MD)
    assert _loaded(tmp_path, "validate", os.fspath(deck)) == []
    loaded = _loaded(tmp_path, "run", os.fspath(deck), "-o", os.fspath(tmp_path / "md.h5"), "--quiet")
    assert loaded == ["h5py"]                       # the results file, nothing of scipy
    assert (tmp_path / "md.h5").exists()


def test_coupled_deck_loads_scipy_sparse(tmp_path):
    """The control: a coupled model needs the sparse interpolation and constraint matrices."""
    loaded = _loaded(tmp_path, "validate", os.fspath(ROOT / "decks" / "wave1d.yaml"))
    assert "scipy.sparse" in loaded


def test_lazy_module_loads_on_first_use_and_fails_early_when_missing():
    with pytest.raises(ModuleNotFoundError):
        lazy_module("scipy.no_such_module_here")
    with pytest.raises(ModuleNotFoundError):
        lazy_module("no_such_top_level_package_msim")
    code = textwrap.dedent("""
        import sys
        from multiscale._lazy import lazy_module
        spla = lazy_module("scipy.sparse.linalg")
        assert "scipy.sparse._base" not in sys.modules and "scipy.sparse.linalg._interface" not in sys.modules
        import numpy as np
        sp = lazy_module("scipy.sparse")
        x = spla.spsolve(sp.csc_matrix(np.diag([2.0, 4.0])), np.array([2.0, 8.0]))
        assert list(x) == [1.0, 2.0], x
        import scipy.sparse.linalg
        assert scipy.sparse.linalg is spla and sys.modules["scipy.sparse"] is sp
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=os.fspath(ROOT))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stdout + p.stderr
