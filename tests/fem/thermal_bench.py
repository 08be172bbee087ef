"""The thermal-expansion benchmark module (benchmarks/thermal_expansion.py) loaded once for the tests that
build its model (test_thermal_share, test_thermal_qh, test_thermal_strain)."""

from __future__ import annotations

import functools
import importlib.util
import pathlib

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "thermal_expansion.py"


@functools.cache
def thermal_bench():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("thermal_expansion_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def statics_variant(text: str) -> str:
    """The bench deck's text without what a minimiser refuses in its own right (the one-line
    `atoms.velocity` and `handshake.damping` entries: deck errors of their own since session 26), so that
    a statics variant's refusal tested by the caller is the one reported (line numbers of the rest shift
    up, the layout stays)."""
    keep = [ln for ln in text.splitlines(keepends=True)
            if not ln.lstrip().startswith(("velocity: {", "damping: {"))]
    assert len(keep) == len(text.splitlines()) - 2, "the bench deck's velocity/damping lines moved"
    return "".join(keep)
