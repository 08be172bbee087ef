"""A blow-up on the spatial coupled path (`msim run --decompose spatial`): exit 3 like the serial and the
plain-MD runs (review rev28: the jump test of `run.blowup.route` read the serial velocities, which the
spatial path does not keep current, so a kernel's error on flown atoms ended as exit 1, internal error,
with no OUT.lastgood.h5). One rank saves the last good state; on two ranks too since rev32 F16 (the blow-up
found inside a step is raised on every rank together by the engine's rebuild check; before, the rank that
found it aborted the others and the message said the file could not be saved)."""

from __future__ import annotations

from pathlib import Path

from mpi_helpers import msim

DECK = """\
msim: 1
units: metal
potential: {type: morse, D: 0.3429, alpha: 1.3588, r0: 2.866, cutoff: 6.0, truncation: shift}
atoms:
  lattice: {type: hex, a: relaxed}
  region: {type: box, lo: [-25.0, -20.0], hi: [31.0, 20.0]}
  mass: 63.546
  skin: 0.5
continuum:
  mesh: {type: rectangle, element: quad4, lo: [-60.0, -50.0], hi: [70.0, 50.0], size: 3.0,
         hole: {lo: [-6.0, -6.0], hi: [12.0, 6.0]}}
handshake:
  shape: {type: box, lo: [-9.0, -9.0], hi: [15.0, 9.0]}
  width: 7.0
  blend: {type: linear}
  coupling: {type: projected}
loads:
  - {type: radial_pulse, center: [3.0, 1.0], sigma: 3.0, amplitude: 1.0}
integrator: {type: verlet, dt: 0.5, steps: 300, allow_unstable_dt: true}
output: {every: 100, thermo_every: 100}
"""


def test_spatial_blowup_exits_3(tmp_path: Path) -> None:
    deck = tmp_path / "blow.yaml"
    deck.write_text(DECK)
    for n in (0, 2):
        out = tmp_path / f"b{n}.h5"
        p = msim(n, str(deck), "-o", str(out), "--decompose", "spatial", "--quiet")
        assert p.returncode == 3, (n, p.stderr[-3000:])
        assert "blow-up at step" in p.stderr and "internal error" not in p.stderr, p.stderr[-3000:]
        if " moves " in p.stderr:       # the jump test of `blowup.route`: this rank's figure on MPI (rev30 F4)
            assert ("an atom of this rank moves" in p.stderr) == (n > 0), (n, p.stderr[-3000:])
        saved = (tmp_path / f"b{n}.lastgood.h5").exists()
        assert ("is saved in" in p.stderr) == saved, (n, saved, p.stderr[-3000:])
        assert saved, (n, p.stderr[-3000:])


def test_spatial_lost_atom_named_as_in_the_serial_run(tmp_path: Path) -> None:
    """Atoms leaving the box on 3 ranks: the message names the serial atom index and the count over all
    ranks, as the serial run does (review rev29 F1: "atom 31 ... 10 atoms out" on 3 ranks where the
    serial run said "atom 98 ... 26 atoms out": each rank named its own row and count). The deck: the 3D
    coupled EAM deck with the handshake atoms left untied (slave_below 0.01, unstable: allowed) at 300 K."""
    import re

    import yaml

    d = yaml.safe_load((Path(__file__).parent / "decks" / "coupled3d_eam.yaml").read_text())
    d["atoms"]["velocity"] = {"temperature": 300.0, "seed": 7}
    d["handshake"]["coupling"] = {"type": "projected", "slave_below": 0.01}
    d["loads"] = []
    # dt 3x the deck's, guard every 5 steps: the atoms fly out by step 15, before the ranks' round-off (the
    # unstable run amplifies it) parts the trajectories — with dt 0.002 and the guard at step 50 the lost
    # atoms differed once the projector kept other (dependent) rows (session 29)
    d["integrator"].update(steps=60, dt=0.006, allow_unstable_dt=True)
    d["output"].update(thermo_every=5)
    deck = tmp_path / "lost3d.yaml"
    deck.write_text(yaml.safe_dump(d, sort_keys=False))
    said = {}
    for n in (0, 3):
        p = msim(n, str(deck), "-o", str(tmp_path / f"l{n}.h5"), "--decompose", "spatial")
        assert p.returncode == 3, (n, p.stderr[-3000:])
        m = re.search(r"atom (\d+) of region 'atoms' left the box along (\w).*; (\d+) atoms out\)", p.stderr)
        assert m, (n, p.stderr[-3000:])
        said[n] = m.groups()
    assert said[3] == said[0], said
