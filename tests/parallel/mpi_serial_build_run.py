"""``msim run ARGS`` with the per-rank build switched off (`cli._per_rank_simulation` returns None): the
spatial path as it was before the per-rank build (every rank builds the serial model), for the tests that
compare the two (tests/parallel/test_rank_build_run.py). Run under ``mpiexec -n P``.

    python mpi_serial_build_run.py run --quiet DECK -o OUT.h5 ...
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    from multiscale import cli
    cli._per_rank_simulation = lambda *a, **k: None
    cli.cli.main(args=sys.argv[1:], prog_name="msim")


if __name__ == "__main__":
    main()
