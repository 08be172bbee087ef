"""The spatial coupled step built per rank without the serial model (`parallel.rank_build`,
`SpatialCoupled.from_rank_model`) against the same step built from the serial model (today's path), side by
side in one process per rank under ``mpiexec -n P`` (tests/parallel/mpi_rank_build_driver.py).

Bitwise, not round-off: the per-rank build gives every engine row (global id, position, velocity, mass, site
weight, reference position), the touched copy, the pads' plan, the masses and the projector with the same
bits as the serial model, owned by the same rank in the same order, so both runs do the same operations on
the same values: ledger rows, x, v, U, V and each rank's engine rows (forces and per-atom energies
included) are compared with ``array_equal``. Decks: wave2d (1, 2, 3 ranks), its strong-coupling variant, a
variant whose pulse moves atoms across the slab face and rebuilds the lists (atoms change rank), the 3D
Morse smoke deck and the 3D EAM deck at rest with a pulse (no fixed bottom: `per_rank_refusal` refuses
it; the Maxwell–Boltzmann start is round-off from the serial draw: tests/parallel/test_rank_build_run.py). `per_rank_refusal` names each feature it does not cover; two broken
builds (pads not on the mesh when the rows are handed out, the initial state not projected) must fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpi_helpers import ROOT, deck_dict, mpirun, write_deck

KEYS = ("ledger", "x", "v", "U", "V")


def _run(n: int, deck: Path, steps: int, every: int, tmp: Path, env_break: str = "") -> tuple[int, dict, str]:
    import os
    out = tmp / f"rb_{n}_{deck.stem}_{env_break or 'ok'}.npz"
    old = os.environ.get("BREAK")
    if env_break:
        os.environ["BREAK"] = env_break
    try:
        p = mpirun(n, Path(__file__).parent / "mpi_rank_build_driver.py", deck, steps, every, out, timeout=900)
    finally:
        if env_break:
            os.environ["BREAK"] = old if old is not None else ""
            if old is None:
                del os.environ["BREAK"]
    z = {}
    if p.returncode == 0:
        with np.load(out) as f:
            z = {k: f[k] for k in f.files}
    return p.returncode, z, p.stderr


def _bitwise(z: dict, n: int) -> None:
    assert int(z["size"]) == n
    assert z["same_engine"].all(), z["same_engine"]
    for k in KEYS:
        a, b = z[f"old/{k}"], z[f"new/{k}"]
        assert a.shape == b.shape and np.array_equal(a, b), (k, float(np.max(np.abs(a - b))))


def _variant(tmp: Path, src: str, name: str, **changes) -> Path:  # noqa: ANN003
    d = deck_dict(ROOT / src)
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        elif isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return write_deck(d, tmp / f"{name}.yaml")


def _3d(tmp: Path, src: str, name: str) -> Path:
    """A 3D test deck at rest with a pulse in its core: no Maxwell–Boltzmann start, no fixed bottom."""
    d = deck_dict(ROOT / src)
    d["atoms"].pop("velocity")
    d["loads"] = [{"type": "radial_pulse", "center": [10.5, 10.5, 12.0], "sigma": 2.0, "amplitude": 0.05}]
    return write_deck(d, tmp / f"{name}.yaml")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_wave2d_bitwise(n: int, tmp_path: Path) -> None:
    rc, z, err = _run(n, ROOT / "decks/wave2d.yaml", 200, 20, tmp_path)
    assert rc == 0, err[-3000:]
    _bitwise(z, n)


def test_strong_and_migrating_bitwise(tmp_path: Path) -> None:
    strong = _variant(tmp_path, "decks/wave2d.yaml", "wave2d_strong",
                      handshake={"coupling": {"type": "strong"}})
    rc, z, err = _run(2, strong, 200, 50, tmp_path)
    assert rc == 0, err[-3000:]
    _bitwise(z, 2)
    # a 10x pulse off the centre with a thin skin: lists rebuilt, atoms change rank
    mig = _variant(tmp_path, "decks/wave2d.yaml", "wave2d_mig", atoms={"skin": 0.05},
                   loads=[{"type": "radial_pulse", "center": [1.0, 2.0], "sigma": 2.0, "amplitude": 0.1}])
    rc, z, err = _run(2, mig, 300, 50, tmp_path)
    assert rc == 0, err[-3000:]
    _bitwise(z, 2)
    assert int(z["builds"][:, 1].min()) > 3, z["builds"]


@pytest.mark.parametrize("src", ["tests/parallel/decks/coupled3d_smoke.yaml", "tests/parallel/decks/coupled3d_eam.yaml"])
def test_3d_bitwise(src: str, tmp_path: Path) -> None:
    deck = _3d(tmp_path, src, Path(src).stem + "_pulse")
    rc, z, err = _run(2, deck, 100, 25, tmp_path)
    assert rc == 0, err[-3000:]
    _bitwise(z, 2)


@pytest.mark.parametrize("brk", ["pads", "project"])
def test_broken_builds_fail(brk: str, tmp_path: Path) -> None:
    """Negative controls: a wrong per-rank build is caught (an error or a differing run)."""
    rc, z, err = _run(2, ROOT / "decks/wave2d.yaml", 40, 20, tmp_path, env_break=brk)
    if rc != 0:
        return
    same = z["same_engine"].all() and all(np.array_equal(z[f"old/{k}"], z[f"new/{k}"]) for k in KEYS)
    assert not same, f"BREAK={brk} went unnoticed"


def test_refusals(tmp_path: Path) -> None:
    """`per_rank_refusal`: each feature the per-rank build does not cover is named with its deck key."""
    from multiscale.deck import load_deck
    from multiscale.parallel.rank_build import per_rank_refusal
    assert per_rank_refusal(load_deck(ROOT / "decks/wave2d.yaml"), 2) is None
    cases = {
        "decks/wave1d.yaml": "atoms.lattice",
        "decks/patch2d.yaml": "handshake.coupling",
        "decks/thermal2d.yaml": "handshake.damping",
        "tests/parallel/decks/coupled3d_smoke.yaml": "loads[0]",
        "decks/indent2d.yaml": "integrator",
    }
    for src, key in cases.items():
        why = per_rank_refusal(load_deck(ROOT / src), 2)
        assert why is not None and why[0] == key, (src, why)
    w = ROOT / "decks/wave2d.yaml"
    assert per_rank_refusal(load_deck(w), 2, restart=True)[0] == "integrator"
    assert "--restart" in per_rank_refusal(load_deck(w), 2, restart=True)[1]
    assert "--from" in per_rank_refusal(load_deck(w), 2, start_from=True)[1]
    fixed = _variant(tmp_path, "decks/wave2d.yaml", "wave2d_fixed",
                     loads=[{"type": "radial_pulse", "center": [0.0, 0.0], "sigma": 2.0, "amplitude": 0.01},
                            {"type": "fixed", "region": {"type": "box", "lo": [-90, -90], "hi": [90, -79]}}])
    assert per_rank_refusal(load_deck(fixed), 2)[0] == "loads[1]"
    th = _variant(tmp_path, "decks/wave2d.yaml", "wave2d_th",
                  integrator={"thermostat": {"type": "langevin", "temperature": 0.1, "damp": 1.0}})
    assert per_rank_refusal(load_deck(th), 2)[0] == "integrator.thermostat"
    pen = _variant(tmp_path, "decks/wave2d.yaml", "wave2d_pen",
                   handshake={"coupling": {"type": "penalty", "kappa": 10.0}})
    assert per_rank_refusal(load_deck(pen), 2)[0] == "handshake.coupling"
    thin = _variant(tmp_path, "decks/wave2d.yaml", "wave2d_thin")
    why = per_rank_refusal(load_deck(thin), 30)
    assert why is not None and why[0] == "atoms.region", why
