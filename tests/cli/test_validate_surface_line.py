"""`msim validate` of a deck with ``continuum.surface_stress`` says which faces carry the term and the
slab's γ, τ (it printed nothing about it: a face set naming the coupling interface went unnoticed).
The 2D LJ deck: a tri3 plate around a hexagonal core, bottom fixed; the free faces are the left, right
and top edges (the hole against the core and the fixed bottom are dropped). The counts are the mesh's
edge segments (size 2 over 40 and 60 σ); γ, τ are printed from the slab (checked in test_surface_slab)."""

from __future__ import annotations

from click.testing import CliRunner

from multiscale.cli import cli

DECK = """\
msim: 1
units: lj
potential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}
atoms:
  lattice: {type: hex, a: relaxed}
  region: {type: box, lo: [-14.0, -14.0], hi: [14.0, 14.0]}   # the handshake edge ±11 + cut-off + skin
  mass: 1.0
continuum:
  mesh: {type: rectangle, element: tri3, lo: [-30.0, -20.0], hi: [30.0, 20.0], size: 2.0,
         hole: {lo: [-6.0, -6.0], hi: [6.0, 6.0]}}
  surface_stress: {faces: FACES}
handshake:
  shape: {type: box, lo: [-7.0, -7.0], hi: [7.0, 7.0]}
  width: 4.0
  blend: {type: linear}
  coupling: {type: strong}
loads:
  - {type: fixed, region: {type: box, lo: [-31, -21], hi: [31, -19.5]}}
integrator: {type: verlet, dt: 0.005, steps: 10}
"""


def _validate(tmp_path, faces: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(DECK.replace("FACES", faces))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output + r.stderr
    return next(ln for ln in r.output.splitlines() if ln.startswith("surface "))


def test_validate_prints_the_free_faces_and_the_slab_figures(tmp_path) -> None:
    line = _validate(tmp_path, "free")
    assert "70 faces (20 +x, 20 -x, 30 +y)" in line, line     # no hole faces, no fixed bottom
    assert "x-normal: gamma" in line and "y-normal: gamma" in line and "(S on)" in line


def test_hole_faces_named_in_a_face_list_are_refused(tmp_path) -> None:
    """The hole's 24 faces lie against the atoms (the coupling interface): `faces: free` drops them, a face
    list naming them is a deck error (it was accepted silently: review offpath); ``yhi`` alone is fine."""
    path = tmp_path / "s.yaml"
    path.write_text(DECK.replace("FACES", "[hole, yhi]"))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 2, r.output
    assert "continuum.surface_stress.faces" in r.output + r.stderr and "24 of the listed faces" in (
        r.output + r.stderr)
    line = _validate(tmp_path, "[yhi]")
    assert "30 faces (30 +y)" in line, line
