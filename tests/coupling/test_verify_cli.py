"""`msim verify` on the damped 1D deck: every figure of the checklist printed next to its threshold, exit 0.
The full sweep (reflection rows, damped λ = 1.9h ≤ 5 % and λ = h ≤ 1e-4 included) is a slow test; the
same reflection figures are asserted directly in test_reflection.py."""

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from multiscale.cli import cli

DECKS = Path(__file__).resolve().parents[2] / "decks"
ROW = re.compile(r"^(.+?)\s+([-+0-9.e]+)\s+(<= \S+|reported.*?)\s+(pass|FAIL|-)$", re.M)


def _verify(*extra):
    res = CliRunner().invoke(cli, ["verify", str(DECKS / "wave1d_damped.yaml"), "--steps", "200", *extra])
    assert res.exit_code == 0, res.output
    return {m.group(1).strip(): (float(m.group(2)), m.group(4)) for m in ROW.finditer(res.output)}, res.output


def test_verify_prints_the_checklist():
    rows, out = _verify("--no-reflection")
    names = " | ".join(rows)
    for key in ("partition of unity", "patch test", "energy: net relative change", "momentum", "constraints"):
        assert key in names, out
    assert all(status != "FAIL" for _, status in rows.values())
    assert not any("reflection" in k for k in rows)


@pytest.mark.slow
def test_verify_damped_chain_deck_reflection_rows():
    rows, out = _verify()
    damped = {k: v for k, v in rows.items() if "damped" in k}
    assert len(damped) == 2 and all(v[1] == "pass" for v in damped.values()), out
    assert next(v[0] for k, v in damped.items() if "1.9 h" in k) <= 0.05
    assert sum("reflection" in k for k in rows) == 7, out


def _rows(deck, *extra):
    res = CliRunner().invoke(cli, ["verify", str(DECKS / deck), "--steps", "20", "--no-reflection", *extra])
    assert res.exit_code == 0, res.output
    return {m.group(1).strip(): (m.group(2), m.group(4)) for m in ROW.finditer(res.output)}, res.output


def test_verify_statics_deck_skips_dynamics_with_a_reason():
    """indent2d_small (precon_lbfgs): it used to crash on `integrator.dt`."""
    rows, out = _rows("indent2d_small.yaml")
    assert "statics deck (precon_lbfgs): no time step" in out, out
    assert not any(k.startswith("energy: net") for k in rows), out
    for key in ("(sum beta_a V_a + int alpha dV - V) / V",
                "(sum beta_a m_a + sum M^alpha_I - rho V) / (rho V)",
                "patch test (strong)", "constraints: max |G q| (initial state)"):
        assert any(key in k for k in rows), (key, out)
    assert rows["constraints: max |G q| (initial state)"][1] == "pass"


def test_verify_deck_without_handshake():
    res = CliRunner().invoke(cli, ["verify", str(DECKS / "crack2d_small.yaml"), "--no-reflection"])
    assert res.exit_code == 0, res.output
    assert "no handshake in the deck" in res.output and "statics deck (fire)" in res.output


def test_verify_patch2d_ghost_corrected_rows():
    """patch2d: correction recomputed every evaluation; exact at 0.2 % strain, uncorrected reported."""
    rows, out = _rows("patch2d.yaml")
    k = next(k for k in rows if k.startswith("patch test (ghost_corrected, correction homogeneous every 1)"))
    assert rows[k][1] == "pass" and float(rows[k][0]) <= 1e-10, out
    unc = next(v for k, v in rows.items() if "without the correction" in k)
    assert float(unc[0]) > 1e-2, out


def test_debug_option_after_every_subcommand():
    for name, cmd in cli.commands.items():
        assert any("--debug" in p.opts for p in cmd.params), name
    res = CliRunner().invoke(cli, ["verify", str(DECKS / "no_such_deck.yaml"), "--debug"])
    assert res.exit_code == 2, res.output
    assert "No such option" not in res.output and "Traceback" in res.output, res.output
    res = CliRunner().invoke(cli, ["verify", str(DECKS / "no_such_deck.yaml")])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
