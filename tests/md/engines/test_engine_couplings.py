"""What couples how with an external engine (`multiscale.md.engines.base.ExternalPotential`).

Force-based blending with each of its kinematic constraints (strong per-atom, projected per-node, none)
runs with LAMMPS's ``lj/cut`` as the atomistic engine and reproduces the trajectory of msim's own native
``lj`` under the same coupling (≤ 1e-10): the engine's total forces are all force blending needs. The
energy-blending methods are refused by ``msim validate`` (tests/md/test_engine_lammps.py), and so is a
``lammps`` potential inside them whatever the blend (a sharp, narrow handshake still has fractional bond
weights across it, which total forces cannot apply): asserted here for the narrowest linear handshake.
"""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.cli import main as cli_main
from multiscale.deck.deck import load_deck_text
from multiscale.simulation import Simulation
from tests.md.test_engine_lammps import COUPLED, LAMMPS_LJ, NATIVE_LJ


@pytest.mark.parametrize("constraint", ["strong", "none"])
def test_force_blend_constraints_match_native(tmp_path, constraint):
    runs = []
    for pot in (NATIVE_LJ, LAMMPS_LJ):
        text = COUPLED % (pot, f"force_blend, constraint: {constraint}")
        sim = Simulation.from_deck(load_deck_text(text, "c.yaml"))
        sim.run(output=str(tmp_path / f"c{len(runs)}.h5"))
        runs.append((sim.model.atoms.x.copy(), sim.model.continuum.U.copy()))
    assert np.max(np.abs(runs[0][1])) > 1e-6
    assert np.max(np.abs(runs[1][0] - runs[0][0])) <= 1e-10
    assert np.max(np.abs(runs[1][1] - runs[0][1])) <= 1e-10


def test_sharp_energy_blending_is_refused(tmp_path, capsys):
    text = (COUPLED % (LAMMPS_LJ, "strong")).replace("width: 3.0", "width: 2.8")
    path = tmp_path / "sharp.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        cli_main(["validate", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "sharp.yaml:" in err and "handshake.coupling.type" in err and "force_blend" in err, err
