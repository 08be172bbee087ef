"""A statics run whose preconditioner's sparse LU factor does not fit in memory (found by the slow deck
fuzz test, session 27: `odd-crack2d_coupled_small-63`, the atoms' region ×100 under the fuzz's address-space
limit; scipy's SuperLU raised ``RuntimeError: SUPERLU_MALLOC fails for buf in intCalloc()`` and `msim run`
ended in "internal error", exit 1): exit 2 at the deck's ``integrator`` line, "not enough memory"."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.integrate import precon

DECKS = Path(__file__).resolve().parents[2] / "decks"
SUPERLU_MSG = ("SUPERLU_MALLOC fails for buf in intCalloc() at line 173 in file "
               "../scipy/sparse/linalg/_dsolve/SuperLU/SRC/memory.c")


def _failing_splu(*_args, **_kw):
    raise RuntimeError(SUPERLU_MSG)


@pytest.mark.parametrize("preconditioner", ["stiffness", "neighbour_graph"])
def test_superlu_out_of_memory_is_a_located_exit_2(tmp_path, monkeypatch, preconditioner):
    text = (DECKS / "indent2d_small.yaml").read_text()
    old = "integrator: {type: precon_lbfgs, ftol: 1.0e-06}"
    assert old in text
    deck = tmp_path / "deck.yaml"
    deck.write_text(text.replace(old, "integrator: {type: precon_lbfgs, ftol: 1.0e-06, "
                                      f"preconditioner: {preconditioner}}}"))
    line = 1 + text[: text.index(old)].count("\n")
    # the real SuperLU with its allocation failing, for the preconditioner's factor only
    monkeypatch.setattr(precon, "spla", types.SimpleNamespace(splu=_failing_splu))
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "out.h5"), "--stages", "1",
                                   "--quiet"])
    assert res.exit_code == 2, res.output
    first = next(ln for ln in res.output.splitlines() if ln.startswith("error:"))
    assert re.match(rf"error: {re.escape(str(deck))}:{line}\b", first), res.output
    assert "not enough memory for the minimisation" in res.output and "SUPERLU_MALLOC" in res.output
    assert "internal error" not in res.output and "Traceback" not in res.output


def test_other_superlu_errors_are_not_memory(monkeypatch):
    """Only SuperLU's failed allocations are translated: a singular factor stays what it is. The three
    forms seen under an address-space limit (a 40^3 Laplacian at +80 MB: RuntimeError SUPERLU_MALLOC;
    the fuzz's crack deck at ulimit -v 4.5 GB: SystemError after "Can't expand MemType")."""
    import scipy.sparse as sp

    def raising(exc):
        def splu(*_a, **_k):
            raise exc
        return types.SimpleNamespace(splu=splu)

    A = sp.eye(3, format="csc")
    monkeypatch.setattr(precon, "spla", raising(RuntimeError("Factor is exactly singular")))
    with pytest.raises(RuntimeError, match="exactly singular"):
        precon.splu_or_memory_error(A)
    for exc in (RuntimeError(SUPERLU_MSG), SystemError("gstrf was called with invalid arguments"),
                MemoryError()):
        monkeypatch.setattr(precon, "spla", raising(exc))
        with pytest.raises(MemoryError, match="3 rows, 3 entries|^$"):
            precon.splu_or_memory_error(A)
