"""indent3d_ml: 3D nanoindentation of Cu with SNAP (``Cu_Zuo_JPCA2020``) in the core and the Cauchy–Born
continuum of the same SNAP elsewhere, against the fully atomistic twin of the same block (every site a SNAP
atom, the same sphere, the same depths, the same minimiser), the coupled model's cost reported (wall-seconds
ratio, both runs in the same test). Issue 15 asks for 2 %. The decks carry the continuum's surface stress
(`multiscale.fem.surface_stress`), use FIRE ftol 1e-3 and a core of half-width and depth 5 Å (the tip
radius), and hold the same bottom and sides in both models (the full twin's three outer planes,
``sides="held"``): the FREE SNAP block's edges and corners reconstruct (up
to 2.3 Å), which no continuum reproduces (+12.8 % / +6.3 % at 0.5 / 1 Å on the free block; module
docstring). Held: full twin 0.522520 / 1.897880 eV/Å; coupled with the atoms under the top face on the bulk
lattice +4.9 % / +1.6 % (a spurious net force of the unrelaxed surface in the handshake lifted the column
under the tip), with them at the slab's relaxed planes (``relax_atoms``, the decks) +1.44 % / +1.05 %: the
SNAP test holds issue 15's 2 % at both depths. The EAM
reproduction of the free block (`eam_study`, same block and tip, native Cu_u3): +1.2 % / +0.0 % at
0.5 / 1 Å with the deck's 5 Å core, +3.8 % / +1.5 % with the previous 4 Å core."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from multiscale.applications.indent3d_ml import EXPECT, deck_set, eam_study, run_deck

DECKS = Path(__file__).resolve().parents[2] / "decks"


def test_decks_are_the_generated_ones():
    for name, deck in deck_set().items():
        on_disk = yaml.safe_load((DECKS / name).read_text())
        assert on_disk == (deck | {"expect": EXPECT[name]} if name in EXPECT else deck)


@pytest.mark.slow
@pytest.mark.timeout(7200)      # ~50 min at load 15-20 on the shared 2-core machine
def test_coupled_force_depth_against_full_twin():
    decks = deck_set()
    dc, pc, tc, ic = run_deck(decks["indent3d_ml_small.yaml"], "indent3d_ml_small.yaml")
    df, pf, tf, inf = run_deck(decks["indent3d_ml_small_full.yaml"], "indent3d_ml_small_full.yaml")
    print("coupled", dc, pc, tc, ic)
    print("full   ", df, pf, tf, inf)
    print(f"cost ratio coupled / full (wall s): {tc / tf:.3f}")
    assert ic["converged"] and inf["converged"]
    assert dc == pytest.approx(df) and len(dc) >= 3
    for d, a, b in zip(dc, pc, pf, strict=True):
        if d > 0:
            print(f"d = {d} A: coupled / full = {a / b:.4f}")
            assert b > 0 and a > 0, (d, a, b)
    # measured 2026-12-07 (sides held, 5 Å core, τ only, relax_atoms): +1.44 % at 0.5 Å, +1.05 % at 1 Å
    # (bulk-lattice atoms under the top face: +4.9 % / +1.6 %; the free block +12.8 % / +6.3 %): issue 15's
    # 2 % at both depths (headroom 0.56 % / 0.95 %)
    assert abs(pc[-1] / pf[-1] - 1) <= 0.02 and abs(pc[1] / pf[1] - 1) <= 0.02


@pytest.mark.slow
@pytest.mark.timeout(3600)      # ~10 min at load 13
def test_eam_reproduction_with_surface_stress():
    """The same block, tip and depths with the native EAM Cu_u3 (`eam_study`; reference: the fully
    atomistic twin): the deck's coupled model (5 Å core, first-order surface stress) within the issue's 2 %
    at 0.5 and 1 Å (measured +1.2 % / +0.0 %), also with S on its boundary layer (+0.1 % / −0.2 %); the
    previous 4 Å core misses it at 0.5 Å (+3.8 %), and without the surface term the model is far off
    (−15.4 % / −7.9 %). The atoms under the top face on the bulk lattice (``relax_atoms=False``): at their
    relaxed planes (the SNAP decks' setting) this free block gives +6.0 % / +2.2 % (measured 2026-12-07:
    the spurious column lift the bulk-lattice handshake causes is gone, an over-bulge of the core's top
    planes it had cancelled is not; module docstring)."""
    out = eam_study(1e-3, relax_atoms=False)
    full = out["full"]["loads"]
    rel = {k: [out[k]["loads"][i] / full[i] - 1 for i in (1, 2)] for k in out if k != "full"}
    assert all(out[k]["converged"] for k in out)
    assert all(abs(r) <= 0.02 for r in rel["coupled"]), rel
    assert all(abs(r) <= 0.02 for r in rel["coupled_layer"]), rel
    assert rel["coupled_core4"][0] > 0.025, rel
    assert rel["coupled_no_surface"][0] < -0.05, rel


def test_held_sides_hold_the_same_planes_in_both_models():
    """``sides="held"``: the full twin holds exactly the FIXED_PLANES outermost atomic planes of every side
    face and of the bottom (counted on the lattice sites, independently of the region's construction);
    the coupled deck's mesh ends at the innermost held planes, whose nodes (and no interior node) are held."""
    import numpy as np

    from multiscale.applications.indent3d import Block
    from multiscale.applications.indent3d_ml import A0_SNAP, FIXED_PLANES, SMALL
    from multiscale.geometry.base import make_shape
    from multiscale.registry import MESHES

    decks = deck_set("held")
    full, cpl = decks["indent3d_ml_small_full.yaml"], decks["indent3d_ml_small.yaml"]
    assert full["loads"][0]["region"] == cpl["loads"][0]["region"]
    nx, ny, nz = SMALL["n"]
    b = Block(nx, ny, nz, A0_SNAP)
    h = 0.5 * A0_SNAP                   # plane spacing
    k = np.stack(np.meshgrid(np.arange(2 * nx), np.arange(2 * ny), np.arange(2 * nz), indexing="ij"), -1)
    k = k.reshape(-1, 3)
    sites = k[(k.sum(axis=1) % 2) == 0] * h                       # fcc: plane indices of even sum
    kk = np.rint(sites / h).astype(int)
    n = np.array([2 * nx, 2 * ny])
    side = ((kk[:, :2] < FIXED_PLANES) | (kk[:, :2] >= n - FIXED_PLANES)).any(axis=1)
    expect = side | (kk[:, 2] < FIXED_PLANES)
    held = make_shape(full["loads"][0]["region"], 3).contains(sites)
    assert np.array_equal(held, expect) and expect.sum() > 0
    G = MESHES.get("box")
    m = cpl["continuum"]["mesh"]
    mesh = G.build(G.Params(**{key: v for key, v in m.items() if key != "type"}))
    t = (FIXED_PLANES - 1) * h
    assert m["lo"][:2] == pytest.approx([t, t])
    assert m["hi"][:2] == pytest.approx([(nx - 0.5) * b.a0 - t, (ny - 0.5) * b.a0 - t])
    on_face = np.isclose(mesh.nodes[:, :2], m["lo"][:2]).any(axis=1) | \
        np.isclose(mesh.nodes[:, :2], m["hi"][:2]).any(axis=1) | np.isclose(mesh.nodes[:, 2], m["lo"][2])
    assert np.array_equal(make_shape(cpl["loads"][0]["region"], 3).contains(mesh.nodes), on_face)
    # the shipped decks are the held ones
    assert deck_set("held") == deck_set() != deck_set("free")


@pytest.mark.slow
@pytest.mark.timeout(3600)      # ~1 min of one core
def test_eam_reproduction_with_held_sides():
    """The block with its side planes held (``sides="held"``: no free edges or corners, the geometry in
    which the fully atomistic SNAP block does not reconstruct), native EAM Cu_u3, FIRE ftol 1e-4: the
    coupled deck (atoms under the top face at the slab's relaxed planes, as the SNAP decks) within the
    issue's 2 % of the fully atomistic twin at 0.5 and 1 Å (measured −1.11 % / +0.16 %; with bulk-lattice
    atoms there −1.56 % / −0.40 %; `EAM_MEASURED_HELD_RELAXED`, `EAM_MEASURED_HELD`)."""
    from multiscale.applications.indent3d_ml import eam_deck_set

    decks = eam_deck_set(1e-4, "held")
    _, pf, _, inf = run_deck(decks["full"], "full")
    _, pc, _, ic = run_deck(decks["coupled"], "coupled")
    print("full", pf, "coupled", pc)
    assert inf["converged"] and ic["converged"]
    assert all(abs(pc[i] / pf[i] - 1) <= 0.02 for i in (1, 2)), (pc, pf)


def _reaction_at_zero_depth(deck: dict) -> float:
    """Vertical reaction [eV/Å] on the held planes of ``deck`` relaxed at depth 0 (no contact)."""
    import copy

    from multiscale.deck.deck import load_deck_text
    from multiscale.integrate.quasistatic import run_quasistatic
    from multiscale.registry import MINIMIZERS
    from multiscale.simulation import Simulation

    deck = copy.deepcopy(deck)
    deck["loads"][1]["depth_steps"] = {"start": 0.0, "stop": 0.0, "step": 1.0}
    sim = Simulation.from_deck(load_deck_text(yaml.safe_dump(deck, sort_keys=False), "d0"))
    sim.prepare()
    mini = MINIMIZERS.get("fire")(**{k: v for k, v in deck["integrator"].items() if k != "type"})
    rec = run_quasistatic(sim.model.system, sim.model.loads, mini, prepare=False)[0]
    assert rec["converged"] and rec["indenter.load"] == 0.0
    return float(rec["bottom_and_sides.reaction_z"])


def test_relaxed_surface_atoms_remove_the_net_force_at_zero_load():
    """The cause of the SNAP deck's +4.9 % (module docstring), on the EAM twin of the held deck (seconds):
    relaxed at d = 0 with no contact, a model with no external load must carry no net force on its held
    planes (the full twin: 0.04 eV/Å at ftol 1e-3, the sum of its residual forces). With the atoms under the
    top face on the bulk lattice the coupled model carries −0.457 eV/Å (the handshake's unrelaxed surface,
    blended, does not balance; it lifts the column under the tip); with them at the slab's relaxed planes
    (``relax_atoms``) −0.073."""
    from multiscale.applications.indent3d_ml import eam_deck_set

    full = _reaction_at_zero_depth(eam_deck_set(1e-3, "held")["full"])
    bulk = _reaction_at_zero_depth(eam_deck_set(1e-3, "held", relax_atoms=False)["coupled"])
    relaxed = _reaction_at_zero_depth(eam_deck_set(1e-3, "held", relax_atoms=True)["coupled"])
    print("full", full, "bulk-lattice atoms", bulk, "relaxed", relaxed)
    assert abs(full) < 0.1
    assert bulk < -0.4
    assert abs(relaxed) < 0.1
