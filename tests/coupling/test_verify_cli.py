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
