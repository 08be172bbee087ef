"""Memory budget: models too large for the machine are refused before they are allocated.

`check(nbytes, what, key)` raises `TooLarge` (a `DeckError`, exit 2) when an estimated allocation exceeds
the memory this process may use: the machine's physical memory (``/proc/meminfo`` MemTotal), lowered by
the soft ``RLIMIT_AS`` / ``RLIMIT_DATA`` limits when those are set. ``msim run/validate --allow-large`` or
the environment variable ``MSIM_ALLOW_LARGE=1`` lifts the refusal (`allow_large`). Estimates are in bytes.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator

from .errors import DeckError

ALLOW_ENV = "MSIM_ALLOW_LARGE"
_allowed = False


class TooLarge(DeckError):
    """An estimated allocation exceeds the memory available (exit 2; ``--allow-large`` overrides)."""


def large_allowed() -> bool:
    """True when the refusal is lifted (``--allow-large`` or ``MSIM_ALLOW_LARGE=1``)."""
    return _allowed or os.environ.get(ALLOW_ENV, "") not in ("", "0")


@contextlib.contextmanager
def allow_large(flag: bool = True) -> Iterator[None]:
    """Inside the block, `check` only warns through its return value (it refuses nothing)."""
    global _allowed
    old = _allowed
    _allowed = bool(flag) or old
    try:
        yield
    finally:
        _allowed = old


def memory_limit() -> tuple[int, str]:
    """(bytes this process may allocate, where the figure comes from)."""
    best, src = 1 << 62, "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    best, src = int(line.split()[1]) * 1024, "physical memory"
                    break
    except OSError:
        try:
            best = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            src = "physical memory"
        except (ValueError, OSError, AttributeError):
            pass
    for lim, name in ((resource.RLIMIT_AS, "address-space limit (ulimit -v)"),
                      (resource.RLIMIT_DATA, "data-size limit (ulimit -d)")):
        soft = resource.getrlimit(lim)[0]
        if soft != resource.RLIM_INFINITY and soft < best:
            best, src = int(soft), name
    return best, src


def fmt_bytes(n: float) -> str:
    """``1.5 GiB``-style size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}" if unit != "B" and n < 1000 else f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def check(nbytes: float, what: str, key: str | None = None) -> None:
    """Refuse (raise `TooLarge` at deck ``key``) when ``nbytes`` exceeds `memory_limit`, unless allowed."""
    limit, src = memory_limit()
    if nbytes <= limit or large_allowed():
        return
    raise TooLarge(f"{what} needs about {fmt_bytes(nbytes)} of memory, more than the {fmt_bytes(limit)} "
                   f"this machine offers ({src})", key=key,
                   hint="make it smaller or coarser; `msim run --allow-large` (or MSIM_ALLOW_LARGE=1) "
                        "tries anyway")
