"""What a thinner handshake costs in accuracy (issue 13, the bench decks' handshake width).

The bench decks (`benchmarks/bench_coupled.py`) couple through a projected cubic handshake
(``slave_below: 0.01``) of width 8σ on 2σ tri3 elements (2D) and 4σ on 2.5σ hex8 elements (3D). The
coupler's per-step cost follows the handshake + pad atoms, so a thinner handshake lowers the coupled /
alone step ratio (``bench_coupled.py --widths``). This script measures what the handshake is for, at the
bench's blend and coupling, against the width:

``--pulse2d``  the 2D circular pulse of ``tests/coupling/test_wave2d.py`` (hex lattice a = 1, nearest-
    neighbour harmonic springs k = m = 1 — no ghost forces, so what stays in the core is reflection plus
    the lattice's own dispersive tail —, tri3 mesh h = 2, core box ±12, pulse u = A e^{−r²/2σ²} r/σ with
    σ = 2, A = 0.01, Δt = 0.1): the energy left in the core |X|∞ < R − 2 at t = T (test: T = 30) relative
    to the initial energy, minus the same figure of the atoms alone (the tail). README's figure for this
    model at width 8 (the gallery's wave2d handshake): 2.8e-2 ("the 2D pulse leaves ... 2.8e-2 without"
    the band). ``--sigma2 4`` adds a longer pulse (σ = 4, core ±16, T = 40).
``--pulse3d``  the same in 3D: fcc lattice with the bench's nearest-neighbour distance 1.09 (a = 1.5414),
    harmonic springs k = m = 1 (cut-off 1.3), hex8 mesh h = 2.5 (the 3D bench's element), core box ±8,
    σ = 2, T = 20 (``--sigma3 4``: σ = 4, core ±14, T = 35).
``--reflection1d``  the README's reflection table (1D chain m = k = a = 1, h = 4a, projected, cubic) at
    narrower widths: R(λ = 16h, 8h, 4h) for widths 32a (the README row) … 4a (= h), ``slave_below`` the
    physics default 1e-3 (the table's) and the bench's 0.01. The bench's handshakes are 4h (2D, 8σ / 2σ)
    and 1.6h (3D, 4σ / 2.5σ) wide: 16a and 6.4a here.
``--patch``  the patch test (`multiscale.verify`'s rows: all atoms and nodes at x = F X for a small
    uniform strain, largest residual force / bond force, before and after the constraint forces) of the
    bench decks themselves (LJ, relaxed lattice, linear mesh) at small half-widths (2D L = 40, 3D L = 12).

Every width must be ≥ r_c + skin (2.8σ for the LJ bench decks; the harmonic models allow down to the
element size). Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/handshake_width.py --pulse2d --pulse3d
        --reflection1d --patch [--widths2 8 6 4 3 2.8] [--widths3 4 3 2.8] [--widths1 32 16 8 6.4 4]
        [--sigma2 2 4] [--sigma3 2 4]

Measured 2026-12-07 (branch step4; the results are deterministic, the load only sets the wall time):

  2D pulse, reflected energy in the core at T / its largest value over [T/2, 2T]:
    σ = 2 (T = 30):  width 8  2.74e-2 / 5.83e-2 (README's figure: 2.8e-2, the same run at T),
                     6  4.64e-2 / 6.86e-2,  4  7.02e-2 / 8.03e-2,  3  8.38e-2 / 9.20e-2,  2  9.04e-2 / 9.04e-2
    σ = 4 (T = 40):  width 8  5.06e-5,  6  1.21e-4,  4  3.60e-4,  3  4.88e-4,  2  1.97e-3 (peak 2.10e-3)
  3D pulse:
    σ = 2 (T = 20):  width 4  1.01e-1 / 2.35e-1,  3  1.39e-1 / 2.55e-1,  2.8  1.44e-1 / 2.52e-1,
                     2.5  1.90e-1 / 2.90e-1
    σ = 4 (T = 35):  width 4  1.22e-2 / 1.65e-2,  3  1.07e-2 / 1.54e-2,  2.8  9.87e-3 / 1.49e-2,
                     2.5  9.12e-3 / 1.45e-2
  1D R (λ = 16h / 8h / 4h), slave_below 1e-3:  32a 6.69e-6 / 5.80e-6 / 1.91e-5 (= README's row),
    16a 5.19e-5 / 1.03e-4 / 2.54e-4,  8a 1.01e-4 / 8.23e-4 / 4.19e-3,  6.4a 1.03e-4 / 1.13e-3 / 7.14e-3,
    4a 5.13e-4 / 5.36e-3 / 3.41e-2;  slave_below 0.01: 32a 6.71e-6 / 6.18e-6 / 7.18e-5, 8a 8.83e-5 /
    7.98e-4 / 2.70e-3, the other rows the same.
  Patch test, max residual / bond force before / after the constraint forces:
    2D (L = 40): width 8  0.163 / 0.033,  6  0.186 / 0.063,  4  0.281 / 0.137,  3  0.296 / 0.172,
                 2.8  0.282 / 0.167
    3D (L = 12): width 4  0.275 / 0.355,  3  0.280 / 0.403,  2.8  0.275 / 0.366
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SLAVE = 0.01        # the bench decks' slave_below
DT = 0.1


def _pulse(X: np.ndarray, sigma: float, amp: float = 0.01) -> np.ndarray:
    """u (n, d) [length] of the radial Gaussian pulse at reference points X (n, d)."""
    r2 = np.sum(X * X, axis=1)
    return amp * np.exp(-0.5 * r2 / sigma**2)[:, None] * X / sigma


def pulse_run(dim: int, kind: str, width: float, T: float, R: float, sigma: float,
              samples: int = 20) -> dict:
    """One pulse run. kind: "atoms" (the lattice alone, big enough that nothing returns from its edges
    before T) or "coupled" (projected cubic handshake of ``width`` around the core box ±R). Returns the
    energy in the core |X|∞ < R − 2 over the initial energy at ``samples`` times up to T (``t``, ``e``),
    the largest constraint residual and the model's counts."""
    from multiscale.coupling.coupled import CoupledSystem
    from multiscale.coupling.handshake import Handshake
    from multiscale.coupling.methods import get_method
    from multiscale.fem.continuum import ContinuumRegion
    from multiscale.fem.generators._structured import GridParams, build_grid
    from multiscale.fem.materials.linear import Linear
    from multiscale.geometry.box import BoxShape
    from multiscale.integrate.verlet import VelocityVerlet
    from multiscale.md.box import Box
    from multiscale.md.lattice import Lattice
    from multiscale.md.potentials.harmonic import HarmonicSprings
    from multiscale.md.system import AtomisticRegion

    if dim == 2:      # tests/coupling/test_wave2d.py's model
        lat, pot, h, element = Lattice("hex", 1.0), HarmonicSprings(1.0, 1.0, 1.2), 2.0, "tri3"
        L = R + 8.0 + 1.1 * T + 4.0
    else:             # the 3D bench's nearest-neighbour distance and element size
        lat, h, element = Lattice("fcc", 1.5414), 2.5, "hex8"
        nn = lat.nearest_neighbor_distance
        pot = HarmonicSprings(1.0, nn, 1.3)
        L = R + 0.6 * T + 2.0                # c_l = a √(k/2m) ≈ 1.09: nothing returns from ±L before T
    skin = 0.2
    reach = pot.cutoff + skin
    lo, hi = [-L] * dim, [L] * dim
    if kind == "atoms":
        X = lat.sites_in_box(lo, hi)
        atoms = AtomisticRegion(X, np.ones(len(X)), pot, Box(X.min(0) - 5, X.max(0) + 5, [False] * dim), skin)
        s = CoupledSystem(atoms=atoms)
        n_nodes = 0
    else:
        hs = Handshake(BoxShape([-R] * dim, [R] * dim), width, "cubic")
        hs.check_geometry(pot.cutoff, skin, element_size=h)
        n = int(np.ceil(2 * L / h))
        mesh = build_grid(GridParams(lo=[-0.5 * n * h] * dim, hi=[0.5 * n * h] * dim, size=h), element)
        ext = R + width + reach + 1.0
        Xc = lat.sites_in_box([-ext] * dim, [ext] * dim)
        cls = hs.classify(Xc, lat.primitive_vectors, reach)
        X = Xc[cls.keep]
        atoms = AtomisticRegion(X, np.ones(len(X)), pot, Box(X.min(0) - 5, X.max(0) + 5, [False] * dim), skin)
        cont = ContinuumRegion(mesh, Linear.from_potential(pot, lat), 1.0 / lat.volume_per_atom)
        s = CoupledSystem(atoms, cont, hs, get_method("projected", slave_below=SLAVE),
                          cell=lat.primitive_vectors)
        n_nodes = s.n_nodes
    s.atoms.x[...] = s.atoms.X + _pulse(s.atoms.X, sigma)
    integ = VelocityVerlet(s, DT)
    integ.project_state()
    integ.initialize()
    E0 = sum(s.kinetic()) + integ.potential
    core = s.free[np.max(np.abs(s.atoms.X[s.free]), axis=1) < R - 2.0]
    n_steps = int(round(T / DT))
    marks = np.unique(np.linspace(0, n_steps, samples + 1).round().astype(int))[1:]
    done, ts, es, res = 0, [], [], 0.0
    for m in marks:
        integ.step(int(m - done))
        done = int(m)
        v = s.atoms.v[core]
        Ec = float(np.sum(0.5 * s.atom_mass[core] * np.sum(v * v, axis=1)) + np.sum(s.atoms.energies[core]))
        ts.append(done * DT)
        es.append(Ec / E0)
        if kind != "atoms":
            res = max(res, integ.constraint_residual())
    return {"t": ts, "e": es, "res": res, "atoms": int(s.n_atoms), "nodes": int(n_nodes)}


def pulse_table(dim: int, widths: list[float], T: float, R: float, sigma: float) -> None:
    """The pulse runs over [0, 2T] (T: the test's measuring time): the figure at T and the largest
    reflected energy in the core over [T/2, 2T] (the reflected ring inside the core region)."""
    t0 = time.process_time()
    T_end = 2.0 * T
    k_T = 9                                  # samples every T_end / 20: index 9 is t = T
    ref = pulse_run(dim, "atoms", 0.0, T_end, R, sigma)
    print(f"{dim}D pulse (σ = {sigma:g}, core ±{R:g}, T = {T:g}): atoms alone {ref['atoms']} atoms, "
          f"energy left "
          f"in the core at T {ref['e'][k_T]:.3e}, at 2T {ref['e'][-1]:.3e} (the lattice's tail)", flush=True)
    print("   t      " + " ".join(f"{t:9.1f}" for t in ref["t"]))
    print("   alone  " + " ".join(f"{e:9.2e}" for e in ref["e"]), flush=True)
    rows = []
    for w in widths:
        r = pulse_run(dim, "coupled", w, T_end, R, sigma)
        refl = np.array(r["e"]) - np.array(ref["e"])
        rows.append((w, refl[k_T], float(np.max(refl[4:])), r))
        print(f"   w {w:4g} " + " ".join(f"{e:9.2e}" for e in refl)
              + f"   (minus the tail; {r['atoms']} atoms, {r['nodes']} nodes, max |G q| {r['res']:.1e})",
              flush=True)
    print(f"{dim}D pulse summary (reflected = core energy at T minus the atoms alone', / initial; max over "
          f"T/2 ≤ t ≤ 2T in brackets):")
    for w, a, b, _ in rows:
        print(f"   width {w:4g}: {a:.3e}  ({b:.3e})   x{a / rows[0][1]:.2f} ({b / rows[0][2]:.2f}) of width "
              f"{rows[0][0]:g}")
    print(f"   CPU {time.process_time() - t0:.0f} s", flush=True)


def reflection1d_table(widths: list[float], slaves: list[float]) -> None:
    from multiscale.diagnostics.reflection import reflection_1d
    lams = {"16h": 64.0, "8h": 32.0, "4h": 16.0}
    for sb in slaves:
        print(f"1D reflection R (h = 4a, projected, cubic, slave_below {sb:g}); "
              f"README row 32a cubic: 6.7e-6 / "
              f"5.8e-6 / 1.9e-5 (slave_below 1e-3)", flush=True)
        print("   width   " + "  ".join(f"{k:>9s}" for k in lams))
        for w in widths:
            rs = [reflection_1d(lam, h=4.0, width=w, blend="cubic", method="projected",
                                method_params={"slave_below": sb}) for lam in lams.values()]
            print(f"   {w:5g}a  " + "  ".join(f"{r.R:9.2e}" for r in rs)
                  + f"   (max |G q| {max(r.max_constraint_residual for r in rs):.1e})", flush=True)


def patch_table(dim: int, L: float, widths: list[float]) -> None:
    """verify's patch rows on the bench deck of half-width L at each width (bench_coupled.deck)."""
    from bench_coupled import deck
    from multiscale.deck.deck import load_deck_text
    from multiscale.simulation import Simulation
    from multiscale.verify import _patch_rows
    print(f"{dim}D patch test, bench deck L = {L:g} (LJ, cubic, projected, slave_below 0.01): "
          f"max residual force "
          f"/ bond force, before / after the constraint forces", flush=True)
    for w in widths:
        sim = Simulation.from_deck(load_deck_text(deck(dim, L, True, width=w)))
        sim.prepare()
        rows = _patch_rows(sim)
        vals = [r[1] for r in rows[:2]]
        print(f"   width {w:4g}: {vals[0]}  /  {vals[1]}   ({sim.model.system.n_atoms} atoms)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pulse2d", action="store_true")
    ap.add_argument("--pulse3d", action="store_true")
    ap.add_argument("--sigma2", type=float, nargs="+", default=[2.0],
                    help="2D pulse widths σ (σ = 2: core ±12, T = 30; σ = 4: core ±16, T = 40)")
    ap.add_argument("--sigma3", type=float, nargs="+", default=[2.0],
                    help="3D pulse widths σ (σ = 2: core ±8, T = 20; σ = 4: core ±14, T = 35)")
    ap.add_argument("--reflection1d", action="store_true")
    ap.add_argument("--patch", action="store_true")
    ap.add_argument("--widths2", type=float, nargs="+", default=[8.0, 6.0, 4.0, 3.0, 2.0])
    ap.add_argument("--widths3", type=float, nargs="+", default=[4.0, 3.0, 2.8, 2.5])
    ap.add_argument("--widths1", type=float, nargs="+", default=[32.0, 16.0, 8.0, 6.4, 4.0])
    ap.add_argument("--slave1", type=float, nargs="+", default=[1e-3, 0.01])
    ap.add_argument("--patch-widths2", type=float, nargs="+", default=[8.0, 6.0, 4.0, 3.0, 2.8])
    ap.add_argument("--patch-widths3", type=float, nargs="+", default=[4.0, 3.0, 2.8])
    a = ap.parse_args()
    from multiscale.plugins import load_all
    load_all()
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    if a.pulse2d:
        for sg in a.sigma2:
            R, T = (12.0, 30.0) if sg <= 2.0 else (16.0, 40.0)
            pulse_table(2, a.widths2, T, R, sg)
    if a.pulse3d:
        for sg in a.sigma3:
            R, T = (8.0, 20.0) if sg <= 2.0 else (14.0, 35.0)
            pulse_table(3, a.widths3, T, R, sg)
    if a.reflection1d:
        reflection1d_table(a.widths1, a.slave1)
    if a.patch:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        patch_table(2, 40.0, a.patch_widths2)
        patch_table(3, 12.0, a.patch_widths3)
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
