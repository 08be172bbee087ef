"""The mode-I crack decks (``decks/crack2d*.yaml``) and their Griffith comparison.

Fully atomistic square crystal |x|, |y| ≤ L [σ] of the 2D hex LJ solid (ε = σ = m = 1, r_c = 2.5σ shifted,
a₀ relaxed, close-packed rows along x, origin 0); an atomically sharp crack (`precrack`: bonds crossing
the half-line behind the tip get weight 0) on the plane between rows 0 and 1, y_c = a₀√3/4, tip at
x = 0 (midway between two bond crossings); the outer layer (3σ thick) follows the anisotropic K_I field
of C derived from the potential (`kfield`), every atom starts on the field of the first K, and K rises in
steps given as multiples of the Griffith value K_G = √(2 γ E′) (γ relaxed close-packed surface energy, E′
plane-strain modulus, both from `multiscale.md.properties.hex_properties`).

Coupled decks (``decks/crack2d_coupled*.yaml``, `crack_coupled_deck`): atoms only in |x|, |y| ≤ A + w
(atomistic core A, handshake of width w, strong coupling), a graded quad4 mesh of the `linear` material
(C from the potential) out to |x|, |y| ≤ M with a hole |x|, |y| < A − h (h the core element size) and a
slit along y = y_c from the outer edge to the hole (`multiscale.fem.slit`): the crack runs through the
continuum as a real cut, so the far field is that of a semi-infinite crack. The K-field is imposed on the
outer mesh boundary nodes only; every atom and node starts on the first K's field and receives ΔK·u₁ at
each stage (the faces of the slit take θ = ±π).

Crack advance (`precrack` tracker): a bond across the crack plane is broken when it is longer than the
potential's cut-off (2.5σ: it carries no force); the tip is the end of the contiguous run of broken bonds
from the cut. K_adv = the first K whose stage has the tip moved by ≥ one bond (a₀/2); the critical K lies
in (K_adv − ΔK, K_adv]. Lattice trapping bounds it from below: a brittle lattice cannot advance its crack
below Griffith, K_adv ≥ K_G. Measured (0.02 K_G steps, the decks' minimisers: FIRE atomistic,
``precon_lbfgs`` coupled, except L = 100: ``precon_lbfgs``, which at L = 30 gives the same tip-bond
lengths to 4 digits and the same K_adv as FIRE; `python -m multiscale.applications.crack2d study KIND
SIZE [K0 K1 DK [MINIMIZER]]`):

- fully atomistic, half-width L = 15 / 30 / 50 / 100: K_adv/K_G = 1.66 / 1.32 / 1.20 / 1.12. Below
  L = 100 the tip bond stretches continuously with K (L = 30: 1.54σ at K_G, 2.48σ at 1.30 K_G) and one
  bond breaks when it reaches the cut-off; at L = 100 four break at once (unstable advance). The clamped
  K-field boundary traps the crack, less as L grows: v∞ + b L^(−p) through any three of the four sizes
  (`analysis.size_extrapolation`) gives v∞ = 1.058, p = 1.20, i.e. a large-crystal limit in
  (1.04, 1.06] given the 0.02 step;
- coupled (atoms in |x|,|y| ≤ A + w, w = 6, slit mesh to M = 250): 1.06 / 1.06 / 1.06 for
  A + w = 15 / 30 / 50 (against 1.66 / 1.32 / 1.20 fully atomistic at the same size): independent of
  the atomistic size and equal to the atomistic large-crystal limit within the step. At the critical
  stage the A + w = 30 crack runs 9 bonds (5.0σ; its tip bond was 2.13σ at 1.02 and 2.47σ at 1.04 K_G):
  an unstable advance, as in an infinite crystal, arrested near the handshake (A + w = 50: 10 bonds,
  the minimiser stopped unconverged at that stage: line search stalled after 1049 iterations).

(With the former criterion, "broken" at 1.5 r₀, where an LJ bond still carries about a quarter of its
peak force, the coupled crack "advanced" at 0.96 K_G, below Griffith.)

`k_advance(K, extension, a0)`: the first K at which the crack tip has moved by ≥ a₀/2 (one bond pair).
`python -m multiscale.applications.crack2d [DIR]` writes the decks.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def griffith() -> dict[str, float]:
    """a₀ [σ], γ (relaxed) [ε/σ], E′ [ε/σ²], K_G = √(2γE′) [ε/σ^{3/2}] and the Voigt C (3, 3) [ε/σ²] of the
    hex LJ crystal (the deck gives C to `kfield` explicitly: the same numbers the potential yields)."""
    from ..md.potentials.lj import LennardJones
    from ..md.properties import hex_properties
    hp = hex_properties(LennardJones(1.0, 1.0, 2.5, "shift"))
    return {"a0": float(hp.a0), "gamma": float(hp.gamma_relaxed), "e_prime": float(hp.e_prime),
            "k_griffith": float(hp.k_griffith), "C": np.asarray(hp.C, float)}


def _r(x: float) -> float:
    return float(f"{x:.12g}")


def crack_deck(half_width: float, k_over_kg: list[float], title: str, layer: float = 3.0,
               props: dict[str, float] | None = None) -> dict:
    """Deck dict of the crack problem (see the module docstring)."""
    g = griffith() if props is None else props
    L, a0 = float(half_width), g["a0"]
    yc = a0 * math.sqrt(3.0) / 4.0
    ring = {"type": "difference", "shapes": [
        {"type": "box", "lo": [-L - 5.0, -L - 5.0], "hi": [L + 5.0, L + 5.0]},
        {"type": "box", "lo": [-L + layer, -L + layer], "hi": [L - layer, L - layer]}]}
    return {
        "msim": 1, "units": "lj", "title": title,
        "potential": {"type": "lj", "epsilon": 1.0, "sigma": 1.0, "cutoff": 2.5, "truncation": "shift"},
        "atoms": {"lattice": {"type": "hex", "a": "relaxed", "orient": 0.0, "origin": [0.0, 0.0]},
                  "region": {"type": "box", "lo": [-L, -L], "hi": [L, L]},
                  "boundary": ["f", "f"], "mass": 1.0, "skin": 0.3},
        "loads": [
            {"type": "precrack", "label": "crack", "tip": [0.0, _r(yc)], "broken_length": "cutoff"},
            {"type": "kfield", "tip": [0.0, _r(yc)], "K_values": [_r(k * g["k_griffith"]) for k in k_over_kg],
             "elastic": [[_r(c) for c in row] for row in g["C"]], "boundary": ring, "targets": "atoms",
             "initial": True, "increment_interior": True}],
        "integrator": {"type": "fire", "ftol": 1e-6},
        "output": {"every": 1, "thermo_every": 1, "fields": ["displacement"]},
    }


def crack_coupled_deck(core: float, width: float, mesh_half: float, k_over_kg: list[float], title: str,
                       core_size: float = 2.0, size: float = 16.0, growth: float = 1.25,
                       props: dict[str, float] | None = None) -> dict:
    """Deck dict of the coupled crack problem (module docstring). core = A (half-width of the atomistic
    core) [σ], width = w (handshake) [σ], mesh_half = M [σ]; core_size / size [σ] the element sizes in
    |x|, |y| ≤ A + w and far away, growth their ratio between neighbours."""
    g = griffith() if props is None else props
    A, w, M, h = float(core), float(width), float(mesh_half), float(core_size)
    a0 = g["a0"]
    yc = a0 * math.sqrt(3.0) / 4.0
    reach = A + w + 2.5 + 0.3 + a0          # weighted atoms, then pads within r_c + skin (and a margin)
    ring = {"type": "difference", "shapes": [
        {"type": "box", "lo": [-M - 1.0, -M - 1.0], "hi": [M + 1.0, M + 1.0]},
        {"type": "box", "lo": [-M + 0.5, -M + 0.5], "hi": [M - 0.5, M - 0.5]}]}
    return {
        "msim": 1, "units": "lj", "title": title,
        "potential": {"type": "lj", "epsilon": 1.0, "sigma": 1.0, "cutoff": 2.5, "truncation": "shift"},
        "atoms": {"lattice": {"type": "hex", "a": "relaxed", "orient": 0.0, "origin": [0.0, 0.0]},
                  "region": {"type": "box", "lo": [-_r(reach), -_r(reach)], "hi": [_r(reach), _r(reach)]},
                  "boundary": ["f", "f"], "mass": 1.0, "skin": 0.3},
        "loads": [
            {"type": "precrack", "label": "crack", "tip": [0.0, _r(yc)], "broken_length": "cutoff"},
            {"type": "kfield", "tip": [0.0, _r(yc)], "K_values": [_r(k * g["k_griffith"]) for k in k_over_kg],
             "elastic": [[_r(c) for c in row] for row in g["C"]], "boundary": ring, "targets": "nodes",
             "initial": True, "increment_interior": True}],
        # precon_lbfgs: the same minima as FIRE on the reduced deck (energies and crack extensions equal to
        # the printed digits), 10x fewer wall-seconds on the graded mesh
        "integrator": {"type": "precon_lbfgs", "ftol": 1e-6},
        "output": {"every": 1, "thermo_every": 1, "fields": ["displacement"]},
        "continuum": {
            "mesh": {"type": "rectangle", "element": "quad4", "lo": [-M, -M], "hi": [M, M], "size": size,
                     "core": {"lo": [-A - w, -A - w], "hi": [A + w, A + w]}, "core_size": h,
                     "growth": growth,
                     "hole": {"lo": [-A + h, -A + h], "hi": [A - h, A - h]},
                     "slit": {"y": _r(yc), "x_lo": -M, "x_hi": -A + h}},
            "material": {"type": "linear"}, "density": "derived"},
        "handshake": {"shape": {"type": "box", "lo": [-A, -A], "hi": [A, A]}, "width": w,
                      "blend": {"type": "cubic"}, "coupling": {"type": "strong"}},
    }


def k_advance(K: np.ndarray, extension: np.ndarray, a0: float) -> float | None:
    """First K [ε/σ^{3/2}] whose stage has a crack extension ≥ a₀/2 (one more broken bond across the
    plane; None if the crack never moved)."""
    ext = np.asarray(extension, float)
    hit = np.flatnonzero(ext >= 0.5 * a0 - 1e-9)
    return None if hit.size == 0 else float(np.asarray(K, float)[hit[0]])


def griffith_ratio(path: str | Path) -> dict[str, float | None]:
    """From a crack run's results file: K_G, the first advancing K, their ratio, and the tracker's state at
    that stage (``extension`` [σ], ``broken_run``, ``broken``; None when the crack never moved)."""
    from ..output.reader import ResultsReader
    g = griffith()
    with ResultsReader(path) as r:
        obs = r.observables()
    ka = k_advance(obs["kfield.K"], obs["crack.extension"], g["a0"])
    out: dict[str, float | None] = {"k_griffith": g["k_griffith"], "k_advance": ka,
                                    "ratio": None if ka is None else ka / g["k_griffith"]}
    i = None if ka is None else int(np.flatnonzero(np.asarray(obs["kfield.K"], float) == ka)[0])
    for key in ("extension", "broken_run", "broken"):
        out[key] = None if i is None else float(np.asarray(obs[f"crack.{key}"])[i])
    return out


def critical_stage(deck: dict, threads: int = 1, extra: int = 0,
                   log=None) -> dict:  # noqa: ANN001
    """Run a crack deck dict stage by stage (no results file) and stop ``extra`` stages after the first
    stage whose crack extension is ≥ a₀/2.

    Returns ``{"k_over_kg": K_adv/K_G or None, "records": [...], "wall": s}``; one record per stage with
    ``K_over_KG``, the tracker's ``extension`` [σ], ``broken_run``, ``broken``, ``tip_bond`` [σ],
    ``converged``, ``iterations``, ``wall`` [s]. ``log(record)`` is called after each stage."""
    import time

    from ..deck.deck import deck_from_dict
    from ..deck.section import plugin_of
    from ..integrate.quasistatic import run_quasistatic
    from ..simulation import Simulation

    g = griffith()
    sim = Simulation.from_deck(deck_from_dict(deck), threads=threads)
    sim.prepare()
    cfg = sim.deck.config.integrator
    minimizer = plugin_of(cfg).from_params(cfg, sim.model.units)
    out: dict = {"k_over_kg": None, "records": []}
    left = [None]

    def cb(i: int, rec: dict) -> bool:
        r = {"K_over_KG": rec["kfield.K"] / g["k_griffith"],
             **{k: rec[f"crack.{k}"] for k in ("extension", "broken_run", "broken", "tip_bond")},
             "converged": bool(rec["converged"]), "iterations": int(rec["iterations"]), "wall": rec["wall"]}
        out["records"].append(r)
        if log is not None:
            log(r)
        if out["k_over_kg"] is None and r["extension"] >= 0.5 * g["a0"] - 1e-9:
            out["k_over_kg"] = r["K_over_KG"]
            left[0] = extra
        if left[0] is not None:
            left[0] -= 1
            return left[0] < 0
        return False

    t0 = time.perf_counter()
    run_quasistatic(sim.model.system, sim.model.loads, minimizer, callback=cb)
    out["wall"] = time.perf_counter() - t0
    return out


def deck_set() -> dict[str, dict]:
    g = griffith()
    atomistic = [round(0.90 + 0.02 * i, 10) for i in range(26)]     # 0.90 … 1.40
    coupled = [round(0.90 + 0.02 * i, 10) for i in range(14)]       # 0.90 … 1.16
    return {
        "crack2d.yaml": crack_deck(30.0, atomistic, "mode-I crack in the 2D hex LJ crystal (|x|,|y| <= 30): "
                                   "K-field steps 0.90..1.40 K_G; K at first advance vs Griffith", props=g),
        "crack2d_small.yaml": crack_deck(15.0, [round(0.9 + 0.1 * i, 10) for i in range(10)],
                                         "mode-I crack, reduced size (|x|,|y| <= 15), K = 0.9..1.8 K_G", props=g),
        "crack2d_coupled.yaml": crack_coupled_deck(
            24.0, 6.0, 250.0, coupled, "mode-I crack, coupled: atoms in |x|,|y| <= 30 (core 24 + handshake 6), "
            "slit linear quad4 mesh to |x|,|y| <= 250, K-field on the mesh edge; K = 0.90..1.16 K_G",
            props=g),
        "crack2d_coupled_small.yaml": crack_coupled_deck(
            9.0, 6.0, 100.0, [0.9, 1.0, 1.1, 1.2, 1.3], "mode-I crack, coupled, reduced size: atoms in "
            "|x|,|y| <= 15, slit mesh to |x|,|y| <= 100; K = 0.9..1.3 K_G", props=g),
    }


EXPECT = {name: {"observables.crack.extension.first": {"value": 0.0, "atol": 1e-12},
                 "observables.crack.broken.first": {"value": 0.0, "atol": 1e-12},
                 "observables.crack.extension.last": {"min": 0.55}}
          for name in ("crack2d.yaml", "crack2d_small.yaml", "crack2d_coupled.yaml",
                       "crack2d_coupled_small.yaml")}


def write_decks(directory: str | Path, expect: dict[str, dict] | None = None) -> list[Path]:
    """Write the decks of `deck_set` (plus ``expect`` blocks by file name, default `EXPECT`)."""
    from ._deckfiles import write_deck_set
    return write_deck_set(directory, deck_set(), EXPECT if expect is None else expect,
                          "multiscale.applications.crack2d")


def _study(argv: list[str]) -> None:
    """``python -m multiscale.applications.crack2d study atomistic|coupled SIZE [K0 K1 DK [MINIMIZER]]``:
    K_adv/K_G of one size (atomistic: half-width L; coupled: atomistic half-width A + w with w = 6, mesh to
    250), K = K0 … K1 (× K_G) in steps DK (default 0.90 … 1.50, 0.02), the deck's minimiser unless named
    (fire | lbfgs | precon_lbfgs); prints every stage, stops at the first advance."""
    import sys
    kind, size = argv[0], float(argv[1])
    k0, k1, dk = (float(v) for v in argv[2:5]) if len(argv) >= 5 else (0.90, 1.50, 0.02)
    ks = [round(k0 + dk * i, 10) for i in range(int(round((k1 - k0) / dk)) + 1)]
    if kind == "atomistic":
        deck = crack_deck(size, ks, f"crack size study, atomistic L = {size}")
    elif kind == "coupled":
        deck = crack_coupled_deck(size - 6.0, 6.0, 250.0, ks, f"crack size study, coupled A + w = {size}")
    else:
        raise SystemExit("study atomistic|coupled SIZE [K0 K1 DK [MINIMIZER]]")
    if len(argv) >= 6:
        deck["integrator"] = {"type": argv[5], "ftol": deck["integrator"]["ftol"]}

    def log(r: dict) -> None:
        print(f"{kind} {size:g}: K/K_G = {r['K_over_KG']:.4f}  extension {r['extension']:.4f}  run "
              f"{r['broken_run']:.0f}  broken {r['broken']:.0f}  tip bond {r['tip_bond']:.4f}  "
              f"converged {r['converged']}  it {r['iterations']}  {r['wall']:.1f} s", flush=True)

    out = critical_stage(deck, log=log)
    print(f"{kind} {size:g}: K_adv/K_G = {out['k_over_kg']}  wall {out['wall']:.1f} s", file=sys.stdout)


if __name__ == "__main__":
    import sys
    if len(sys.argv) > 1 and sys.argv[1] == "study":
        _study(sys.argv[2:])
    else:
        from ._deckfiles import main
        main(write_decks)
