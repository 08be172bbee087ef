"""The quick start's `make` targets: from a fresh clone the kernels are compiled once.

`make demo` / `make test` run `pip install -e .` (which compiles every kernel in place through setup.py)
and then the kernels' stamp rule. The stamp is missing when make starts, so make had already decided to
run `setup.py build_ext --inplace` and compiled every kernel a second time (setuptools builds in a fresh
build/ directory): ~20 min of a 45 min `make demo` on the loaded 2-core machine. Checked here with a fake
interpreter that logs what make asks of it (no compiler, no network)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/bin/sh
# fake interpreter: logs every call; `-m venv DIR` makes DIR/bin/python a copy of itself
echo "$*" >> "$MSIM_FAKE_LOG"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
exit 0
"""


def _make(work: Path, fake: Path, log: Path, *targets: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k != "MFLAGS"}
    env["MSIM_FAKE_LOG"] = str(log)
    log.write_text("")
    r = subprocess.run(["make", "-C", str(work), *targets, f"PYTHON={fake}"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return log.read_text().splitlines()


def test_fresh_clone_compiles_the_kernels_once(tmp_path):
    assert shutil.which("make"), "make is needed for the quick start"
    work = tmp_path / "clone"
    (work / "kernels").mkdir(parents=True)
    (work / "multiscale" / "_kernels").mkdir(parents=True)
    for name in ("Makefile", "setup.py", "pyproject.toml"):
        shutil.copy(ROOT / name, work / name)
    sources = [p for p in (ROOT / "kernels").iterdir() if p.suffix in (".pyx", ".pxd")]
    assert sources
    for p in sources:
        shutil.copy(p, work / "kernels" / p.name)
    fake, log = tmp_path / "python", tmp_path / "calls.log"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)

    calls = _make(work, fake, log, "build")
    editable = [c for c in calls if "pip install" in c and " -e " in f" {c} "]
    assert len(editable) == 1, calls                         # the editable install: it compiles the kernels
    assert not [c for c in calls if "build_ext" in c], calls  # ... and nothing compiles them again
    assert _make(work, fake, log, "build") == []              # a second run rebuilds nothing

    # a changed kernel source is compiled by the next `make build`, once
    stamp = work / "multiscale" / "_kernels" / ".built"
    src = work / "kernels" / sources[0].name
    os.utime(src)                                             # edited now ...
    earlier = src.stat().st_mtime - 10
    os.utime(stamp, (earlier, earlier))                       # ... after the last build
    calls = _make(work, fake, log, "build")
    assert [c for c in calls if "build_ext" in c] == ["setup.py -q build_ext --inplace -j 2"], calls
    assert _make(work, fake, log, "build") == []
