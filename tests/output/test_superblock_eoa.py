"""`repair` of a killed results file moves the superblock's end-of-file address (EOA) past the data, as
``h5clear -s --increment`` does. A writer killed after writing data but before rewriting the superblock
leaves data beyond the recorded EOA; with the flags cleared only, a restart appending to the file stopped
with "Unable to synchronously change a dataset's dimensions (addr overflow ...)" (seen once in CI,
tests/output/test_kill.py at a random kill time). Here the state is made on purpose: a cleanly closed file
whose superblock is rewritten with the "open for writing" flags and an EOA short of the file's end."""

from __future__ import annotations

import os

import numpy as np

from multiscale.output._superblock import _read_superblock, lookup3, status_flags
from multiscale.output.hdf5 import ResultsWriter, is_clean, repair
from multiscale.output.reader import ResultsReader

from . import synth


def _as_killed(path, short: int) -> None:
    """Set the consistency flags and move the EOA ``short`` bytes before the end of the file."""
    with open(path, "r+b") as fh:
        off, head = _read_superblock(fh)
        so = head[9]
        n = 12 + 4 * so
        fh.seek(off)
        block = bytearray(fh.read(n + 4))
        block[11] = 0x05                                   # write access + SWMR write access
        at = 12 + 2 * so
        eoa = os.fstat(fh.fileno()).st_size - off - short
        block[at:at + so] = eoa.to_bytes(so, "little")
        block[n:n + 4] = lookup3(bytes(block[:n])).to_bytes(4, "little")
        fh.seek(off)
        fh.write(block)


def test_repair_moves_the_eoa_past_the_data(tmp_path) -> None:
    path = tmp_path / "r.h5"
    with ResultsWriter(path, static=synth.static(), compression="gzip", **synth.WRITER_KW) as w:
        for s in range(6):
            atoms, nodes = synth.frame(s)
            w.write_frame(s, 0.002 * s, atoms, nodes)
            w.write_thermo(s, 0.002 * s, synth.thermo(s))
    last = 5
    _as_killed(path, short=4096)
    assert status_flags(path) != 0 and not is_clean(path)
    assert repair(path) and is_clean(path)
    with ResultsWriter(path, static=synth.static(), append=True, compression="gzip", **synth.WRITER_KW) as w:
        w.truncate_after(last - 2)
        for s in range(last - 1, last + 3):
            atoms, nodes = synth.frame(s)
            w.write_frame(s, 0.002 * s, atoms, nodes)
            w.write_thermo(s, 0.002 * s, synth.thermo(s))
    with ResultsReader(path) as r:
        np.testing.assert_array_equal(r.steps, np.arange(last + 3))
        assert r.field("nodes", "velocity", -1).tobytes() == synth.frame(last + 2)[1]["velocity"].tobytes()
