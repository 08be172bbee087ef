"""Suite-wide rules.

1. **No silent skips.** A skipped test hides whatever it was meant to check (a missing kernel, a missing
   test dependency, a serial build). Every skip whose reason does not match `EXPECTED_SKIPS` below is
   turned into a failure. Tests deselected with ``-m 'not slow'`` are not skips and are unaffected.
   Add a pattern here (with a comment saying why the skip is legitimate) only for a condition of the
   machine that the test cannot change, never for a missing part of msim or of its test dependencies.
2. **Thread tests need threads.** Tests marked ``@pytest.mark.threads`` compare results for several
   thread counts. On kernels built without OpenMP they would pass vacuously (every "thread count" runs
   serially), so they fail unless the kernels are built with OpenMP and a compiled parallel region
   really runs on 2 threads (`multiscale._kernels.team_size`).
"""

from __future__ import annotations

import re

import pytest

#: the one list of skip reasons that are allowed (regular expressions, matched with re.search)
EXPECTED_SKIPS: tuple[str, ...] = (
)


def _skip_reason(report: pytest.TestReport) -> str:
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        return str(lr[2])
    return str(lr)


def _unexpected(report: pytest.TestReport) -> bool:
    if not report.skipped or hasattr(report, "wasxfail"):
        return False
    reason = _skip_reason(report)
    return not any(re.search(p, reason) for p in EXPECTED_SKIPS)


def _fail(report: pytest.TestReport) -> None:
    reason = _skip_reason(report)
    report.outcome = "failed"
    report.longrepr = (f"unexpected skip (tests/conftest.py turns every skip not listed in EXPECTED_SKIPS "
                       f"into a failure): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ARG001
    outcome = yield
    report = outcome.get_result()
    if _unexpected(report):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # noqa: ARG001
    outcome = yield
    report = outcome.get_result()
    if _unexpected(report):  # a module-level skip / importorskip
        _fail(report)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "threads: compares thread counts; fails on a build without OpenMP")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("threads") is None:
        return
    from multiscale._kernels import build_report, openmp_enabled, team_size
    if not openmp_enabled():
        pytest.fail(f"thread-count test on kernels built without OpenMP would pass vacuously ({build_report()}); "
                    "rebuild with OpenMP (setup.py, MSIM_NO_OPENMP unset)", pytrace=False)
    if team_size(2) < 2:
        pytest.fail("a compiled prange(num_threads=2) region ran on one thread (OMP_THREAD_LIMIT?): the "
                    "thread-count test would pass vacuously", pytrace=False)
