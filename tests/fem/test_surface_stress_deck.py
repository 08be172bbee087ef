"""``continuum.surface_stress`` in a deck: the free faces it selects (the outer faces without the fixed
bottom and without the mesh hole against the atomistic core), the deck errors (file, line, key; exit 2)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from multiscale.applications.indent3d_ml import eam_deck_set
from multiscale.cli import cli
from multiscale.deck.deck import load_deck_text
from multiscale.fem.surface_stress import outward_normals
from multiscale.simulation import Simulation


@pytest.fixture(scope="module")
def deck() -> dict:
    """The coupled EAM indentation deck with the atoms on the bulk lattice (`relax_atoms: false`): these tests
    are about the continuum's surface term (with relax_atoms the atoms' sites differ between the decks with
    and without a surface term)."""
    return eam_deck_set(relax_atoms=False)["coupled"]


@pytest.mark.slow     # ~25 s at load 13 (the coupled EAM model's set-up)
def test_free_faces_are_the_outer_faces_without_bottom_and_hole(deck: dict) -> None:
    sim = Simulation.from_deck(load_deck_text(yaml.safe_dump(deck, sort_keys=False), "d.yaml"))
    cont = sim.model.continuum
    s, mesh = cont.surface, cont.mesh
    n = outward_normals(mesh.nodes, s.faces)
    lo, hi = mesh.nodes.min(axis=0), mesh.nodes.max(axis=0)
    c = mesh.nodes[s.faces].mean(axis=1)
    on_outer = np.zeros(len(c), bool)
    for k in range(3):
        on_outer |= np.isclose(c[:, k], hi[k]) & np.isclose(n[:, k], 1.0)
        if k < 2:
            on_outer |= np.isclose(c[:, k], lo[k]) & np.isclose(n[:, k], -1.0)
    assert np.all(on_outer)                                   # no hole faces, no bottom (fixed) faces
    hole = {tuple(sorted(f)) for f in mesh.face_sets["hole"]}
    assert hole and not hole & {tuple(sorted(f)) for f in s.faces}
    assert not np.any(np.isclose(c[:, 2], lo[2]))
    area = s.dA.sum()
    side = (hi[0] - lo[0]) * (hi[2] - lo[2])
    top = (hi[0] - lo[0]) * (hi[1] - lo[1])
    hl = deck["continuum"]["mesh"]["hole"]                    # the top face minus the hole's opening
    opening = (hl["hi"][0] - hl["lo"][0]) * (hl["hi"][1] - hl["lo"][1])
    assert area == pytest.approx(4 * side + top - opening, rel=1e-9)
    p = sim.model.surface_properties
    assert sorted(p) == [0, 1, 2] and p[2].tau[0, 0] == pytest.approx(p[0].tau[1, 1], rel=1e-6)


@pytest.mark.parametrize("value, key, text", [
    ({"faces": "sideways"}, "continuum.surface_stress.faces", "sideways"),
    pytest.param({"faces": ["nosuch"]}, "continuum.surface_stress.faces", "no face set 'nosuch'",
                 marks=pytest.mark.slow),     # found while building the model (~25 s)
    ({"source": "file"}, "continuum.surface_stress.source", "potential"),
    ({"tol": -1.0}, "continuum.surface_stress.tol", ""),
    ({"fcaes": "free"}, "continuum.surface_stress", "fcaes"),
])
def test_deck_errors_name_file_line_and_key(deck: dict, tmp_path, value: dict, key: str, text: str) -> None:
    d = copy.deepcopy(deck)
    d["continuum"]["surface_stress"] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.stderr and "bad.yaml:" in r.stderr and key in r.stderr and text in r.stderr


@pytest.mark.slow     # ~25 s at load 13 (the coupled EAM model's set-up)
def test_faces_without_an_in_plane_mirror_are_a_deck_error(deck: dict, tmp_path) -> None:
    """x [11-2], y [-110], z [111]: the y faces ({110}) have in-plane axes [11-2] and [111], neither normal
    to a mirror plane of fcc (those are {100} and {110}), so τ_xz need not vanish: refused at the key."""
    for relax in (False, True):     # relax_atoms computes the slab earlier: the same geometric refusal first
        d = copy.deepcopy(deck)
        d["atoms"]["lattice"]["orient"] = [[1, 1, -2], [-1, 1, 0], [1, 1, 1]]
        d["continuum"]["surface_stress"]["relax_atoms"] = relax
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(d, sort_keys=False))
        r = CliRunner().invoke(cli, ["validate", str(path)])
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.stderr and "bad.yaml:" in r.stderr
        assert "continuum.surface_stress" in r.stderr and "normal to y have no mirror" in r.stderr, relax


@pytest.mark.slow     # ~40 s at load 13 (three coupled EAM models)
def test_force_blend_reports_the_layer_energy_with_the_partition_of_unity(deck: dict) -> None:
    """force_blend evaluates the continuum unweighted near H (forces scaled by α afterwards) and re-weights
    the reported energy; the surface term (attached after the coupling's `prepare`) must be re-weighted like
    the bulk: under a homogeneous strain, Π(τ and S) − Π(τ) = the layer's energy and Π(τ) − Π(no surface
    term) = the faces' energy, each with the handshake's continuum weight α at its points (fresh terms,
    ``set_blend(handshake.alpha)``)."""
    from multiscale.fem.surface_layer import SurfaceLayer
    from multiscale.fem.surface_stress import SurfaceStress

    F = np.diag([1.01, 0.995, 1.003])
    pis, sims = [], []
    for elasticity in (True, False, None):
        d = copy.deepcopy(deck)
        d["continuum"]["surface_stress"]["elasticity"] = bool(elasticity)
        if elasticity is None:
            del d["continuum"]["surface_stress"]
        sim = Simulation.from_deck(load_deck_text(yaml.safe_dump(d, sort_keys=False), "d.yaml"))
        sim.prepare()
        s = sim.model.system
        s.atoms.x[:] = s.atoms.X @ F.T
        s.continuum.U[:] = s.continuum.nodes @ (F - np.eye(3)).T
        pis.append(s.compute_forces())
        sims.append(sim)
    s = sims[0].model.system
    lay = s.continuum.surface.layer
    faces = s.continuum.surface.faces
    S = np.zeros((len(faces), 3, 3))
    n = outward_normals(s.continuum.nodes, faces)
    ax = np.argmax(np.abs(n), axis=1)
    for k, p in sims[0].model.surface_properties.items():
        S[ax == k] = p.S
    ref = SurfaceLayer(s.continuum.nodes, [(b.conn, b.element) for b in s.continuum.mesh.blocks], faces, n, S,
                       lay.depth)
    ref.set_blend(s.handshake.alpha)
    U = s.continuum.U
    expect = ref.add_forces(U, np.zeros_like(U))
    assert abs(expect) > 1e-4
    assert pis[0] - pis[1] == pytest.approx(expect, rel=1e-9)
    # and the faces' γ + τ : E_s likewise (a fresh face term with the handshake's α)
    surf = s.continuum.surface
    faces_ref = SurfaceStress(s.continuum.nodes, faces, surf.tau, surf.gamma)
    faces_ref.set_blend(s.handshake.alpha)
    expect_faces = faces_ref.add_forces(U, np.zeros_like(U))
    assert pis[1] - pis[2] == pytest.approx(expect_faces, rel=1e-9)


@pytest.mark.slow     # ~25 s at load 13 (the coupled EAM model's set-up)
def test_faces_that_relax_in_plane_under_strain_refuse_the_surface_elasticity(deck: dict, tmp_path) -> None:
    """Review rev24: fcc (111) top faces (x [11-2], y [-110], z [111]) have in-plane mirrors and no in-plane
    force at zero strain (3-fold axis), so γ and τ are right; under in-plane strain their planes relax in
    plane, which the normal-only slab does not do, and S would be the unrelaxed surface's (Cu_u3: S_xx −0.026
    instead of +0.065 eV/Å²). `elasticity: true` is refused at its key; `elasticity: false` validates."""
    d = copy.deepcopy(deck)
    d["atoms"]["lattice"]["orient"] = [[1, 1, -2], [-1, 1, 0], [1, 1, 1]]
    d["continuum"]["surface_stress"].update(faces=["zhi"], elasticity=True)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.stderr and "bad.yaml:" in r.stderr
    assert "continuum.surface_stress.elasticity" in r.stderr and "relaxes in plane under" in r.stderr
    d["continuum"]["surface_stress"]["elasticity"] = False
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output
