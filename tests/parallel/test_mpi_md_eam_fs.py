"""`mpiexec -n 2 msim run` of a plain-MD deck with a multi-element eam/fs file (AlFe_mm.eam.fs: nel*nel
pair densities). It was refused by `run.distributed.check_distributable` ("eam/fs tables with several
elements ... not distributed yet") until the distributed engine's density pass took the element count;
now it runs, and its 2-rank results match the serial run of the same deck to round-off."""

from __future__ import annotations

from pathlib import Path

from mpi_helpers import HERE, compare, serial_and_two

FS = HERE / "decks" / "alfe_fs_md.yaml"


def test_eam_fs_two_elements_one_vs_two_ranks(tmp_path: Path) -> None:
    """300 steps of B2 FeAl (432 atoms) at ~300 K: every frame's positions and the thermo energies within 1e-12
    relative of the serial run (velocities and per-atom energies 1e-10, `test_mpi_run.compare`)."""
    from multiscale.deck import load_deck
    from multiscale.simulation import Simulation
    t = Simulation.from_deck(load_deck(FS)).model.potential.tables
    assert t.rhor.shape[0] == 4 and t.frho.shape[0] == 2      # eam/fs, two elements: 2x2 pair densities
    s, p = serial_and_two(FS, tmp_path)
    got = compare(p, s, 1e-12)
    print(got)
