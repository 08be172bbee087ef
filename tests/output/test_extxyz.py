"""extxyz export: ASE reads every frame with the right atoms, positions and per-atom fields."""

from __future__ import annotations

import ase.io
import ase.units
import numpy as np
import pytest

from multiscale.errors import DeckError
from multiscale.output.extxyz import write_extxyz
from multiscale.output.hdf5 import ResultsWriter

from . import synth

STEPS = [0, 10, 20, 30]


def test_ase_reads_all_frames_and_fields(tmp_path):
    static = synth.static()
    static["atoms"]["mass"] = np.full(synth.N_ATOMS, 63.546)           # g/mol (user units)
    static["box"] = {"lo": np.array([0.0, 0.0]), "hi": np.array([5.0, 6.0]),
                     "periodic": np.array([True, False])}
    h5 = tmp_path / "run.h5"
    with ResultsWriter(h5, static=static, **synth.WRITER_KW) as w:
        for s in STEPS:
            atoms, nodes = synth.frame(s)
            w.write_frame(s, 0.002 * s, atoms, nodes)
    out = write_extxyz(h5, tmp_path / "run.extxyz")
    frames = ase.io.read(out, index=":")
    assert len(frames) == len(STEPS)
    ref = static["atoms"]
    for s, at in zip(STEPS, frames, strict=True):
        atoms, _ = synth.frame(s)
        assert len(at) == synth.N_ATOMS
        assert at.info["Step"] == s and at.info["Time"] == 0.002 * s
        assert set(at.get_chemical_symbols()) == {"Cu"}      # legacy `species` attribute: every atom
        # ASE writes floats with 8 decimals
        np.testing.assert_allclose(at.positions[:, :2], ref["reference_positions"] + atoms["displacement"],
                                   rtol=0, atol=1e-8)
        np.testing.assert_array_equal(at.positions[:, 2], 0.0)
        np.testing.assert_allclose(at.arrays["velo"][:, :2], atoms["velocity"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(at.get_velocities()[:, :2] * 1000 * ase.units.fs, atoms["velocity"],
                                   rtol=0, atol=1e-6)                      # metal: Å/ps -> ASE units
        np.testing.assert_allclose(at.get_masses(), ref["mass"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(at.arrays["displacement"][:, :2], atoms["displacement"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(at.get_forces()[:, :2], atoms["force"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(at.calc.results["energies"], atoms["energy"], rtol=0, atol=1e-8)
        np.testing.assert_array_equal(at.arrays["id"], ref["ids"])
        assert "type" not in at.arrays                           # OVITO would take it for the type
        np.testing.assert_allclose(at.arrays["weight"], ref["weight"], rtol=0, atol=1e-8)
        assert at.pbc.tolist() == [True, False, False]
        np.testing.assert_array_equal(at.cell.lengths(), [5.0, 6.0, 1.0])
        np.testing.assert_array_equal(at.info["cell_origin"], [0.0, 0.0, 0.0])
    # a frame subset
    assert len(ase.io.read(write_extxyz(h5, tmp_path / "last.xyz", frames=slice(-1, None)), index=":")) == 1


def test_no_atoms_is_a_user_error(tmp_path):
    h5 = tmp_path / "fe.h5"
    with ResultsWriter(h5, static={"mesh": synth.static()["mesh"]}, **synth.WRITER_KW) as w:
        w.write_frame(0, 0.0, None, synth.frame(0)[1])
    with pytest.raises(DeckError, match="no atoms"):
        write_extxyz(h5, tmp_path / "x.xyz")
