"""Malformed EAM potential files (msim issue 11): wrong counts, truncated tables, absurd headers and
cut-offs, non-numbers, binary garbage. Every one is a `DeckError` naming the file (and the line where
one applies), never a traceback or a huge allocation; foreign files are never quoted (issue 17, item 8).
The files are written by the tests from small smooth tables (`tests/deck/fuzzing.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from multiscale.errors import DeckError
from multiscale.md.potentials.eam import EAMFile
from multiscale.md.potentials.eam_tables import read_funcfl, read_setfl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deck"))
import fuzzing as F  # noqa: E402

READ = {"funcfl": read_funcfl, "setfl": read_setfl}
TEXT = {"funcfl": F.funcfl_text, "setfl": F.setfl_text}
HEAD = {"funcfl": 2, "setfl": 4}  # 0-based line of 'Nrho drho Nr dr cutoff'


def _write(tmp_path: Path, fmt: str, lines: list[str] | str | bytes) -> Path:
    p = tmp_path / ("pot.eam" if fmt == "funcfl" else "pot.eam.alloy")
    if isinstance(lines, list):
        lines = "\n".join(lines) + "\n"
    p.write_bytes(lines if isinstance(lines, bytes) else lines.encode())
    return p


def _fails(path: Path, fmt: str, line: int | None = None, words: tuple[str, ...] = ()) -> DeckError:
    with pytest.raises(DeckError) as info:
        READ[fmt](path)
    err = info.value
    assert err.file == str(path), err.format()
    if line is not None:
        assert err.line == line, err.format()
    for w in words:
        assert w in err.message, err.format()
    return err


@pytest.mark.parametrize("fmt", ["funcfl", "setfl"])
def test_valid_files_read(fmt, tmp_path):
    t = READ[fmt](_write(tmp_path, fmt, TEXT[fmt]()))
    assert t.cutoff == 4.95 and t.frho.shape[-1] == 7 and np.all(np.isfinite(t.z2r))


@pytest.mark.parametrize("fmt", ["funcfl", "setfl"])
@pytest.mark.parametrize("field, value, words", [
    (0, "0", ("Nrho = 0",)), (0, "1000000000000", ("Nrho = 1000000000000",)), (2, "2", ("Nr = 2",)),
    (2, "-5", ("Nr = -5",)), (1, "0.0", ("drho = 0",)), (3, "-0.01", ("dr = -0.01",)),
    (3, "nan", ("dr = nan",)), (4, "1e300", ("cutoff = 1e+300",)), (4, "0", ("cutoff = 0",)),
    (4, "-1", ("cutoff = -1",)), (4, "inf", ("cutoff = inf",)), (4, "50.0", ("beyond the tables",)),
    (0, "abc", ("should hold 'Nrho drho Nr dr cutoff'",)),
])
def test_impossible_header(fmt, field, value, words, tmp_path):
    lines = TEXT[fmt]().splitlines()
    w = lines[HEAD[fmt]].split()
    w[field] = value
    lines[HEAD[fmt]] = " ".join(w)
    _fails(_write(tmp_path, fmt, lines), fmt, HEAD[fmt] + 1, words)


@pytest.mark.parametrize("fmt", ["funcfl", "setfl"])
def test_truncated_table(fmt, tmp_path):
    lines = TEXT[fmt]().splitlines()
    err = _fails(_write(tmp_path, fmt, lines[:len(lines) // 2]), fmt)
    assert "ended early" in err.message or "the file has at most" in err.message


@pytest.mark.parametrize("fmt", ["funcfl", "setfl"])
def test_one_number_missing(fmt, tmp_path):
    lines = TEXT[fmt]().splitlines()
    del lines[HEAD[fmt] + 50]
    _fails(_write(tmp_path, fmt, lines), fmt)


def test_wrong_count_inside_a_block(tmp_path):
    """funcfl: one number too many in F(ρ): the 1 200-number table (F, Z, ρ: 240 lines of 5 from line 4)
    no longer ends at the end of a line; the error names its last line."""
    lines = F.funcfl_text().splitlines()
    lines[3 + 79] += " 0.0"
    _fails(_write(tmp_path, "funcfl", lines), "funcfl", 3 + 240, ("does not end a block of 1200",))


@pytest.mark.parametrize("fmt", ["funcfl", "setfl"])
@pytest.mark.parametrize("token, words", [("nan", ("not a finite",)), ("inf", ("not a finite",)),
                                          ("1e400", ("not a finite",)), ("abc", ("not a number", "'abc'")),
                                          ("0x10", ("not a number",))])
def test_bad_number(fmt, token, words, tmp_path):
    lines = TEXT[fmt]().splitlines()
    i = HEAD[fmt] + 30
    lines[i] = " ".join([token] + lines[i].split()[1:])
    _fails(_write(tmp_path, fmt, lines), fmt, i + 1, words)


@pytest.mark.parametrize("fmt", ["funcfl", "setfl"])
@pytest.mark.parametrize("content, words", [(b"", ("fewer than",)), (b"\x00\x01\x02" * 100, ("binary",)),
                                            (bytes(range(128, 256)) * 10, ("not text",))])
def test_garbage(fmt, content, words, tmp_path):
    _fails(_write(tmp_path, fmt, content), fmt, None, words)


def test_absurd_mass(tmp_path):
    lines = F.funcfl_text().splitlines()
    lines[1] = "29 -63.55 3.615 fcc"
    _fails(_write(tmp_path, "funcfl", lines), "funcfl", 2, ("atomic mass",))


def test_setfl_element_line(tmp_path):
    lines = F.setfl_text().splitlines()
    lines[3] = "3 Cu"
    _fails(_write(tmp_path, "setfl", lines), "setfl", 4, ("Nelements",))
    lines[3] = "1000000000 Cu"
    _fails(_write(tmp_path, "setfl", lines), "setfl", 4)


def test_setfl_counts_checked_before_reading(tmp_path):
    """A header asking for 10^7-point tables in a small file is refused from the word count."""
    lines = F.setfl_text().splitlines()
    lines[4] = "10000000 0.05 400 0.0125 4.95"
    _fails(_write(tmp_path, "setfl", lines), "setfl", 5, ("table values",))


@pytest.mark.parametrize("fmt", ["funcfl", "setfl"])
def test_foreign_file_is_not_quoted(fmt, tmp_path):
    secret = "root:x:0:0:SECRET-LINE-1 2 3 4 5:/root:/bin/bash"
    p = _write(tmp_path, fmt, [secret] * 12)
    err = _fails(p, fmt)
    text = err.format().replace(str(p), "FILE")
    assert "SECRET" not in text and "root" not in text and "bash" not in text, text
    assert err.source_line is None


def test_eam_file_plugin_errors_are_deck_errors(tmp_path):
    p = _write(tmp_path, "funcfl", F.funcfl_text().replace("4.95", "nan", 1))
    with pytest.raises(DeckError):
        EAMFile.from_file(p)
    with pytest.raises(DeckError):
        EAMFile.from_file(tmp_path)  # a folder


def test_tabulated_eam_too_large_is_refused():
    from multiscale.md.potentials.eam_tables import tables_from_functions

    with pytest.raises(DeckError, match="needs about"):
        tables_from_functions("Cu", 63.5, np.sqrt, np.exp, np.exp, 5.0, 10.0, nr=10 ** 11, nrho=10 ** 11)
