"""Hostile YAML and numbers (msim issues 11 and 17, items 4, 7, 8, 12): every case is a located `DeckError`
(file, line, key), found quickly and with little memory, and its report is short. Uses the real plugin
registries (`load_deck` loads them)."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from multiscale.cli import cli
from multiscale.deck import load_deck
from multiscale.deck.load import MAX_NODES
from multiscale.deck.report import MAX_ERRORS, DeckErrors
from multiscale.errors import DeckError

DECKS = Path(__file__).resolve().parents[2] / "decks"
WAVE1D = (DECKS / "wave1d.yaml").read_text()
INDENT = (DECKS / "indent2d_small.yaml").read_text()


def _error(tmp_path: Path, text: str | bytes, name: str = "deck.yaml") -> DeckError:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DeckError) as info:
        load_deck(p)
    err = info.value
    assert err.file == str(p)
    assert err.line is not None and err.line >= 1, err.format()
    return err


def _bomb(levels: int) -> str:
    out = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    out += [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]" for k in range(1, levels)]
    return "\n".join(out) + "\n"


def test_billion_laughs_is_refused_fast_and_small(tmp_path):
    """9 nested alias levels (10^9 strings if expanded): refused after MAX_NODES values."""
    text = _bomb(9) + WAVE1D.replace("title:", "title: *a8\nold_title:", 1)
    t0 = time.perf_counter()
    err = _error(tmp_path, text)
    dt = time.perf_counter() - t0
    tracemalloc.start()
    _error(tmp_path, text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert f"more than {MAX_NODES} values" in err.message
    assert 1 <= err.line <= 9  # in the alias rows, where the budget ran out
    assert dt < 10.0 and peak < 200e6, (dt, peak)


def test_recursive_alias(tmp_path):
    err = _error(tmp_path, WAVE1D + "\nloop: &l {a: *l}\n")
    assert "recursive alias" in err.message
    assert err.key == "loop.a"
    n = WAVE1D.count("\n") + 2
    assert err.line == n


def test_recursive_merge(tmp_path):
    err = _error(tmp_path, WAVE1D + "\nloop: &l {<<: *l, a: 1}\n")
    assert "recursive alias" in err.message


def test_bad_merge_value(tmp_path):
    err = _error(tmp_path, WAVE1D + "\nmerged: {<<: [1, 2]}\n")
    assert "merge key" in err.message and err.key == "merged"


def test_merge_keys_still_work(tmp_path):
    text = WAVE1D.replace("potential: {type: harmonic, k: 1.0, r0: 1.0, cutoff: 1.5}",
                          "potential: &p {type: harmonic, k: 1.0, r0: 1.0, cutoff: 1.5}")
    text = text.replace("expect:", "x_merged: {<<: *p, k: 2.0}\nexpect:")
    err = _error(tmp_path, text)
    assert err.message == "unknown key 'x_merged'"  # the merged mapping itself built fine


@pytest.mark.parametrize("depth", [60, 50_000])
def test_deep_nesting(tmp_path, depth):
    t0 = time.perf_counter()
    err = _error(tmp_path, WAVE1D + "\ndeep: " + "[" * depth + "]" * depth + "\n")
    assert "nested more than" in err.message
    assert err.line == WAVE1D.count("\n") + 2
    assert time.perf_counter() - t0 < 5.0


def test_deep_block_sequence(tmp_path):
    err = _error(tmp_path, WAVE1D + "\ndeep:\n" + "- " * 5000 + "x\n")
    assert "nested more than" in err.message


@pytest.mark.parametrize("tag, message", [
    ("!!python/object/apply:os.system ['echo pwned']", "is not allowed in a deck"),
    ("!!python/name:os.system", "cannot read this value"),
    ("!!set {a, b}", "YAML tag"),
    ("!!omap [a: 1]", "YAML tag"),
    ("!custom 3", "cannot read this value"),
    ("!!bool maybe", "cannot read this value as bool"),
    ("!!int 1.5", "cannot read this value as int"),
])
def test_tags(tmp_path, tag, message):
    err = _error(tmp_path, WAVE1D.replace("title: ", f"title: {tag}\nold_title: ", 1))
    assert message in err.message
    assert err.key == "title" and err.line == 3


def test_many_errors_are_counted_not_listed(tmp_path):
    """5 000 wrong loads: the first MAX_ERRORS reported, then the count; a short report, quickly."""
    body = re.sub(r"^loads:.*(\n[ -].*)*", "", WAVE1D, flags=re.M)
    text = body + "\nloads: [" + ", ".join(["{type: nope}"] * 5000) + "]\n"
    t0 = time.perf_counter()
    err = _error(tmp_path, text)
    assert time.perf_counter() - t0 < 20.0
    assert isinstance(err, DeckErrors)
    assert len(err.errors) == MAX_ERRORS and err.total >= 5000
    report = err.format()
    assert report.count("error: ") == MAX_ERRORS
    assert f"{err.total} errors in" in report and "more not" in report
    assert len(report) < 20_000


def test_too_many_values(tmp_path):
    body = re.sub(r"^loads:.*(\n[ -].*)*", "", WAVE1D, flags=re.M)
    err = _error(tmp_path, body + "\nloads: [" + ", ".join(["{type: nope}"] * 20_000) + "]\n")
    assert f"more than {MAX_NODES} values" in err.message


def test_huge_value_gives_a_short_report(tmp_path):
    err = _error(tmp_path, WAVE1D + "\ntitle: " + "x" * 2_000_000 + "\n")
    assert len(err.format()) < 2000


def test_long_unknown_key_is_shortened(tmp_path):
    err = _error(tmp_path, WAVE1D + "\n" + "k" * 100_000 + ": 1\n")
    assert len(err.format()) < 2000


def test_control_character_is_located(tmp_path):
    err = _error(tmp_path, WAVE1D.replace("units: lj", "units: l\x07j"))
    assert "U+0007" in err.message and err.line == 2 and err.column == 9


def test_not_utf8_is_located(tmp_path):
    raw = WAVE1D.encode().replace(b"units: lj", b"units: l\xffj")
    err = _error(tmp_path, raw)
    assert "not UTF-8" in err.message and err.line == 2 and err.column == 9


def test_empty_deck(tmp_path):
    err = _error(tmp_path, b"")
    assert "empty" in err.message


# ------------------------------------------------------------------ numbers (issue 17, items 4 and 12)
@pytest.mark.parametrize("old, new, key", [
    ("dt: 0.1", "dt: .inf", "integrator.dt"),
    ("dt: 0.1", "dt: .nan", "integrator.dt"),
    ("dt: 0.1", "dt: -.inf", "integrator.dt"),
    ("k: 1.0", "k: .inf", "potential.k"),                       # a plugin's Params
    ("amplitude: 0.001", "amplitude: .nan", "loads[0].amplitude"),
    ("hi: [1200.0]", "hi: [.inf]", "atoms.region.hi[0]"),
    ("dt: 0.1", "dt: 1.0e+308", "integrator.dt"),
    ("size: 4.0", "size: 1.0e-320", "continuum.mesh.size"),
    ("steps: 8000", "steps: 100000000000000000000000", "integrator.steps"),
])
def test_numbers_must_be_finite_and_in_range(tmp_path, old, new, key):
    assert old in WAVE1D
    err = _error(tmp_path, WAVE1D.replace(old, new, 1))
    assert err.key == key, err.format()
    assert "finite" in err.message or "out of range" in err.message or "too large" in err.message


@pytest.mark.parametrize("old, new, key", [
    ("radius: 10.0", "radius: .inf", "loads[1].radius"),
    ("stop: 2.0", "stop: 1.0e+308", "loads[1].depth_steps.stop"),
    ("stiffness: 10.0", "stiffness: 1.0e+300", "loads[1].stiffness"),
])
def test_indenter_numbers(tmp_path, old, new, key):
    assert old in INDENT, old
    err = _error(tmp_path, INDENT.replace(old, new, 1))
    assert err.key == key, err.format()


def test_foreign_file_is_not_quoted(tmp_path):
    """potential.file pointing at a password-like file: the error names the file, never prints its lines."""
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET-LINE:/root:/bin/bash\ndaemon:x:1:1::/:/bin/false\n")
    deck = tmp_path / "deck.yaml"
    deck.write_text("""msim: 1
units: metal
potential: {type: eam, file: passwd}
atoms:
  lattice: {type: fcc, a: 3.615}
  region: {type: box, lo: [0, 0, 0], hi: [15, 15, 15]}
  boundary: [p, p, p]
  mass: 63.55
integrator: {type: verlet, dt: 0.001, steps: 10}
""")
    for fmt in ("", ", format: setfl"):
        deck.write_text(deck.read_text().replace("file: passwd}", f"file: passwd{fmt}}}"))
        res = CliRunner().invoke(cli, ["validate", str(deck)])
        assert res.exit_code == 2, res.output
        assert "SECRET" not in res.output and "root:" not in res.output and "daemon" not in res.output
        assert f"error: {secret}" in res.output


def test_huge_region_is_refused_with_the_estimate(tmp_path):
    deck = tmp_path / "big.yaml"
    deck.write_text((DECKS / "lj_melt.yaml").read_text().replace("hi: [8.3980, 8.3980, 8.3980]",
                                                                 "hi: [8398.0, 8398.0, 8398.0]"))
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 2, res.output
    first = res.output.splitlines()[0]
    assert re.match(rf"error: {re.escape(str(deck))}:\d+:\d+: atoms.region: the atomistic region \(about "
                    r"[0-9.e+]+ atoms\) needs about [0-9.]+ (TiB|PiB)", first), first
    assert "--allow-large" in res.output


def test_huge_mesh_is_refused_with_the_estimate(tmp_path):
    deck = tmp_path / "big.yaml"
    deck.write_text((DECKS / "pulse2d.yaml").read_text().replace("size: 1.0,", "size: 1.0e-6,"))
    res = CliRunner().invoke(cli, ["validate", str(deck)])
    assert res.exit_code == 2, res.output
    assert "continuum.mesh: the mesh (" in res.output and "needs about" in res.output


def test_validate_prints_memory_and_time(tmp_path):
    res = CliRunner().invoke(cli, ["validate", str(DECKS / "lj_melt.yaml")])
    assert res.exit_code == 0, res.output
    assert re.search(r"^memory +~[0-9.]+ [KMG]iB \(this machine: ", res.output, re.M)
    assert re.search(r"^run time +~[0-9.]+ (s|min|h)", res.output, re.M)


def test_dt_far_too_large_is_a_blow_up_with_a_last_good_state(tmp_path):
    """wave2d with dt x10 (and `allow_unstable_dt`, else validation refuses it): the atoms fly off (the neighbour grid would overflow): exit 3, and the
    last-good state file opens."""
    from multiscale.output.checkpoint import load_checkpoint

    deck = tmp_path / "w.yaml"
    text = (DECKS / "wave2d.yaml").read_text()
    dt = re.search(r"dt: ([0-9.e-]+)", text).group(1)
    deck.write_text(text.replace(f"dt: {dt}", f"dt: {float(dt) * 10!r}, allow_unstable_dt: true", 1))
    res = CliRunner().invoke(cli, ["run", str(deck), "-o", str(tmp_path / "w.h5"), "--steps", "200",
                                   "--quiet"])
    assert res.exit_code == 3, res.output
    path = re.search(r"saved in (\S+\.h5)", res.output).group(1)
    load_checkpoint(path)


@pytest.mark.parametrize("deck, old, new", [
    ("wave1d.yaml", "amplitude: 0.001", "amplitude: 1.0e+30"),         # atoms beyond the neighbour grid
    ("indent2d_small.yaml", "stiffness: 10.0", "stiffness: 1.0e+99"),  # a diverging minimisation
    ("indent2d_full_small.yaml", "epsilon: 1.0", "epsilon: 1000.0"),   # an atom flung out of the grid
])
def test_extreme_valid_numbers_are_blow_ups(tmp_path, deck, old, new):
    """Issue 17, item 12: overflow on extreme but valid numbers is a blow-up (exit 3), never exit 1."""
    text = (DECKS / deck).read_text()
    assert old in text
    p = tmp_path / deck
    # plain L-BFGS: the stiffness-preconditioned default converges on these two (a legitimate exit 0), the
    # point here is the overflow path of a diverging minimisation
    p.write_text(text.replace(old, new, 1).replace("type: precon_lbfgs", "type: lbfgs"))
    res = CliRunner().invoke(cli, ["run", str(p), "-o", str(tmp_path / "out.h5"), "--steps", "2", "--quiet"])
    assert res.exit_code == 3, res.output
    assert "unstable" in res.output and ("OverflowError" in res.output or "ValueError" in res.output)


def test_error_found_while_preparing_a_load_is_located(tmp_path):
    """A shape name a load only looks up when it is prepared (kfield's boundary) still gets file and line."""
    text = (DECKS / "crack2d_coupled_small.yaml").read_text()
    i = text.index("    shapes:\n    - type: box")
    p = tmp_path / "c.yaml"
    p.write_text(text[:i] + "    shapes:\n    - type: boxx" + text[i + len("    shapes:\n    - type: box"):])
    res = CliRunner().invoke(cli, ["run", str(p), "-o", str(tmp_path / "o.h5"), "--steps", "1", "--quiet"])
    assert res.exit_code == 2, res.output
    assert re.match(rf"error: {re.escape(str(p))}:\d+:\d+: loads\[1\]: unknown region shape 'boxx'",
                    res.output), res.output
