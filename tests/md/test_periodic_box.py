"""Periodic boxes must hold whole lattice periods (msim issue 11, item 1).

Reproduction: fcc Cu (Mishin EAM, a relaxed = 3.61493 Å), box 0 … 18.075 Å periodic on every axis gave
666 atoms instead of 500, 302 of them 0.0004 Å from a periodic image; `msim validate` said OK and the run
"blew up". Now such a deck exits 2 naming the axis, the length, the period and the nearest valid lengths;
`cells: [5, 5, 5]` or `box_fit: snap` give the 500-atom crystal. Periods are checked against closed forms
(fcc along [100], [110], [111], [112]; bcc [111]; hex x and y = a·√3; a turned square √5·a).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.deck import load_deck_text
from multiscale.errors import DeckError
from multiscale.md.box import Box
from multiscale.md.lattice import Lattice

from .refcodes import lammps_potential_dir

R2, R3, R6 = math.sqrt(2.0), math.sqrt(3.0), math.sqrt(6.0)


# ----------------------------------------------------------------------------- lattice periods
@pytest.mark.parametrize("kind, orient, expected", [
    ("fcc", None, [1.0, 1.0, 1.0]),
    ("fcc", [[1, 1, 0], [-1, 1, 0], [0, 0, 1]], [1 / R2, 1 / R2, 1.0]),     # a/2 [110]: a lattice vector
    ("fcc", [[1, 1, 2], [-1, 1, 0], [-1, -1, 1]], [R6 / 2, 1 / R2, R3]),          # a/2 [112]; a [111]
    ("bcc", [[1, 1, 1], [-1, 1, 0], [-1, -1, 2]], [R3 / 2, R2, R6]),        # a/2 [111]; a [110]; a [112]
    ("sc", [[1, 2, 0], [-2, 1, 0], [0, 0, 1]], [math.sqrt(5), math.sqrt(5), 1.0]),
    ("hex", None, [1.0, R3]),
    ("hex", 30.0, [R3, 1.0]),
    ("hex", 90.0, [R3, 1.0]),
    ("square", math.degrees(math.atan(0.5)), [math.sqrt(5), math.sqrt(5)]),
    ("chain", None, [1.0]),
])
def test_lattice_period_along_each_axis(kind, orient, expected):
    a = 1.37
    lat = Lattice(kind, a, orient=orient)
    got = lat.periods()
    assert got == pytest.approx([a * e for e in expected], rel=1e-12)
    # the translation by one period along each axis maps every site onto a site
    X = lat.sites_in_box(-4 * a * np.ones(lat.dim), 4 * a * np.ones(lat.dim))
    for k, p in enumerate(got):
        Y = X.copy()
        Y[:, k] += p
        inner = np.all(np.abs(Y) < 3 * a, axis=1)
        d = np.min(np.linalg.norm(Y[inner][:, None, :] - X[None, :, :], axis=2), axis=1)
        assert np.max(d) < 1e-9 * a


def test_irrational_orientation_has_no_period():
    assert Lattice("hex", 1.0, orient=10.0).periods() == [None, None]
    assert Lattice("square", 1.0, orient=45.0).periods() == pytest.approx([R2, R2])


# ----------------------------------------------------------------------------- decks
def _cu_deck(tmp_path, atoms_lines: str, name: str = "cu.yaml"):
    pot = lammps_potential_dir() / "Cu_mishin1.eam.alloy"
    text = f"""\
msim: 1
units: metal
potential: {{type: eam, file: {pot}}}
atoms:
  lattice: {{type: fcc, a: relaxed}}
{atoms_lines}
  mass: 63.546
integrator: {{type: verlet, dt: 0.001, steps: 10}}
"""
    p = tmp_path / name
    p.write_text(text)
    return p


def _lj_hex_deck(tmp_path, atoms_lines: str, lattice: str = "{type: hex, a: 1.1225}", name="hex.yaml"):
    p = tmp_path / name
    p.write_text(f"""\
msim: 1
units: lj
potential: {{type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5, truncation: shift}}
atoms:
  lattice: {lattice}
{atoms_lines}
  mass: 1.0
integrator: {{type: verlet, dt: 0.005, steps: 10}}
""")
    return p


def _invoke(*args):
    return CliRunner().invoke(cli, list(args))


def _model(path):
    from multiscale import Simulation, load_deck
    return Simulation.from_deck(load_deck(path)).model


def _min_distance(X: np.ndarray, box: Box) -> float:
    """Brute-force minimum-image distance (independent of msim's neighbour list)."""
    dx = X[:, None, :] - X[None, :, :]
    L = box.lengths
    dx -= np.where(box.periodic, L * np.round(dx / L), 0.0)
    r = np.linalg.norm(dx, axis=2)
    r[np.diag_indices(len(X))] = np.inf
    return float(r.min())


CU_BOX = "  region: {type: box, lo: [0.0, 0.0, 0.0], hi: [18.075, 18.075, 18.075]}\n  boundary: [p, p, p]"


def test_cu_box_not_a_whole_number_of_periods_is_refused(tmp_path):
    deck = _cu_deck(tmp_path, CU_BOX)
    for command in ("validate", "run"):
        r = _invoke(command, str(deck))
        assert r.exit_code == 2, r.output
        msg = r.stderr
        assert f"{deck}:6:" in msg and "atoms.region.hi" in msg
        assert "along x" in msg and "18.075" in msg
        assert "3.6149" in msg                                 # the period (relaxed a)
        assert "18.0746" in msg and "21.689" in msg            # 5 and 6 periods
        assert "box_fit: snap" in msg and "cells:" in msg
        assert "Traceback" not in r.output


def test_cu_cells_and_snap_give_the_perfect_500_atom_crystal(tmp_path):
    snap = _cu_deck(tmp_path, CU_BOX + "\n  box_fit: snap", "snap.yaml")
    cells = _cu_deck(tmp_path, "  cells: [5, 5, 5]\n  boundary: [p, p, p]", "cells.yaml")
    r = _invoke("validate", str(snap))
    assert r.exit_code == 0, r.output
    assert "atoms         500 " in r.stdout and "box_fit snap" in r.stdout
    models = [_model(snap), _model(cells)]
    a = models[0].lattice.a
    assert a == pytest.approx(3.61493, abs=2e-5)
    for m in models:
        X, box = m.atoms.X, m.atoms.box
        assert m.atoms.n == 500                                   # 4 atoms x 5^3 cells
        assert box.lengths == pytest.approx(5 * a * np.ones(3), rel=1e-14)
        assert _min_distance(X, box) == pytest.approx(a / R2, rel=1e-9)   # fcc nearest neighbour
    np.testing.assert_array_equal(models[0].atoms.X, models[1].atoms.X)
    # the perfect crystal: zero force on every atom
    m = models[1]
    m.atoms.compute()
    assert np.max(np.abs(m.atoms.forces)) < 1e-10


def test_periodic_box_shorter_than_twice_cutoff_plus_skin_is_a_deck_error(tmp_path):
    deck = _cu_deck(tmp_path, "  cells: [3, 3, 3]\n  boundary: [p, p, p]")
    r = _invoke("validate", str(deck))
    assert r.exit_code == 2, r.output
    assert "atoms.cells" in r.stderr and "along x" in r.stderr and "2 x (cut-off + skin)" in r.stderr
    assert "at least 5 lattice periods" in r.stderr                       # 2 (5.507 + 2) / 3.615 = 4.15


def test_hex_lj_y_period_is_a_sqrt3(tmp_path):
    a = 1.1225
    bad = _lj_hex_deck(tmp_path, "  region: {type: box, lo: [0.0, 0.0], hi: [11.225, 11.225]}\n"
                                 "  boundary: [p, p]")
    r = _invoke("validate", str(bad))
    assert r.exit_code == 2, r.output
    assert "along y" in r.stderr and f"{a * R3:.8g}" in r.stderr and f"{6 * a * R3:.8g}" in r.stderr
    good = _lj_hex_deck(tmp_path, "  cells: [10, 6]\n  boundary: [p, p]", name="good.yaml")
    m = _model(good)
    assert m.atoms.n == 2 * 10 * 6
    assert m.atoms.box.lengths == pytest.approx([10 * a, 6 * a * R3], rel=1e-14)
    assert _min_distance(m.atoms.X, m.atoms.box) == pytest.approx(a, rel=1e-9)
    m.atoms.compute()
    assert np.max(np.abs(m.atoms.forces)) < 1e-10


def test_hex_metal_units_rotated_and_rounded_lengths(tmp_path):
    """metal units (Morse), hex turned by 30° (x period a√3, y period a), lengths written to 5 decimals."""
    a = 2.5
    p = tmp_path / "hexm.yaml"
    lx, ly = 6 * a * R3, 10 * a                       # 25.98076..., 25.0
    p.write_text(f"""\
msim: 1
units: metal
potential: {{type: morse, D: 0.35, alpha: 1.4, r0: 2.5, cutoff: 6.0}}
atoms:
  lattice: {{type: hex, a: {a}, orient: 30}}
  region: {{type: box, lo: [0.0, 0.0], hi: [{lx:.5f}, {ly}]}}
  boundary: [p, p]
  mass: 63.5
  skin: 1.0
integrator: {{type: verlet, dt: 0.001, steps: 10}}
""")
    m = _model(p)
    assert m.atoms.n == 2 * 6 * 10
    assert m.atoms.box.lengths == pytest.approx([lx, ly], rel=1e-14)   # 25.98076 taken as 6 periods
    assert _min_distance(m.atoms.X, m.atoms.box) == pytest.approx(a, rel=1e-9)
    p.write_text(p.read_text().replace(f"{lx:.5f}", "26.5"))
    r = _invoke("validate", str(p))
    assert r.exit_code == 2 and "along x" in r.stderr and f"{a * R3:.8g}" in r.stderr


def test_rotated_fcc_period_is_not_the_cubic_constant(tmp_path):
    """fcc with x along [110]: the period is a/√2, so a box of 4a along x is 5.657 periods: refused."""
    orient = "orient: [[1, 1, 0], [-1, 1, 0], [0, 0, 1]]"
    lat = "{type: fcc, a: 1.5874, " + orient + "}"
    deck = _lj_hex_deck(tmp_path, "  region: {type: box, lo: [0, 0, 0], hi: [6.3496, 6.3496, 6.3496]}\n"
                                  "  boundary: [p, p, p]", lattice=lat)
    r = _invoke("validate", str(deck))
    assert r.exit_code == 2 and "along x" in r.stderr and f"{1.5874 / R2:.8g}" in r.stderr, r.output
    good = _lj_hex_deck(tmp_path, "  cells: [6, 6, 4]\n  boundary: [p, p, p]", lattice=lat, name="g.yaml")
    m = _model(good)
    L = m.atoms.box.lengths
    assert L == pytest.approx([6 * 1.5874 / R2, 6 * 1.5874 / R2, 4 * 1.5874], rel=1e-14)
    assert m.atoms.n == round(np.prod(L) / (1.5874 ** 3 / 4))              # 4 atoms per a³
    assert _min_distance(m.atoms.X, m.atoms.box) == pytest.approx(1.5874 / R2, rel=1e-9)


def test_irrational_orientation_with_periodic_axis_is_refused(tmp_path):
    deck = _lj_hex_deck(tmp_path, "  region: {type: box, lo: [0.0, 0.0], hi: [11.225, 11.225]}\n"
                                  "  boundary: [p, f]", lattice="{type: hex, a: 1.1225, orient: 10}")
    r = _invoke("validate", str(deck))
    assert r.exit_code == 2, r.output
    assert "atoms.boundary" in r.stderr and "no period along x" in r.stderr
    cells = _lj_hex_deck(tmp_path, "  cells: [5, 5]", lattice="{type: hex, a: 1.1225, orient: 10}",
                         name="c.yaml")
    r = _invoke("validate", str(cells))
    assert r.exit_code == 2 and "atoms.cells" in r.stderr and "no period along x" in r.stderr


def test_region_and_cells_are_exclusive(tmp_path):
    both = _lj_hex_deck(tmp_path, "  region: {type: box, lo: [0.0, 0.0], hi: [11.225, 9.72]}\n"
                                  "  cells: [2, 2]")
    r = _invoke("validate", str(both))
    assert r.exit_code == 2 and "not both" in r.stderr
    neither = _lj_hex_deck(tmp_path, "  boundary: [p, p]", name="n.yaml")
    r = _invoke("validate", str(neither))
    assert r.exit_code == 2 and "not neither" in r.stderr
    wrong = _lj_hex_deck(tmp_path, "  cells: [2, 2, 2]", name="w.yaml")
    r = _invoke("validate", str(wrong))
    assert r.exit_code == 2 and "atoms.cells" in r.stderr and "expected 2 entries" in r.stderr


def test_close_atoms_are_reported_with_the_deck_key():
    from multiscale.build import _check_min_distance

    deck = load_deck_text("msim: 1\nunits: lj\npotential: {type: lj, epsilon: 1.0, sigma: 1.0, cutoff: 2.5}\n"
                          "atoms:\n  lattice: {type: square, a: 1.0}\n  cells: [6, 6]\n"
                          "  boundary: [p, p]\n  mass: 1.0\n"
                          "integrator: {type: verlet, dt: 0.005, steps: 1}\n",
                          name="close.yaml")
    lat = Lattice("square", 1.0)
    box = Box([0, 0], [6, 6], [True, True])
    X = lat.sites_in_box([0, 0], [6, 6])
    _check_min_distance(deck, "atoms.cells", lat, X, box)                 # perfect: fine
    # an atom 0.0004 from the periodic image of another (the 18.075 Å case in miniature)
    Y = np.vstack([X, [[5.9996, 3.0]]])
    with pytest.raises(DeckError) as e:
        _check_min_distance(deck, "atoms.cells", lat, Y, box)
    msg = str(e.value)
    assert "atoms.cells" in msg and "0.0004 apart" in msg and "periodic images" in msg
