"""Penalty coupling with atoms of tiny β̄ (`coupling/methods/penalty.py`, ``slave_below``).

A penalty spring κ c_a (c_a = min(β̄_a, 1 − β̄_a)) cannot hold an atom of tiny β̄ against the blended energy's
ghost force, whose size follows the atom's bond weights (line averages of β), not its cell average β̄: on
decks/wave2d.yaml with ``{type: penalty, kappa: 1.0}`` atom 403 (β̄ 6.5e-6, ghost force 5.2e-3 ε/σ at the
reference) left the box at step 320 of dt 0.002 (exit 3). ``slave_below`` (default 1e-3, as the projected
coupling's) ties the atoms below it to the mesh with strong rows and takes them out of the penalty sum.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.coupling.methods import get_method
from multiscale.coupling.methods.base import strong_rows
from multiscale.diagnostics.patch_test import patch_system_2d, patch_test, typical_bond_force
from multiscale.diagnostics.stability import slaved_atoms
from multiscale.regress import compute_figure

sys.path.insert(0, str(Path(__file__).parent))
from test_patch2d import DEFORMED  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WAVE2D = (ROOT / "decks" / "wave2d.yaml").read_text()
OLD_COUPLING = "coupling: {type: projected, slave_below: 0.01}"
OLD_INTEG = "integrator: {type: verlet, dt: 0.01, steps: 500}"


def _readme_deck(tmp_path: Path, coupling: str, dt: float = 0.002, steps: int = 2000,
                 allow: bool = False) -> Path:
    """decks/wave2d.yaml with ``coupling`` (the README's penalty case) at ``dt``, frames only at the end;
    ``allow``: ``allow_unstable_dt: true`` (the opt-out of the time-step and holding checks)."""
    assert OLD_COUPLING in WAVE2D and OLD_INTEG in WAVE2D
    extra = ", allow_unstable_dt: true" if allow else ""
    text = (WAVE2D.replace(OLD_COUPLING, f"coupling: {coupling}")
            .replace(OLD_INTEG, f"integrator: {{type: verlet, dt: {dt}, steps: {steps}{extra}}}")
            .replace("every: 50\n", f"every: {steps}\n"))
    p = tmp_path / f"wave2d_penalty_{len(list(tmp_path.glob('*.yaml')))}.yaml"
    p.write_text(text)
    return p


def _thermo(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: f["thermo"][k][:] for k in f["thermo"]}


def test_readme_deck_runs_2000_steps_with_energy_conserved(tmp_path):
    """The README's deck (κ = 1, dt 0.002) with the default ``slave_below`` 1e-3: 2 000 steps, exit 0.
    Measured: energy drift (|Δ(total + dissipated)| / the largest kinetic energy, `msim regress`'s
    ``energy_drift``) 3.7e-5, modified energy drift 7.1e-6, constraint residual 3.9e-14, 92 atoms tied
    (β̄ up to 8.3e-4; atom 403 among them, largest displacement 5.8e-4 σ), the largest displacement of an
    atom on a spring 0.027 σ (β̄ 1.35e-3). Asserted: drift ≤ 1e-4, modified ≤ 3e-5, residual ≤ 1e-12,
    every atom within 0.05 σ of its site. The same deck with ``slave_below: 0`` (the pure penalty method,
    run with ``allow_unstable_dt: true``: validate refuses it) still blows up with atom 403 out of the box
    (exit 3): the control that the tying is what holds it."""
    deck = _readme_deck(tmp_path, "{type: penalty, kappa: 1.0}")
    out = tmp_path / "o.h5"
    r = CliRunner().invoke(cli, ["run", str(deck), "-o", str(out), "--quiet", "--threads", "1"])
    assert r.exit_code == 0, r.output
    th = _thermo(out)
    assert th["step"][-1] == 2000
    drift = compute_figure("energy_drift", th, {}, th["step"])
    mod = compute_figure("modified_energy_drift", th, {}, th["step"])
    print("energy_drift", drift, "modified", mod, "residual", float(np.max(th["constraint_residual"])))
    assert drift <= 1e-4 and mod <= 3e-5, (drift, mod)
    assert float(np.max(th["constraint_residual"])) <= 1e-12
    assert float(np.max(th["kinetic_atoms"] + th["kinetic_continuum"])) > 1e-2     # the pulse moved
    assert float(np.max(th["coupling"])) > 1e-4                                   # the springs worked
    with h5py.File(out, "r") as f:
        w = f["static/atoms/weight"][:]
        tied = f["static/atoms/tied_to_mesh"][:].astype(bool)
        pad = f["static/atoms/pad"][:].astype(bool)
        u = f["frames/atoms/displacement"][:]
    low = (~pad) & (w < 1e-3) & (w > 0.0)
    np.testing.assert_array_equal(tied[~pad], low[~pad])        # exactly the atoms below slave_below
    assert tied[403] and w[403] < 1e-5
    assert float(np.max(np.linalg.norm(u, axis=2))) <= 0.05

    control = _readme_deck(tmp_path, "{type: penalty, kappa: 1.0, slave_below: 0}", allow=True)
    r = CliRunner().invoke(cli, ["run", str(control), "-o", str(tmp_path / "c.h5"), "--quiet",
                                 "--threads", "1"])
    assert r.exit_code == 3, r.output
    assert "atom 403" in r.stderr and "left the box" in r.stderr, r.stderr


def test_validate_reports_the_tied_atoms(tmp_path):
    """`msim validate` of the README's deck: the strong rows (2 per tied atom) and the tied atoms are
    counted, and the weighted-atoms estimate no longer includes the tied ones (0.00957 → 0.0446)."""
    deck = _readme_deck(tmp_path, "{type: penalty, kappa: 1.0}")
    r = CliRunner().invoke(cli, ["validate", str(deck)])
    assert r.exit_code == 0, r.output
    assert "184 constraint rows (92 atoms tied one by one to the mesh)" in r.output, r.output
    assert "weighted atoms 0.0446" in r.output, r.output
    deck0 = _readme_deck(tmp_path, "{type: penalty, kappa: 1.0, slave_below: 0}", allow=True)
    r = CliRunner().invoke(cli, ["validate", str(deck0)])
    assert r.exit_code == 0, r.output
    assert "0 constraint rows (0 atoms tied one by one to the mesh)" in r.output, r.output


def _line_of(path: Path, needle: str) -> int:
    return next(k for k, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


def test_springs_that_do_not_hold_are_refused(tmp_path):
    """``slave_below: 0`` (the README's old case) and 1e-5: `msim validate` and `msim run` exit 2 at
    ``handshake.coupling.slave_below`` with file and line, the atoms' offset and the bound to tie above
    (the linearised static offset of atom 1603, β̄ 1.06e-5: 1.38 σ, 1.24 nearest-neighbour distances;
    12 atoms above 0.1 of it at 0, 6 at 1e-5, β̄ up to 3.436e-5);
    following the hint (3.5e-5) validates and runs
    (measured: 2 000 steps, energy drift 1.8e-4, largest displacement 0.035 σ)."""
    for sb in ("0", "1e-5"):
        deck = _readme_deck(tmp_path, f"{{type: penalty, kappa: 1.0, slave_below: {sb}}}")
        line = _line_of(deck, "coupling:")
        for args in (["validate", str(deck)], ["run", str(deck), "-o", str(tmp_path / "o.h5"), "--quiet"]):
            r = CliRunner().invoke(cli, args)
            assert r.exit_code == 2, r.output
            first = r.stderr.splitlines()[0]
            assert first.startswith(f"error: {deck}:{line}:"), first
            n, atom = {"0": (12, 1603), "1e-5": (6, 245)}[sb]     # (245 and 1603: mirror images, β̄ 1.06e-5)
            msg = f"handshake.coupling.slave_below: the penalty springs do not hold {n} handshake atoms"
            assert msg in first, first
            assert f"up to 1.38 σ (atom {atom}, β̄ 1.06e-05)" in first, first
            assert "`slave_below` above 3.436e-05 (e.g. 3.5e-05" in r.stderr, r.stderr
            assert "Traceback" not in r.output
        assert not (tmp_path / "o.h5").exists()
    ok = _readme_deck(tmp_path, "{type: penalty, kappa: 1.0, slave_below: 3.5e-5}", steps=300)
    r = CliRunner().invoke(cli, ["validate", str(ok)])
    assert r.exit_code == 0, r.output + r.stderr
    r = CliRunner().invoke(cli, ["run", str(ok), "-o", str(tmp_path / "ok.h5"), "--quiet", "--threads", "1"])
    assert r.exit_code == 0, r.output


def test_offsets_of_the_default_and_other_couplings(tmp_path):
    """The README's deck at the default 1e-3: largest linearised offset 0.0156 σ (0.014 of the
    nearest-neighbour distance 1.113 σ; asserted ≤ 0.02 σ); 1e-4: below 0.1 too; couplings without springs
    (projected) are not checked (None); the state and the neighbour list are left as they were."""
    from multiscale.deck.deck import load_deck
    from multiscale.diagnostics.stability import HOLD_FRACTION, spring_held_offsets
    from multiscale.simulation import Simulation
    out = {}
    for sb in ("1e-3", "1e-4", "0"):
        deck = _readme_deck(tmp_path, f"{{type: penalty, kappa: 1.0, slave_below: {sb}}}", allow=True)
        m = Simulation.from_deck(load_deck(deck)).model
        s = m.system
        x0 = s.atoms.x.copy()
        h = spring_held_offsets(s, m.potential)
        assert np.array_equal(s.atoms.x, x0) and s.atoms.nlist.x_build is None
        assert abs(h.r_nn - 1.1132013) < 1e-6
        out[sb] = float(np.max(h.offset))
    print(out)
    assert out["1e-3"] <= 0.02 and out["1e-4"] <= HOLD_FRACTION * 1.1132013 < out["0"]
    assert out["0"] > 1.0
    deck = tmp_path / "projected.yaml"
    deck.write_text(WAVE2D)
    m = Simulation.from_deck(load_deck(deck)).model
    assert spring_held_offsets(m.system, m.potential) is None


def test_rows_split_between_strong_rows_and_springs():
    """The strong rows are those of the atoms below ``slave_below``, the springs' rows those of the others,
    and together they are the strong coupling's rows (in another order); ``slave_below: 0`` is the pure
    penalty method (no rows, the springs' G bitwise the strong rows of every atom of H)."""
    s, _, _ = patch_system_2d("penalty", method_params={"kappa": 2.0, "slave_below": 0.01})
    m = s.method
    w = s.ctx.weights
    low = np.flatnonzero(w < 0.01)
    assert 0 < low.size < w.size
    np.testing.assert_array_equal(np.sort(slaved_atoms(s.G, s.n_free, s.d)), np.sort(s.constrained[low]))
    np.testing.assert_array_equal(m._pen, np.flatnonzero(w >= 0.01))
    G_all = strong_rows(s.ctx).toarray()
    d = s.d
    rows = lambda idx: (idx[:, None] * d + np.arange(d)).ravel()   # noqa: E731
    np.testing.assert_array_equal(s.G.toarray(), G_all[rows(low)])
    np.testing.assert_array_equal(m._G.toarray(), G_all[rows(m._pen)])
    s0, _, _ = patch_system_2d("penalty", method_params={"kappa": 2.0, "slave_below": 0.0})
    assert s0.G is None
    assert (s0.method._G != strong_rows(s0.ctx)).nnz == 0


@pytest.mark.parametrize("name", list(DEFORMED))
def test_no_ghost_force_from_the_coupling_on_homogeneous_states(name):
    """Patch test (tests/coupling/test_patch2d.py's states: 1 % and 5 % strain, a rotation, both): on
    x = F X, U = (F − I) X the strong rows hold and every spring is unstretched, so the coupling adds no
    force and no energy: the penalty model's residual forces are the plain energy blending's (the strong
    coupling's system) to round-off. Measured: spring forces ≤ 5.9e-14 of a bond force (asserted ≤ 1e-12),
    coupling energy ≤ 2.9e-14 ε (its rounding: K q is formed from q of up to 4 σ; asserted ≤ 1e-12 of a bond
    force times the largest displacement), residuals equal to ≤ 1e-12."""
    Fd = DEFORMED[name]
    s, lat, pot = patch_system_2d("penalty", method_params={"kappa": 50.0})
    assert slaved_atoms(s.G, s.n_free, s.d).size > 0          # the default 1e-3 ties some atoms here
    bond = typical_bond_force(pot, lat, Fd)
    r = patch_test(s, Fd, bond)
    fa, fn = np.zeros_like(s.f_atoms), np.zeros_like(s.f_nodes)
    E = s.method.add_forces(s, fa, fn)
    spring = max(float(np.max(np.abs(fa))), float(np.max(np.abs(fn))))
    print(name, "spring force / bond", spring / bond, "energy", E)
    # round-off scale of the energy: a bond force times the largest displacement (K q is formed from q,
    # not from G q, so its rounding follows κ |q|)
    work = bond * float(np.max(np.abs(s.gather_q())))
    assert spring <= 1e-12 * bond and abs(E) <= 1e-12 * work and abs(s.energy["coupling"]) <= 1e-12 * work
    s2, _, _ = patch_system_2d("strong")
    r2 = patch_test(s2, Fd, bond)
    assert abs(r.relative - r2.relative) <= 1e-12, (r, r2)
    assert r.constrained_relative <= r.relative + 1e-12


def test_get_method_default_and_bounds():
    """``slave_below`` defaults to the projected coupling's 1e-3 and takes [0, 1)."""
    assert get_method("penalty", kappa=1.0).params.slave_below == 1e-3
    with pytest.raises(Exception):  # noqa: B017 (pydantic ValidationError)
        get_method("penalty", kappa=1.0, slave_below=1.0)
