"""The kernels are built with OpenMP and really run parallel regions on several threads; `msim --version`
and `msim validate` say how they were built. On a serial build (MSIM_NO_OPENMP=1, or a compiler without
-fopenmp) these tests fail, and so does every test marked ``threads`` (tests/conftest.py)."""

from __future__ import annotations

from click.testing import CliRunner

from multiscale._kernels import build_report, load, openmp_enabled, team_size
from multiscale.cli import cli


def test_kernels_are_built_with_openmp():
    assert openmp_enabled(), build_report()
    assert load("openmp_info").openmp_version() >= 200805   # OpenMP 3.0 or later
    assert team_size(1) == 1
    assert team_size(2) == 2 and team_size(3) == 3            # threads may exceed the cores


def test_version_reports_the_build():
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].startswith("msim, version ")
    assert lines[1] == build_report() and lines[1].startswith("kernels: OpenMP ")
