"""Temperature profile of a coupled 3D EAM Cu crystal (msim issue 16): binned, time-averaged kinetic
temperature by distance from the atomistic core (core | handshake thirds), projected coupling with the
damping band's bath at T.

    PYTHONPATH=. python benchmarks/thermal_profile_3d.py [T_K] [n_eq] [n_avg] [coupling]

Model (metal units): fcc Cu (Zhou EAM, a relaxed), atoms in |X|∞ < 18.5 Å (skin 1 Å), atomistic core |X|∞ <
4 Å, handshake width 7.5 Å (cubic blend, projected coupling with ``slave_below: 0.01``: the handshake atoms
of β̄ ≤ 0.01 tied to the mesh), hex8 mesh of one lattice constant out to |X|∞ < 5.5 a₀
with a hole |X|∞ < a₀, density derived, linear-elastic material with the EAM's Born constants; damping band
γ0 = 0.5 with its bath at T (fine-scale velocity against the mesh velocity itself, ``fine_scale: mesh``: the
smoothed reference triples the band's sparse factor in 3D, 8.3 M against 2.7 M entries, and its solve
dominated the step); Δt = 2 fs. Atoms and mesh nodes start at 2T (Maxwell–Boltzmann, zero displacement: half
goes into potential energy; ``mesh_hot=False``: the mesh at rest, which then draws heat for picoseconds).
Sampled every 10 steps after n_eq.

Why ``slave_below: 0.01`` (not the pure projected coupling, 0): at 0, 294 free handshake atoms (β̄ ≤ 0.0053)
have a negative on-site stiffness of the blended EAM energy at the reference (`msim run` refuses the deck:
`run.summary`), and they do fly off: measured (T 300 K, 1000 + 2000 steps, `/tmp/fixes5/tp/measure.py` of
review fixes5) their displacement at the end is 33 Å on average, 738 Å at most, the closest atom pair 0.33 Å
— while the equipartition profile still looked flat (1.5 %: their masses β̄ m are tiny). With 0.01: flat
2.2 %, mean 0.9998 T, every free atom within 1.34 Å of its site, closest pair 1.73 Å.

Prints T_bin / T with the equipartition masses (`equipartition_mass`: dynamical masses with the
constraints' share counted out), with the atoms' own masses, the flatness max|T_k − T̄|/T̄ and the mesh's
temperature.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from multiscale.deck import load_deck_text
from multiscale.diagnostics.temperature import TemperatureProfile, atom_distance, equipartition_mass
from multiscale.simulation import Simulation

A0 = 3.615          # Å, a guide for the mesh size only (the lattice uses `a: relaxed`)

DECK = """\
msim: 1
units: metal
potential: {{type: eam_zhou, element: Cu}}
atoms:
  lattice: {{type: fcc, a: relaxed}}
  region: {{type: box, lo: [-{R}, -{R}, -{R}], hi: [{R}, {R}, {R}]}}
  mass: 63.546
  skin: 1.0
  velocity: {{temperature: {T0}, seed: {seed}}}
continuum:
  mesh: {{type: box, element: hex8, lo: [-{M}, -{M}, -{M}], hi: [{M}, {M}, {M}], size: {h},
          hole: {{lo: [-{h}, -{h}, -{h}], hi: [{h}, {h}, {h}]}}}}
  material: {{type: linear}}
  density: derived
handshake:
  shape: {{type: box, lo: [-{c}, -{c}, -{c}], hi: [{c}, {c}, {c}]}}
  width: {w}
  blend: {{type: cubic}}
  coupling: {coupling}
  damping: {{gamma0: 0.5, temperature: {T}, fine_scale: {fine}}}
integrator: {{type: verlet, dt: 0.002, steps: 10, seed: {seed}}}
output: {{every: 1000000, thermo_every: 1000000}}
"""


def make(T: float, coupling: str = "{type: projected, slave_below: 0.01}", c: float = 4.0, w: float = 7.5,
         seed: int = 3, fine: str = "mesh") -> Simulation:
    txt = DECK.format(R=c + w + 7.0, T0=2 * T, T=T, M=5.5 * A0, h=A0, c=c, w=w, coupling=coupling, seed=seed,
                      fine=fine)
    return Simulation.from_deck(load_deck_text(txt, "thermal_profile_3d.yaml"))


def run(T: float, n_eq: int, n_avg: int, every: int = 10, report: int = 0, mesh_hot: bool = True,
        **kw):  # noqa: ANN201
    """(sim, equipartition profile, own-mass profile, mesh T / T, wall [s]) after n_eq + n_avg steps."""
    sim = make(T, **kw)
    sim.prepare()
    integ, s = sim.integrator, sim.model.system
    boltz = sim.model.units.boltz
    if mesh_hot:    # the mesh nodes at 2T too (Maxwell–Boltzmann with their lumped masses), so that the
        M = s.node_mass                      # cold mesh does not draw heat for the first picoseconds
        rng = np.random.default_rng(1000 + kw.get("seed", 3))
        kT2 = 2.0 * T * boltz
        s.continuum.V[...] = np.where(M[:, None] > 0, rng.standard_normal(s.continuum.V.shape)
                                      * np.sqrt(kT2 / np.where(M > 0, M, 1.0))[:, None], 0.0)
        integ.project_state()
    integ.initialize()
    dist = atom_distance(s)
    w = s.handshake.width
    edges = np.array([-1.0, 1e-9, w / 3, 2 * w / 3, w + 1e-9])
    prof_e = TemperatureProfile(dist, equipartition_mass(s, integ.projector), edges, boltz, s.d)
    prof_p = TemperatureProfile(dist, np.where(s.pad, 0.0, s.atoms.mass), edges, boltz, s.d)
    t0 = time.time()
    integ.step(n_eq)
    t_mesh = 0.0
    n = n_avg // every
    for i in range(n):
        integ.step(every)
        if report and i and i % report == 0:      # running figures (long runs on a busy machine)
            print(f"  step {n_eq + i * every}: T equipart. / T {np.round(prof_e.temperature() / T, 4)} "
                  f"flat {prof_e.flatness():.4f} ({time.time() - t0:.0f} s)", flush=True)
        prof_e.sample(s.atoms.v)
        prof_p.sample(s.atoms.v)
        V, M = s.continuum.V, s.node_mass
        t_mesh += float(np.sum(M[:, None] * V * V)) / (3 * np.count_nonzero(M > 0) * boltz) / n
    return sim, prof_e, prof_p, t_mesh / T, time.time() - t0


if __name__ == "__main__":
    T = float(sys.argv[1]) if len(sys.argv) > 1 else 300.0
    n_eq = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    n_avg = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
    kw = {"coupling": sys.argv[4]} if len(sys.argv) > 4 else {}
    sim, pe, pp, tm, wall = run(T, n_eq, n_avg, report=10, **kw)
    s = sim.model.system
    print(f"T = {T} K, n_atoms {s.n_atoms} (free {s.n_free}), nodes {s.n_nodes}, wall {wall:.0f} s")
    print("counts (core | H thirds)", pe.count)
    print("T equipart. / T", np.round(pe.temperature() / T, 4), "flat", round(pe.flatness(), 4),
          "mean/T", round(pe.mean() / T, 4))
    print("T own mass / T", np.round(pp.temperature() / T, 4), "flat", round(pp.flatness(), 4))
    print("T mesh / T", round(tm, 4))
