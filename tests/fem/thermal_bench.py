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
