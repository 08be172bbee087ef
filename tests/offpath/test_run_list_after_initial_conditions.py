"""`msim run` and the bare integrator give the same bits (found off the gallery, review rev27).

`Simulation.run` checks the time step before `prepare()`; for a coupled deck the check
(`diagnostics.stability.weighted_atoms_stable_dt`) needs the atoms' neighbour list and built it at the
REFERENCE positions, before the loads' initial conditions (the radial pulse) moved the atoms. The bare
integrator (`Simulation.prepare()` then `step`) builds its first list after them, so the two lists had
other skin entries and another rebuild schedule, and `msim run` ended at round-off from the integrator
and from `--decompose spatial` on 1 rank (wave2d with mesh size 3.0, 200 steps: 5.9e-13 … 4.6e-12
relative). The check now leaves no list behind when it built one itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from multiscale.deck import load_deck
from multiscale.output.reader import ResultsReader
from multiscale.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]


def _deck(tmp_path: Path, steps: int) -> Path:
    d = yaml.safe_load((ROOT / "decks" / "wave2d.yaml").read_text())
    d.pop("expect", None)
    d["continuum"]["mesh"]["size"] = 3.0
    d["integrator"]["steps"] = steps
    d["output"] = {"every": steps, "thermo_every": steps, "fields": ["displacement", "velocity"]}
    p = tmp_path / "wave2d_h3.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def test_time_step_check_leaves_no_list(tmp_path: Path) -> None:
    """The check of a coupled deck before `prepare()` leaves the atoms without a neighbour list (the
    first force evaluation builds it, after the initial conditions)."""
    sim = Simulation.from_deck(load_deck(_deck(tmp_path, 10)), threads=1)
    assert sim.model.atoms.nlist.x_build is None
    sim.check_time_step()
    assert sim.model.atoms.nlist.x_build is None


def test_msim_run_is_the_bare_integrator(tmp_path: Path) -> None:
    """200 steps of the wave2d variant: the results file's last frame (atoms' and nodes' displacements and
    velocities) is bitwise the state of the bare integrator after `prepare()` + 200 steps."""
    deck = _deck(tmp_path, 200)
    sim = Simulation.from_deck(load_deck(deck), threads=1)
    out = sim.run(output=tmp_path / "run.h5", progress="quiet")
    bare = Simulation.from_deck(load_deck(deck), threads=1)
    bare.prepare()
    bare.integrator.initialize()
    bare.integrator.step(200)
    s = bare.model.system
    with ResultsReader(out) as r:
        got = {k: r.field(*k.split("/"), -1) for k in ("atoms/displacement", "atoms/velocity",
                                                        "nodes/displacement", "nodes/velocity")}
    ref = {"atoms/displacement": s.atoms.x - s.atoms.X, "atoms/velocity": s.atoms.v,
           "nodes/displacement": s.continuum.U, "nodes/velocity": s.continuum.V}
    for k, v in ref.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def test_msim_run_is_the_spatial_path_on_one_rank(tmp_path: Path) -> None:
    """`msim run --decompose spatial` on one rank (no launcher) writes the same results file as the plain
    `msim run`, every frame and thermo dataset bitwise, on the variant as on wave2d itself (docs/parallel.md:
    before, the two differed at 1e-12 on decks other than wave2d)."""
    import h5py
    from click.testing import CliRunner

    from multiscale.cli import cli
    deck = _deck(tmp_path, 200)
    plain, spatial = tmp_path / "plain.h5", tmp_path / "spatial.h5"
    for out, extra in ((plain, []), (spatial, ["--decompose", "spatial"])):
        res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet", *extra])
        assert res.exit_code == 0, res.output

    def datasets(path: Path) -> dict:
        out: dict = {}
        with h5py.File(path, "r") as f:
            for group in ("frames", "thermo"):
                f[group].visititems(lambda k, v, g=group: out.__setitem__(f"{g}/{k}", v[()])
                                    if isinstance(v, h5py.Dataset) else None)
        return out
    a, b = datasets(plain), datasets(spatial)
    assert a.keys() == b.keys() and "frames/nodes/displacement" in a
    for k in a:
        if k != "thermo/wall":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
