"""``continuum.surface_stress.relax_atoms`` on a potential whose outer plane relaxes OUTWARD (LJ: +0.004 σ)
with the mesh's free face flush with the atoms' top plane (review rev28 F1): the moved atoms left the
mesh and the deck was refused at ``handshake.shape`` ("points outside the mesh"), a key the user did not
touch. Now the refusal names ``relax_atoms`` and the relaxation; without relax_atoms the deck validates."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from multiscale.cli import cli

DECKS = Path(__file__).resolve().parents[2] / "decks"
TOP = 37.59836372782803  # the atoms' top plane of indent2d_small (hex LJ, a relaxed)


def _deck(tmp_path: Path, relax: bool) -> Path:
    d = yaml.safe_load((DECKS / "indent2d_small.yaml").read_text())
    d.pop("expect", None)
    d["continuum"]["mesh"]["hi"][1] = TOP
    d["continuum"]["mesh"]["core"]["hi"][1] = TOP
    d["continuum"]["surface_stress"] = {"faces": "free", "source": "potential", "elasticity": False,
                                        "relax_atoms": relax}
    p = tmp_path / f"flush_{relax}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def test_outward_relaxation_out_of_a_flush_mesh_is_refused_at_relax_atoms(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["validate", str(_deck(tmp_path, True))])
    assert res.exit_code == 2, res.output
    assert "continuum.surface_stress.relax_atoms" in res.output, res.output
    assert "would leave the mesh" in res.output and "handshake.shape" not in res.output
    assert "Traceback" not in res.output


def test_the_same_deck_without_relax_atoms_validates(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["validate", str(_deck(tmp_path, False))])
    assert res.exit_code == 0, res.output


def test_a_potential_that_relaxes_no_plane_is_accepted_with_a_note(tmp_path: Path) -> None:
    """Review rev29: LJ cut at 1.5σ (nearest neighbours only) on the lattice of its minimum relaxes no plane;
    the deck was refused as "no free atom lies under any of the faces" (false: the same geometry with
    r_c = 2.5 moves 108 atoms). Now a note says nothing moves."""
    d = yaml.safe_load((DECKS / "indent2d_small.yaml").read_text())
    d.pop("expect", None)
    a = 1.113201304                                 # the deck's relaxed spacing (r_c = 2.5): same geometry
    d["potential"]["cutoff"] = 1.5
    d["potential"]["sigma"] = a / 2 ** (1 / 6)       # its nearest neighbours at the minimum of the pair
    d["atoms"]["lattice"]["a"] = a
    d["continuum"]["surface_stress"] = {"faces": "free", "source": "potential", "elasticity": False,
                                        "relax_atoms": True}
    p = tmp_path / "nn.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    res = CliRunner().invoke(cli, ["validate", str(p)])
    assert res.exit_code == 0, res.output
    assert "relaxation is zero for this potential" in res.output
