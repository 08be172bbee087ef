"""HDF5 results: everything written is read back bitwise; tables stay consistent; restart appends."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from multiscale.errors import DeckError
from multiscale.output.hdf5 import ResultsWriter
from multiscale.output.reader import ResultsReader

from . import synth

STEPS = [0, 10, 20, 30, 40]


def _write(path, steps=STEPS, compression=None, append=False):
    with ResultsWriter(path, static=synth.static(), compression=compression, append=append,
                       **synth.WRITER_KW) as w:
        for s in steps:
            atoms, nodes = synth.frame(s)
            w.write_frame(s, 0.002 * s, atoms, nodes)
            w.write_thermo(s, 0.002 * s, synth.thermo(s))
            w.write_observables(s, 0.002 * s, synth.observables(s))


def _check(path, steps):
    with ResultsReader(path) as r:
        assert r.clean
        np.testing.assert_array_equal(r.steps, steps)
        np.testing.assert_array_equal(r.times, [0.002 * s for s in steps])
        assert r.fields("atoms") == ["displacement", "energy", "force", "velocity"]
        assert r.fields("nodes") == ["displacement", "velocity"]
        for i, s in enumerate(steps):
            atoms, nodes = synth.frame(s)
            fr = r.frame(i)
            assert fr["step"] == s
            for k, v in atoms.items():
                assert fr["atoms"][k].tobytes() == v.tobytes() and fr["atoms"][k].shape == v.shape
            for k, v in nodes.items():
                assert fr["nodes"][k].tobytes() == v.tobytes()
        disp = r.field("atoms", "displacement")
        assert disp.shape == (len(steps), synth.N_ATOMS, synth.DIM)
        th = r.thermo()
        np.testing.assert_array_equal(th["step"], steps)
        for name in synth.thermo(0):
            assert th[name].tolist() == [synth.thermo(s)[name] for s in steps]
        ob = r.observables()
        assert ob["indenter_force"].shape == (len(steps), 2)
        assert ob["indenter_depth"].shape == (len(steps),)
        np.testing.assert_array_equal(ob["indenter_force"][:, 1], [-0.5 * s for s in steps])
        st = r.static()
        ref = synth.static()
        for k, v in ref["atoms"].items():
            if isinstance(v, np.ndarray):
                assert st["atoms"][k].tobytes() == v.tobytes() and st["atoms"][k].dtype == v.dtype
        assert st["atoms"]["species"] == "Cu"
        nodes, blocks = r.mesh()
        ref_nodes, ref_blocks = synth.mesh2d()
        np.testing.assert_array_equal(nodes, ref_nodes)
        assert {k: (t, c.tolist()) for k, (t, c) in blocks.items()} == \
            {k: (t, c.tolist()) for k, (t, c) in ref_blocks.items()}
        np.testing.assert_array_equal(st["mesh"]["node_sets"]["left"], [0, 4, 8])
        prov = r.provenance
        assert prov["deck_text"] == synth.WRITER_KW["deck_text"]
        assert prov["units"] == "metal" and prov["seed"] == 7 and prov["msim_version"] == "0.1.0-test"
        assert prov["host"] and prov["start_time"]


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_round_trip(tmp_path, compression):
    path = tmp_path / "out.h5"
    _write(path, compression=compression)
    _check(path, STEPS)
    with h5py.File(path, "r") as f:  # plain h5py (no SWMR) opens a cleanly closed file
        assert f["frames/atoms/displacement"].compression == compression
        assert f["frames/atoms/displacement"].maxshape[0] is None


def test_rejects_inconsistent_rows(tmp_path):
    with ResultsWriter(tmp_path / "o.h5", static={}, **synth.WRITER_KW) as w:
        atoms, nodes = synth.frame(0)
        w.write_frame(0, 0.0, atoms, nodes)
        with pytest.raises(ValueError, match="not after the last step"):
            w.write_frame(0, 0.0, atoms, nodes)
        with pytest.raises(ValueError, match="same columns"):
            w.write_frame(1, 0.1, atoms, None)
        with pytest.raises(ValueError, match="shape"):
            w.write_frame(1, 0.1, {**atoms, "energy": np.zeros(3)}, nodes)
        w.write_frame(1, 0.1, atoms, nodes)
    with ResultsReader(tmp_path / "o.h5") as r:
        assert r.steps.tolist() == [0, 1]


def test_append_after_restart(tmp_path):
    path = tmp_path / "out.h5"
    _write(path)                                   # steps 0..40; the "checkpoint" was at 20
    with ResultsWriter(path, static=synth.static(), append=True, **synth.WRITER_KW) as w:
        kept = w.truncate_after(20)
        assert kept == {"frames": 3, "thermo": 3, "observables": 3}
        assert w.last_step("frames") == 20
        for s in [30, 40, 50]:
            atoms, nodes = synth.frame(s)
            w.write_frame(s, 0.002 * s, atoms, nodes)
            w.write_thermo(s, 0.002 * s, synth.thermo(s))
            w.write_observables(s, 0.002 * s, synth.observables(s))
    _check(path, STEPS + [50])
    with ResultsReader(path) as r:
        assert len(r.provenance["restarts"]) == 1


def test_append_refuses_other_model(tmp_path):
    path = tmp_path / "out.h5"
    _write(path, steps=[0])
    other = synth.static()
    other["mesh"]["nodes"] = other["mesh"]["nodes"] + 1e-12
    with pytest.raises(ValueError, match="static/mesh/nodes"):
        ResultsWriter(path, static=other, append=True, **synth.WRITER_KW)


def test_reader_user_errors(tmp_path):
    with pytest.raises(DeckError, match="no such"):
        ResultsReader(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_text("hello")
    with pytest.raises(DeckError, match="not an HDF5"):
        ResultsReader(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(DeckError, match="not an msim results file"):
        ResultsReader(tmp_path / "other.h5")
    _write(tmp_path / "ok.h5", steps=[0])
    with ResultsReader(tmp_path / "ok.h5") as r, pytest.raises(DeckError, match="no atoms field 'stress'"):
        r.field("atoms", "stress")


def test_one_writer_at_a_time(tmp_path):
    from multiscale.output.hdf5 import is_live
    path = tmp_path / "out.h5"
    w = ResultsWriter(path, static={}, **synth.WRITER_KW)
    assert is_live(path)
    with pytest.raises(DeckError, match="another msim run is writing"):
        ResultsWriter(path, static={}, append=True, **synth.WRITER_KW)
    with pytest.raises(DeckError, match="another msim run is writing"):
        ResultsWriter(path, static={}, **synth.WRITER_KW)
    w.write_frame(0, 0.0, *synth.frame(0))
    w.close()
    assert not is_live(path) and not (tmp_path / "out.h5.lock").exists()
    with ResultsWriter(path, static={}, append=True, **synth.WRITER_KW) as w2:
        w2.write_frame(1, 0.1, *synth.frame(1))
    with ResultsReader(path) as r:
        assert r.steps.tolist() == [0, 1]
